#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rmlx/nn/recurrent.h"
#include "rmlx/nn/recurrent_sequence.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::CustomKernelsScope;
using rmlx::test::numeric_gradient;

namespace {

mx::array normal(const mx::Shape& shape, float scale = 1.0f) {
  return mx::multiply(mx::random::normal(shape), mx::array(scale));
}

// The inputs of one scan() of a layer, with the states and lengths that a
// case uses.
struct ScanCase {
  bool with_hidden = false;
  bool with_cell = false;
  bool with_lengths = false;
  bool reverse = false;
  // When false, the loss reads only the hidden sequence, so the other
  // outputs' cotangents are the zeros that MLX makes for unused outputs.
  bool all_outputs = true;
};

std::string describe(const ScanCase& c) {
  return std::string("hidden=") + (c.with_hidden ? "1" : "0") +
      " cell=" + (c.with_cell ? "1" : "0") +
      " lengths=" + (c.with_lengths ? "1" : "0") +
      " reverse=" + (c.reverse ? "1" : "0") +
      " all_outputs=" + (c.all_outputs ? "1" : "0");
}

std::vector<ScanCase> scan_cases(bool lstm) {
  std::vector<ScanCase> cases;
  for (bool with_hidden : {false, true}) {
    for (bool with_cell : {false, true}) {
      if (with_cell && !lstm) {
        continue;
      }
      for (bool with_lengths : {false, true}) {
        for (bool reverse : {false, true}) {
          cases.push_back(
              {with_hidden, with_cell, with_lengths, reverse, true});
        }
      }
    }
  }
  cases.push_back({true, lstm, true, false, false});
  return cases;
}

// The value and the gradients with respect to x, the initial states and
// every parameter of a weighted sum of scan()'s outputs, in that order.
// Lengths include a zero and one above the number of steps.
std::vector<mx::array> scan_value_and_grads(
    RecurrentLayer& layer,
    const ScanCase& c,
    const mx::array& x) {
  bool batched = x.ndim() == 3;
  int n = batched ? x.shape(0) : 0;
  int h = layer.hidden_size();
  int steps = x.shape(-2);
  mx::Shape state_shape = batched ? mx::Shape{n, h} : mx::Shape{h};
  mx::Shape sequence_shape =
      batched ? mx::Shape{n, steps, h} : mx::Shape{steps, h};
  mx::random::seed(11);
  std::vector<mx::array> args = {x, normal(state_shape), normal(state_shape)};
  std::vector<mx::array> weights;
  for (int i = 0; i < 2; ++i) {
    weights.push_back(normal(sequence_shape));
    weights.push_back(normal(state_shape));
  }
  std::optional<mx::array> lengths;
  if (c.with_lengths) {
    std::vector<int> values;
    for (int i = 0; i < n; ++i) {
      values.push_back(i % 3 == 1 ? 0 : (i % 3 == 2 ? steps + 2 : 2));
    }
    lengths = mx::array(values.begin(), {n}, mx::int32);
  }
  NamedArrays params = layer.parameters();
  for (const auto& [name, value] : params) {
    args.push_back(value);
  }

  auto loss = [&](const std::vector<mx::array>& in) {
    NamedArrays updated;
    for (size_t i = 0; i < params.size(); ++i) {
      updated.emplace_back(params[i].first, in[3 + i]);
    }
    layer.update(updated);
    RecurrentState initial;
    initial.push_back(c.with_hidden ? std::optional(in[1]) : std::nullopt);
    if (layer.num_states() == 2) {
      initial.push_back(c.with_cell ? std::optional(in[2]) : std::nullopt);
    }
    auto result = layer.scan(in[0], initial, lengths, c.reverse);
    mx::array value = mx::sum(mx::multiply(result.sequences[0], weights[0]));
    if (c.all_outputs) {
      for (size_t s = 0; s < result.sequences.size(); ++s) {
        value = mx::add(
            value,
            mx::sum(mx::multiply(result.final_state[s], weights[2 * s + 1])));
        if (s > 0) {
          value = mx::add(
              value, mx::sum(mx::multiply(result.sequences[s], weights[2])));
        }
      }
    }
    return value;
  };
  std::vector<int> argnums(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    argnums[i] = static_cast<int>(i);
  }
  auto [value, grads] = mx::value_and_grad(loss, argnums)(args);
  layer.update(params);
  std::vector<mx::array> out = {value};
  out.insert(out.end(), grads.begin(), grads.end());
  mx::eval(out);
  return out;
}

// Checks that scan() gives the same value and gradients in case `c` with
// the custom kernels (the sequence primitives) as with MLX's operations.
void check_case_matches_operations(
    RecurrentLayer& layer,
    const ScanCase& c,
    const mx::array& x,
    double rtol,
    double atol) {
  CAPTURE(describe(c));
  std::vector<mx::array> fused;
  std::vector<mx::array> ops;
  {
    CustomKernelsScope kernels(true);
    fused = scan_value_and_grads(layer, c, x);
  }
  {
    CustomKernelsScope kernels(false);
    ops = scan_value_and_grads(layer, c, x);
  }
  REQUIRE(fused.size() == ops.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    CAPTURE(i);
    CHECK(arrays_close(fused[i], ops[i], rtol, atol));
  }
}

// The same over every case of scan_cases().
void check_kernels_match_operations(
    RecurrentLayer& layer,
    const mx::array& x,
    bool lstm) {
  for (const auto& c : scan_cases(lstm)) {
    check_case_matches_operations(layer, c, x, 1e-4, 1e-5);
  }
}

// The name of the primitive of a layer's first output, built but not
// evaluated, since evaluation detaches it.
std::string first_output_primitive(
    RecurrentLayer& layer,
    const mx::array& x,
    bool custom) {
  CustomKernelsScope kernels(custom);
  return layer.forward({x})[0].primitive().name();
}

} // namespace

TEST_CASE("layers use the sequence primitives only when enabled") {
  mx::random::seed(1);
  auto x = normal({2, 5, 3});
  LSTM lstm(3, 4);
  GRU gru(3, 4);
  CHECK(first_output_primitive(lstm, x, true) == "LSTMSequence");
  CHECK(first_output_primitive(lstm, x, false) != "LSTMSequence");
  CHECK(first_output_primitive(gru, x, true) == "GRUSequence");
  CHECK(first_output_primitive(gru, x, false) != "GRUSequence");

  // Other dtypes compose MLX operations.
  lstm.set_dtype(mx::float16);
  auto half = mx::astype(x, mx::float16);
  CHECK(first_output_primitive(lstm, half, true) != "LSTMSequence");
  CHECK(lstm.forward(half).first.dtype() == mx::float16);
}

TEST_CASE("lstm sequence kernel equals MLX operations") {
  mx::random::seed(2);
  auto x = normal({4, 6, 3});
  for (bool bias : {true, false}) {
    CAPTURE(bias);
    mx::random::seed(3);
    LSTM layer(3, 5, bias);
    check_kernels_match_operations(layer, x, true);
  }
}

TEST_CASE("gru sequence kernel equals MLX operations") {
  mx::random::seed(4);
  auto x = normal({4, 6, 3});
  for (bool bias : {true, false}) {
    CAPTURE(bias);
    mx::random::seed(5);
    GRU layer(3, 5, bias);
    check_kernels_match_operations(layer, x, false);
  }
}

TEST_CASE("sequence kernels take unbatched input") {
  mx::random::seed(6);
  auto x = normal({6, 3});
  LSTM lstm(3, 5);
  GRU gru(3, 5);
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    ScanCase c{true, true, false, reverse, true};
    std::vector<mx::array> fused;
    std::vector<mx::array> ops;
    for (RecurrentLayer* layer : {static_cast<RecurrentLayer*>(&lstm),
                                  static_cast<RecurrentLayer*>(&gru)}) {
      CAPTURE(layer->type_name());
      {
        CustomKernelsScope kernels(true);
        fused = scan_value_and_grads(*layer, c, x);
      }
      {
        CustomKernelsScope kernels(false);
        ops = scan_value_and_grads(*layer, c, x);
      }
      for (size_t i = 0; i < fused.size(); ++i) {
        CAPTURE(i);
        CHECK(arrays_close(fused[i], ops[i], 1e-4, 1e-5));
      }
    }
  }
}

TEST_CASE("sequence kernels split the batch between threads") {
  // 64 steps of hidden size 128 give each sequence enough work for a
  // thread of its own, so on two or more processors the batch of 9 runs in
  // several parts.
  mx::random::seed(7);
  auto x = normal({9, 64, 8});
  mx::random::seed(8);
  LSTM lstm(8, 128);
  GRU gru(8, 128);
  ScanCase c{true, true, true, true, true};
  for (RecurrentLayer* layer : {static_cast<RecurrentLayer*>(&lstm),
                                static_cast<RecurrentLayer*>(&gru)}) {
    CAPTURE(layer->type_name());
    check_case_matches_operations(*layer, c, x, 1e-3, 1e-4);
  }
}

TEST_CASE("sequence weight gradients span several blocks") {
  // The backward passes multiply the weight gradients in blocks of about
  // 512 rows per thread. 9 sequences of 150 steps give each thread more
  // than one block and a partial last one, on one thread or several.
  mx::random::seed(17);
  auto x = normal({9, 150, 8});
  mx::random::seed(18);
  LSTM lstm(8, 128);
  GRU gru(8, 128);
  // A batch of more than 512 sequences makes every step a block of its own.
  mx::random::seed(19);
  auto wide = normal({600, 3, 5});
  LSTM small_lstm(5, 7);
  GRU small_gru(5, 7);
  for (const ScanCase& c : {ScanCase{true, true, true, true, true},
                            ScanCase{false, false, false, false, false}}) {
    check_case_matches_operations(lstm, c, x, 1e-3, 1e-4);
    check_case_matches_operations(gru, c, x, 1e-3, 1e-4);
    check_case_matches_operations(small_lstm, c, wide, 1e-4, 1e-5);
    check_case_matches_operations(small_gru, c, wide, 1e-4, 1e-5);
  }
}

TEST_CASE("padded steps with NaN leave gradients finite") {
  // scan_value_and_grads() gives sequence i the length 2, 0 or L + 2 for
  // i % 3 = 0, 1 or 2. NaN at every padded step of x must give the values
  // and gradients of zeros there, with the kernels and without.
  int batch = 6;
  int steps = 5;
  mx::random::seed(23);
  auto x = normal({batch, steps, 3});
  std::vector<float> keep(batch * steps);
  for (int i = 0; i < batch; ++i) {
    int length = i % 3 == 1 ? 0 : (i % 3 == 2 ? steps : 2);
    for (int t = 0; t < steps; ++t) {
      keep[i * steps + t] = t < length ? 1.0f : 0.0f;
    }
  }
  auto valid = mx::array(keep.begin(), {batch, steps, 1});
  auto zeros = mx::multiply(x, valid);
  auto nans = mx::where(
      mx::astype(valid, mx::bool_), x, mx::array(std::nanf("")));
  mx::random::seed(24);
  LSTM lstm(3, 4);
  GRU gru(3, 4);
  ScanCase c{true, true, true, false, true};
  for (RecurrentLayer* layer : {static_cast<RecurrentLayer*>(&lstm),
                                static_cast<RecurrentLayer*>(&gru)}) {
    for (bool custom : {true, false}) {
      CAPTURE(layer->type_name());
      CAPTURE(custom);
      CustomKernelsScope kernels(custom);
      auto with_nan = scan_value_and_grads(*layer, c, nans);
      auto with_zero = scan_value_and_grads(*layer, c, zeros);
      for (size_t i = 0; i < with_nan.size(); ++i) {
        CAPTURE(i);
        CHECK(mx::all(mx::isfinite(with_nan[i])).item<bool>());
        CHECK(arrays_close(with_nan[i], with_zero[i]));
      }
    }
  }
}

TEST_CASE("sequence kernels take an empty batch") {
  // No sequence gives empty outputs and zero weight gradients.
  auto x = mx::zeros({0, 4, 3});
  mx::random::seed(13);
  LSTM lstm(3, 5);
  GRU gru(3, 5);
  ScanCase c{true, true, false, false, true};
  for (RecurrentLayer* layer : {static_cast<RecurrentLayer*>(&lstm),
                                static_cast<RecurrentLayer*>(&gru)}) {
    CAPTURE(layer->type_name());
    check_case_matches_operations(*layer, c, x, 1e-5, 1e-6);
  }
}

TEST_CASE("sequence kernel gradients match finite differences") {
  // The kernels run in float32 only, so the differences are taken of a
  // float32 loss with a step that keeps its rounding below the tolerance.
  mx::random::seed(9);
  auto x = normal({3, 4, 2});
  auto w = normal({3, 4, 3});
  auto h0 = normal({3, 3});
  auto c0 = normal({3, 3});
  auto lengths = mx::array({4, 1, 3});
  mx::random::seed(10);
  auto lstm = std::make_shared<LSTM>(2, 3);
  auto gru = std::make_shared<GRU>(2, 3);
  CustomKernelsScope kernels(true);

  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    auto lstm_loss = [&](const mx::array& input, const mx::array& hidden,
                         const mx::array& cell) {
      auto result = lstm->scan(input, {hidden, cell}, lengths, reverse);
      return mx::add(
          mx::sum(mx::multiply(result.sequences[0], w)),
          mx::add(mx::sum(result.final_state[0]),
                  mx::multiply(mx::array(2.0f), mx::sum(result.final_state[1]))));
    };
    auto gru_loss = [&](const mx::array& input, const mx::array& hidden) {
      auto result = gru->scan(input, {hidden}, lengths, reverse);
      return mx::add(mx::sum(mx::multiply(result.sequences[0], w)),
                     mx::sum(result.final_state[0]));
    };
    // Each function takes float64 values, as numeric_gradient() passes
    // them, and evaluates the loss in float32.
    std::vector<std::pair<std::string,
                          std::function<mx::array(const mx::array&)>>>
        functions;
    auto f32 = [](const mx::array& a) { return mx::astype(a, mx::float32); };
    functions.emplace_back("lstm x", [&](const mx::array& v) {
      return lstm_loss(f32(v), h0, c0);
    });
    functions.emplace_back("lstm hidden", [&](const mx::array& v) {
      return lstm_loss(x, f32(v), c0);
    });
    functions.emplace_back("lstm cell", [&](const mx::array& v) {
      return lstm_loss(x, h0, f32(v));
    });
    for (const auto& name : {"Wx", "Wh", "bias"}) {
      mx::array original = lstm->param(name);
      functions.emplace_back(
          std::string("lstm ") + name, [&, name, original](const mx::array& v) {
            lstm->update({{name, f32(v)}});
            auto value = lstm_loss(x, h0, c0);
            lstm->update({{name, original}});
            return value;
          });
    }
    functions.emplace_back("gru x", [&](const mx::array& v) {
      return gru_loss(f32(v), h0);
    });
    functions.emplace_back("gru hidden", [&](const mx::array& v) {
      return gru_loss(x, f32(v));
    });
    for (const auto& name : {"Wx", "Wh", "b", "bhn"}) {
      mx::array original = gru->param(name);
      functions.emplace_back(
          std::string("gru ") + name, [&, name, original](const mx::array& v) {
            gru->update({{name, f32(v)}});
            auto value = gru_loss(x, h0);
            gru->update({{name, original}});
            return value;
          });
    }
    std::vector<mx::array> points = {x, h0, c0};
    for (const auto& name : {"Wx", "Wh", "bias"}) {
      points.push_back(lstm->param(name));
    }
    points.push_back(x);
    points.push_back(h0);
    for (const auto& name : {"Wx", "Wh", "b", "bhn"}) {
      points.push_back(gru->param(name));
    }
    REQUIRE(points.size() == functions.size());
    for (size_t i = 0; i < functions.size(); ++i) {
      CAPTURE(functions[i].first);
      const auto& f = functions[i].second;
      mx::array analytic = mx::grad(f)(points[i]);
      mx::array numeric = numeric_gradient(f, points[i], 1e-2);
      CHECK(arrays_close(
          analytic, mx::astype(numeric, mx::float32), 1e-2, 2e-3));
    }
  }
}

TEST_CASE("sequence gradients take strided cotangents") {
  // Cotangents that are views (a transpose, a broadcast value and a
  // broadcast row) give the gradients of their contiguous copies.
  mx::random::seed(12);
  auto x = normal({3, 4, 5});
  auto wx = normal({8, 5}, 0.5f);
  auto wh = normal({8, 2}, 0.5f);
  auto h0 = normal({3, 2});
  auto c0 = normal({3, 2});
  auto lstm = [&](const std::vector<mx::array>& in) {
    return *lstm_sequence(in[0], in[1], in[2], std::nullopt, in[3], in[4],
                          std::nullopt, false);
  };
  std::vector<mx::array> cotangents = {
      mx::transpose(normal({4, 3, 2}), {1, 0, 2}),
      mx::full({3, 4, 2}, 0.5f),
      mx::broadcast_to(normal({2}), {3, 2}),
      mx::zeros({3, 2})};
  std::vector<mx::array> dense;
  for (const auto& c : cotangents) {
    dense.push_back(mx::add(mx::zeros(c.shape()), c));
  }
  CustomKernelsScope kernels(true);
  std::vector<mx::array> primals = {x, wx, wh, h0, c0};
  auto strided = mx::vjp(lstm, primals, cotangents).second;
  auto expected = mx::vjp(lstm, primals, dense).second;
  for (size_t i = 0; i < strided.size(); ++i) {
    CAPTURE(i);
    CHECK(arrays_close(strided[i], expected[i], 1e-6, 1e-6));
  }
}

TEST_CASE("sequence functions check their arguments") {
  auto x = mx::zeros({2, 5, 4});
  auto wx = mx::zeros({12, 4});
  auto wh = mx::zeros({12, 3});
  auto state = mx::zeros({2, 3});
  auto lengths = mx::array({5, 2});
  auto none = std::nullopt;
  CustomKernelsScope kernels(true);
  CHECK(lstm_sequence(x, wx, wh, mx::zeros({12}), state, state, lengths,
                      false)
            .has_value());

  // Shapes of wh, x, wx, bias, the states, lengths and bhn.
  CHECK_THROWS_AS(
      lstm_sequence(x, wx, mx::zeros({9, 3}), none, none, none, none, false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm_sequence(mx::zeros({2, 5, 4, 1}), wx, wh, none, none, none, none,
                    false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm_sequence(mx::zeros({2, 5, 6}), wx, wh, none, none, none, none,
                    false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm_sequence(x, wx, wh, mx::zeros({3}), none, none, none, false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm_sequence(x, wx, wh, none, mx::zeros({3, 3}), none, none, false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      lstm_sequence(mx::zeros({5, 4}), wx, wh, none, none, none,
                    mx::array({5}), false),
      std::invalid_argument);
  CHECK_THROWS_AS(
      gru_sequence(x, mx::zeros({9, 4}), mx::zeros({9, 3}), none,
                   mx::zeros({4}), none, none, false),
      std::invalid_argument);

  // Other dtypes and the MLX-operations path get no result.
  CHECK_FALSE(lstm_sequence(mx::astype(x, mx::float16), wx, wh, none, none,
                            none, none, false)
                  .has_value());
  CustomKernelsScope operations(false);
  CHECK_FALSE(gru_sequence(x, mx::zeros({9, 4}), mx::zeros({9, 3}), none,
                           none, none, none, false)
                  .has_value());
}

TEST_CASE("packed product matches a reference product") {
  // Row counts around the tile heights (6 and 8 rows), column counts that
  // are not multiples of the panel widths (16 and 32 columns), and an
  // inner size above one block of 512.
  std::vector<std::pair<size_t, size_t>> inner_and_cols = {
      {3, 5}, {16, 32}, {37, 45}, {64, 100}, {600, 40}};
  for (const std::string instructions : {"avx512", "avx2", "portable"}) {
    CAPTURE(instructions);
    for (size_t m : {1, 5, 6, 7, 8, 9, 17}) {
      for (auto [k, n] : inner_and_cols) {
        for (bool accumulate : {false, true}) {
        for (bool transposed : {false, true}) {
            CAPTURE(m);
            CAPTURE(k);
            CAPTURE(n);
            CAPTURE(accumulate);
            CAPTURE(transposed);
            std::vector<float> a(m * k);
            std::vector<float> b(k * n);
            std::vector<float> c(m * n);
            for (size_t i = 0; i < a.size(); ++i) {
              a[i] = std::sin(0.37f * static_cast<float>(i));
            }
            for (size_t i = 0; i < b.size(); ++i) {
              b[i] = std::cos(0.11f * static_cast<float>(i));
            }
            for (size_t i = 0; i < c.size(); ++i) {
              c[i] = 0.5f * std::sin(static_cast<float>(i));
            }
            std::vector<double> expected(m * n);
            for (size_t r = 0; r < m; ++r) {
              for (size_t j = 0; j < n; ++j) {
                double sum = accumulate ? c[r * n + j] : 0.0;
                for (size_t i = 0; i < k; ++i) {
                  float a_value = transposed ? a[i * m + r] : a[r * k + i];
                  sum += static_cast<double>(a_value) * b[i * n + j];
                }
                expected[r * n + j] = sum;
              }
            }
            if (!detail::packed_product(instructions, m, k, n, a.data(),
                                        b.data(), c.data(), accumulate,
                                        transposed)) {
              MESSAGE("this processor lacks " << instructions);
              continue;
            }
            double max_error = 0.0;
            for (size_t i = 0; i < c.size(); ++i) {
              max_error = std::max(max_error, std::fabs(c[i] - expected[i]));
            }
            CHECK(max_error < 1e-4);
          }
        }
      }
    }
  }
  std::vector<float> one = {1.0f};
  CHECK_THROWS_AS(
      detail::packed_product("sse", 1, 1, 1, one.data(), one.data(),
                             one.data(), false),
      std::invalid_argument);
}
