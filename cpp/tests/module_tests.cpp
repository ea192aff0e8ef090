#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "rmlx/nn/module.h"

using namespace rmlx::nn;

namespace {

// A leaf with one weight and a bias, enough to build trees in the tests.
class Leaf : public UnaryModule {
 public:
  explicit Leaf(int n) {
    register_parameter("weight", mx::ones({n, n}));
    register_parameter("bias", mx::zeros({n}));
  }
  std::string type_name() const override {
    return "Leaf";
  }
  std::string extra_repr() const override {
    return "n=" + std::to_string(param("bias").shape(0));
  }
  mx::array forward(const mx::array& x) override {
    return mx::add(mx::matmul(x, param("weight")), param("bias"));
  }
};

class Tree : public UnaryModule {
 public:
  Tree() {
    register_modules(
        "layers", {std::make_shared<Leaf>(2), std::make_shared<Leaf>(3)});
    register_module("head", std::make_shared<Leaf>(1));
    register_value(
        "extra", Value::List{Value(mx::zeros({4})), Value(mx::ones({2}))});
  }
  std::string type_name() const override {
    return "Tree";
  }
  mx::array forward(const mx::array& x) override {
    return x;
  }
};

std::vector<std::string> names_of(const NamedArrays& arrays) {
  std::vector<std::string> names;
  for (const auto& [name, a] : arrays) {
    names.push_back(name);
  }
  return names;
}

} // namespace

TEST_CASE("module parameters flatten to dotted names") {
  auto tree = std::make_shared<Tree>();
  std::vector<std::string> expected = {
      "layers.0.weight",
      "layers.0.bias",
      "layers.1.weight",
      "layers.1.bias",
      "head.weight",
      "head.bias",
      "extra.0",
      "extra.1"};
  CHECK(names_of(tree->parameters()) == expected);
  CHECK(tree->num_parameters() == 4 + 2 + 9 + 3 + 1 + 1 + 4 + 2);
}

TEST_CASE("module freeze and unfreeze") {
  auto tree = std::make_shared<Tree>();
  tree->freeze();
  CHECK(tree->trainable_parameters().empty());
  tree->unfreeze();
  CHECK(tree->trainable_parameters().size() == 8);

  // Freezing one local key recurses into every module that has it.
  tree->freeze(true, {"bias"});
  auto names = names_of(tree->trainable_parameters());
  CHECK(names ==
        std::vector<std::string>{
            "layers.0.weight",
            "layers.1.weight",
            "head.weight",
            "extra.0",
            "extra.1"});
  tree->unfreeze();

  tree->set_frozen({"layers.1.weight"}, true);
  CHECK(tree->is_frozen("layers.1.weight"));
  CHECK_FALSE(tree->is_frozen("layers.0.weight"));
  CHECK(tree->trainable_parameters().size() == 7);
  tree->set_frozen({"layers.1.weight"}, false);
  CHECK(tree->trainable_parameters().size() == 8);

  CHECK_THROWS_AS(tree->set_frozen({"layers.7.weight"}, true),
                  std::invalid_argument);
  CHECK_THROWS_AS(tree->freeze(false, {"nope"}, true), std::invalid_argument);
  CHECK_NOTHROW(tree->freeze(false, {"nope"}, false));
}

TEST_CASE("module update by dotted name") {
  auto tree = std::make_shared<Tree>();
  tree->update({{"layers.1.bias", mx::full({3}, 2.0f)}});
  auto layer = std::dynamic_pointer_cast<Leaf>(tree->children()[1].second);
  REQUIRE(layer);
  CHECK(mx::array_equal(layer->param("bias"), mx::full({3}, 2.0f)).item<bool>());

  CHECK_THROWS_AS(tree->update({{"layers.2.bias", mx::zeros({3})}}, true),
                  std::invalid_argument);
  CHECK_NOTHROW(tree->update({{"layers.2.bias", mx::zeros({3})}}, false));
  CHECK_THROWS_AS(tree->update({{"layers", mx::zeros({3})}}, true),
                  std::invalid_argument);
}

TEST_CASE("module load_weights strict checks") {
  auto tree = std::make_shared<Tree>();
  auto weights = tree->parameters();
  CHECK_NOTHROW(tree->load_weights(weights, true));

  auto missing = weights;
  missing.pop_back();
  CHECK_THROWS_AS(tree->load_weights(missing, true), std::invalid_argument);
  CHECK_NOTHROW(tree->load_weights(missing, false));

  auto extra = weights;
  extra.emplace_back("unknown", mx::zeros({1}));
  CHECK_THROWS_AS(tree->load_weights(extra, true), std::invalid_argument);

  auto reshaped = weights;
  reshaped[0].second = mx::zeros({5});
  CHECK_THROWS_AS(tree->load_weights(reshaped, true), std::invalid_argument);
}

TEST_CASE("module save and load safetensors") {
  auto path = (std::filesystem::temp_directory_path() / "rmlx_module.safetensors")
                  .string();
  auto tree = std::make_shared<Tree>();
  tree->update({{"head.weight", mx::full({1, 1}, 7.0f)}});
  tree->save_weights(path);

  auto other = std::make_shared<Tree>();
  other->load_weights(path, true);
  auto head = other->child("head");
  mx::array weight = head->param("weight");
  CHECK(weight.item<float>() == 7.0f);
  std::remove(path.c_str());

  CHECK_THROWS_AS(tree->save_weights("weights.bin"), std::invalid_argument);
  CHECK_THROWS(other->load_weights(path, true));
}

TEST_CASE("module training mode and tree walk") {
  auto tree = std::make_shared<Tree>();
  CHECK(tree->training());
  tree->eval();
  for (auto& [path, m] : tree->named_modules()) {
    CHECK_FALSE(m->training());
  }
  auto modules = tree->named_modules();
  REQUIRE(modules.size() == 4);
  CHECK(modules[0].first == "");
  CHECK(modules[1].first == "layers.0");
  CHECK(modules[3].first == "head");
  CHECK(tree->leaf_modules().size() == 3);
  CHECK(tree->to_string() ==
        "Tree(\n  (layers.0): Leaf(n=2)\n  (layers.1): Leaf(n=3)\n"
        "  (head): Leaf(n=1)\n)");
}

TEST_CASE("module apply and set_dtype") {
  auto tree = std::make_shared<Tree>();
  tree->set_dtype(mx::float16);
  for (const auto& [name, p] : tree->parameters()) {
    CHECK(p.dtype() == mx::float16);
  }
  tree->apply([](const std::string&, const mx::array& p) {
    return mx::multiply(p, mx::array(2.0f, p.dtype()));
  });
  mx::array weight = mx::astype(tree->child("head")->param("weight"), mx::float32);
  CHECK(weight.item<float>() == 2.0f);
  CHECK_THROWS_AS(tree->set_dtype(mx::int32), std::invalid_argument);
}

TEST_CASE("function module calls its forward") {
  auto m = std::make_shared<FunctionModule>(
      "Twice", [](Module& self, const Inputs& in) {
        check_inputs(self, in, 1);
        return std::vector<mx::array>{mx::multiply(*in[0], self.param("s"))};
      });
  m->register_parameter("s", mx::array(2.0f));
  CHECK((*m)(mx::array(3.0f)).item<float>() == 6.0f);
  CHECK_THROWS_AS(m->forward(Inputs{}), std::invalid_argument);
}

TEST_CASE("module rejects cycles") {
  auto tree = std::make_shared<Tree>();
  auto leaf = std::make_shared<Leaf>(2);
  CHECK_THROWS_AS(tree->register_module("self", tree), std::invalid_argument);
  CHECK_THROWS_AS(tree->register_modules("loop", {leaf, tree}),
                  std::invalid_argument);
  auto outer = std::make_shared<Tree>();
  outer->register_module("inner", tree);
  CHECK_THROWS_AS(tree->register_module("outer", outer),
                  std::invalid_argument);
  CHECK_THROWS_AS(tree->register_module("none", nullptr),
                  std::invalid_argument);
}
