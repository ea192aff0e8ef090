"""Times forward plus backward of an LSTM and a GRU layer in MLX Python.

Usage: python bench/rnn_mlx.py [REPEATS] [LABEL]   (defaults 10, mlx_python)
Prints one line: `LABEL lstm_ms=<median> gru_ms=<median>`, the milliseconds
of one evaluated value and gradient of sum(h * w) with respect to every
parameter, for input 64, hidden 256, 64 steps and batch 32. The mlx_cpu
0.32.4 wheel links a reference BLAS; run.sh also runs this script with
LD_PRELOAD of OpenBLAS and labels that run mlx_openblas.
"""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
LABEL = sys.argv[2] if len(sys.argv) > 2 else "mlx_python"
BATCH, STEPS, INPUT, HIDDEN = 32, 64, 64, 256
# Untimed steps before the timed ones, as in rnn_torch.py, whose comment
# gives the reason.
WARMUP = 10


def time_layer(layer, loss_fn, x, w):
    value_and_grad = nn.value_and_grad(layer, loss_fn)

    def run_once():
        loss, grads = value_and_grad(layer, x, w)
        mx.eval(loss, grads)

    for _ in range(WARMUP):
        run_once()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    mx.random.seed(0)
    x = mx.random.normal((BATCH, STEPS, INPUT))
    w = mx.random.normal((BATCH, STEPS, HIDDEN))

    def lstm_loss(model, x, w):
        return (model(x)[0] * w).sum()

    def gru_loss(model, x, w):
        return (model(x) * w).sum()

    lstm_ms = time_layer(nn.LSTM(INPUT, HIDDEN), lstm_loss, x, w)
    gru_ms = time_layer(nn.GRU(INPUT, HIDDEN), gru_loss, x, w)
    print(f"{LABEL} lstm_ms={lstm_ms:.1f} gru_ms={gru_ms:.1f}")


if __name__ == "__main__":
    main()
