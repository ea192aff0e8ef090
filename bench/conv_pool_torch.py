"""Times forward plus backward of Conv2d and MaxPool2d in PyTorch.

Each case computes y = layer(x), the loss sum(y * g) for a fixed random g,
and the gradients of the loss with respect to x and the layer's weight and
bias (x only for pooling) with torch.autograd.grad. The cases are in
conv_cases.py, in PyTorch's default NCHW layout.

Usage: python conv_pool_torch.py [RUNS] [CASE ...]   (default 10 runs, all cases)
Prints one line per case, `<case> ms=<median of RUNS timed runs after 2
warm-up runs>`, then the same cases in the channels_last memory format as
`<case>_channels_last ms=<median>`. RMLX_BENCH_THREADS sets PyTorch's
thread count (default 1).
"""
import os
import sys

import torch

from conv_cases import CASES, median_ms, parse_args


def make_step(kind, batch, size, c_in, c_out, memory_format):
    """Returns a function that runs forward and backward once."""
    x = torch.randn(batch, c_in, size, size).to(memory_format=memory_format)
    x.requires_grad_(True)
    if kind == "conv":
        layer = torch.nn.Conv2d(c_in, c_out, 3, padding=1).to(memory_format=memory_format)
        out_size = size
    else:
        layer = torch.nn.MaxPool2d(2)
        out_size = size // 2
    g = torch.randn(batch, c_out, out_size, out_size).to(memory_format=memory_format)
    wrt = [x, *layer.parameters()]

    def step():
        loss = (layer(x) * g).sum()
        torch.autograd.grad(loss, wrt)

    return step


def main():
    runs, names = parse_args(sys.argv)
    torch.set_num_threads(int(os.environ.get("RMLX_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    formats = [("", torch.contiguous_format), ("_channels_last", torch.channels_last)]
    for suffix, memory_format in formats:
        for name in names:
            ms = median_ms(make_step(*CASES[name], memory_format), runs)
            print(f"{name}{suffix} ms={ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
