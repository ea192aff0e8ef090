// Constructors of the recurrent layers.
#include "rmlx_module.h"

#include "rmlx/nn/recurrent.h"

namespace nn = rmlx::nn;

[[cpp11::register]]
SEXP nn_rnn_(
    int input_size,
    int hidden_size,
    bool bias,
    std::string nonlinearity,
    SEXP nonlinearity_module) {
  if (nonlinearity_module != R_NilValue) {
    auto module =
        rmlx_unwrap_module(nonlinearity_module, "mlx_rnn", "nonlinearity");
    return rmlx_wrap_module(
        std::make_shared<nn::RNN>(input_size, hidden_size, bias, module));
  }
  return rmlx_wrap_module(
      std::make_shared<nn::RNN>(input_size, hidden_size, bias, nonlinearity));
}

[[cpp11::register]]
SEXP nn_gru_(int input_size, int hidden_size, bool bias) {
  return rmlx_wrap_module(
      std::make_shared<nn::GRU>(input_size, hidden_size, bias));
}

[[cpp11::register]]
SEXP nn_lstm_(int input_size, int hidden_size, bool bias) {
  return rmlx_wrap_module(
      std::make_shared<nn::LSTM>(input_size, hidden_size, bias));
}

// Creates StackedRNN, StackedGRU or StackedLSTM by `kind` ("rnn", "gru" or
// "lstm"); the nonlinearity arguments apply to "rnn" only.
[[cpp11::register]]
SEXP nn_stacked_recurrent_(
    std::string kind,
    int input_size,
    int hidden_size,
    int num_layers,
    bool bias,
    double dropout,
    bool bidirectional,
    std::string nonlinearity,
    SEXP nonlinearity_module) {
  nn::StackOptions options{num_layers, bias, dropout, bidirectional};
  nn::ModulePtr m;
  if (kind == "gru") {
    m = std::make_shared<nn::StackedGRU>(input_size, hidden_size, options);
  } else if (kind == "lstm") {
    m = std::make_shared<nn::StackedLSTM>(input_size, hidden_size, options);
  } else if (nonlinearity_module != R_NilValue) {
    auto module = rmlx_unwrap_module(
        nonlinearity_module, "mlx_stacked_rnn", "nonlinearity");
    m = std::make_shared<nn::StackedRNN>(
        input_size, hidden_size, options, module);
  } else {
    m = std::make_shared<nn::StackedRNN>(
        input_size, hidden_size, options, nonlinearity);
  }
  return rmlx_wrap_module(m);
}
