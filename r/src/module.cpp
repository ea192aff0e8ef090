// Bindings for the module tree: R module objects hold an external pointer to
// a heap-allocated std::shared_ptr<rmlx::nn::Module>.
#include "rmlx_module.h"

#include "rmlx/io.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace mx = mlx::core;
namespace nn = rmlx::nn;

namespace {

using ModuleHandle = std::shared_ptr<nn::Module>;

SEXP module_tag() {
  static SEXP tag = Rf_install("rmlx_module");
  return tag;
}

// The R objects of modules written in R, by module address.
std::unordered_map<const nn::Module*, SEXP>& r_objects() {
  static std::unordered_map<const nn::Module*, SEXP> objects;
  return objects;
}

void finalize_module(SEXP ptr) {
  auto* handle = static_cast<ModuleHandle*>(R_ExternalPtrAddr(ptr));
  if (handle == nullptr) {
    return;
  }
  // The owning pointer of a module written in R protects its R object, which
  // the callback uses. That object is being collected, so a C++ owner that
  // keeps the module alive must get an error instead of a dangling callback.
  auto fm = std::dynamic_pointer_cast<nn::FunctionModule>(*handle);
  if (fm && R_ExternalPtrProtected(ptr) != R_NilValue) {
    r_objects().erase(fm.get());
    std::string type = fm->type_name();
    fm->set_forward([type](nn::Module&, const nn::Inputs&)
                        -> std::vector<mx::array> {
      throw std::runtime_error(
          "[" + type + "] The R object of this module was garbage collected.");
    });
  }
  delete handle;
  R_ClearExternalPtr(ptr);
}

} // namespace

cpp11::writable::list rmlx_wrap_named(const nn::NamedArrays& arrays) {
  cpp11::writable::list out(arrays.size());
  cpp11::writable::strings names(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    out[i] = rmlx_wrap_array(arrays[i].second);
    names[i] = arrays[i].first;
  }
  out.names() = names;
  return out;
}

cpp11::writable::list rmlx_wrap_arrays(
    const std::vector<mx::array>& arrays) {
  cpp11::writable::list out(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    out[i] = rmlx_wrap_array(arrays[i]);
  }
  return out;
}

nn::NamedArrays rmlx_unwrap_named(cpp11::list values, const char* fn) {
  nn::NamedArrays out;
  if (values.size() == 0) {
    return out;
  }
  cpp11::strings names(values.names());
  for (R_xlen_t i = 0; i < values.size(); ++i) {
    std::string name = names[i];
    out.emplace_back(
        name, rmlx_unwrap_array(values[i], fn, name.c_str()));
  }
  return out;
}

namespace {

std::vector<std::string> as_strings(cpp11::strings x) {
  return std::vector<std::string>(x.begin(), x.end());
}

} // namespace

SEXP rmlx_wrap_module(std::shared_ptr<nn::Module> module, SEXP owner) {
  auto found = r_objects().find(module.get());
  if (owner == R_NilValue && found != r_objects().end()) {
    return found->second;
  }
  auto* heap = new ModuleHandle(std::move(module));
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, module_tag(), owner));
  R_RegisterCFinalizerEx(ptr, finalize_module, TRUE);
  UNPROTECT(1);
  return ptr;
}

std::shared_ptr<nn::Module>& rmlx_unwrap_module(
    SEXP x,
    const char* fn,
    const char* arg) {
  rmlx_check_not_forked(fn);
  if (TYPEOF(x) == ENVSXP) {
    x = Rf_findVarInFrame(x, Rf_install(".ptr"));
  }
  if (TYPEOF(x) != EXTPTRSXP || R_ExternalPtrTag(x) != module_tag()) {
    throw std::invalid_argument(
        std::string(fn) + "(): `" + arg + "` must be an MLX module.");
  }
  auto* handle = static_cast<ModuleHandle*>(R_ExternalPtrAddr(x));
  if (handle == nullptr) {
    throw std::invalid_argument(
        std::string(fn) + "(): `" + arg +
        "` is an MLX module that no longer exists (restored by readRDS(), "
        "which cannot store MLX modules). Save a module's weights with "
        "mlx_save_weights() or mlx_save_checkpoint(), then create the module "
        "again and load them with mlx_load_weights().");
  }
  return *handle;
}

[[cpp11::register]]
std::string module_type_(SEXP ptr) {
  return rmlx_unwrap_module(ptr, "mlx_module", "module")->type_name();
}

[[cpp11::register]]
std::string module_repr_(SEXP ptr) {
  return rmlx_unwrap_module(ptr, "print", "x")->to_string();
}

[[cpp11::register]]
double module_num_parameters_(SEXP ptr) {
  return static_cast<double>(
      rmlx_unwrap_module(ptr, "mlx_num_parameters", "module")
          ->num_parameters());
}

[[cpp11::register]]
cpp11::list module_parameters_(SEXP ptr, bool trainable) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_parameters", "module");
  return rmlx_wrap_named(trainable ? m->trainable_parameters() : m->parameters());
}

[[cpp11::register]]
void module_update_(SEXP ptr, cpp11::list values, bool strict) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_param_set_values", "module");
  m->update(rmlx_unwrap_named(values, "mlx_param_set_values"), strict);
}

[[cpp11::register]]
void module_load_weights_(SEXP ptr, cpp11::list values, bool strict) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_load_weights", "module");
  m->load_weights(rmlx_unwrap_named(values, "mlx_load_weights"), strict);
}

[[cpp11::register]]
void module_load_weights_file_(SEXP ptr, std::string path, bool strict) {
  rmlx_unwrap_module(ptr, "mlx_load_weights", "module")
      ->load_weights(path, strict);
}

[[cpp11::register]]
void module_save_weights_(SEXP ptr, std::string path) {
  rmlx_unwrap_module(ptr, "mlx_save_weights", "module")->save_weights(path);
}

[[cpp11::register]]
void module_freeze_(
    SEXP ptr,
    bool freeze,
    bool recurse,
    cpp11::strings keys,
    bool strict) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_freeze", "module");
  if (freeze) {
    m->freeze(recurse, as_strings(keys), strict);
  } else {
    m->unfreeze(recurse, as_strings(keys), strict);
  }
}

[[cpp11::register]]
void module_set_frozen_(SEXP ptr, cpp11::strings names, bool frozen) {
  rmlx_unwrap_module(ptr, "mlx_freeze", "module")
      ->set_frozen(as_strings(names), frozen);
}

[[cpp11::register]]
void module_train_(SEXP ptr, bool mode) {
  rmlx_unwrap_module(ptr, "mlx_set_training", "module")->train(mode);
}

[[cpp11::register]]
bool module_training_(SEXP ptr) {
  return rmlx_unwrap_module(ptr, "mlx_training", "module")->training();
}

[[cpp11::register]]
void module_set_dtype_(SEXP ptr, std::string dtype) {
  rmlx_unwrap_module(ptr, "mlx_set_dtype", "module")
      ->set_dtype(rmlx_parse_dtype(dtype, "mlx_set_dtype"));
}

// Returns the local keys with the kind of value each holds: "array",
// "module", "modules" (a list of modules), "arrays" or "list".
[[cpp11::register]]
cpp11::strings module_keys_(SEXP ptr) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_module", "module");
  cpp11::writable::strings kinds(m->keys().size());
  cpp11::writable::strings names(m->keys().size());
  for (size_t i = 0; i < m->keys().size(); ++i) {
    const auto& key = m->keys()[i];
    const nn::Value& v = m->value(key);
    std::string kind = "list";
    if (v.is_array()) {
      kind = "array";
    } else if (v.is_module()) {
      kind = "module";
    } else {
      const auto& list = std::get<nn::Value::List>(v.data);
      bool all_modules = !list.empty();
      bool all_arrays = !list.empty();
      for (const auto& item : list) {
        all_modules = all_modules && item.is_module();
        all_arrays = all_arrays && item.is_array();
      }
      if (all_modules) {
        kind = "modules";
      } else if (all_arrays) {
        kind = "arrays";
      }
    }
    kinds[i] = kind;
    names[i] = key;
  }
  kinds.names() = names;
  return kinds;
}

[[cpp11::register]]
SEXP module_get_array_(SEXP ptr, std::string key) {
  return rmlx_wrap_array(
      rmlx_unwrap_module(ptr, "mlx_module", "module")->param(key));
}

[[cpp11::register]]
cpp11::list module_get_arrays_(SEXP ptr, std::string key) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_module", "module");
  const auto& list = std::get<nn::Value::List>(m->value(key).data);
  cpp11::writable::list out(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    out[i] = rmlx_wrap_array(std::get<mx::array>(list[i].data));
  }
  return out;
}

// Returns the child modules stored under `key`: the R object of a module
// written in R, and a new external pointer for any other.
[[cpp11::register]]
cpp11::list module_get_modules_(SEXP ptr, std::string key) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_module", "module");
  const nn::Value& v = m->value(key);
  if (v.is_module()) {
    return cpp11::writable::list({rmlx_wrap_module(std::get<ModuleHandle>(v.data))});
  }
  const auto& list = std::get<nn::Value::List>(v.data);
  cpp11::writable::list out(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    out[i] = rmlx_wrap_module(std::get<ModuleHandle>(list[i].data));
  }
  return out;
}

[[cpp11::register]]
void module_set_array_(SEXP ptr, std::string key, SEXP value) {
  rmlx_unwrap_module(ptr, "$<-", "module")
      ->register_parameter(key, rmlx_unwrap_array(value, "$<-", key.c_str()));
}

[[cpp11::register]]
void module_set_arrays_(SEXP ptr, std::string key, cpp11::list values) {
  nn::Value::List list;
  for (R_xlen_t i = 0; i < values.size(); ++i) {
    list.emplace_back(rmlx_unwrap_array(values[i], "$<-", key.c_str()));
  }
  rmlx_unwrap_module(ptr, "$<-", "module")
      ->register_value(key, nn::Value(std::move(list)));
}

[[cpp11::register]]
void module_set_module_(SEXP ptr, std::string key, SEXP child) {
  rmlx_unwrap_module(ptr, "$<-", "module")
      ->register_module(key, rmlx_unwrap_module(child, "$<-", key.c_str()));
}

[[cpp11::register]]
void module_set_modules_(SEXP ptr, std::string key, cpp11::list children) {
  std::vector<ModuleHandle> modules;
  for (R_xlen_t i = 0; i < children.size(); ++i) {
    modules.push_back(rmlx_unwrap_module(children[i], "$<-", key.c_str()));
  }
  rmlx_unwrap_module(ptr, "$<-", "module")->register_modules(key, modules);
}

[[cpp11::register]]
bool module_remove_(SEXP ptr, std::string key) {
  return rmlx_unwrap_module(ptr, "$<-", "module")->remove(key);
}

[[cpp11::register]]
cpp11::strings module_input_names_(SEXP ptr) {
  auto names = rmlx_unwrap_module(ptr, "mlx_forward", "module")->input_names();
  return cpp11::writable::strings(names.begin(), names.end());
}

// Runs the forward pass. `inputs` contains an mlx_array, or NULL for an
// absent optional input, per position.
[[cpp11::register]]
cpp11::list module_forward_(SEXP ptr, cpp11::list inputs) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_forward", "module");
  nn::Inputs args;
  for (R_xlen_t i = 0; i < inputs.size(); ++i) {
    SEXP x = inputs[i];
    if (x == R_NilValue) {
      args.emplace_back(std::nullopt);
    } else {
      args.emplace_back(rmlx_unwrap_array(x, "mlx_forward", "..."));
    }
  }
  return rmlx_wrap_arrays(m->forward(args));
}

// Returns the dotted paths of this module's subtree, the root as "", with
// new external pointers to each module.
[[cpp11::register]]
cpp11::list module_named_modules_(SEXP ptr) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_named_modules", "module");
  auto modules = m->named_modules();
  cpp11::writable::list out(modules.size());
  cpp11::writable::strings names(modules.size());
  for (size_t i = 0; i < modules.size(); ++i) {
    out[i] = rmlx_wrap_module(modules[i].second);
    names[i] = modules[i].first;
  }
  out.names() = names;
  return out;
}

[[cpp11::register]]
bool module_same_(SEXP a, SEXP b) {
  return rmlx_unwrap_module(a, "identical", "a").get() ==
      rmlx_unwrap_module(b, "identical", "b").get();
}

// Creates a module whose forward pass calls `forward` in R with the module's
// R object `self` first. The callback keeps `self` without protecting it:
// the external pointer that `self` stores keeps the module alive, and its
// finalizer replaces the callback before `self` is collected.
[[cpp11::register]]
SEXP function_module_new_(
    std::string type_name,
    SEXP self,
    SEXP forward,
    cpp11::strings input_names) {
  SEXP forward_sexp = forward;
  auto callback = [self, forward_sexp](nn::Module&, const nn::Inputs& inputs) {
    cpp11::writable::list args(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i]) {
        args[i] = rmlx_wrap_array(*inputs[i]);
      } else {
        args[i] = R_NilValue;
      }
    }
    cpp11::function call_forward = cpp11::package("Rmlx")["call_r_forward"];
    cpp11::list result(call_forward(self, forward_sexp, args));
    std::vector<mx::array> outputs;
    for (R_xlen_t i = 0; i < result.size(); ++i) {
      outputs.push_back(rmlx_unwrap_array(result[i], "forward", "output"));
    }
    return outputs;
  };
  auto module = std::make_shared<nn::FunctionModule>(
      type_name, callback, as_strings(input_names));
  r_objects()[module.get()] = self;
  return rmlx_wrap_module(module, self);
}

// Writes named arrays to a .safetensors or .npz file (by extension) with
// string metadata given as a named character vector.
[[cpp11::register]]
void save_arrays_(cpp11::list arrays, std::string path, cpp11::strings metadata) {
  rmlx::io::Metadata values;
  if (metadata.size() > 0) {
    cpp11::strings keys(metadata.names());
    for (R_xlen_t i = 0; i < metadata.size(); ++i) {
      values[std::string(keys[i])] = std::string(metadata[i]);
    }
  }
  rmlx::io::save_arrays(
      path, rmlx_unwrap_named(arrays, "mlx_save_safetensors"), values);
}

// Reads a .safetensors, .npz or .npy file into a list sorted by name, with
// the file's metadata as the attribute "metadata" (a named character
// vector, empty for .npz and .npy files).
[[cpp11::register]]
cpp11::list load_arrays_(std::string path) {
  auto file = rmlx::io::load_arrays(path);
  std::sort(
      file.arrays.begin(), file.arrays.end(), [](const auto& a, const auto& b) {
        return a.first < b.first;
      });
  std::vector<std::pair<std::string, std::string>> metadata(
      file.metadata.begin(), file.metadata.end());
  std::sort(metadata.begin(), metadata.end());
  cpp11::writable::strings values(metadata.size());
  cpp11::writable::strings keys(metadata.size());
  for (size_t i = 0; i < metadata.size(); ++i) {
    keys[i] = metadata[i].first;
    values[i] = metadata[i].second;
  }
  values.names() = keys;
  cpp11::writable::list out = rmlx_wrap_named(file.arrays);
  out.attr("metadata") = values;
  return out;
}
