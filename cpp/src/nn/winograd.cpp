#include "winograd.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <mlx/backend/cpu/encoder.h>
#include <mlx/primitives.h>

#include "window_geometry.h"

// The channel loops below are written to vectorize, but GCC's -O2 (what R
// builds with) only vectorizes loops that need no scalar remainder. Each
// one also carries `GCC ivdep`, because GCC cannot prove that its tap
// pointers (distinct positions, or one scratch row that is never read)
// do not overlap. Its 4x4 loops carry `GCC unroll`, which -O2 does not do
// by itself, so the body of the loop over channels is straight-line code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

namespace rmlx::nn::detail {

namespace {

// The transforms of F(2x2, 3x3), with d a 4x4 input tile, g a 3x3 filter
// and m a 4x4 tile of products:
//   V = B^T d B,  U = G g G^T,  Y = A^T m A  (a 2x2 output block), where
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Each transform is linear, so the gradient of V = B^T d B is B dV B^T and
// that of Y = A^T m A is A dY A^T: the backward pass runs the adjoint
// transforms, and MLX differentiates the products in between.
constexpr int kTile = 4;
constexpr int kTilePositions = kTile * kTile;
constexpr int kBlock = 2;

// Fewer channels than this on either side leave the products too small for
// the transforms to pay off, so the first layer of a CNN (one input
// channel) stays on the unfold path.
constexpr int kMinChannels = 8;

// Tiles per thread below which a second thread costs more than it saves.
constexpr size_t kMinTilesPerThread = 256;

enum class Stage { input, input_adjoint, output, output_adjoint };

// Sizes of one convolution's tiling. Tile (n, i, j) reads the input rows
// 2i - pad_h .. 2i - pad_h + 3 and columns 2j - pad_w .. 2j - pad_w + 3,
// and writes the output block at rows 2i, 2i + 1 and columns 2j, 2j + 1.
// Positions outside the input read as zero, and positions outside the
// output (an odd output size) are dropped.
struct TileGeometry {
  int batch = 0;
  int height = 0;
  int width = 0;
  int pad_h = 0;
  int pad_w = 0;
  int out_h = 0;
  int out_w = 0;
  int tiles_h = 0;
  int tiles_w = 0;
  // Input channels for the input stages, output channels for the others.
  int channels = 0;

  size_t tiles() const {
    return size_t(batch) * tiles_h * tiles_w;
  }
  bool operator==(const TileGeometry&) const = default;
};

// Calls body(t, n, row, col) for the tiles [first, last), with (row, col)
// the input position of the tile's top-left tap.
template <typename Body>
void for_each_tile(
    const TileGeometry& g,
    size_t first,
    size_t last,
    Body&& body) {
  size_t per_image = size_t(g.tiles_h) * g.tiles_w;
  for (size_t t = first; t < last; ++t) {
    int n = static_cast<int>(t / per_image);
    int rest = static_cast<int>(t % per_image);
    int i = rest / g.tiles_w;
    int j = rest % g.tiles_w;
    body(t, n, kBlock * i - g.pad_h, kBlock * j - g.pad_w);
  }
}

// Sets taps[k * 4 + l] to the start of the channels at input position
// (row + k, col + l) of image n, or to `outside` where that position is
// padding.
template <typename Pointer>
void tile_taps(
    const TileGeometry& g,
    Pointer base,
    int n,
    int row,
    int col,
    Pointer outside,
    Pointer* taps) {
  for (int k = 0; k < kTile; ++k) {
    for (int l = 0; l < kTile; ++l) {
      int r = row + k;
      int c = col + l;
      bool inside = r >= 0 && r < g.height && c >= 0 && c < g.width;
      taps[k * kTile + l] = inside
          ? base + ((size_t(n) * g.height + r) * g.width + c) * g.channels
          : outside;
    }
  }
}

// Sets block[a * 2 + b] to the channels of output position (2i + a,
// 2j + b) of image n, or to `outside` past the output's edge.
template <typename Pointer>
void block_taps(
    const TileGeometry& g,
    Pointer base,
    size_t t,
    Pointer outside,
    Pointer* block) {
  size_t per_image = size_t(g.tiles_h) * g.tiles_w;
  size_t n = t / per_image;
  int rest = static_cast<int>(t % per_image);
  int row = kBlock * (rest / g.tiles_w);
  int col = kBlock * (rest % g.tiles_w);
  for (int a = 0; a < kBlock; ++a) {
    for (int b = 0; b < kBlock; ++b) {
      int r = row + a;
      int c = col + b;
      bool inside = r < g.out_h && c < g.out_w;
      block[a * kBlock + b] = inside
          ? base + ((n * g.out_h + r) * g.out_w + c) * g.channels
          : outside;
    }
  }
}

// V = B^T d B for every tile: (N, H, W, C) to (16, tiles, C).
void input_transform(const float* x, float* v, const TileGeometry& g) {
  size_t channels = g.channels;
  size_t stride = g.tiles() * channels;
  parallel_for(g.tiles(), kMinTilesPerThread, [&](size_t first, size_t last) {
    const std::vector<float> zeros(channels, 0.0f);
    const float* taps[kTilePositions];
    for_each_tile(g, first, last, [&](size_t t, int n, int row, int col) {
      tile_taps(g, x, n, row, col, zeros.data(), taps);
      float* __restrict out = v + t * channels;
#pragma GCC ivdep
      for (size_t c = 0; c < channels; ++c) {
        float d[kTilePositions];
#pragma GCC unroll 16
        for (int p = 0; p < kTilePositions; ++p) {
          d[p] = taps[p][c];
        }
        float s[kTilePositions];
#pragma GCC unroll 16
        for (int l = 0; l < kTile; ++l) {
          s[0 * kTile + l] = d[0 * kTile + l] - d[2 * kTile + l];
          s[1 * kTile + l] = d[1 * kTile + l] + d[2 * kTile + l];
          s[2 * kTile + l] = d[2 * kTile + l] - d[1 * kTile + l];
          s[3 * kTile + l] = d[1 * kTile + l] - d[3 * kTile + l];
        }
#pragma GCC unroll 16
        for (int k = 0; k < kTile; ++k) {
          const float* r = s + k * kTile;
          out[(k * kTile + 0) * stride + c] = r[0] - r[2];
          out[(k * kTile + 1) * stride + c] = r[1] + r[2];
          out[(k * kTile + 2) * stride + c] = r[2] - r[1];
          out[(k * kTile + 3) * stride + c] = r[1] - r[3];
        }
      }
    });
  });
}

// dx = sum over tiles of B dV B^T, placed at each tile's input positions:
// (16, tiles, C) to (N, H, W, C). Threads take whole images, because the
// tiles of one image overlap.
void input_adjoint(const float* v, float* dx, const TileGeometry& g) {
  size_t channels = g.channels;
  size_t stride = g.tiles() * channels;
  size_t per_image = size_t(g.tiles_h) * g.tiles_w;
  size_t image_size = size_t(g.height) * g.width * channels;
  size_t grain = std::max<size_t>(1, kMinTilesPerThread / per_image);
  parallel_for(g.batch, grain, [&](size_t first, size_t last) {
    std::memset(
        dx + first * image_size, 0, (last - first) * image_size * sizeof(float));
    // Padding positions accumulate here and are never read.
    std::vector<float> sink(channels, 0.0f);
    float* taps[kTilePositions];
    for_each_tile(
        g,
        first * per_image,
        last * per_image,
        [&](size_t t, int n, int row, int col) {
          tile_taps(g, dx, n, row, col, sink.data(), taps);
          const float* __restrict in = v + t * channels;
#pragma GCC ivdep
      for (size_t c = 0; c < channels; ++c) {
            float m[kTilePositions];
#pragma GCC unroll 16
            for (int p = 0; p < kTilePositions; ++p) {
              m[p] = in[p * stride + c];
            }
            // B u = (u0, u1 - u2 + u3, u1 + u2 - u0, -u3), along rows and
            // then along columns.
            float s[kTilePositions];
#pragma GCC unroll 16
            for (int l = 0; l < kTile; ++l) {
              float u0 = m[0 * kTile + l];
              float u1 = m[1 * kTile + l];
              float u2 = m[2 * kTile + l];
              float u3 = m[3 * kTile + l];
              s[0 * kTile + l] = u0;
              s[1 * kTile + l] = u1 - u2 + u3;
              s[2 * kTile + l] = u1 + u2 - u0;
              s[3 * kTile + l] = -u3;
            }
#pragma GCC unroll 16
            for (int k = 0; k < kTile; ++k) {
              const float* r = s + k * kTile;
              taps[k * kTile + 0][c] += r[0];
              taps[k * kTile + 1][c] += r[1] - r[2] + r[3];
              taps[k * kTile + 2][c] += r[1] + r[2] - r[0];
              taps[k * kTile + 3][c] -= r[3];
            }
          }
        });
  });
}

// Y = A^T m A for every tile: (16, tiles, O) to (N, H_out, W_out, O).
void output_transform(const float* m, float* y, const TileGeometry& g) {
  size_t channels = g.channels;
  size_t stride = g.tiles() * channels;
  parallel_for(g.tiles(), kMinTilesPerThread, [&](size_t first, size_t last) {
    // Positions past the output's edge are written here and never read.
    std::vector<float> sink(channels, 0.0f);
    float* block[kBlock * kBlock];
    for (size_t t = first; t < last; ++t) {
      block_taps(g, y, t, sink.data(), block);
      const float* __restrict in = m + t * channels;
#pragma GCC ivdep
      for (size_t c = 0; c < channels; ++c) {
        float u[kTilePositions];
#pragma GCC unroll 16
        for (int p = 0; p < kTilePositions; ++p) {
          u[p] = in[p * stride + c];
        }
        float s[kBlock * kTile];
#pragma GCC unroll 16
        for (int l = 0; l < kTile; ++l) {
          s[0 * kTile + l] = u[0 * kTile + l] + u[1 * kTile + l] +
              u[2 * kTile + l];
          s[1 * kTile + l] = u[1 * kTile + l] - u[2 * kTile + l] -
              u[3 * kTile + l];
        }
#pragma GCC unroll 16
        for (int a = 0; a < kBlock; ++a) {
          const float* r = s + a * kTile;
          block[a * kBlock + 0][c] = r[0] + r[1] + r[2];
          block[a * kBlock + 1][c] = r[1] - r[2] - r[3];
        }
      }
    }
  });
}

// dm = A dY A^T for every tile: (N, H_out, W_out, O) to (16, tiles, O).
// Positions past the output's edge read as zero.
void output_adjoint(const float* dy, float* dm, const TileGeometry& g) {
  size_t channels = g.channels;
  size_t stride = g.tiles() * channels;
  parallel_for(g.tiles(), kMinTilesPerThread, [&](size_t first, size_t last) {
    const std::vector<float> zeros(channels, 0.0f);
    const float* block[kBlock * kBlock];
    for (size_t t = first; t < last; ++t) {
      block_taps(g, dy, t, zeros.data(), block);
      float* __restrict out = dm + t * channels;
#pragma GCC ivdep
      for (size_t c = 0; c < channels; ++c) {
        // A u = (u0, u0 + u1, u0 - u1, -u1), along rows and then columns.
        float s[kTile * kBlock];
#pragma GCC unroll 16
        for (int b = 0; b < kBlock; ++b) {
          float u0 = block[0 * kBlock + b][c];
          float u1 = block[1 * kBlock + b][c];
          s[0 * kBlock + b] = u0;
          s[1 * kBlock + b] = u0 + u1;
          s[2 * kBlock + b] = u0 - u1;
          s[3 * kBlock + b] = -u1;
        }
#pragma GCC unroll 16
        for (int k = 0; k < kTile; ++k) {
          float u0 = s[k * kBlock + 0];
          float u1 = s[k * kBlock + 1];
          out[(k * kTile + 0) * stride + c] = u0;
          out[(k * kTile + 1) * stride + c] = u0 + u1;
          out[(k * kTile + 2) * stride + c] = u0 - u1;
          out[(k * kTile + 3) * stride + c] = -u1;
        }
      }
    }
  });
}

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::input:
      return "WinogradInput";
    case Stage::input_adjoint:
      return "WinogradInputAdjoint";
    case Stage::output:
      return "WinogradOutput";
    case Stage::output_adjoint:
      return "WinogradOutputAdjoint";
  }
  return "Winograd";
}

Stage adjoint_of(Stage stage) {
  switch (stage) {
    case Stage::input:
      return Stage::input_adjoint;
    case Stage::input_adjoint:
      return Stage::input;
    case Stage::output:
      return Stage::output_adjoint;
    case Stage::output_adjoint:
      return Stage::output;
  }
  return stage;
}

mx::array make_transform(
    const mx::array& a,
    Stage stage,
    const TileGeometry& g,
    mx::Stream stream);

/**
 * One of the four linear maps between the spatial layout (N, H, W, C) and
 * the transformed tiles (16, tiles, C). Each one's derivative is its
 * adjoint, and, the maps being linear, its forward derivative itself.
 */
class WinogradTransform : public mx::UnaryPrimitive {
 public:
  WinogradTransform(mx::Stream stream, Stage stage, TileGeometry geometry)
      : mx::UnaryPrimitive(stream), stage_(stage), geometry_(geometry) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& output)
      override {
    const auto& in = inputs[0];
    if (in.dtype() != mx::float32 || !in.flags().row_contiguous) {
      throw std::runtime_error(
          std::string("[") + name() +
          "] Expected a row-contiguous float32 input.");
    }
    output.set_data(mx::allocator::malloc(output.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(in);
    encoder.set_output_array(output);
    encoder.dispatch([source = in.data<float>(),
                      target = output.data<float>(),
                      stage = stage_,
                      g = geometry_]() {
      switch (stage) {
        case Stage::input:
          input_transform(source, target, g);
          break;
        case Stage::input_adjoint:
          input_adjoint(source, target, g);
          break;
        case Stage::output:
          output_transform(source, target, g);
          break;
        case Stage::output_adjoint:
          output_adjoint(source, target, g);
          break;
      }
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error(
        std::string("[") + name() + "] Runs on the CPU only.");
  }

  std::vector<mx::array> jvp(
      const std::vector<mx::array>&,
      const std::vector<mx::array>& tangents,
      const std::vector<int>&) override {
    return {make_transform(tangents[0], stage_, geometry_, stream())};
  }

  std::vector<mx::array> vjp(
      const std::vector<mx::array>&,
      const std::vector<mx::array>& cotangents,
      const std::vector<int>&,
      const std::vector<mx::array>&) override {
    return {make_transform(
        cotangents[0], adjoint_of(stage_), geometry_, stream())};
  }

  const char* name() const override {
    return stage_name(stage_);
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const WinogradTransform&>(other);
    return stage_ == o.stage_ && geometry_ == o.geometry_;
  }

 private:
  Stage stage_;
  TileGeometry geometry_;
};

mx::Shape transform_output_shape(Stage stage, const TileGeometry& g) {
  int tiles = static_cast<int>(g.tiles());
  switch (stage) {
    case Stage::input:
    case Stage::output_adjoint:
      return {kTilePositions, tiles, g.channels};
    case Stage::input_adjoint:
      return {g.batch, g.height, g.width, g.channels};
    case Stage::output:
      return {g.batch, g.out_h, g.out_w, g.channels};
  }
  return {};
}

mx::array make_transform(
    const mx::array& a,
    Stage stage,
    const TileGeometry& g,
    mx::Stream stream) {
  return mx::array(
      transform_output_shape(stage, g),
      mx::float32,
      std::make_shared<WinogradTransform>(stream, stage, g),
      {mx::contiguous(a, false, stream)});
}

// Returns kron(G, G) as a (16, 9) array, so that U = G g G^T of every
// filter is one product with the filters' 9 taps.
mx::array filter_transform_matrix() {
  constexpr float kG[kTile][3] = {
      {1.0f, 0.0f, 0.0f},
      {0.5f, 0.5f, 0.5f},
      {0.5f, -0.5f, 0.5f},
      {0.0f, 0.0f, 1.0f}};
  std::vector<float> values;
  values.reserve(kTilePositions * 9);
  for (int a = 0; a < kTile; ++a) {
    for (int b = 0; b < kTile; ++b) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
          values.push_back(kG[a][i] * kG[b][j]);
        }
      }
    }
  }
  return mx::array(values.begin(), {kTilePositions, 9}, mx::float32);
}

bool winograd_disabled_by_environment() {
  const char* value = std::getenv("RMLX_WINOGRAD");
  return value != nullptr && std::string(value) == "0";
}

} // namespace

bool winograd_applies(
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& dilation,
    int groups) {
  if (stride.size() != 2 || groups != 1 || weight.shape(1) != 3 ||
      weight.shape(2) != 3 || weight.shape(3) < kMinChannels ||
      weight.shape(0) < kMinChannels) {
    return false;
  }
  for (int i = 0; i < 2; ++i) {
    if (stride[i] != 1 || dilation[i] != 1) {
      return false;
    }
  }
  return !winograd_disabled_by_environment();
}

mx::array winograd_conv2d(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& padding) {
  auto stream = mx::to_stream({});
  int out_channels = weight.shape(0);
  int in_channels = weight.shape(3);

  TileGeometry g;
  g.batch = x.shape(0);
  g.height = x.shape(1);
  g.width = x.shape(2);
  g.pad_h = padding[0];
  g.pad_w = padding[1];
  g.out_h = g.height + 2 * g.pad_h - 2;
  g.out_w = g.width + 2 * g.pad_w - 2;
  g.tiles_h = (g.out_h + 1) / kBlock;
  g.tiles_w = (g.out_w + 1) / kBlock;

  TileGeometry input_geometry = g;
  input_geometry.channels = in_channels;
  mx::array tiles = make_transform(x, Stage::input, input_geometry, stream);

  // U: (O, 3, 3, C) -> (9, O * C) -> (16, O * C) -> (16, C, O).
  mx::array taps = mx::reshape(
      mx::transpose(weight, {1, 2, 0, 3}), {9, out_channels * in_channels});
  mx::array filters = mx::transpose(
      mx::reshape(
          mx::matmul(filter_transform_matrix(), taps),
          {kTilePositions, out_channels, in_channels}),
      {0, 2, 1});

  // One (tiles, C) x (C, O) product per tile position.
  mx::array products = mx::matmul(tiles, filters);

  TileGeometry output_geometry = g;
  output_geometry.channels = out_channels;
  return make_transform(products, Stage::output, output_geometry, stream);
}

} // namespace rmlx::nn::detail
