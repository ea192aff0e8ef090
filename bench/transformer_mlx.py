"""Times forward plus backward of a 2-layer transformer encoder in MLX Python.

Usage: python bench/transformer_mlx.py [REPEATS] [LABEL]
(defaults 10, mlx_python)
Prints one line: `LABEL encoder_ms=<median>`, the milliseconds of one
evaluated value and gradient of sum(y * w) with respect to every parameter
of nn.TransformerEncoder(2, 256, 4, mlp_dims=1024) under a causal mask, for
sequence 128 and batch 16. It mirrors transformer_rmlx.R and
transformer_torch.py.
"""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
LABEL = sys.argv[2] if len(sys.argv) > 2 else "mlx_python"
LAYERS, DIMS, HEADS, MLP, SEQ, BATCH = 2, 256, 4, 1024, 128, 16


def main():
    mx.random.seed(0)
    model = nn.TransformerEncoder(LAYERS, DIMS, HEADS, mlp_dims=MLP)
    x = mx.random.normal((BATCH, SEQ, DIMS))
    w = mx.random.normal((BATCH, SEQ, DIMS))
    mask = nn.MultiHeadAttention.create_additive_causal_mask(SEQ)

    def loss_fn(model, x, w):
        return mx.sum(model(x, mask) * w)

    value_and_grad = nn.value_and_grad(model, loss_fn)

    def run_once():
        loss, grads = value_and_grad(model, x, w)
        mx.eval(loss, grads)

    for _ in range(2):
        run_once()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)
    print(f"{LABEL} encoder_ms={1000 * float(np.median(times)):.1f}")


if __name__ == "__main__":
    main()
