"""Times one MLP training epoch (784-256-128-10, batch 128, Adam) in PyTorch.

Prints one line: `pytorch epoch_s=<median seconds> loss=<last epoch mean>`.
"""
import os
import sys
import time

import numpy as np
import torch

from fashion_data import load

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
BATCH = 128


def main():
    torch.set_num_threads(int(os.environ.get("RMLX_BENCH_THREADS", "1")))
    x_train, y_train, _, _ = load()
    x_all = torch.from_numpy(x_train)
    y_all = torch.from_numpy(y_train.astype(np.int64))
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_all.shape[0]
    rng = np.random.default_rng(0)
    times = []
    for _ in range(EPOCHS):
        perm = torch.from_numpy(rng.permutation(n))
        start = time.perf_counter()
        # Shuffle once per epoch; each batch is then a slice (a view).
        xs, ys = x_all[perm], y_all[perm]
        total = 0.0
        for i in range(0, n - BATCH + 1, BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(xs[i : i + BATCH]), ys[i : i + BATCH])
            loss.backward()
            optimizer.step()
            total += loss.item()
        times.append(time.perf_counter() - start)
        last = total / (n // BATCH)
    print(f"pytorch epoch_s={np.median(times):.4f} loss={last:.4f}")


if __name__ == "__main__":
    main()
