// Recurrent layers. RNN, GRU and LSTM are MLX Python's layers from
// mlx/nn/layers/recurrent.py, with the same parameters, initialisation and
// outputs. StackedRNN, StackedGRU and StackedLSTM add what PyTorch's
// nn.RNN, nn.GRU and nn.LSTM offer beyond them: several layers, both
// directions, dropout between layers, final states and sequences of
// different lengths in one batch.
//
// The extensions are separate classes, not options of the MLX layers, so
// that the MLX layers keep MLX Python's inputs, outputs and parameter names
// exactly, and so that the output of a layer never changes form with its
// options. A stacked layer is a container of MLX layers (its "cells"), one
// per layer and direction, and runs them with the same step code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rmlx/nn/dropout.h"
#include "rmlx/nn/module.h"

namespace rmlx::nn {

/** The hidden state, or the hidden and cell states, of a recurrent layer. */
using RecurrentState = std::vector<std::optional<mx::array>>;

/** The output of RecurrentLayer::scan(). */
struct ScanResult {
  /** Per state, the value at every step, shape (N, L, H) or (L, H). */
  std::vector<mx::array> sequences;
  /** Per state, the value after the last step of each sequence. */
  std::vector<mx::array> final_state;
};

/**
 * The base class of RNN, GRU and LSTM: a layer that projects the whole
 * input sequence with one matrix product, then applies a step function
 * along the sequence axis.
 */
class RecurrentLayer : public Module {
 public:
  int input_size() const {
    return input_size_;
  }
  int hidden_size() const {
    return hidden_size_;
  }

  /**
   * Runs the layer on x and the optional initial states, in the order of
   * input_names(), and returns every state at every step.
   */
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** 1 for RNN and GRU (hidden state), 2 for LSTM (hidden and cell). */
  virtual int num_states() const {
    return 1;
  }

  /**
   * Runs the layer over x of shape (N, L, input_size) or (L, input_size).
   * `initial` contains num_states() entries; an absent entry starts from zero,
   * computed as MLX Python computes a state of None.
   *
   * With `lengths` (shape (N,), integer), sequence n has lengths[n] valid
   * steps: at later steps its state stays unchanged and its outputs are
   * zero, so final_state is the state after its last valid step. A length
   * above L acts as L and one below 0 as 0; lengths are not checked
   * because that would force their evaluation. The values of x at padded
   * steps, NaN included, reach neither the outputs nor the gradients.
   *
   * With `reverse`, the steps run from the last to the first. With
   * lengths as well, padded steps come first and change nothing, so each
   * sequence is read backwards from its own last valid step. Outputs stay
   * at the position of the step that produced them.
   */
  ScanResult scan(
      const mx::array& x,
      const RecurrentState& initial,
      const std::optional<mx::array>& lengths = std::nullopt,
      bool reverse = false);

 protected:
  RecurrentLayer(int input_size, int hidden_size);

  /** Returns x W^T + b for the whole sequence, shape (..., G * H). */
  virtual mx::array project_input(const mx::array& x) const = 0;

  /**
   * Computes the states after one step from the projected input of that
   * step, shape (..., G * H), and the previous states.
   */
  virtual std::vector<mx::array> step(
      const mx::array& projected,
      const RecurrentState& state) const = 0;

  /**
   * Runs the whole recurrence over x as one primitive where the layer has
   * one that applies, or returns nullopt so that scan() composes step()
   * along the sequence. Arguments and result are those of scan(), and
   * `initial` has num_states() entries.
   */
  virtual std::optional<ScanResult> scan_sequence(
      const mx::array& x,
      const RecurrentState& initial,
      const std::optional<mx::array>& lengths,
      bool reverse) const {
    return std::nullopt;
  }

  /** Checks x and the initial states, then returns scan()'s sequences. */
  std::vector<mx::array> run(const mx::array& x, const RecurrentState& initial);

  /** Checks x and the given initial states; throws with this layer's name. */
  void check_inputs_shapes(
      const mx::array& x,
      const RecurrentState& initial) const;

  /** Returns x W^T plus `bias` when the layer has it. */
  mx::array project(
      const mx::array& x,
      const std::string& weight,
      const std::string& bias) const;

 private:
  int input_size_;
  int hidden_size_;
};

/**
 * An Elman RNN, h_t = f(W_xh x_t + W_hh h_{t-1} + b), with f = tanh unless
 * another nonlinearity is given. Parameters: "Wxh" (hidden_size,
 * input_size), "Whh" (hidden_size, hidden_size) and "bias" (hidden_size),
 * drawn in that order from U(-k, k) with k = 1 / sqrt(hidden_size) from
 * MLX's default key stream, so after mx::random::seed(s) they equal MLX
 * Python's. Inputs: x, then optionally hidden of shape (N, H) or (H).
 * Output: the hidden state at every step, (N, L, H) or (L, H).
 */
class RNN : public RecurrentLayer {
 public:
  /**
   * Creates the layer with a nonlinearity named as in activations.h:
   * "tanh", "relu", "leaky_relu" (slope 0.01), "sigmoid", "silu", "gelu",
   * "gelu_approx", "gelu_fast_approx" or "softmax". Throws for other names
   * and for sizes below 1.
   */
  RNN(int input_size,
      int hidden_size,
      bool bias = true,
      const std::string& nonlinearity = "tanh");

  /**
   * Creates the layer with a module as its nonlinearity, stored as the
   * child "nonlinearity". MLX Python 0.32.4 silently uses tanh for a
   * module without parameters (nn.ReLU() is an empty dict, so
   * `nonlinearity or tanh` picks tanh); this layer uses the module.
   */
  RNN(int input_size, int hidden_size, bool bias, ModulePtr nonlinearity);

  std::string type_name() const override {
    return "RNN";
  }

  /**
   * "input_dims=3, hidden_size=4, nonlinearity=tanh, bias=True". MLX
   * Python prints the function object ("<function tanh at 0x...>") where
   * this prints its name, or the module's repr.
   */
  std::string extra_repr() const override;

  std::vector<std::string> input_names() const override {
    return {"x", "hidden"};
  }

  using RecurrentLayer::forward;

  /** Returns the hidden state at every step. */
  mx::array forward(
      const mx::array& x,
      const std::optional<mx::array>& hidden = std::nullopt);

  /** Applies the nonlinearity to x. */
  mx::array activate(const mx::array& x) const;

  /** The nonlinearity's name, or the repr of the nonlinearity module. */
  std::string nonlinearity_repr() const;

 protected:
  mx::array project_input(const mx::array& x) const override;
  std::vector<mx::array> step(
      const mx::array& projected,
      const RecurrentState& state) const override;

 private:
  void init_parameters(bool bias);

  std::string nonlinearity_name_;
};

/**
 * A gated recurrent unit, as MLX Python's GRU:
 *   r = sigmoid(W_xr x + W_hr h + b_r), z = sigmoid(W_xz x + W_hz h + b_z),
 *   n = tanh(W_xn x + b_n + r * (W_hn h + b_hn)),
 *   h' = (1 - z) * n + z * h.
 * Parameters: "Wx" (3H, input_size) and "Wh" (3H, H), gates in the order
 * r, z, n, then "b" (3H) and "bhn" (H), drawn in that order from U(-k, k)
 * with k = 1 / sqrt(H). PyTorch's GRU computes the same function with
 * b_ih + b_hh in place of b for r and z, b_ih for n, and b_hh of n as bhn.
 */
class GRU : public RecurrentLayer {
 public:
  /** Creates the layer; with bias false it has neither "b" nor "bhn". */
  GRU(int input_size, int hidden_size, bool bias = true);

  std::string type_name() const override {
    return "GRU";
  }

  /** "input_dims=3, hidden_size=4, bias=True", as MLX Python prints it. */
  std::string extra_repr() const override;

  std::vector<std::string> input_names() const override {
    return {"x", "hidden"};
  }

  using RecurrentLayer::forward;

  /** Returns the hidden state at every step. */
  mx::array forward(
      const mx::array& x,
      const std::optional<mx::array>& hidden = std::nullopt);

 protected:
  mx::array project_input(const mx::array& x) const override;
  std::vector<mx::array> step(
      const mx::array& projected,
      const RecurrentState& state) const override;
  std::optional<ScanResult> scan_sequence(
      const mx::array& x,
      const RecurrentState& initial,
      const std::optional<mx::array>& lengths,
      bool reverse) const override;
};

/**
 * A long short-term memory layer, as MLX Python's LSTM:
 *   i, f, o = sigmoid(W_x* x + W_h* h + b_*), g = tanh(W_xg x + W_hg h + b_g),
 *   c' = f * c + i * g, h' = o * tanh(c').
 * Parameters: "Wx" (4H, input_size) and "Wh" (4H, H), gates in the order
 * i, f, g, o as in PyTorch, then "bias" (4H), drawn in that order from
 * U(-k, k) with k = 1 / sqrt(H). PyTorch's b_ih + b_hh is this bias.
 * Inputs: x, then optionally hidden and cell, each (N, H) or (H). Outputs:
 * the hidden and the cell state at every step.
 */
class LSTM : public RecurrentLayer {
 public:
  /** Creates the layer; with bias false it has no "bias". */
  LSTM(int input_size, int hidden_size, bool bias = true);

  std::string type_name() const override {
    return "LSTM";
  }

  /** "input_dims=3, hidden_size=4, bias=True", as MLX Python prints it. */
  std::string extra_repr() const override;

  std::vector<std::string> input_names() const override {
    return {"x", "hidden", "cell"};
  }

  int num_states() const override {
    return 2;
  }

  using RecurrentLayer::forward;

  /** Returns the hidden states and the cell states at every step. */
  std::pair<mx::array, mx::array> forward(
      const mx::array& x,
      const std::optional<mx::array>& hidden = std::nullopt,
      const std::optional<mx::array>& cell = std::nullopt);

 protected:
  mx::array project_input(const mx::array& x) const override;
  std::vector<mx::array> step(
      const mx::array& projected,
      const RecurrentState& state) const override;
  std::optional<ScanResult> scan_sequence(
      const mx::array& x,
      const RecurrentState& initial,
      const std::optional<mx::array>& lengths,
      bool reverse) const override;
};

/** The settings of a stacked layer beyond those of its cells. */
struct StackOptions {
  int num_layers = 1;
  bool bias = true;
  /** Dropout probability on the outputs of every layer but the last. */
  double dropout = 0.0;
  bool bidirectional = false;
};

/**
 * The base class of StackedRNN, StackedGRU and StackedLSTM, PyTorch's
 * multi-layer, optionally bidirectional recurrent layers built from MLX
 * cells.
 *
 * The cells are the list "layers": cell k * D + d runs layer k in
 * direction d (0 forward, 1 backward), D = 2 when bidirectional and 1
 * otherwise. Parameter names are thus "layers.0.Wx", "layers.1.Wx", ...,
 * and cell j's final state is row j of the final-state output, as in
 * PyTorch's h_n. Cells are created in list order, each drawing its
 * parameters as its MLX layer does, so after a seed the weights are those
 * of the same MLX layers created in that order. Layer 0 takes input_size
 * features and later layers D * hidden_size.
 *
 * Inputs: x (N, L, input_size) or (L, input_size). Optionally the initial
 * hidden state (and for LSTM the cell state), (num_layers * D, N, H) or
 * (num_layers * D, H). Optionally lengths, shape (N,): the number of valid
 * steps of each sequence of a batched x. With lengths, each sequence runs
 * only over its first lengths[n] steps: the backward direction starts at
 * its own last valid step, padded outputs are zero, and the final states
 * are those after its last valid step, as with PyTorch's
 * pack_padded_sequence. See RecurrentLayer::scan() for lengths out of range.
 *
 * Outputs: the last layer's hidden state at every step, (N, L, D * H) with
 * the forward direction first; the final hidden states (num_layers * D,
 * N, H); for LSTM also the final cell states. The last step's state of
 * the top layer is the last D rows of the final hidden states.
 *
 * In training mode, dropout zeroes outputs of every layer but the last
 * with probability `dropout`, drawing from rmlx::random::next_key().
 */
class StackedRecurrent : public Module {
 public:
  /** "input_size=3, hidden_size=4, num_layers=2, bias=True, ...". */
  std::string extra_repr() const override;

  std::vector<mx::array> forward(const Inputs& inputs) override;

  int input_size() const {
    return input_size_;
  }
  int hidden_size() const {
    return hidden_size_;
  }
  const StackOptions& options() const {
    return options_;
  }
  /** D: 2 when bidirectional, otherwise 1. */
  int num_directions() const {
    return options_.bidirectional ? 2 : 1;
  }

  /** The cell of a layer and direction (0 forward, 1 backward). */
  std::shared_ptr<RecurrentLayer> cell(int layer, int direction) const;

 protected:
  /**
   * Checks the sizes and options, then creates the cells in list order
   * with make_cell(cell_input_size). Throws std::invalid_argument naming
   * `type_name` for sizes or num_layers below 1 and dropout outside [0, 1).
   */
  StackedRecurrent(
      const std::string& type_name,
      int input_size,
      int hidden_size,
      StackOptions options,
      const std::function<std::shared_ptr<RecurrentLayer>(int)>& make_cell);

  /** Returns the number of states: 1, or 2 for LSTM. */
  virtual int num_states() const {
    return 1;
  }

 private:
  void check_forward_inputs(
      const mx::array& x,
      const RecurrentState& initial,
      const std::optional<mx::array>& lengths) const;

  int input_size_;
  int hidden_size_;
  StackOptions options_;
  // Applied between layers; not a child, so it adds nothing to the tree.
  std::shared_ptr<Dropout> dropout_;
};

/** A stacked Elman RNN; see StackedRecurrent and RNN. */
class StackedRNN : public StackedRecurrent {
 public:
  /** Creates the layer; `nonlinearity` as for RNN's constructor. */
  StackedRNN(
      int input_size,
      int hidden_size,
      StackOptions options = {},
      const std::string& nonlinearity = "tanh");

  /** Creates the layer; every cell applies the same nonlinearity module. */
  StackedRNN(
      int input_size,
      int hidden_size,
      StackOptions options,
      ModulePtr nonlinearity);

  std::string type_name() const override {
    return "StackedRNN";
  }
  std::string extra_repr() const override;
  std::vector<std::string> input_names() const override {
    return {"x", "hidden", "lengths"};
  }
};

/** A stacked GRU; see StackedRecurrent and GRU. */
class StackedGRU : public StackedRecurrent {
 public:
  StackedGRU(int input_size, int hidden_size, StackOptions options = {});

  std::string type_name() const override {
    return "StackedGRU";
  }
  std::vector<std::string> input_names() const override {
    return {"x", "hidden", "lengths"};
  }
};

/** A stacked LSTM; see StackedRecurrent and LSTM. */
class StackedLSTM : public StackedRecurrent {
 public:
  StackedLSTM(int input_size, int hidden_size, StackOptions options = {});

  std::string type_name() const override {
    return "StackedLSTM";
  }
  std::vector<std::string> input_names() const override {
    return {"x", "hidden", "cell", "lengths"};
  }

 protected:
  int num_states() const override {
    return 2;
  }
};

} // namespace rmlx::nn
