"""symflow from Python: the symmetries, conserved quantities and gradient flow of neural networks.

Models are composed from layers at run time and run on the C++ library's own layer code
(symflow::RuntimeSequential). Samples are columns, as in the C++ library: inputs X have shape
(features, samples), targets Y (outputs, samples); for a PyTorch batch `x` of shape
(samples, ...) pass ``x.reshape(len(x), -1).T`` (a view, read without a reordering copy).
Layers are numbered from 1, as in the C++ library and the paper. See docs/python.md.
"""

import numpy as _np

from ._symflow import (  # noqa: F401  (re-exported)
    Adam,
    BatchNorm,
    Conv2d,
    Dense,
    DormandPrince,
    GradientDescent,
    Homogeneous,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    Momentum,
    OrbitDimension,
    OrbitSearchOptions,
    ReLU,
    RungeKutta4,
    Sigmoid,
    Stopping,
    Tanh,
    ConservationLawCount,
    LawAccounting,
    account_for_laws,
    linear_trace_gd_bound,
    max_bracket_depth,
)
from . import _symflow

_DTYPES = {"float64": "64", "float32": "32"}
_LOSSES = {
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "half_squared_error": "half_squared_error",
    "cross_entropy": "softmax_cross_entropy",
    "softmax_cross_entropy": "softmax_cross_entropy",
}


def _suffix(dtype):
    name = _np.dtype(dtype).name
    if name not in _DTYPES:
        raise TypeError(f"symflow: dtype {name} is not supported (float64 or float32)")
    return _DTYPES[name]


def _loss_name(loss):
    if loss is None:
        return None
    if loss not in _LOSSES:
        raise ValueError(f"symflow: unknown loss {loss!r} (expected one of {', '.join(sorted(_LOSSES))})")
    return _LOSSES[loss]


def _suffix_of(model):
    return "64" if model.dtype == "float64" else "32"


def Sequential(input, layers, dtype="float64"):
    """A model from a list of layers: ``Sequential(input=4, layers=[Dense(6), ReLU(), Dense(3)])``.

    ``input`` is the number of features n or the image shape (C, H, W); ``dtype`` is "float64" or
    "float32" (θ, X and Y must then have that dtype).
    """
    return getattr(_symflow, "Sequential" + _suffix(dtype))(input, list(layers))


def Objective(model, loss, x, y):
    """L(θ) = loss(F_θ(X), Y): ``loss`` is "mse" (mean over all entries, PyTorch's MSELoss),
    "half_squared_error" (½‖Y − F‖²) or "cross_entropy" (softmax cross-entropy, one-hot or
    probability columns Y, PyTorch's CrossEntropyLoss)."""
    return getattr(_symflow, "Objective" + _suffix_of(model))(model, _loss_name(loss), x, y)


def Junction(model, layer, kind, loss=None):
    """The symmetry of kind ``kind`` ("rescale", "linear_imbalance", "scale", "translation") at the
    junction that starts at layer ``layer``; ``loss`` is needed for the softmax head's translation."""
    return getattr(_symflow, "Junction" + _suffix_of(model))(model, layer, kind, _loss_name(loss))


def ElementwiseQuantity(model, layer):
    """eq. (48) at the junction Dense (no bias) → σ → Dense that starts at ``layer``: one entry per
    unit k, Q_k = ½‖column k of W_{layer+2}‖² − Σ_j Φ_σ(W_layer[k, j]), Φ_σ = ∫ σ/σ′. Conserved by
    gradient flow when the block's input is X = I (layer 1, one-hot inputs); for identity and
    LeakyReLU for every input. ``value``, ``potentials``, ``outgoing``, ``incoming``; ``run`` records it."""
    return getattr(_symflow, "ElementwiseQuantity" + _suffix_of(model))(model, layer)


def junctions(model, layer, loss=None):
    """Every symmetry of the junction at ``layer``, deduced from the layers after it (and the loss,
    for the last layer) as the C++ library's conserved<I> does."""
    return [Junction(model, layer, kind, loss) for kind in model.junction_kinds(layer, _loss_name(loss))]


def run(objective, theta, method, max_steps=1000, every=1, quantities=(), **stopping):
    """Runs ``method`` (GradientDescent, Momentum, Adam, RungeKutta4, DormandPrince) from θ.

    Records every ``every`` steps (and the last point) the loss, ‖∇L‖ and each quantity (junctions,
    ElementwiseQuantity).
    Returns a dict: ``theta`` (the last point), ``status`` (reason, message, step, …), arrays
    ``step``, ``time``, ``loss``, ``gradient_norm`` and ``quantities`` (one array per junction,
    shape (records, *junction.shape)). Other keyword arguments go to Stopping (max_time,
    loss_tolerance, gradient_tolerance, …).
    """
    return objective._run(method, theta, Stopping(max_steps=max_steps, **stopping), every, list(quantities))


def count_conservation_laws(fields, theta, x=None, max_depth=0, threshold=1e-9, patience=2, seed=1):
    """How many independent conservation laws gradient flow has near θ: d − dim Lie(W)(θ), W the
    per-sample gradient fields (Marcotte, Gribonval and Peyré 2023), brackets evaluated exactly in
    nested dual numbers up to length ``max_depth`` (0: symflow.max_bracket_depth, 4).

    ``fields`` is an Objective (float64): its per-sample loss gradients, X_j = ∇ℓ(F(x_j), y_j); or a
    Sequential (float64) with inputs ``x``: the output gradients X_ij = ∇F_i(x_j), the fields of every
    loss and every target at these inputs. Returns a ConservationLawCount (``laws``, ``dimension``,
    ``dimension_per_depth``, ``converged``, ``stable_range``, ``law_gradients``, …);
    ``symflow.account_for_laws(count, θ, junctions)`` says whether known quantities explain them.
    """
    if hasattr(fields, "layer_count"):
        if x is None:
            raise ValueError("symflow.count_conservation_laws: a model needs its inputs x (features, samples)")
        if fields.dtype != "float64":
            raise TypeError("symflow.count_conservation_laws: counting runs in float64; the model is " + fields.dtype)
        return _symflow._count_output_laws(fields, x, theta, max_depth, threshold, patience, seed)
    if x is not None:
        raise ValueError("symflow.count_conservation_laws: x is given by the objective; pass x only with a model")
    if fields.model.dtype != "float64":
        raise TypeError("symflow.count_conservation_laws: counting runs in float64; the objective is " + fields.model.dtype)
    return _symflow._count_loss_laws(fields, theta, max_depth, threshold, patience, seed)


def weight(model, layer, theta):
    """Layer ``layer``'s weight as a view into θ (no copy; writing to it changes θ): Dense (units,
    inputs), Conv2d (out, in, kernel, kernel), PyTorch's shapes."""
    spec = model.layers[layer - 1]
    start = model.offset(layer)
    inputs = int(_np.prod(model.layer_input_shape(layer)))
    if spec.name == "Dense":
        units = spec.options["units"]
        return theta[start:start + units * inputs].reshape((units, inputs), order="F")
    if spec.name == "Conv2d":
        o = spec.options
        c = model.layer_input_shape(layer)[0]
        size = o["channels"] * c * o["kernel"] ** 2
        return theta[start:start + size].reshape((o["channels"], c, o["kernel"], o["kernel"]))
    raise ValueError(f"symflow.weight: layer {layer} ({spec!r}) has no weights")


def bias(model, layer, theta):
    """Layer ``layer``'s bias as a view into θ (no copy)."""
    spec = model.layers[layer - 1]
    if spec.name not in ("Dense", "Conv2d") or not spec.options["bias"]:
        raise ValueError(f"symflow.bias: layer {layer} ({spec!r}) has no bias")
    end = model.offset(layer) + model.layer_size(layer)
    units = spec.options["units"] if spec.name == "Dense" else spec.options["channels"]
    return theta[end - units:end]


def from_torch(module, input=None, dtype=None, model=None):
    """``(model, theta)`` from a ``torch.nn.Sequential``, or θ alone from its ``state_dict()`` and
    ``model=`` (see symflow.torch; torch is imported only here)."""
    from .torch import from_torch as convert

    return convert(module, input=input, dtype=dtype, model=model)


# --- PyTorch weight files (safetensors) and state dicts -----------------------------------------


def _torch_module_names(model):
    """(layer, PyTorch module name) of each layer with weights, as ``nn.Sequential`` numbers them:
    symflow layer i is module i − 1, and a Dense that reads an image has an ``nn.Flatten`` before
    it, which takes an index of its own (the rule of symflow/io/state_dict.hpp)."""
    _, height, width = model.input_shape
    image, index, names = height * width > 1, 0, []
    for i, spec in enumerate(model.layers, start=1):
        if spec.name == "Dense":
            index += 1 if image else 0
            image = False
            names.append((i, str(index)))
        elif spec.name == "Conv2d":
            image = True
            names.append((i, str(index)))
        index += 1
    return names


def state_dict(model, theta):
    """θ as PyTorch's ``state_dict()`` of the same ``nn.Sequential``: ``{"0.weight": (out, in), "0.bias": …}``
    (copies, in the model's dtype)."""
    tensors = {}
    for layer, name in _torch_module_names(model):
        tensors[name + ".weight"] = weight(model, layer, theta).copy(order="C")
        if model.layers[layer - 1].options["bias"]:
            tensors[name + ".bias"] = bias(model, layer, theta).copy()
    return tensors


def params_from_state_dict(model, tensors, allow_unused=False):
    """θ from tensors named as PyTorch's ``nn.Sequential`` names them (a state dict, or what
    read_safetensors returns); every shape is checked, a missing tensor is an error and so is an
    unused one unless ``allow_unused``."""
    theta = _np.zeros(model.size, dtype=model.dtype)
    used = set()
    for layer, name in _torch_module_names(model):
        keys = [name + ".weight"] + ([name + ".bias"] if model.layers[layer - 1].options["bias"] else [])
        for key, view in zip(keys, (weight(model, layer, theta), bias(model, layer, theta) if len(keys) == 2 else None)):
            if key not in tensors:
                raise ValueError(f"symflow.params_from_state_dict: no tensor '{key}' for layer {layer} "
                                 f"({model.layers[layer - 1]!r}, shape {view.shape})")
            value = _np.asarray(tensors[key])
            if value.shape != view.shape:
                raise ValueError(f"symflow.params_from_state_dict: '{key}' has shape {value.shape}, layer {layer} "
                                 f"({model.layers[layer - 1]!r}) needs {view.shape}")
            view[...] = value
            used.add(key)
    unused = sorted(set(tensors) - used)
    if unused and not allow_unused:
        raise ValueError(f"symflow.params_from_state_dict: tensors the model has no place for: {', '.join(unused)} "
                         "(normalisation layers have no affine part, no running statistics; allow_unused=True "
                         "ignores them)")
    return theta


def _safetensors():
    if not hasattr(_symflow, "read_safetensors"):
        raise RuntimeError("symflow: this build of the module has no safetensors support (it needs nlohmann-json "
                           "at build time; Debian: nlohmann-json3-dev)")
    return _symflow


def read_safetensors(path):
    """The tensors of a safetensors file (what ``safetensors.torch.save_file`` writes) as float64 arrays
    by name; every fact of the file is validated (RuntimeError naming the file, tensor and problem)."""
    return _safetensors().read_safetensors(str(path))[0]


def write_safetensors(path, tensors, dtype="float32"):
    """Writes arrays by name as a safetensors file of dtype float32 or float64, laid out as the Python
    safetensors package lays it out (so PyTorch reads it with ``safetensors.torch.load_file``)."""
    names = {"float32": "F32", "float64": "F64"}
    if _np.dtype(dtype).name not in names:
        raise ValueError(f"symflow.write_safetensors: dtype {_np.dtype(dtype).name} (expected float32 or float64)")
    _safetensors().write_safetensors(str(path), {k: _np.asarray(v, dtype=_np.float64) for k, v in tensors.items()},
                                     names[_np.dtype(dtype).name])


def load_state_dict(model, path, allow_unused=False):
    """θ for ``model`` from a safetensors file of PyTorch weights."""
    return params_from_state_dict(model, read_safetensors(path), allow_unused=allow_unused)


def save_state_dict(model, theta, path, dtype="float32"):
    """Writes θ as the safetensors file of PyTorch's state dict (``model.load_state_dict(load_file(path))``)."""
    write_safetensors(path, state_dict(model, theta), dtype)
