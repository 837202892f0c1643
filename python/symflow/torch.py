"""PyTorch models as symflow models: ``model, theta = symflow.from_torch(torch_sequential)``.

torch is imported only when these functions run; symflow never needs it otherwise.

Supported modules (nested nn.Sequential are unrolled):

| PyTorch                                        | symflow                 | θ block                                 |
| ---------------------------------------------- | ----------------------- | --------------------------------------- |
| Linear(in, out, bias)                          | Dense(out, bias=…)      | W column-major (W.T flattened), then b  |
| Conv2d(in, out, k, stride, padding, bias)      | Conv2d(out, k, …)       | weight flattened as is (out, in, k, k), then b |
| ReLU, LeakyReLU(slope), Tanh, Sigmoid, Identity | the same activation     | none                                    |
| Flatten()                                      | nothing (samples are flattened in C order already) | none          |
| LayerNorm(shape, eps, elementwise_affine=False) over all features | LayerNorm(eps) | none                            |
| BatchNorm1d/2d(n, eps, affine=False)           | BatchNorm(eps)          | none                                    |

BatchNorm always standardises with the batch's own statistics (PyTorch's training mode); a module
in eval mode uses running averages instead, which symflow has no notion of. Anything else (Dropout,
grouped or dilated convolutions, affine normalisations, …) is refused by name.
"""

import numpy as np


def _torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError("symflow.from_torch needs PyTorch (pip install torch); symflow itself does not") from error
    return torch


def _flat_modules(module, nn):
    if isinstance(module, nn.Sequential):
        for child in module:
            yield from _flat_modules(child, nn)
    else:
        yield module


def _pair(value, what, module):
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)) and len(set(value)) == 1:
        return int(value[0])
    raise ValueError(f"symflow.from_torch: {type(module).__name__} with {what} {value!r} is not supported "
                     "(symflow's Conv2d has square kernels and equal strides and paddings)")


def _numpy(tensor):
    return tensor.detach().cpu().numpy()


def _convert(module, nn, sf):
    """(symflow layer or None, θ blocks) for one PyTorch module; ValueError naming what is unsupported."""
    name = type(module).__name__
    if isinstance(module, nn.Linear):
        blocks = [_numpy(module.weight).flatten(order="F")]
        if module.bias is not None:
            blocks.append(_numpy(module.bias))
        return sf.Dense(module.out_features, bias=module.bias is not None), blocks
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or _pair(module.dilation, "dilation", module) != 1 or module.padding_mode != "zeros":
            raise ValueError(f"symflow.from_torch: {name} with groups, dilation or non-zero padding mode is not supported")
        if isinstance(module.padding, str):
            raise ValueError(f"symflow.from_torch: {name} with padding={module.padding!r} is not supported (give a number)")
        layer = sf.Conv2d(module.out_channels, _pair(module.kernel_size, "kernel", module),
                          stride=_pair(module.stride, "stride", module), padding=_pair(module.padding, "padding", module),
                          bias=module.bias is not None)
        blocks = [_numpy(module.weight).reshape(-1)]
        if module.bias is not None:
            blocks.append(_numpy(module.bias))
        return layer, blocks
    if isinstance(module, nn.LayerNorm):
        if module.elementwise_affine:
            raise ValueError("symflow.from_torch: LayerNorm with elementwise_affine=True is not supported "
                             "(symflow's LayerNorm has no affine part)")
        return sf.LayerNorm(module.eps), []
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.affine:
            raise ValueError(f"symflow.from_torch: {name} with affine=True is not supported "
                             "(symflow's BatchNorm has no affine part)")
        return sf.BatchNorm(module.eps), []
    if isinstance(module, nn.LeakyReLU):
        return sf.LeakyReLU(module.negative_slope), []
    simple = {nn.ReLU: sf.ReLU, nn.Tanh: sf.Tanh, nn.Sigmoid: sf.Sigmoid, nn.Identity: sf.Identity}
    for torch_type, make in simple.items():
        if type(module) is torch_type:
            return make(), []
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise ValueError("symflow.from_torch: only Flatten() over all features (start_dim=1) is supported")
        return None, []
    raise ValueError(f"symflow.from_torch: {name} is not supported (supported: Linear, Conv2d, ReLU, LeakyReLU, Tanh, "
                     "Sigmoid, Identity, Flatten, LayerNorm and BatchNorm1d/2d without affine part)")


def _parameters_in_order(state_dict):
    """The weight and bias tensors of a state dict in module order (buffers such as running means left out)."""
    return [value for key, value in state_dict.items() if key.endswith(".weight") or key.endswith(".bias")]


def from_torch(module, input=None, dtype=None, model=None):
    """A symflow model and its θ from a PyTorch ``nn.Sequential``, or θ alone from a state dict.

    ``from_torch(seq)`` returns ``(model, theta)``; ``input`` is needed when the first layer is a
    convolution (the image shape (C, H, W)); ``dtype`` defaults to the parameters' (float32 or
    float64). ``from_torch(seq.state_dict(), model=model)`` returns θ for an existing symflow
    model with the same layers (the cheap path to call every k training steps).
    """
    torch = _torch()
    import symflow as sf

    if isinstance(module, dict):
        if model is None:
            raise ValueError("symflow.from_torch: a state dict holds no layer types; pass model= (from from_torch(seq))")
        tensors = _parameters_in_order(module)
        blocks = []
        for i, layer in enumerate(model.layers, start=1):
            if layer.name not in ("Dense", "Conv2d"):
                continue
            if not tensors:
                raise ValueError(f"symflow.from_torch: the state dict has no weight for layer {i} ({layer!r})")
            weight = _numpy(tensors.pop(0))
            blocks.append(weight.flatten(order="F") if layer.name == "Dense" else weight.reshape(-1))
            if layer.options["bias"]:
                blocks.append(_numpy(tensors.pop(0)).reshape(-1))
        if tensors:
            raise ValueError(f"symflow.from_torch: the state dict has {len(tensors)} more parameter tensors than the model")
        theta = np.concatenate(blocks).astype(model.dtype)
        if theta.size != model.size:
            raise ValueError(f"symflow.from_torch: the state dict gives {theta.size} parameters, the model has {model.size}")
        return theta

    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"symflow.from_torch: expected a torch.nn.Sequential, got {type(module).__name__}")
    modules = list(_flat_modules(module, nn))
    layers, sources, blocks = [], [], []
    for m in modules:
        layer, block = _convert(m, nn, sf)
        if layer is not None:
            layers.append(layer)
            sources.append(m)
        blocks.extend(block)
    if not layers:
        raise ValueError("symflow.from_torch: the module has no layers symflow can run")
    first = next((m for m in modules if not isinstance(m, nn.Flatten)), None)
    if input is None:
        if isinstance(first, nn.Linear):
            input = first.in_features
        else:
            raise ValueError("symflow.from_torch: give input= (the shape of one sample, (C, H, W) for images)")
    if dtype is None:
        params = [p for p in module.parameters()]
        dtype = "float64" if params and params[0].dtype == torch.float64 else "float32"
    net = sf.Sequential(input=input, layers=layers, dtype=dtype)
    for i, source in enumerate(sources, start=1):
        if isinstance(source, nn.LayerNorm) and int(np.prod(source.normalized_shape)) != int(np.prod(net.layer_input_shape(i))):
            raise ValueError(f"symflow.from_torch: LayerNorm over {tuple(source.normalized_shape)} does not cover all "
                             f"{int(np.prod(net.layer_input_shape(i)))} features of the sample; symflow's LayerNorm "
                             "standardises all of them")
    theta = np.concatenate(blocks).astype(net.dtype) if blocks else np.zeros(0, dtype=net.dtype)
    return net, theta
