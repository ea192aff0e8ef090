#include "rmlx/nn/containers.h"

namespace rmlx::nn {

Sequential::Sequential(std::vector<ModulePtr> modules) {
  register_modules("layers", modules);
}

mx::array Sequential::forward(const mx::array& x) {
  mx::array y = x;
  for (const auto& layer : layers()) {
    y = (*layer)(y);
  }
  return y;
}

std::vector<ModulePtr> Sequential::layers() const {
  std::vector<ModulePtr> modules;
  for (const auto& item : std::get<Value::List>(value("layers").data)) {
    modules.push_back(std::get<ModulePtr>(item.data));
  }
  return modules;
}

} // namespace rmlx::nn
