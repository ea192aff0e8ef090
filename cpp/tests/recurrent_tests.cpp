#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/recurrent.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::CustomKernelsScope;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

// The MLX layers of the fixture file, made as the fixture script makes them
// after mx::random::seed(42).
std::shared_ptr<RecurrentLayer> make_mlx_case(const std::string& name) {
  mx::random::seed(42);
  if (name == "rnn") {
    return std::make_shared<RNN>(3, 4);
  }
  if (name == "rnn_relu") {
    return std::make_shared<RNN>(3, 4, true, "relu");
  }
  if (name == "rnn_no_bias") {
    return std::make_shared<RNN>(3, 4, false);
  }
  if (name == "gru") {
    return std::make_shared<GRU>(3, 4);
  }
  if (name == "gru_no_bias") {
    return std::make_shared<GRU>(3, 4, false);
  }
  if (name == "lstm") {
    return std::make_shared<LSTM>(3, 4);
  }
  return std::make_shared<LSTM>(3, 4, false);
}

const std::vector<std::string> kMlxCases = {
    "rnn", "rnn_relu", "rnn_no_bias", "gru", "gru_no_bias", "lstm",
    "lstm_no_bias"};

// The stacked layers of the fixture file, after mx::random::seed(42).
std::shared_ptr<StackedRecurrent> make_stacked_case(const std::string& name) {
  mx::random::seed(42);
  if (name == "stacked_rnn") {
    return std::make_shared<StackedRNN>(3, 4, StackOptions{2, true, 0.0, true});
  }
  if (name == "stacked_rnn_relu") {
    return std::make_shared<StackedRNN>(
        3, 4, StackOptions{3, true, 0.0, false}, "relu");
  }
  if (name == "stacked_gru") {
    return std::make_shared<StackedGRU>(3, 4, StackOptions{2, true, 0.0, true});
  }
  if (name == "stacked_lstm") {
    return std::make_shared<StackedLSTM>(
        3, 4, StackOptions{2, true, 0.0, true});
  }
  return std::make_shared<StackedLSTM>(3, 4, StackOptions{1, false, 0.0, true});
}

const std::vector<std::string> kStackedCases = {
    "stacked_rnn", "stacked_rnn_relu", "stacked_gru", "stacked_lstm",
    "stacked_lstm_no_bias"};

bool is_lstm(const Module& module) {
  return module.type_name().find("LSTM") != std::string::npos;
}

// The fixture's arrays under "<prefix>param/" with the prefix removed.
NamedArrays fixture_params(
    const Fixture& fixture,
    const std::string& prefix,
    const Module& module) {
  NamedArrays out;
  for (const auto& [name, value] : module.parameters()) {
    out.emplace_back(name, fixture[prefix + "param/" + name]);
  }
  return out;
}

// Gradients of loss(forward outputs) with respect to the named inputs and
// every parameter, keyed by input name and "param/<name>". make_inputs
// turns the differentiated inputs into the forward inputs.
std::map<std::string, mx::array> gradients(
    Module& module,
    const std::vector<std::pair<std::string, mx::array>>& inputs,
    const std::function<Inputs(const std::vector<mx::array>&)>& make_inputs,
    const std::function<mx::array(const std::vector<mx::array>&)>& loss) {
  NamedArrays params = module.parameters();
  std::vector<mx::array> values;
  for (const auto& [name, value] : inputs) {
    values.push_back(value);
  }
  for (const auto& [name, value] : params) {
    values.push_back(value);
  }
  size_t n_inputs = inputs.size();
  auto fn = [&](const std::vector<mx::array>& args) {
    NamedArrays updated;
    for (size_t i = 0; i < params.size(); ++i) {
      updated.emplace_back(params[i].first, args[n_inputs + i]);
    }
    module.update(updated);
    std::vector<mx::array> forward_args(args.begin(), args.begin() + n_inputs);
    return loss(module.forward(make_inputs(forward_args)));
  };
  std::vector<int> argnums(values.size());
  std::iota(argnums.begin(), argnums.end(), 0);
  auto grads = mx::grad(fn, argnums)(values);
  module.update(params);

  std::map<std::string, mx::array> out;
  for (size_t i = 0; i < n_inputs; ++i) {
    out.emplace(inputs[i].first, grads[i]);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    out.emplace("param/" + params[i].first, grads[n_inputs + i]);
  }
  return out;
}

mx::array weighted(const mx::array& y, const mx::array& w) {
  return mx::sum(mx::multiply(y, w));
}

} // namespace

TEST_CASE("recurrent initial weights match MLX Python") {
  Fixture fixture("recurrent");
  for (const auto& name : kMlxCases) {
    CAPTURE(name);
    auto layer = make_mlx_case(name);
    auto params = layer->parameters();
    CHECK(params.size() == fixture_params(fixture, name + "/", *layer).size());
    for (const auto& [param, value] : params) {
      CAPTURE(param);
      CHECK(arrays_equal(value, fixture[name + "/param/" + param]));
    }
  }
  // Without bias, MLX Python's layers have no bias parameters at all.
  CHECK(make_mlx_case("rnn_no_bias")->parameters().size() == 2);
  CHECK(make_mlx_case("gru_no_bias")->parameters().size() == 2);
  CHECK(make_mlx_case("lstm_no_bias")->parameters().size() == 2);
  CHECK(make_mlx_case("gru")->parameters().size() == 4);
}

TEST_CASE("recurrent forward matches MLX Python") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    Fixture fixture("recurrent");
    for (const auto& name : kMlxCases) {
      CAPTURE(name);
      auto layer = make_mlx_case(name);
      std::string p = name + "/";
      const mx::array& x = fixture[p + "x"];
      const mx::array& hidden = fixture[p + "hidden"];
      const mx::array& cell = fixture[p + "cell"];
      if (is_lstm(*layer)) {
        auto lstm = std::dynamic_pointer_cast<LSTM>(layer);
        auto [y, c] = lstm->forward(x);
        CHECK(arrays_close(y, fixture[p + "y"]));
        CHECK(arrays_close(c, fixture[p + "c"]));
        auto [y_state, c_state] = lstm->forward(x, hidden, cell);
        CHECK(arrays_close(y_state, fixture[p + "y_state"]));
        CHECK(arrays_close(c_state, fixture[p + "c_state"]));
        Module& module = *lstm;
        auto outputs = module.forward({x, std::nullopt, cell});
        CHECK(arrays_close(outputs[0], fixture[p + "y_cell_only"]));
        CHECK(arrays_close(lstm->forward(fixture[p + "x1"]).first,
                           fixture[p + "y1"]));
      } else {
        CHECK(arrays_close((*layer)(x), fixture[p + "y"]));
        CHECK(arrays_close(
            layer->forward({x, hidden})[0], fixture[p + "y_state"]));
        CHECK(arrays_close((*layer)(fixture[p + "x1"]), fixture[p + "y1"]));
      }
      CHECK(arrays_close(
          layer->forward({x})[0], fixture[p + "torch_y"], 1e-5, 1e-5));
    }
  }
}

TEST_CASE("recurrent gradients match MLX Python") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    Fixture fixture("recurrent");
    for (const auto& name : kMlxCases) {
      CAPTURE(name);
      auto layer = make_mlx_case(name);
      std::string p = name + "/";
      bool lstm = is_lstm(*layer);
      std::vector<std::pair<std::string, mx::array>> inputs = {
          {"x", fixture[p + "x"]}, {"hidden", fixture[p + "hidden"]}};
      if (lstm) {
        inputs.emplace_back("cell", fixture[p + "cell"]);
      }
      auto make_inputs = [](const std::vector<mx::array>& args) {
        return Inputs(args.begin(), args.end());
      };
      auto loss = [&](const std::vector<mx::array>& outputs) {
        mx::array value = weighted(outputs[0], fixture[p + "w"]);
        if (lstm) {
          value = mx::add(value, weighted(outputs[1], fixture[p + "w_c"]));
        }
        return value;
      };
      auto grads = gradients(*layer, inputs, make_inputs, loss);
      for (const auto& [key, value] : grads) {
        CAPTURE(key);
        CHECK(arrays_close(value, fixture[p + "grad/" + key], 1e-4, 1e-5));
      }
    }
  }
}

TEST_CASE("recurrent gradients match finite differences") {
  mx::random::seed(3);
  auto lstm = std::make_shared<LSTM>(2, 3);
  lstm->set_dtype(mx::float64);
  mx::array x = mx::astype(mx::random::normal({2, 4, 2}), mx::float64);
  mx::array w = mx::astype(mx::random::normal({2, 4, 3}), mx::float64);
  auto of_input = [&](const mx::array& input) {
    return weighted(lstm->forward(input).first, w);
  };
  CHECK(gradient_matches(of_input, x));
  mx::array wh = lstm->param("Wh");
  auto of_wh = [&](const mx::array& value) {
    lstm->update({{"Wh", value}});
    return weighted(lstm->forward(x).second, w);
  };
  CHECK(gradient_matches(of_wh, wh));
  lstm->update({{"Wh", wh}});

  auto gru = std::make_shared<GRU>(2, 3);
  gru->set_dtype(mx::float64);
  mx::array hidden = mx::astype(mx::random::normal({2, 3}), mx::float64);
  auto of_hidden = [&](const mx::array& h) {
    return weighted(gru->forward(x, h), w);
  };
  CHECK(gradient_matches(of_hidden, hidden));
}

TEST_CASE("recurrent repr matches MLX Python") {
  Fixture fixture("recurrent");
  for (const auto& name : {"gru", "gru_no_bias", "lstm", "lstm_no_bias"}) {
    CAPTURE(name);
    CHECK(make_mlx_case(name)->to_string() ==
          fixture.metadata().at(std::string(name) + "/repr"));
  }
  CHECK(make_mlx_case("rnn")->to_string() ==
        "RNN(input_dims=3, hidden_size=4, nonlinearity=tanh, bias=True)");
  CHECK(make_mlx_case("rnn_relu")->to_string() ==
        "RNN(input_dims=3, hidden_size=4, nonlinearity=relu, bias=True)");
  auto with_module =
      std::make_shared<RNN>(2, 3, false, std::make_shared<ReLU>());
  CHECK(with_module->to_string() ==
        "RNN(input_dims=2, hidden_size=3, nonlinearity=ReLU(), bias=False\n"
        "  (nonlinearity): ReLU()\n"
        ")");
}

TEST_CASE("rnn nonlinearity module matches the named function") {
  Fixture fixture("recurrent");
  mx::random::seed(42);
  auto layer = std::make_shared<RNN>(3, 4, true, std::make_shared<ReLU>());
  CHECK(arrays_close((*layer)(fixture["rnn_relu/x"]), fixture["rnn_relu/y"]));
  CHECK(layer->parameters().size() == 3);
  CHECK(layer->children().size() == 1);

  auto leaky = std::make_shared<RNN>(3, 4, true, "leaky_relu");
  auto leaky_module = std::make_shared<RNN>(
      3, 4, true, std::make_shared<LeakyReLU>(0.01));
  leaky_module->update(leaky->parameters());
  mx::array x = fixture["rnn/x"];
  CHECK(arrays_close((*leaky)(x), (*leaky_module)(x)));
}

TEST_CASE("recurrent layers reject bad arguments") {
  CHECK_THROWS_AS(RNN(0, 4), std::invalid_argument);
  CHECK_THROWS_AS(GRU(3, 0), std::invalid_argument);
  CHECK_THROWS_AS(LSTM(-1, 4), std::invalid_argument);
  CHECK_THROWS_AS(RNN(3, 4, true, "cosh"), std::invalid_argument);
  CHECK_THROWS_AS(RNN(3, 4, true, ModulePtr()), std::invalid_argument);

  mx::random::seed(1);
  LSTM lstm(3, 4);
  // Rank, feature size and empty sequences.
  CHECK_THROWS_AS(lstm.forward(mx::zeros({3})), std::invalid_argument);
  CHECK_THROWS_AS(
      lstm.forward(mx::zeros({1, 2, 3, 3})), std::invalid_argument);
  CHECK_THROWS_AS(lstm.forward(mx::zeros({2, 5, 2})), std::invalid_argument);
  CHECK_THROWS_AS(lstm.forward(mx::zeros({2, 0, 3})), std::invalid_argument);
  // State shapes.
  CHECK_THROWS_AS(
      lstm.forward(mx::zeros({2, 5, 3}), mx::zeros({4})),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm.forward(mx::zeros({2, 5, 3}), mx::zeros({2, 4}), mx::zeros({3, 4})),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm.forward(mx::zeros({5, 3}), mx::zeros({1, 4})), std::invalid_argument);
  // Inputs beyond those the layer takes.
  Module& module = lstm;
  Inputs too_many = {
      mx::zeros({5, 3}), std::nullopt, std::nullopt, mx::zeros({1})};
  CHECK_THROWS_AS(module.forward(too_many), std::invalid_argument);
  try {
    lstm.forward(mx::zeros({2, 5, 2}));
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) ==
          "[LSTM] Expected x of shape (N, L, 3) or (L, 3) with L > 0 but "
          "received shape (2, 5, 2).");
  }
}

TEST_CASE("stacked initial weights follow the cell order") {
  Fixture fixture("recurrent");
  for (const auto& name : kStackedCases) {
    CAPTURE(name);
    auto layer = make_stacked_case(name);
    auto params = layer->parameters();
    CHECK(params.size() == fixture_params(fixture, name + "/", *layer).size());
    for (const auto& [param, value] : params) {
      CAPTURE(param);
      CHECK(arrays_equal(value, fixture[name + "/param/" + param]));
    }
  }
  auto lstm = make_stacked_case("stacked_lstm");
  CHECK(lstm->cell(0, 1)->input_size() == 3);
  CHECK(lstm->cell(1, 0)->input_size() == 8);
  CHECK(lstm->cell(1, 1)->input_size() == 8);
}

TEST_CASE("stacked forward with lengths matches PyTorch") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    Fixture fixture("recurrent");
    for (const auto& name : kStackedCases) {
      CAPTURE(name);
      auto layer = make_stacked_case(name);
      std::string p = name + "/";
      bool lstm = is_lstm(*layer);
      Inputs inputs = {fixture[p + "x"], fixture[p + "hidden"]};
      if (lstm) {
        inputs.push_back(fixture[p + "cell"]);
      }
      inputs.push_back(fixture[p + "lengths"]);
      auto outputs = layer->forward(inputs);
      REQUIRE(outputs.size() == (lstm ? 3u : 2u));
      CHECK(arrays_close(outputs[0], fixture[p + "output"], 1e-5, 1e-5));
      CHECK(arrays_close(outputs[1], fixture[p + "h_n"], 1e-5, 1e-5));
      if (lstm) {
        CHECK(arrays_close(outputs[2], fixture[p + "c_n"], 1e-5, 1e-5));
      }

      // Without lengths every sequence runs over all steps.
      inputs.back() = std::nullopt;
      outputs = layer->forward(inputs);
      CHECK(arrays_close(outputs[0], fixture[p + "full_output"], 1e-5, 1e-5));
      CHECK(arrays_close(outputs[1], fixture[p + "full_h_n"], 1e-5, 1e-5));
      if (lstm) {
        CHECK(arrays_close(outputs[2], fixture[p + "full_c_n"], 1e-5, 1e-5));
      }
    }
  }
}

TEST_CASE("stacked gradients match PyTorch") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    Fixture fixture("recurrent");
    for (const auto& name : kStackedCases) {
      CAPTURE(name);
      auto layer = make_stacked_case(name);
      std::string p = name + "/";
      bool lstm = is_lstm(*layer);
      std::vector<std::pair<std::string, mx::array>> inputs = {
          {"x", fixture[p + "x"]}, {"hidden", fixture[p + "hidden"]}};
      if (lstm) {
        inputs.emplace_back("cell", fixture[p + "cell"]);
      }
      mx::array lengths = fixture[p + "lengths"];
      auto make_inputs = [&](const std::vector<mx::array>& args) {
        Inputs out(args.begin(), args.end());
        out.push_back(lengths);
        return out;
      };
      auto loss = [&](const std::vector<mx::array>& outputs) {
        mx::array value = mx::add(
            weighted(outputs[0], fixture[p + "w"]),
            weighted(outputs[1], fixture[p + "w_h"]));
        if (lstm) {
          value = mx::add(value, weighted(outputs[2], fixture[p + "w_c"]));
        }
        return value;
      };
      auto grads = gradients(*layer, inputs, make_inputs, loss);
      for (const auto& [key, value] : grads) {
        CAPTURE(key);
        CHECK(arrays_close(value, fixture[p + "grad/" + key], 1e-4, 1e-5));
      }
    }
  }
}

TEST_CASE("stacked gradients match finite differences") {
  mx::random::seed(5);
  auto layer = std::make_shared<StackedGRU>(
      2, 3, StackOptions{2, true, 0.0, true});
  layer->set_dtype(mx::float64);
  mx::array x = mx::astype(mx::random::normal({3, 4, 2}), mx::float64);
  mx::array w = mx::astype(mx::random::normal({3, 4, 6}), mx::float64);
  mx::array lengths = mx::array({4, 2, 3});
  auto of_input = [&](const mx::array& input) {
    auto outputs = layer->forward({input, std::nullopt, lengths});
    return mx::add(weighted(outputs[0], w), mx::sum(outputs[1]));
  };
  CHECK(gradient_matches(of_input, x));
}

TEST_CASE("stacked layer with one cell equals the MLX layer") {
  Fixture fixture("recurrent");
  mx::random::seed(42);
  auto stacked = std::make_shared<StackedLSTM>(3, 4);
  mx::random::seed(42);
  auto lstm = std::make_shared<LSTM>(3, 4);
  const mx::array& x = fixture["lstm/x"];
  auto outputs = stacked->forward({x});
  auto [y, c] = lstm->forward(x);
  CHECK(arrays_close(outputs[0], y));
  CHECK(arrays_close(mx::take(outputs[1], 0, 0), mx::take(y, 4, 1)));
  CHECK(arrays_close(mx::take(outputs[2], 0, 0), mx::take(c, 4, 1)));
  CHECK(stacked->parameters()[0].first == "layers.0.Wx");
}

TEST_CASE("stacked lengths mask padded steps") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    mx::random::seed(7);
    auto layer = std::make_shared<StackedGRU>(
        2, 3, StackOptions{1, true, 0.0, true});
    mx::array x = mx::random::normal({2, 5, 2});
    mx::array h0 = mx::random::normal({2, 2, 3});
    mx::array lengths = mx::array({3, 0});
    auto outputs = layer->forward({x, h0, lengths});

    // Sequence 0 with lengths equals its first three steps run alone.
    mx::array first = mx::slice(x, {0, 0, 0}, {1, 3, 2});
    mx::array first_h0 = mx::slice(h0, {0, 0, 0}, {2, 1, 3});
    auto alone = layer->forward({first, first_h0});
    CHECK(arrays_close(
        mx::slice(outputs[0], {0, 0, 0}, {1, 3, 6}), alone[0]));
    CHECK(arrays_close(
        mx::slice(outputs[1], {0, 0, 0}, {2, 1, 3}), alone[1]));
    // Padded steps give zeros; a sequence of length 0 keeps its initial state.
    CHECK(mx::all(mx::equal(mx::slice(outputs[0], {0, 3, 0}, {1, 5, 6}),
                            mx::array(0.0f)))
              .item<bool>());
    CHECK(mx::all(mx::equal(mx::slice(outputs[0], {1, 0, 0}, {2, 5, 6}),
                            mx::array(0.0f)))
              .item<bool>());
    CHECK(arrays_close(
        mx::slice(outputs[1], {0, 1, 0}, {2, 2, 3}),
        mx::slice(h0, {0, 1, 0}, {2, 2, 3})));
  }
}

TEST_CASE("stacked layer takes unbatched input") {
  // Both the sequence kernels and MLX's operations.
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    mx::random::seed(8);
    auto layer = std::make_shared<StackedLSTM>(
        2, 3, StackOptions{2, true, 0.0, true});
    mx::array x = mx::random::normal({5, 2});
    auto unbatched = layer->forward({x});
    auto batched = layer->forward({mx::expand_dims(x, 0)});
    CHECK(unbatched[0].shape() == mx::Shape{5, 6});
    CHECK(unbatched[1].shape() == mx::Shape{4, 3});
    CHECK(arrays_close(unbatched[0], mx::squeeze(batched[0], 0)));
    CHECK(arrays_close(unbatched[2], mx::squeeze(batched[2], 1)));
  }
}

TEST_CASE("stacked dropout applies only in training") {
  mx::random::seed(9);
  auto layer = std::make_shared<StackedRNN>(
      2, 8, StackOptions{2, true, 0.5, false});
  mx::array x = mx::random::normal({4, 6, 2});
  auto trained = layer->forward({x});
  layer->eval();
  auto evaluated = layer->forward({x});
  auto again = layer->forward({x});
  CHECK(arrays_equal(evaluated[0], again[0]));
  CHECK_FALSE(arrays_close(trained[0], evaluated[0]));
  // Layer 0's final state comes before any dropout.
  CHECK(arrays_close(mx::take(trained[1], 0, 0), mx::take(evaluated[1], 0, 0)));

  // With one layer there is nothing between layers to drop.
  mx::random::seed(9);
  auto single = std::make_shared<StackedRNN>(
      2, 8, StackOptions{1, true, 0.5, false});
  auto a = single->forward({x});
  single->eval();
  CHECK(arrays_close(a[0], single->forward({x})[0]));
}

TEST_CASE("stacked repr and errors") {
  mx::random::seed(1);
  auto layer = std::make_shared<StackedLSTM>(
      3, 4, StackOptions{1, false, 0.25, true});
  CHECK(layer->extra_repr() ==
        "input_size=3, hidden_size=4, num_layers=1, bias=False, "
        "dropout=0.25, bidirectional=True");
  CHECK(layer->to_string() ==
        "StackedLSTM(input_size=3, hidden_size=4, num_layers=1, bias=False, "
        "dropout=0.25, bidirectional=True\n"
        "  (layers.0): LSTM(input_dims=3, hidden_size=4, bias=False)\n"
        "  (layers.1): LSTM(input_dims=3, hidden_size=4, bias=False)\n"
        ")");
  CHECK(StackedRNN(3, 4).extra_repr() ==
        "input_size=3, hidden_size=4, num_layers=1, bias=True, dropout=0.0, "
        "bidirectional=False, nonlinearity=tanh");

  CHECK_THROWS_AS(StackedGRU(3, 4, StackOptions{0}), std::invalid_argument);
  CHECK_THROWS_AS(
      StackedGRU(3, 4, StackOptions{2, true, 1.0}), std::invalid_argument);
  CHECK_THROWS_AS(StackedGRU(0, 4), std::invalid_argument);
  CHECK_THROWS_AS(
      StackedRNN(3, 4, StackOptions{}, "cosh"), std::invalid_argument);

  mx::array x = mx::zeros({2, 5, 3});
  // Initial states are (num_layers * directions, N, H).
  CHECK_THROWS_AS(
      layer->forward({x, mx::zeros({2, 4})}), std::invalid_argument);
  CHECK_THROWS_AS(
      layer->forward({x, std::nullopt, mx::zeros({1, 2, 4})}),
      std::invalid_argument);
  // lengths needs a batched x and one entry per sequence.
  CHECK_THROWS_AS(
      layer->forward({x, std::nullopt, std::nullopt, mx::array({5, 5, 5})}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer->forward(
          {mx::zeros({5, 3}), std::nullopt, std::nullopt, mx::array({5})}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer->forward({x, std::nullopt, std::nullopt, mx::array({true, true})}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer->forward({mx::zeros({2, 5, 4})}), std::invalid_argument);
  try {
    layer->forward({x, mx::zeros({2, 4})});
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) ==
          "[StackedLSTM] Expected hidden of shape (2, 2, 4) (num_layers * "
          "directions, N, hidden_size) for x of shape (2, 5, 3) but received "
          "shape (2, 4).");
  }
}
