#include "rmlx/nn/attention.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "attention_kernels.h"
#include "layer_utils.h"
#include "rmlx/nn/linear.h"

namespace rmlx::nn {

void KVCache::append(const mx::array& new_keys, const mx::array& new_values) {
  if (keys) {
    keys = mx::concatenate({*keys, new_keys}, 2);
    values = mx::concatenate({*values, new_values}, 2);
  } else {
    keys = new_keys;
    values = new_values;
  }
}

MultiHeadAttention::MultiHeadAttention(
    int dims,
    int num_heads,
    std::optional<int> query_input_dims,
    std::optional<int> key_input_dims,
    std::optional<int> value_input_dims,
    std::optional<int> value_dims,
    std::optional<int> value_output_dims,
    bool bias)
    : num_heads_(num_heads) {
  int query_in = query_input_dims.value_or(dims);
  int key_in = key_input_dims.value_or(dims);
  int value_in = value_input_dims.value_or(key_in);
  int value_size = value_dims.value_or(dims);
  int value_out = value_output_dims.value_or(dims);
  if (dims <= 0 || num_heads <= 0 || query_in <= 0 || key_in <= 0 ||
      value_in <= 0 || value_size <= 0 || value_out <= 0) {
    std::ostringstream msg;
    msg << "[MultiHeadAttention] Expected positive sizes but received dims="
        << dims << ", num_heads=" << num_heads
        << ", query_input_dims=" << query_in << ", key_input_dims=" << key_in
        << ", value_input_dims=" << value_in << ", value_dims=" << value_size
        << " and value_output_dims=" << value_out << ".";
    throw std::invalid_argument(msg.str());
  }
  if (dims % num_heads != 0 || value_size % num_heads != 0) {
    std::ostringstream msg;
    msg << "[MultiHeadAttention] Expected dims and value_dims divisible by "
        << "num_heads but received dims=" << dims
        << ", value_dims=" << value_size << " and num_heads=" << num_heads
        << ".";
    throw std::invalid_argument(msg.str());
  }

  register_module(
      "query_proj", std::make_shared<Linear>(query_in, dims, bias));
  register_module("key_proj", std::make_shared<Linear>(key_in, dims, bias));
  register_module(
      "value_proj", std::make_shared<Linear>(value_in, value_size, bias));
  register_module(
      "out_proj", std::make_shared<Linear>(value_size, value_out, bias));
}

void MultiHeadAttention::set_rope(std::shared_ptr<RoPE> rope) {
  if (rope) {
    register_module("rope", std::move(rope));
  } else {
    remove("rope");
  }
}

std::vector<mx::array> MultiHeadAttention::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 3);
  std::optional<mx::array> mask = inputs.size() > 3 ? inputs[3] : std::nullopt;
  return {forward(*inputs[0], *inputs[1], *inputs[2], mask)};
}

namespace {

void check_sequence(const char* name, const mx::array& x) {
  if (x.ndim() != 3) {
    std::ostringstream msg;
    msg << "[MultiHeadAttention] Expected " << name
        << " of shape (batch, length, features) but received shape "
        << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

// (B, L, H, D) to (B, H, L, D), and back.
mx::array heads_first(const mx::array& x) {
  return mx::transpose(x, {0, 2, 1, 3});
}

} // namespace

mx::array MultiHeadAttention::forward(
    const mx::array& queries,
    const mx::array& keys,
    const mx::array& values,
    const std::optional<mx::array>& mask,
    KVCache* cache) {
  check_sequence("queries", queries);
  check_sequence("keys", keys);
  check_sequence("values", values);

  // Heads in the projections' layout, (B, L, H, D).
  auto heads = [this](const char* projection, const mx::array& x) {
    return mx::unflatten((*child(projection))(x), -1, {num_heads_, -1});
  };
  mx::array q = heads("query_proj", queries);
  mx::array k = heads("key_proj", keys);
  mx::array v = heads("value_proj", values);
  float scale = static_cast<float>(std::sqrt(1.0 / q.shape(-1)));

  // Without a cache, the CPU kernel takes that layout as it is. RoPE
  // rotates along the length axis, so it gets the heads moved first.
  auto stream = mx::to_stream({});
  if (cache == nullptr &&
      detail::head_attention_applies(q, k, v, mask, stream)) {
    if (has("rope")) {
      const auto& rope = static_cast<const RoPE&>(*child("rope"));
      q = heads_first(rope.forward(heads_first(q)));
      k = heads_first(rope.forward(heads_first(k)));
    }
    mx::array out = detail::head_attention(q, k, v, scale, mask, stream);
    return (*child("out_proj"))(mx::flatten(out, -2, -1));
  }

  q = heads_first(q);
  k = heads_first(k);
  v = heads_first(v);
  if (has("rope")) {
    const auto& rope = static_cast<const RoPE&>(*child("rope"));
    int offset = cache ? cache->offset() : 0;
    q = rope.forward(q, offset);
    k = rope.forward(k, offset);
  }
  if (cache) {
    cache->append(k, v);
    k = *cache->keys;
    v = *cache->values;
  }

  mx::array out = mask
      ? mx::fast::scaled_dot_product_attention(q, k, v, scale, "array", *mask)
      : mx::fast::scaled_dot_product_attention(q, k, v, scale);
  out = mx::flatten(mx::transpose(out, {0, 2, 1, 3}), -2, -1);
  return (*child("out_proj"))(out);
}

mx::array MultiHeadAttention::create_additive_causal_mask(
    int n,
    mx::Dtype dtype) {
  if (!mx::issubdtype(dtype, mx::floating)) {
    throw std::invalid_argument(
        "[MultiHeadAttention] Expected a floating-point dtype for the "
        "causal mask.");
  }
  if (n < 0) {
    std::ostringstream msg;
    msg << "[MultiHeadAttention] Expected a causal mask size n >= 0 but "
        << "received " << n << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::array indices = mx::arange(n, mx::int32);
  mx::array blocked = mx::less(
      mx::expand_dims(indices, 1), mx::expand_dims(indices, 0));
  // The lowest finite value, not -inf: a fully blocked row then still has a
  // finite maximum, and 0 * lowest is 0 where -inf would give NaN.
  mx::array lowest(mx::finfo(dtype).min, dtype);
  return mx::multiply(mx::astype(blocked, dtype), lowest);
}

} // namespace rmlx::nn
