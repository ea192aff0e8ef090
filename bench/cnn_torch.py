"""Times a CNN training epoch on Fashion-MNIST in PyTorch.

The model is the main job's CNN: conv 3x3 1->32, ReLU, max-pool 2, conv 3x3
32->64, ReLU, max-pool 2, linear 3136->128, ReLU, linear 128->10; batch 128,
Adam with learning rate 1e-3. Images are NCHW, PyTorch's default layout.

Usage: python cnn_torch.py [STEPS]   (default: a whole epoch, 468 steps)
Prints one line: `pytorch epoch_s=<seconds for 468 steps> loss=<mean loss>`.
It scales the time of STEPS steps (at least 2) up to a whole epoch. The
first step counts once and the mean of the others stands for the remaining
467.
"""
import os
import sys
import time

import numpy as np
import torch

from fashion_data import load

BATCH = 128


def epoch_seconds(start, first, end, steps, epoch_steps):
    """Scales a timed run to an epoch: the first step (which may include
    one-time set-up) once, the mean of the others for the rest."""
    return (first - start) + (end - first) * (epoch_steps - 1) / (steps - 1)


def main():
    torch.set_num_threads(int(os.environ.get("RMLX_BENCH_THREADS", "1")))
    x_train, y_train, _, _ = load()
    n = x_train.shape[0]
    epoch_steps = n // BATCH
    steps = max(2, int(sys.argv[1])) if len(sys.argv) > 1 else epoch_steps
    x_all = torch.from_numpy(x_train).reshape(-1, 1, 28, 28)
    y_all = torch.from_numpy(y_train.astype(np.int64))
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(3136, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.from_numpy(np.random.default_rng(0).permutation(n))
    start = time.perf_counter()
    xs, ys = x_all[perm], y_all[perm]
    total = 0.0
    for i in range(steps):
        rows = slice(i * BATCH, (i + 1) * BATCH)
        optimizer.zero_grad()
        loss = loss_fn(model(xs[rows]), ys[rows])
        loss.backward()
        optimizer.step()
        total += loss.item()
        if i == 0:
            first = time.perf_counter()
    seconds = epoch_seconds(start, first, time.perf_counter(), steps, epoch_steps)
    print(f"pytorch epoch_s={seconds:.4f} loss={total / steps:.4f}")


if __name__ == "__main__":
    main()
