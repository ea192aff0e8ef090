"""Exchange weights between Rmlx and MLX Python or PyTorch for test-interop.R.

Each model here mirrors one built in r/tests/testthat/test-interop.R, with the
same parameter names and shapes. Subcommands:

    forward MODEL WEIGHTS INPUT OUTPUT
        Build MODEL, load WEIGHTS with strict=True, run the array "x" from
        the safetensors file INPUT in evaluation mode, and write the result
        as "y" to OUTPUT.
    names MODEL
        Print the dotted parameter names of MODEL, one a line, sorted.
    export MODEL SEED WEIGHTS DATA
        Build MODEL from SEED, save its weights to WEIGHTS, and write an
        input "x" with its evaluation-mode output "y" to DATA.
    torch-linear SEED WEIGHTS DATA
        Save a torch.nn.Linear(6, 3) state_dict with safetensors.torch, and
        write an input "x" with the layer's output "y" to DATA.

Run with the project's virtual environment, for example:

    .venv/bin/python tools/interop/interop.py names custom
"""

import argparse
import sys

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten


class Block(nn.Module):
    """A linear layer, a list of layers, a raw parameter and an output layer."""

    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.input = nn.Linear(n_in, n_hidden)
        self.hidden = [nn.Linear(n_hidden, n_hidden), nn.LayerNorm(n_hidden)]
        self.scale = mx.ones((n_out,))
        self.output = nn.Linear(n_hidden, n_out)

    def __call__(self, x):
        h = nn.relu(self.input(x))
        for layer in self.hidden:
            h = layer(h)
        return self.output(h) * self.scale


class Outer(nn.Module):
    """A Block child plus a raw bias, so that names nest two levels deep."""

    def __init__(self):
        super().__init__()
        self.block = Block(3, 4, 2)
        self.bias = mx.zeros((2,))

    def __call__(self, x):
        return self.block(x) + self.bias


def build_model(name):
    if name == "mlp":
        return nn.Sequential(
            nn.Linear(6, 5), nn.ReLU(), nn.LayerNorm(5), nn.Linear(5, 3)
        )
    if name == "embedding":
        return nn.Sequential(nn.Embedding(7, 4), nn.BatchNorm(4), nn.Linear(4, 2))
    if name == "custom":
        return Outer()
    raise ValueError(f"unknown model {name!r}: expected mlp, embedding or custom")


def make_input(name):
    if name == "embedding":
        return mx.random.randint(0, 7, (2, 3)).astype(mx.int32)
    n_in = 3 if name == "custom" else 6
    return mx.random.normal((4, n_in))


def forward(args):
    model = build_model(args.model)
    model.load_weights(args.weights, strict=True)
    model.eval()
    x = mx.load(args.input)["x"]
    y = model(x)
    mx.save_safetensors(args.output, {"y": y})


def print_names(args):
    model = build_model(args.model)
    for name in sorted(k for k, _ in tree_flatten(model.parameters())):
        print(name)


def export(args):
    mx.random.seed(args.seed)
    model = build_model(args.model)
    if args.model == "embedding":
        # Train-mode passes move the running statistics away from 0 and 1.
        for _ in range(3):
            model(make_input(args.model))
    model.eval()
    x = make_input(args.model)
    y = model(x)
    model.save_weights(args.weights)
    mx.save_safetensors(args.data, {"x": x, "y": y})


def torch_linear(args):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    layer = torch.nn.Linear(6, 3)
    x = torch.randn(4, 6)
    with torch.no_grad():
        y = layer(x)
    save_file({k: v.contiguous() for k, v in layer.state_dict().items()}, args.weights)
    save_file({"x": x, "y": y}, args.data)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    subparser = commands.add_parser("forward")
    subparser.add_argument("model")
    subparser.add_argument("weights")
    subparser.add_argument("input")
    subparser.add_argument("output")
    subparser.set_defaults(run=forward)

    subparser = commands.add_parser("names")
    subparser.add_argument("model")
    subparser.set_defaults(run=print_names)

    subparser = commands.add_parser("export")
    subparser.add_argument("model")
    subparser.add_argument("seed", type=int)
    subparser.add_argument("weights")
    subparser.add_argument("data")
    subparser.set_defaults(run=export)

    subparser = commands.add_parser("torch-linear")
    subparser.add_argument("seed", type=int)
    subparser.add_argument("weights")
    subparser.add_argument("data")
    subparser.set_defaults(run=torch_linear)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
