// The module tree: parameters and child modules under names that flatten to
// the dotted paths MLX Python uses ("layers.0.weight").
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mlx/mlx.h>

namespace rmlx::nn {

namespace mx = mlx::core;

class Module;
using ModulePtr = std::shared_ptr<Module>;

/** A value stored in a module: an array, a child module or a list of values. */
struct Value {
  using List = std::vector<Value>;
  std::variant<mx::array, ModulePtr, List> data;

  Value(mx::array a) : data(std::move(a)) {}
  Value(ModulePtr m) : data(std::move(m)) {}
  Value(List l) : data(std::move(l)) {}

  bool is_array() const { return std::holds_alternative<mx::array>(data); }
  bool is_module() const { return std::holds_alternative<ModulePtr>(data); }
  bool is_list() const { return std::holds_alternative<List>(data); }
};

/** Arrays under their dotted names, in the order of the tree. */
using NamedArrays = std::vector<std::pair<std::string, mx::array>>;

/** Positional forward inputs; an optional input that is absent is nullopt. */
using Inputs = std::vector<std::optional<mx::array>>;

/** Modules under their dotted paths; the root module has the path "". */
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

/**
 * The base class of every layer. A module owns named values (parameters,
 * child modules and lists of them), a training flag and the set of its own
 * parameter names that are frozen.
 */
class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  /** The layer's class name as MLX Python spells it, e.g. "Linear". */
  virtual std::string type_name() const = 0;

  /** A one-line summary of the constructor arguments, used when printing. */
  virtual std::string extra_repr() const {
    return "";
  }

  /** Names of the forward arguments in order, as MLX Python names them. */
  virtual std::vector<std::string> input_names() const {
    return {"x"};
  }

  /** Runs the forward pass on positional inputs and returns its outputs. */
  virtual std::vector<mx::array> forward(const Inputs& inputs) = 0;

  /** Runs the forward pass on one input and returns the first output. */
  mx::array operator()(const mx::array& x);

  // Building the tree.

  /** Stores a parameter under a local name; replaces one of that name. */
  void register_parameter(const std::string& name, mx::array value);

  /**
   * Stores a child module under a local name. Throws std::invalid_argument
   * for a null module or one that contains this module (a cycle).
   */
  void register_module(const std::string& name, ModulePtr module);

  /** Stores a list of child modules, flattened as name.0, name.1, ... */
  void register_modules(
      const std::string& name,
      const std::vector<ModulePtr>& modules);

  /** Stores any value (for example a list of arrays) under a local name. */
  void register_value(const std::string& name, Value value);

  /** Removes a local value; returns false when there was none. */
  bool remove(const std::string& name);

  /** True when a local value of that name exists. */
  bool has(const std::string& name) const;

  /** The local names in insertion order. */
  const std::vector<std::string>& keys() const {
    return keys_;
  }

  /** The local value of that name; throws std::out_of_range if absent. */
  const Value& value(const std::string& name) const;

  /** The local parameter of that name; throws if it is not an array. */
  const mx::array& param(const std::string& name) const;

  /** The child module of that name; throws if it is not a module. */
  ModulePtr child(const std::string& name) const;

  // Parameters.

  /** Every parameter, frozen ones included, under its dotted name. */
  NamedArrays parameters() const;

  /** The parameters that are not frozen, under their dotted names. */
  NamedArrays trainable_parameters() const;

  /**
   * Replaces parameters by dotted name. With strict, a name that is not a
   * parameter of this tree throws std::invalid_argument. Without strict,
   * such names are skipped. Shapes are not checked, as in MLX Python.
   */
  void update(const NamedArrays& parameters, bool strict = true);

  /**
   * Loads weights by dotted name. With strict, the names must be exactly
   * this tree's parameters and every shape must match; otherwise one
   * std::invalid_argument lists every missing, unexpected and mis-shaped
   * name.
   */
  void load_weights(const NamedArrays& weights, bool strict = true);

  /** Loads weights from a .safetensors or .npz file (see rmlx/io.h). */
  void load_weights(const std::string& path, bool strict = true);

  /** Writes every parameter to a .safetensors or .npz file, chosen by the
   * extension. */
  void save_weights(const std::string& path) const;

  /**
   * Replaces each parameter p named n by fn(n, p), for every parameter of the
   * tree or only those for which the filter returns true.
   */
  void apply(
      const std::function<mx::array(const std::string&, const mx::array&)>& fn,
      const std::function<bool(const std::string&, const mx::array&)>& filter =
          nullptr);

  /** Casts every floating-point parameter to a floating-point dtype. */
  void set_dtype(mx::Dtype dtype);

  /** The number of scalar values over all parameters. */
  size_t num_parameters() const;

  // Freezing and training mode.

  /**
   * Freezes parameters so that trainable_parameters() leaves them out. With
   * no keys, all local parameters freeze; otherwise only those local keys.
   * With recurse, the same applies to every module of the subtree. With
   * strict, a key that is not a local parameter of this module throws.
   */
  virtual void freeze(
      bool recurse = true,
      const std::vector<std::string>& keys = {},
      bool strict = false);

  /** Undoes freeze() with the same arguments. */
  virtual void unfreeze(
      bool recurse = true,
      const std::vector<std::string>& keys = {},
      bool strict = false);

  /** Freezes (or unfreezes) parameters given by their dotted names. */
  void set_frozen(const std::vector<std::string>& names, bool frozen);

  /** True when the dotted parameter name is frozen. */
  bool is_frozen(const std::string& name) const;

  /** Sets training mode on this module and every module below it. */
  void train(bool mode = true);

  /** Sets evaluation mode, the same as train(false). */
  void eval() {
    train(false);
  }

  bool training() const {
    return training_;
  }

  // Walking the tree.

  /** This module and every module below it, depth first, root as "". */
  NamedModules named_modules();

  /** The direct children, lists flattened to name.0, name.1, ... */
  NamedModules children() const;

  /** Modules without child modules, under their dotted paths. */
  NamedModules leaf_modules();

  /** A multi-line description of the tree, as MLX Python prints it. */
  std::string to_string() const;

 protected:
  /** Locally frozen keys, e.g. running statistics that are never trained. */
  std::set<std::string> no_grad_;

 private:
  void check_not_ancestor(const ModulePtr& module);
  void flatten(
      const std::string& prefix,
      bool trainable_only,
      NamedArrays& out) const;
  mx::array* find_parameter(const std::string& dotted);
  Module* find_owner(const std::string& dotted, std::string& local_key);
  void print_tree(std::ostringstream& os, int indent) const;

  std::vector<std::string> keys_;
  std::map<std::string, Value> values_;
  bool training_ = true;
};

/** Raises std::invalid_argument when a forward call got the wrong inputs. */
void check_inputs(
    const Module& module,
    const Inputs& inputs,
    size_t required);

/** A module with one required input and one output. */
class UnaryModule : public Module {
 public:
  std::vector<mx::array> forward(const Inputs& inputs) final;

  /** The forward pass of a one-input layer. */
  virtual mx::array forward(const mx::array& x) = 0;

  using Module::operator();
};

/**
 * A module whose forward pass is a function given at run time. Bindings use
 * it for modules written in another language, such as R.
 */
class FunctionModule : public Module {
 public:
  using ForwardFn =
      std::function<std::vector<mx::array>(Module&, const Inputs&)>;

  FunctionModule(
      std::string type_name,
      ForwardFn forward,
      std::vector<std::string> input_names = {"x"});

  std::string type_name() const override {
    return type_name_;
  }
  std::vector<std::string> input_names() const override {
    return input_names_;
  }
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Replaces the forward function, e.g. to break a reference cycle. */
  void set_forward(ForwardFn forward) {
    forward_ = std::move(forward);
  }

 private:
  std::string type_name_;
  ForwardFn forward_;
  std::vector<std::string> input_names_;
};

} // namespace rmlx::nn
