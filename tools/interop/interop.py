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
    torch-export DIR SEED
        Train a small CNN in PyTorch and save it, with transposed
        convolutions, recurrent layers and a MultiheadAttention, as
        safetensors state dicts DIR/torch_<model>.safetensors, with inputs
        and outputs in MLX's channels-last layout in
        DIR/torch_<model>_data.safetensors.
    layers-export DIR SEED
        For every entry of LAYERS and both weights formats, build the layer
        from SEED, save its weights to DIR/<name>.safetensors and
        DIR/<name>.npz, and write an input "x" with the evaluation-mode
        output "y" to DIR/<name>_data.safetensors.
    layers-forward DIR
        For every DIR/<name>.<format> weights file that has an input
        DIR/<name>_input.safetensors, build the layer, load the weights with
        strict=True, and write the evaluation-mode output "y" to
        DIR/<name>_<format>_output.safetensors.

Run with the project's virtual environment, for example:

    .venv/bin/python tools/interop/interop.py names custom
"""

import argparse
import os
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


# Every layer type of Rmlx with parameters or a forward pass that MLX Python
# has, built as test-interop.R builds its twin: name -> (constructor, input
# shape, or "ids" for embedding indices).
LAYERS = {
    "linear": (lambda: nn.Linear(6, 4), (3, 6)),
    "linear_no_bias": (lambda: nn.Linear(6, 4, bias=False), (3, 6)),
    "embedding": (lambda: nn.Embedding(7, 4), "ids"),
    "layer_norm": (lambda: nn.LayerNorm(6), (3, 6)),
    "batch_norm": (lambda: nn.BatchNorm(6), (4, 6)),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1), (2, 8, 3)),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3, stride=2), (2, 7, 7, 3)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2), (1, 4, 4, 4, 2)),
    "conv_transpose1d": (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2), (2, 5, 3)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 2, 3), (1, 4, 4, 3)),
    "conv_transpose3d": (lambda: nn.ConvTranspose3d(2, 3, 2), (1, 3, 3, 3, 2)),
    "rnn": (lambda: nn.RNN(3, 5), (2, 4, 3)),
    "gru": (lambda: nn.GRU(3, 5), (2, 4, 3)),
    "lstm": (lambda: nn.LSTM(3, 5), (2, 4, 3)),
    "cnn": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.BatchNorm(4),
            nn.AvgPool2d(2),
            nn.Dropout(0.5),
            nn.Upsample(2.0),
        ),
        (2, 8, 8, 1),
    ),
    "quantized_linear": (lambda: nn.QuantizedLinear(64, 8), (3, 64)),
    "quantized_linear_mxfp4": (
        lambda: nn.QuantizedLinear(64, 8, mode="mxfp4"),
        (3, 64),
    ),
    "quantized_embedding": (
        lambda: nn.QuantizedEmbedding(10, 64, group_size=32, bits=8),
        "ids",
    ),
    "linear_bfloat16": (lambda: nn.Linear(6, 4), (3, 6)),
    "linear_float16": (lambda: nn.Linear(6, 4), (3, 6)),
}

LAYER_DTYPES = {"linear_bfloat16": mx.bfloat16, "linear_float16": mx.float16}


def build_layer(name):
    layer = LAYERS[name][0]()
    if name in LAYER_DTYPES:
        layer.set_dtype(LAYER_DTYPES[name])
    return layer


def layer_input(name):
    shape = LAYERS[name][1]
    if shape == "ids":
        rows = 10 if name == "quantized_embedding" else 7
        return mx.random.randint(0, rows, (2, 3)).astype(mx.int32)
    x = mx.random.normal(shape)
    return x.astype(LAYER_DTYPES.get(name, mx.float32))


def layer_output(layer, x):
    y = layer(x)
    # LSTM returns (hidden, cell): compare the hidden states.
    return y[0] if isinstance(y, tuple) else y


def layers_export(args):
    for name in LAYERS:
        mx.random.seed(args.seed)
        layer = build_layer(name)
        if "batch_norm" in name or name == "cnn":
            # Train-mode passes move the running statistics away from 0 and 1.
            for _ in range(2):
                layer(layer_input(name))
        layer.eval()
        x = layer_input(name)
        y = layer_output(layer, x)
        for extension in ("safetensors", "npz"):
            layer.save_weights(f"{args.dir}/{name}.{extension}")
        mx.save_safetensors(f"{args.dir}/{name}_data.safetensors", {"x": x, "y": y})


def layers_forward(args):
    for name in LAYERS:
        input_path = f"{args.dir}/{name}_input.safetensors"
        for extension in ("safetensors", "npz"):
            weights = f"{args.dir}/{name}.{extension}"
            if not (os.path.exists(weights) and os.path.exists(input_path)):
                continue
            layer = build_layer(name)
            layer.load_weights(weights, strict=True)
            layer.eval()
            y = layer_output(layer, mx.load(input_path)["x"])
            mx.save_safetensors(
                f"{args.dir}/{name}_{extension}_output.safetensors", {"y": y}
            )


def torch_export(args):
    import torch
    from safetensors.torch import save_file

    def save(name, module, data):
        state = {k: v.contiguous() for k, v in module.state_dict().items()}
        save_file(state, f"{args.dir}/torch_{name}.safetensors")
        data = {k: v.detach().contiguous() for k, v in data.items()}
        save_file(data, f"{args.dir}/torch_{name}_data.safetensors")

    torch.manual_seed(args.seed)

    class SmallCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(4, 6, 3)
            self.head = torch.nn.Linear(6, 3)

        def forward(self, x):
            h = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            h = torch.relu(self.conv2(h))
            return self.head(h.mean(dim=(2, 3)))

    # A few steps of training, so the weights are not the initial ones.
    cnn = SmallCNN()
    optimizer = torch.optim.SGD(cnn.parameters(), lr=0.1)
    x_train = torch.randn(32, 1, 8, 8)
    labels = torch.randint(0, 3, (32,))
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(cnn(x_train), labels)
        loss.backward()
        optimizer.step()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        y = cnn(x)
    save("cnn", cnn, {"x": x.permute(0, 2, 3, 1), "y": y})

    transposed = torch.nn.Module()
    transposed.ct1 = torch.nn.ConvTranspose1d(3, 4, 3, stride=2)
    transposed.ct2 = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    transposed.ct3 = torch.nn.ConvTranspose3d(2, 3, 2)
    x1 = torch.randn(2, 3, 5)
    x2 = torch.randn(1, 3, 4, 4)
    x3 = torch.randn(1, 2, 3, 3, 3)
    with torch.no_grad():
        data = {
            "x1": x1.permute(0, 2, 1),
            "y1": transposed.ct1(x1).permute(0, 2, 1),
            "x2": x2.permute(0, 2, 3, 1),
            "y2": transposed.ct2(x2).permute(0, 2, 3, 1),
            "x3": x3.permute(0, 2, 3, 4, 1),
            "y3": transposed.ct3(x3).permute(0, 2, 3, 4, 1),
        }
    save("transposed", transposed, data)

    recurrent = torch.nn.Module()
    recurrent.rnn = torch.nn.RNN(3, 5, batch_first=True)
    recurrent.gru = torch.nn.GRU(3, 5, batch_first=True)
    recurrent.lstm = torch.nn.LSTM(3, 5, batch_first=True)
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        data = {
            "x": x,
            "rnn": recurrent.rnn(x)[0],
            "gru": recurrent.gru(x)[0],
            "lstm": recurrent.lstm(x)[0],
        }
    save("recurrent", recurrent, data)

    attention = torch.nn.Module()
    attention.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(2, 3, 8)
    mha = attention.attn
    with torch.no_grad():
        q, k, v = torch.nn.functional.linear(
            x, mha.in_proj_weight, mha.in_proj_bias
        ).chunk(3, dim=-1)
        data = {"x": x, "q": q, "k": k, "v": v, "out": mha.out_proj(x)}
    save("attention", attention, data)

    # PyTorch stores the weight as (out, in1, in2) and MLX as (out, in2, in1),
    # so only the square layer has the same shape in both layouts.
    bilinear = torch.nn.Module()
    bilinear.square = torch.nn.Bilinear(3, 3, 2)
    bilinear.wide = torch.nn.Bilinear(3, 4, 2)
    x1 = torch.randn(5, 3)
    x2 = torch.randn(5, 3)
    x3 = torch.randn(5, 4)
    with torch.no_grad():
        data = {
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "square": bilinear.square(x1, x2),
            "wide": bilinear.wide(x1, x3),
        }
    save("bilinear", bilinear, data)


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

    subparser = commands.add_parser("torch-export")
    subparser.add_argument("dir")
    subparser.add_argument("seed", type=int)
    subparser.set_defaults(run=torch_export)

    subparser = commands.add_parser("layers-export")
    subparser.add_argument("dir")
    subparser.add_argument("seed", type=int)
    subparser.set_defaults(run=layers_export)

    subparser = commands.add_parser("layers-forward")
    subparser.add_argument("dir")
    subparser.set_defaults(run=layers_forward)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
