"""Times a CNN training epoch on Fashion-MNIST in MLX Python.

The model is the main job's CNN (see cnn_torch.py), channels last as MLX
expects, with a compiled training step as in mlp_mlx.py.

Usage: python cnn_mlx.py [STEPS]   (default: a whole epoch, 468 steps)
Prints one line: `mlx_python epoch_s=<seconds for 468 steps> loss=<mean
loss>`, scaling the time of STEPS steps (at least 2) up to a whole epoch as
cnn_torch.py does: the first step, which traces and compiles, counts once.
"""
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from cnn_torch import epoch_seconds
from fashion_data import load

BATCH = 128


def main():
    x_train, y_train, _, _ = load()
    n = x_train.shape[0]
    epoch_steps = n // BATCH
    steps = max(2, int(sys.argv[1])) if len(sys.argv) > 1 else epoch_steps
    x_all = mx.array(x_train).reshape(-1, 28, 28, 1)
    y_all = mx.array(y_train)
    mx.random.seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        lambda x: x.reshape(x.shape[0], -1),
        nn.Linear(3136, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
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

    perm = mx.array(np.random.default_rng(0).permutation(n).astype(np.int32))
    start = time.perf_counter()
    xs, ys = x_all[perm], y_all[perm]
    mx.eval(xs, ys)
    total = mx.array(0.0)
    for i in range(steps):
        rows = slice(i * BATCH, (i + 1) * BATCH)
        loss = step(xs[rows], ys[rows])
        mx.eval(state, loss)
        total = total + loss
        if i == 0:
            first = time.perf_counter()
    mx.eval(total)
    seconds = epoch_seconds(start, first, time.perf_counter(), steps, epoch_steps)
    print(f"mlx_python epoch_s={seconds:.4f} loss={total.item() / steps:.4f}")


if __name__ == "__main__":
    main()
