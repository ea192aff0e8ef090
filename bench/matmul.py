"""Times a 1024x1024 float32 matrix product in MLX Python.

Prints `mlx_python gflops=<best of 10>`, the same measurement as matmul.R.
"""
import time

import mlx.core as mx

N = 1024
RUNS = 10


def main():
    mx.random.seed(0)
    a = mx.random.uniform(shape=(N, N))
    b = mx.random.uniform(shape=(N, N))
    mx.eval(a, b)
    for _ in range(2):
        mx.eval(a @ b)
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        mx.eval(a @ b)
        best = min(best, time.perf_counter() - start)
    print(f"mlx_python gflops={2 * N**3 / best / 1e9:.1f}")


if __name__ == "__main__":
    main()
