"""Times forward plus backward of Conv2d and MaxPool2d in MLX Python.

Each case computes y = layer(x), the loss sum(y * g) for a fixed random g,
and the gradients of the loss with respect to x and the layer's weight and
bias (x only for pooling), with mx.value_and_grad, uncompiled. Data is
channels last (NHWC), as MLX expects. The cases are in conv_cases.py;
conv_pool_rmlx.R and conv_pool_torch.py time the same ones.

Usage: python conv_pool_mlx.py [RUNS] [CASE ...]   (default 10 runs, all cases)
Prints one line per case, `<case> ms=<median of RUNS timed runs after 2
warm-up runs>`.
"""
import sys

import mlx.core as mx
import mlx.nn as nn

from conv_cases import CASES, median_ms, parse_args


def make_step(kind, batch, size, c_in, c_out):
    """Returns a function that runs forward and backward once and evaluates."""
    x = mx.random.normal((batch, size, size, c_in))
    if kind == "conv":
        layer = nn.Conv2d(c_in, c_out, 3, padding=1)
        out_size = size
    else:
        layer = nn.MaxPool2d(2)
        out_size = size // 2
    g = mx.random.normal((batch, out_size, out_size, c_out))
    mx.eval(x, g, layer.parameters())

    def loss_fn(params, x):
        layer.update(params)
        return (layer(x) * g).sum()

    grad_fn = mx.value_and_grad(loss_fn, argnums=(0, 1))
    params = layer.trainable_parameters()

    def step():
        loss, (param_grads, x_grad) = grad_fn(params, x)
        mx.eval(loss, param_grads, x_grad)

    return step


def main():
    runs, names = parse_args(sys.argv)
    mx.random.seed(0)
    for name in names:
        case = CASES[name]
        print(f"{name} ms={median_ms(make_step(*case), runs):.3f}", flush=True)


if __name__ == "__main__":
    main()
