"""Cases and timing shared by conv_pool_mlx.py and conv_pool_torch.py.

conv_pool_rmlx.R repeats the same case table in R.
"""
import sys
import time

import numpy as np

# name: (kind, batch, height and width, input channels, output channels)
CASES = {
    "conv28": ("conv", 128, 28, 1, 32),
    "conv14": ("conv", 128, 14, 32, 64),
    "conv64": ("conv", 32, 64, 64, 128),
    "pool28": ("pool", 128, 28, 32, 32),
    "pool14": ("pool", 128, 14, 64, 64),
    "pool64": ("pool", 32, 64, 128, 128),
}


def parse_args(argv):
    """Returns (runs, case names) from `[RUNS] [CASE ...]`; exits on an unknown case."""
    runs = int(argv[1]) if len(argv) > 1 else 10
    names = argv[2:] or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        sys.exit(f"unknown case {unknown[0]!r}; expected one of {', '.join(CASES)}")
    return runs, names


def median_ms(fn, runs):
    """Calls fn twice to warm up, then returns the median milliseconds of `runs` calls."""
    for _ in range(2):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return float(np.median(samples))
