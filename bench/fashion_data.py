"""Reads Fashion-MNIST from Debian's dataset-fashion-mnist for the benchmarks."""
import gzip
import os

import numpy as np

DATA_DIR = os.environ.get("RMLX_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


def _read_idx(name):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load():
    """Returns (x_train, y_train, x_test, y_test): float32 rows in [0, 1], int labels."""
    x_train = _read_idx("train-images-idx3-ubyte.gz").reshape(-1, 784)
    x_test = _read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    y_train = _read_idx("train-labels-idx1-ubyte.gz").astype(np.int32)
    y_test = _read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int32)
    return (
        x_train.astype(np.float32) / 255.0,
        y_train,
        x_test.astype(np.float32) / 255.0,
        y_test,
    )
