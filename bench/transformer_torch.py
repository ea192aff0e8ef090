"""Times forward plus backward of a 2-layer transformer encoder in PyTorch.

Usage: python bench/transformer_torch.py [REPEATS]   (default 10)
Prints one line: `pytorch encoder_ms=<median>`, the milliseconds of one
forward pass and backward pass of sum(y * w) into every parameter's .grad
for nn.TransformerEncoder of 2 nn.TransformerEncoderLayer(256, 4,
dim_feedforward=1024, dropout=0, norm_first=True, batch_first=True) and a
final LayerNorm, under a causal mask, for sequence 128 and batch 16.
Threads: RMLX_BENCH_THREADS (default 1).
"""
import os
import sys
import time

import numpy as np
import torch

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
LAYERS, DIMS, HEADS, MLP, SEQ, BATCH = 2, 256, 4, 1024, 128, 16


def main():
    torch.set_num_threads(int(os.environ.get("RMLX_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(
        DIMS,
        HEADS,
        dim_feedforward=MLP,
        dropout=0.0,
        batch_first=True,
        norm_first=True,
    )
    model = torch.nn.TransformerEncoder(
        layer, LAYERS, norm=torch.nn.LayerNorm(DIMS), enable_nested_tensor=False
    )
    x = torch.randn(BATCH, SEQ, DIMS)
    w = torch.randn(BATCH, SEQ, DIMS)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(SEQ)

    def run_once():
        model.zero_grad()
        (model(x, mask=mask) * w).sum().backward()

    for _ in range(2):
        run_once()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)
    print(f"pytorch encoder_ms={1000 * float(np.median(times)):.1f}")


if __name__ == "__main__":
    main()
