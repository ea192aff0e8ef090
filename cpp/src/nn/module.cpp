#include "rmlx/nn/module.h"

#include "rmlx/io.h"

#include "layer_utils.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace rmlx::nn {

namespace {

std::vector<std::string> split_dotted(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return parts;
}

bool parse_index(const std::string& s, size_t& index) {
  if (s.empty() || s.size() > 9) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  index = std::stoul(s);
  return true;
}

void check_local_name(const std::string& name) {
  if (name.empty() || name.find('.') != std::string::npos) {
    std::ostringstream msg;
    msg << "[Module] A local name must be non-empty and contain no '.', "
        << "but received '" << name << "'.";
    throw std::invalid_argument(msg.str());
  }
}

} // namespace

mx::array Module::operator()(const mx::array& x) {
  return forward(Inputs{x}).at(0);
}

void Module::register_value(const std::string& name, Value value) {
  check_local_name(name);
  if (values_.find(name) == values_.end()) {
    keys_.push_back(name);
  }
  values_.insert_or_assign(name, std::move(value));
}

void Module::register_parameter(const std::string& name, mx::array value) {
  register_value(name, Value(std::move(value)));
}

void Module::check_not_ancestor(const ModulePtr& module) {
  if (!module) {
    throw std::invalid_argument("[Module] Cannot register a null module.");
  }
  for (const auto& [path, m] : module->named_modules()) {
    if (m.get() == this) {
      throw std::invalid_argument(
          "[" + type_name() + "] A module cannot contain itself, directly "
          "or through its children.");
    }
  }
}

void Module::register_module(const std::string& name, ModulePtr module) {
  check_not_ancestor(module);
  register_value(name, Value(std::move(module)));
}

void Module::register_modules(
    const std::string& name,
    const std::vector<ModulePtr>& modules) {
  Value::List list;
  for (const auto& m : modules) {
    check_not_ancestor(m);
    list.emplace_back(m);
  }
  register_value(name, Value(std::move(list)));
}

bool Module::remove(const std::string& name) {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return false;
  }
  values_.erase(it);
  keys_.erase(std::find(keys_.begin(), keys_.end(), name));
  no_grad_.erase(name);
  return true;
}

bool Module::has(const std::string& name) const {
  return values_.find(name) != values_.end();
}

const Value& Module::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw std::out_of_range(
        "[" + type_name() + "] No value named '" + name + "'.");
  }
  return it->second;
}

const mx::array& Module::param(const std::string& name) const {
  const Value& v = value(name);
  if (!v.is_array()) {
    throw std::invalid_argument(
        "[" + type_name() + "] '" + name + "' is not a parameter.");
  }
  return std::get<mx::array>(v.data);
}

ModulePtr Module::child(const std::string& name) const {
  const Value& v = value(name);
  if (!v.is_module()) {
    throw std::invalid_argument(
        "[" + type_name() + "] '" + name + "' is not a module.");
  }
  return std::get<ModulePtr>(v.data);
}

namespace {

// Appends the arrays of one value under `path`, descending into modules and
// lists. A frozen key excludes everything under it when trainable_only.
void flatten_value(
    const std::string& path,
    const Value& v,
    bool trainable_only,
    NamedArrays& out,
    const std::function<void(const Module&, const std::string&)>& descend) {
  if (v.is_array()) {
    out.emplace_back(path, std::get<mx::array>(v.data));
  } else if (v.is_module()) {
    descend(*std::get<ModulePtr>(v.data), path + ".");
  } else {
    const auto& list = std::get<Value::List>(v.data);
    for (size_t i = 0; i < list.size(); ++i) {
      flatten_value(
          path + "." + std::to_string(i),
          list[i],
          trainable_only,
          out,
          descend);
    }
  }
}

} // namespace

void Module::flatten(
    const std::string& prefix,
    bool trainable_only,
    NamedArrays& out) const {
  auto descend = [&](const Module& m, const std::string& p) {
    m.flatten(p, trainable_only, out);
  };
  for (const auto& key : keys_) {
    const Value& v = values_.at(key);
    if (trainable_only && !v.is_module() && no_grad_.count(key)) {
      continue;
    }
    flatten_value(prefix + key, v, trainable_only, out, descend);
  }
}

NamedArrays Module::parameters() const {
  NamedArrays out;
  flatten("", false, out);
  return out;
}

NamedArrays Module::trainable_parameters() const {
  NamedArrays out;
  flatten("", true, out);
  return out;
}

size_t Module::num_parameters() const {
  size_t n = 0;
  for (const auto& [name, p] : parameters()) {
    n += p.size();
  }
  return n;
}

mx::array* Module::find_parameter(const std::string& dotted) {
  auto parts = split_dotted(dotted);
  Module* module = this;
  Value* current = nullptr;
  for (const auto& part : parts) {
    if (current == nullptr || current->is_module()) {
      if (current != nullptr) {
        module = std::get<ModulePtr>(current->data).get();
      }
      auto it = module->values_.find(part);
      if (it == module->values_.end()) {
        return nullptr;
      }
      current = &it->second;
    } else if (current->is_list()) {
      auto& list = std::get<Value::List>(current->data);
      size_t index;
      if (!parse_index(part, index) || index >= list.size()) {
        return nullptr;
      }
      current = &list[index];
    } else {
      return nullptr;
    }
  }
  if (current == nullptr || !current->is_array()) {
    return nullptr;
  }
  return &std::get<mx::array>(current->data);
}

Module* Module::find_owner(const std::string& dotted, std::string& local_key) {
  auto parts = split_dotted(dotted);
  Module* module = this;
  size_t i = 0;
  while (i < parts.size()) {
    auto it = module->values_.find(parts[i]);
    if (it == module->values_.end()) {
      return nullptr;
    }
    Value* v = &it->second;
    size_t key_index = i++;
    // Walk list indices until a module or the end of the name.
    while (v->is_list() && i < parts.size()) {
      auto& list = std::get<Value::List>(v->data);
      size_t index;
      if (!parse_index(parts[i], index) || index >= list.size()) {
        return nullptr;
      }
      v = &list[index];
      ++i;
    }
    if (v->is_module() && i < parts.size()) {
      module = std::get<ModulePtr>(v->data).get();
      continue;
    }
    if (i != parts.size() || v->is_module()) {
      return nullptr;
    }
    local_key = parts[key_index];
    return module;
  }
  return nullptr;
}

void Module::update(const NamedArrays& parameters, bool strict) {
  for (const auto& [name, value] : parameters) {
    mx::array* target = find_parameter(name);
    if (target == nullptr) {
      if (strict) {
        throw std::invalid_argument(
            "[Module.update] '" + name + "' is not a parameter of this " +
            type_name() + ".");
      }
      continue;
    }
    *target = value;
  }
}

void Module::load_weights(const NamedArrays& weights, bool strict) {
  if (!strict) {
    update(weights, false);
    return;
  }

  // Collect every problem before raising, so one error lists them all.
  std::unordered_map<std::string, const mx::array*> given;
  for (const auto& [name, w] : weights) {
    given[name] = &w;
  }
  std::vector<std::string> missing;
  std::vector<std::string> mis_shaped;
  for (const auto& [name, p] : parameters()) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back("'" + name + "'");
      continue;
    }
    if (it->second->shape() != p.shape()) {
      mis_shaped.push_back(
          "'" + name + "' (expected " + detail::shape_string(p.shape()) +
          ", received " + detail::shape_string(it->second->shape()) + ")");
    }
    given.erase(it);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, w] : weights) {
    if (given.count(name)) {
      unexpected.push_back("'" + name + "'");
    }
  }

  auto join = [](const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) {
      s += (i ? ", " : "") + items[i];
    }
    return s;
  };
  std::string problems;
  if (!missing.empty()) {
    problems += " Missing parameters: " + join(missing) + ".";
  }
  if (!unexpected.empty()) {
    problems += " Parameters not in the model: " + join(unexpected) + ".";
  }
  if (!mis_shaped.empty()) {
    problems += " Wrong shapes: " + join(mis_shaped) + ".";
  }
  if (!problems.empty()) {
    throw std::invalid_argument(
        "[Module.load_weights] The weights do not match the model." +
        problems);
  }
  update(weights, true);
}

void Module::load_weights(const std::string& path, bool strict) {
  load_weights(io::load_arrays(path).arrays, strict);
}

void Module::save_weights(const std::string& path) const {
  io::save_arrays(path, parameters());
}

void Module::apply(
    const std::function<mx::array(const std::string&, const mx::array&)>& fn,
    const std::function<bool(const std::string&, const mx::array&)>& filter) {
  NamedArrays updated;
  for (const auto& [name, p] : parameters()) {
    if (!filter || filter(name, p)) {
      updated.emplace_back(name, fn(name, p));
    }
  }
  update(updated, true);
}

void Module::set_dtype(mx::Dtype dtype) {
  if (!mx::issubdtype(dtype, mx::floating)) {
    throw std::invalid_argument(
        "[Module.set_dtype] Expected a floating-point dtype.");
  }
  apply(
      [dtype](const std::string&, const mx::array& p) {
        return mx::astype(p, dtype);
      },
      [](const std::string&, const mx::array& p) {
        return mx::issubdtype(p.dtype(), mx::floating);
      });
}

void Module::freeze(
    bool recurse,
    const std::vector<std::string>& keys,
    bool strict) {
  auto freeze_one = [&](Module& m) {
    if (keys.empty()) {
      for (const auto& key : m.keys_) {
        if (!m.values_.at(key).is_module()) {
          m.no_grad_.insert(key);
        }
      }
      return;
    }
    for (const auto& key : keys) {
      auto it = m.values_.find(key);
      if (it == m.values_.end() || it->second.is_module()) {
        if (strict) {
          throw std::invalid_argument(
              "[Module.freeze] '" + key + "' is not a parameter of " +
              m.type_name() + ".");
        }
        continue;
      }
      m.no_grad_.insert(key);
    }
  };
  if (!recurse) {
    freeze_one(*this);
    return;
  }
  for (auto& [path, m] : named_modules()) {
    freeze_one(*m);
  }
}

void Module::unfreeze(
    bool recurse,
    const std::vector<std::string>& keys,
    bool strict) {
  auto unfreeze_one = [&](Module& m) {
    if (keys.empty()) {
      m.no_grad_.clear();
      return;
    }
    for (const auto& key : keys) {
      if (strict && (!m.has(key) || m.values_.at(key).is_module())) {
        throw std::invalid_argument(
            "[Module.unfreeze] '" + key + "' is not a parameter of " +
            m.type_name() + ".");
      }
      m.no_grad_.erase(key);
    }
  };
  if (!recurse) {
    unfreeze_one(*this);
    return;
  }
  for (auto& [path, m] : named_modules()) {
    unfreeze_one(*m);
  }
}

void Module::set_frozen(const std::vector<std::string>& names, bool frozen) {
  for (const auto& name : names) {
    std::string key;
    Module* owner = find_owner(name, key);
    if (owner == nullptr || find_parameter(name) == nullptr) {
      throw std::invalid_argument(
          "[Module.freeze] '" + name + "' is not a parameter of this " +
          type_name() + ".");
    }
    if (frozen) {
      owner->no_grad_.insert(key);
    } else {
      owner->no_grad_.erase(key);
    }
  }
}

bool Module::is_frozen(const std::string& name) const {
  std::string key;
  Module* owner = const_cast<Module*>(this)->find_owner(name, key);
  if (owner == nullptr) {
    throw std::invalid_argument(
        "[Module] '" + name + "' is not a parameter of this " + type_name() +
        ".");
  }
  return owner->no_grad_.count(key) > 0;
}

void Module::train(bool mode) {
  for (auto& [path, m] : named_modules()) {
    m->training_ = mode;
  }
}

NamedModules Module::children() const {
  NamedModules out;
  std::function<void(const std::string&, const Value&)> visit =
      [&](const std::string& path, const Value& v) {
        if (v.is_module()) {
          out.emplace_back(path, std::get<ModulePtr>(v.data));
        } else if (v.is_list()) {
          const auto& list = std::get<Value::List>(v.data);
          for (size_t i = 0; i < list.size(); ++i) {
            visit(path + "." + std::to_string(i), list[i]);
          }
        }
      };
  for (const auto& key : keys_) {
    visit(key, values_.at(key));
  }
  return out;
}

NamedModules Module::named_modules() {
  NamedModules out;
  std::function<void(const std::string&, const ModulePtr&)> visit =
      [&](const std::string& path, const ModulePtr& m) {
        out.emplace_back(path, m);
        for (const auto& [name, child] : m->children()) {
          visit(path.empty() ? name : path + "." + name, child);
        }
      };
  visit("", shared_from_this());
  return out;
}

NamedModules Module::leaf_modules() {
  NamedModules out;
  for (auto& [path, m] : named_modules()) {
    if (m->children().empty()) {
      out.emplace_back(path, m);
    }
  }
  return out;
}

void Module::print_tree(std::ostringstream& os, int indent) const {
  os << type_name() << "(" << extra_repr();
  auto kids = children();
  for (const auto& [name, child] : kids) {
    os << "\n" << std::string(indent + 2, ' ') << "(" << name << "): ";
    child->print_tree(os, indent + 2);
  }
  if (!kids.empty()) {
    os << "\n" << std::string(indent, ' ');
  }
  os << ")";
}

std::string Module::to_string() const {
  std::ostringstream os;
  print_tree(os, 0);
  return os.str();
}

void check_inputs(const Module& module, const Inputs& inputs, size_t required) {
  auto names = module.input_names();
  bool ok = inputs.size() >= required && inputs.size() <= names.size();
  for (size_t i = 0; ok && i < required; ++i) {
    ok = inputs[i].has_value();
  }
  if (ok) {
    return;
  }
  std::ostringstream msg;
  msg << "[" << module.type_name() << "] Expected " << required;
  if (names.size() > required) {
    msg << " to " << names.size();
  }
  msg << " input" << (names.size() == 1 ? "" : "s") << " (";
  for (size_t i = 0; i < names.size(); ++i) {
    msg << (i ? ", " : "") << names[i];
  }
  msg << ") with the first " << required << " present, but received "
      << inputs.size() << ".";
  throw std::invalid_argument(msg.str());
}

std::vector<mx::array> UnaryModule::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  return {forward(*inputs[0])};
}

FunctionModule::FunctionModule(
    std::string type_name,
    ForwardFn forward,
    std::vector<std::string> input_names)
    : type_name_(std::move(type_name)),
      forward_(std::move(forward)),
      input_names_(std::move(input_names)) {}

std::vector<mx::array> FunctionModule::forward(const Inputs& inputs) {
  if (!forward_) {
    throw std::runtime_error(
        "[" + type_name_ + "] The module has no forward function.");
  }
  return forward_(*this, inputs);
}

} // namespace rmlx::nn
