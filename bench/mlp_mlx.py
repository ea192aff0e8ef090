"""Times one MLP training epoch (784-256-128-10, batch 128, Adam) in MLX Python.

Prints one line: `mlx_python epoch_s=<median seconds> loss=<last epoch mean>`.
"""
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from fashion_data import load

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
BATCH = 128


def main():
    x_train, y_train, _, _ = load()
    x_all = mx.array(x_train)
    y_all = mx.array(y_train)
    mx.random.seed(0)
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    optimizer = optim.Adam(learning_rate=1e-3)
    state = [model.state, optimizer.state]

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(0)
    n = x_all.shape[0]
    times = []
    for _ in range(EPOCHS):
        perm = mx.array(rng.permutation(n).astype(np.int32))
        start = time.perf_counter()
        # Shuffle once per epoch; each batch is then a slice (a view).
        xs, ys = x_all[perm], y_all[perm]
        mx.eval(xs, ys)
        total = mx.array(0.0)
        for i in range(0, n - BATCH + 1, BATCH):
            loss = step(xs[i : i + BATCH], ys[i : i + BATCH])
            mx.eval(state, loss)
            total = total + loss
        mx.eval(total)
        times.append(time.perf_counter() - start)
        last = total.item() / (n // BATCH)
    print(f"mlx_python epoch_s={np.median(times):.4f} loss={last:.4f}")


if __name__ == "__main__":
    main()
