#!/usr/bin/python3
"""Writes the PyTorch fixtures that tests/test_safetensors.cpp checks symflow against.

    /usr/bin/python3 tests/python/make_torch_fixture.py [OUT_DIR]     (default: tests/data)

needs PyTorch (Debian: python3-torch) and writes, with fixed seeds:
  torch_mlp.safetensors   state_dict (float32) of nn.Sequential(Linear(4, 6), ReLU(),
                          Linear(6, 5, bias=False), Tanh(), Linear(5, 3))
  torch_conv.safetensors  state_dict (float32) of nn.Sequential(Conv2d(2, 3, 3, stride=2,
                          padding=1), ReLU(), Flatten(), Linear(27, 4))
  torch_norm.safetensors  state_dict (float32) of nn.Sequential(Conv2d(2, 4, 3, padding=1),
                          BatchNorm2d(4, affine=False, track_running_stats=False), ReLU(),
                          Conv2d(4, 3, 3, stride=2, padding=1), ReLU(), Flatten(), Linear(27, 6),
                          LayerNorm(6, elementwise_affine=False), Tanh(), Linear(6, 4))
  torch_norm_gradient.safetensors  for that model in float64: norm_input (5, 2, 5, 5), norm_target
                          (5, 4) one-hot, norm_loss (nn.CrossEntropyLoss, mean over the batch)
                          and the loss gradient of every parameter under its state-dict name
  torch_outputs.safetensors  float64 inputs and the models' outputs, computed in float64 from
                          the same float32 weights (model.double() converts them exactly):
                          mlp_input (7, 4), mlp_output (7, 3), conv_input (5, 2, 5, 5),
                          conv_output (5, 4); and PyTorch's own conversions of chosen float16
                          and bfloat16 bit patterns (zeros, subnormals, extremes, infinities,
                          NaNs, random ones): f16_values (F16), f16_as_f64, bf16_values (BF16),
                          bf16_as_f64.
The files are written as the Python `safetensors` package writes them (its own writer is used
when it is installed): tensors sorted by dtype (widest first) then name, compact JSON, the
header padded with spaces to a multiple of 8 bytes.
"""
import json
import pathlib
import struct
import sys

import torch
from torch import nn

# The safetensors dtypes in the package's order (it writes the largest first).
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
               "F32", "F64", "I64", "U64"]
DTYPE_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().tobytes()  # numpy has no bfloat16
    return t.numpy().tobytes()


def save(path, tensors):
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path))
        return
    assert sys.byteorder == "little"
    names = sorted(tensors, key=lambda n: (-DTYPE_ORDER.index(DTYPE_NAMES[tensors[n].dtype]), n))
    header, blobs, offset = {}, [], 0
    for name in names:
        data = tensor_bytes(tensors[name])
        header[name] = {"dtype": DTYPE_NAMES[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def special_bits(dtype, rng):
    if dtype == torch.float16:
        chosen = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x3555, 0x7BFF, 0xFBFF,
                  0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7FFF]
    else:
        chosen = [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x3EAB, 0x7F7F, 0xFF7F,
                  0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0x7FFF]
    chosen += torch.randint(0, 1 << 16, (31,), generator=rng).tolist()
    signed = [b - (1 << 16) if b >= 1 << 15 else b for b in chosen]
    return torch.tensor(signed, dtype=torch.int16).view(dtype)


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1] / "data")
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(20240611)
    mlp = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5, bias=False), nn.Tanh(), nn.Linear(5, 3))
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(27, 4))
    save(out / "torch_mlp.safetensors", mlp.state_dict())
    save(out / "torch_conv.safetensors", conv.state_dict())

    mlp_input = torch.randn(7, 4, dtype=torch.float64)
    conv_input = torch.randn(5, 2, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        mlp_output = mlp.double()(mlp_input)
        conv_output = conv.double()(conv_input)

    # Normalisation layers (ε = 1e-5, PyTorch's default) and a softmax head: the loss gradient.
    norm = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4, affine=False, track_running_stats=False),
                         nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(27, 6), nn.LayerNorm(6, elementwise_affine=False), nn.Tanh(), nn.Linear(6, 4))
    save(out / "torch_norm.safetensors", norm.state_dict())
    norm = norm.double()
    norm_input = torch.randn(5, 2, 5, 5, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2])
    loss = nn.CrossEntropyLoss()(norm(norm_input), labels)
    loss.backward()
    norm_gradient = {"norm_input": norm_input, "norm_loss": loss.detach().reshape(1),
                     "norm_target": nn.functional.one_hot(labels, 4).double()}
    norm_gradient.update({name: p.grad for name, p in norm.named_parameters()})
    save(out / "torch_norm_gradient.safetensors", norm_gradient)

    rng = torch.Generator().manual_seed(7)
    f16 = special_bits(torch.float16, rng)
    bf16 = special_bits(torch.bfloat16, rng)
    save(out / "torch_outputs.safetensors", {
        "mlp_input": mlp_input, "mlp_output": mlp_output, "conv_input": conv_input, "conv_output": conv_output,
        "f16_values": f16, "f16_as_f64": f16.double(), "bf16_values": bf16, "bf16_as_f64": bf16.double()})
    for name in ("torch_mlp", "torch_conv", "torch_norm", "torch_norm_gradient", "torch_outputs"):
        print(out / (name + ".safetensors"), (out / (name + ".safetensors")).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
