#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "rmlx/nn/custom_kernels.h"
#include "rmlx/nn/recurrent.h"
#include "rmlx/nn/recurrent_cell.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The distance between two finite floats of the same sign in units in the
// last place.
int64_t ulp_distance(float a, float b) {
  int32_t ia;
  int32_t ib;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  return std::llabs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

// Inputs from -100 to 100 in steps of 1e-3, then values around the
// thresholds of the kernels and the limits of float32.
std::vector<float> sample_inputs() {
  std::vector<float> x;
  for (int i = -100000; i <= 100000; ++i) {
    x.push_back(static_cast<float>(i) * 1e-3f);
  }
  for (float v : {0.55f, 88.72f, 88.73f, 89.0f, 103.9f, 104.0f, 1e-20f,
                  1e-40f, 1e30f, std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::min()}) {
    x.push_back(v);
    x.push_back(-v);
    x.push_back(std::nextafter(v, 0.0f));
    x.push_back(-std::nextafter(v, 0.0f));
  }
  return x;
}

// Runs the fused path when `fused`, otherwise MLX's operations, and
// restores the setting.
template <typename F>
auto with_kernels(bool fused, F&& f) {
  bool old = custom_kernels_enabled();
  set_custom_kernels_enabled(fused);
  auto result = f();
  mx::eval(result);
  set_custom_kernels_enabled(old);
  return result;
}

// Returns the name of the primitive of f()'s first output, built with the
// fused path on or off and not evaluated, since evaluation detaches it.
template <typename F>
std::string primitive_name(bool fused, F&& f) {
  bool old = custom_kernels_enabled();
  set_custom_kernels_enabled(fused);
  std::string name = f()[0].primitive().name();
  set_custom_kernels_enabled(old);
  return name;
}

mx::array normal(const mx::Shape& shape, float scale = 2.0f) {
  return mx::multiply(mx::random::normal(shape), mx::array(scale));
}

} // namespace

TEST_CASE("sigmoid kernel within 3 ulp") {
  std::vector<float> x = sample_inputs();
  std::vector<float> y(x.size());
  detail::sigmoid_kernel(x.data(), y.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double exact = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    float expected = static_cast<float>(exact);
    CAPTURE(x[i]);
    if (exact >= std::numeric_limits<float>::min()) {
      CHECK(ulp_distance(y[i], expected) <= 3);
    } else if (x[i] > -88.7228f) {
      CHECK(std::fabs(y[i] - expected) <= 2 * std::numeric_limits<float>::denorm_min());
    } else {
      CHECK(y[i] == 0.0f);
    }
  }
}

TEST_CASE("sigmoid kernel special values") {
  std::vector<float> x = {0.0f, -0.0f, kInf, -kInf, kNaN, 1e30f, -1e30f};
  std::vector<float> y(x.size());
  detail::sigmoid_kernel(x.data(), y.data(), x.size());
  CHECK(y[0] == 0.5f);
  CHECK(y[1] == 0.5f);
  CHECK(y[2] == 1.0f);
  CHECK(y[3] == 0.0f);
  CHECK(std::isnan(y[4]));
  CHECK(y[5] == 1.0f);
  CHECK(y[6] == 0.0f);
}

TEST_CASE("tanh kernel within 3 ulp of std::tanh") {
  std::vector<float> x = sample_inputs();
  std::vector<float> y(x.size());
  detail::tanh_kernel(x.data(), y.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    float expected = static_cast<float>(std::tanh(static_cast<double>(x[i])));
    CAPTURE(x[i]);
    CHECK(std::signbit(y[i]) == std::signbit(expected));
    CHECK(ulp_distance(y[i], expected) <= 3);
    CHECK(ulp_distance(y[i], std::tanh(x[i])) <= 3);
  }
}

TEST_CASE("tanh kernel special values") {
  std::vector<float> x = {0.0f, -0.0f, kInf, -kInf, kNaN, 1e30f, -1e30f};
  std::vector<float> y(x.size());
  detail::tanh_kernel(x.data(), y.data(), x.size());
  CHECK(y[0] == 0.0f);
  CHECK_FALSE(std::signbit(y[0]));
  CHECK(y[1] == 0.0f);
  CHECK(std::signbit(y[1]));
  CHECK(y[2] == 1.0f);
  CHECK(y[3] == -1.0f);
  CHECK(std::isnan(y[4]));
  CHECK(y[5] == 1.0f);
  CHECK(y[6] == -1.0f);
}

TEST_CASE("cells use the primitives only when enabled") {
  mx::random::seed(3);
  auto gates = normal({2, 12});
  auto cell = normal({2, 3});
  auto lstm = [&] { return lstm_cell(gates, cell); };
  CHECK(primitive_name(true, lstm) == "LSTMCell");
  CHECK(primitive_name(false, lstm) != "LSTMCell");
  auto half = [&] {
    return lstm_cell(mx::astype(gates, mx::float16), std::nullopt);
  };
  CHECK(primitive_name(true, half) != "LSTMCell");
  CHECK(with_kernels(true, half)[0].dtype() == mx::float16);

  auto projection = normal({2, 9});
  auto hidden = normal({2, 3});
  auto gru = [&] {
    return std::vector<mx::array>{
        gru_cell(projection, projection, std::nullopt, hidden)};
  };
  CHECK(primitive_name(true, gru) == "GRUCell");
  CHECK(primitive_name(false, gru) != "GRUCell");
}

TEST_CASE("lstm_cell fused equals MLX operations") {
  mx::random::seed(4);
  for (bool has_cell : {true, false}) {
    CAPTURE(has_cell);
    // Large pre-activations reach the saturated ends of sigmoid and tanh.
    auto gates = normal({5, 4 * 7}, 6.0f);
    auto cell = normal({5, 7});
    auto d_hidden = normal({5, 7}, 1.0f);
    auto d_cell = normal({5, 7}, 1.0f);
    auto run = [&](bool fused) {
      return with_kernels(fused, [&] {
        auto f = [&](const std::vector<mx::array>& in) {
          return lstm_cell(
              in[0], has_cell ? std::optional<mx::array>(in[1]) : std::nullopt);
        };
        auto [out, grads] = mx::vjp(f, {gates, cell}, {d_hidden, d_cell});
        out.insert(out.end(), grads.begin(), grads.end());
        return out;
      });
    };
    auto fused = run(true);
    auto ops = run(false);
    const char* names[] = {"h", "c", "d gates", "d cell"};
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(names[i]);
      CHECK(arrays_close(fused[i], ops[i], 1e-6, 1e-6));
    }
  }
}

TEST_CASE("gru_cell fused equals MLX operations") {
  mx::random::seed(5);
  for (bool has_bias : {true, false}) {
    CAPTURE(has_bias);
    auto input_projection = normal({4, 3 * 6}, 5.0f);
    auto hidden_projection = normal({4, 3 * 6}, 5.0f);
    auto bhn = normal({6});
    auto hidden = normal({4, 6});
    auto d_out = normal({4, 6}, 1.0f);
    auto run = [&](bool fused) {
      return with_kernels(fused, [&] {
        auto f = [&](const std::vector<mx::array>& in) {
          std::optional<mx::array> bias;
          if (has_bias) {
            bias = in[2];
          }
          return std::vector<mx::array>{gru_cell(in[0], in[1], bias, in[3])};
        };
        auto [out, grads] = mx::vjp(
            f, {input_projection, hidden_projection, bhn, hidden}, {d_out});
        out.insert(out.end(), grads.begin(), grads.end());
        return out;
      });
    };
    auto fused = run(true);
    auto ops = run(false);
    const char* names[] = {
        "h", "d input_projection", "d hidden_projection", "d bhn", "d hidden"};
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(names[i]);
      if (i == 3 && !has_bias) {
        // Without bhn the operations never read it, so its gradient is 0.
        continue;
      }
      CHECK(arrays_close(fused[i], ops[i], 1e-5, 1e-5));
    }
  }
}

TEST_CASE("lstm and gru layers fused equal MLX operations") {
  auto x = (mx::random::seed(6), normal({3, 5, 4}, 1.0f));
  mx::random::seed(7);
  LSTM lstm(4, 8);
  GRU gru(4, 8);
  auto hidden = normal({3, 8}, 1.0f);
  auto cell = normal({3, 8}, 1.0f);
  for (bool with_state : {false, true}) {
    CAPTURE(with_state);
    auto run = [&](bool fused) {
      return with_kernels(fused, [&] {
        std::optional<mx::array> h0;
        std::optional<mx::array> c0;
        if (with_state) {
          h0 = hidden;
          c0 = cell;
        }
        auto [h, c] = lstm.forward(x, h0, c0);
        return std::vector<mx::array>{h, c, gru.forward(x, h0)};
      });
    };
    auto fused = run(true);
    auto ops = run(false);
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(i);
      CHECK(arrays_close(fused[i], ops[i], 1e-6, 1e-6));
    }
  }
}
