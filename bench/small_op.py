"""Times one small evaluated op (x + y on 10 float32 elements).

Prints `mlx_python op_us=<median>` and, when torch imports, `pytorch op_us=<median>`.
"""
import time

import numpy as np


def median_us(fn, repeats=20000):
    for _ in range(1000):
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        samples.append((time.perf_counter() - start) / repeats * 1e6)
    return float(np.median(samples))


def main():
    import mlx.core as mx

    x = mx.arange(10, dtype=mx.float32)
    y = mx.ones(10, dtype=mx.float32)
    print(f"mlx_python op_us={median_us(lambda: mx.eval(x + y)):.3f}")
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    a = torch.arange(10, dtype=torch.float32)
    b = torch.ones(10, dtype=torch.float32)
    print(f"pytorch op_us={median_us(lambda: a + b):.3f}")


if __name__ == "__main__":
    main()
