"""Times forward plus backward of an LSTM and a GRU layer in PyTorch.

Usage: python bench/rnn_torch.py [REPEATS]   (default 10)
Prints one line: `pytorch lstm_ms=<median> gru_ms=<median>`, the
milliseconds of one forward pass and backward pass of sum(h * w) into
every parameter's .grad, for input 64, hidden 256, 64 steps and batch 32
(torch.nn.LSTM and torch.nn.GRU with batch_first=True). Threads:
RMLX_BENCH_THREADS (default 1).
"""
import os
import sys
import time

import numpy as np
import torch

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
BATCH, STEPS, INPUT, HIDDEN = 32, 64, 64, 256
# Untimed steps before the timed ones, the same in rnn_rmlx.R, rnn_mlx.py and
# rnn_torch.py. Rmlx reaches its steady state after about 10 steps: until R's
# first collection of unreachable arrays (64 MiB of them, see mlx_memory() in
# R), each step maps new memory.
WARMUP = 10


def time_layer(layer, x, w):
    def run_once():
        layer.zero_grad()
        out = layer(x)[0]
        (out * w).sum().backward()

    for _ in range(WARMUP):
        run_once()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    torch.set_num_threads(int(os.environ.get("RMLX_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    x = torch.randn(BATCH, STEPS, INPUT)
    w = torch.randn(BATCH, STEPS, HIDDEN)
    lstm = torch.nn.LSTM(INPUT, HIDDEN, batch_first=True)
    gru = torch.nn.GRU(INPUT, HIDDEN, batch_first=True)
    lstm_ms = time_layer(lstm, x, w)
    gru_ms = time_layer(gru, x, w)
    print(f"pytorch lstm_ms={lstm_ms:.1f} gru_ms={gru_ms:.1f}")


if __name__ == "__main__":
    main()
