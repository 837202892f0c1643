"""PyTorch weight files from Python: the fixtures of tests/python/make_torch_fixture.py (PyTorch's
state dicts as safetensors, its outputs, loss and gradients recorded in float64) read into symflow
models without torch, written back byte for byte, and every malformed input refused by name."""
import pathlib

import numpy as np
import pytest

import symflow as sf

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"


def rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def mlp():
    return sf.Sequential(input=4, layers=[sf.Dense(6, bias=True), sf.ReLU(), sf.Dense(5), sf.Tanh(),
                                          sf.Dense(3, bias=True)])


def conv():
    return sf.Sequential(input=(2, 5, 5), layers=[sf.Conv2d(3, 3, stride=2, padding=1), sf.ReLU(),
                                                  sf.Dense(4, bias=True)])


def norm():
    return sf.Sequential(input=(2, 5, 5), layers=[
        sf.Conv2d(4, 3, padding=1), sf.BatchNorm(1e-5), sf.ReLU(), sf.Conv2d(3, 3, stride=2, padding=1), sf.ReLU(),
        sf.Dense(6, bias=True), sf.LayerNorm(1e-5), sf.Tanh(), sf.Dense(4, bias=True)])


def columns(tensor):
    """(samples, …) → (features, samples): samples are columns."""
    return tensor.reshape(len(tensor), -1).T


@pytest.mark.parametrize("make, name", [(mlp, "mlp"), (conv, "conv")])
def test_pytorch_weights_give_pytorch_outputs(make, name):
    reference = sf.read_safetensors(DATA / "torch_outputs.safetensors")
    net = make()
    theta = sf.load_state_dict(net, DATA / f"torch_{name}.safetensors")
    out = net.forward(theta, columns(reference[f"{name}_input"]))
    assert rel(out, columns(reference[f"{name}_output"])) <= 1e-12


def test_loss_and_gradient_through_normalisation_layers_are_pytorch_s():
    reference = sf.read_safetensors(DATA / "torch_norm_gradient.safetensors")
    net = norm()
    theta = sf.load_state_dict(net, DATA / "torch_norm.safetensors")
    objective = sf.Objective(net, "cross_entropy", columns(reference["norm_input"]), columns(reference["norm_target"]))
    assert abs(objective.value(theta) - reference["norm_loss"][0]) <= 1e-12 * reference["norm_loss"][0]
    gradient = sf.state_dict(net, objective.gradient(theta))
    assert sorted(gradient) == sorted(k for k in reference if k[0].isdigit())
    scale = max(np.max(np.abs(g)) for g in gradient.values())
    for key, g in gradient.items():
        assert g.shape == reference[key].shape, key
        assert np.max(np.abs(g - reference[key])) <= 1e-12 * scale, key


@pytest.mark.parametrize("make, name", [(mlp, "mlp"), (conv, "conv"), (norm, "norm")])
def test_file_to_theta_to_file_is_byte_identical(make, name, tmp_path):
    net = make()
    original = DATA / f"torch_{name}.safetensors"
    theta = sf.load_state_dict(net, original)
    sf.save_state_dict(net, theta, tmp_path / "back.safetensors", dtype="float32")
    assert (tmp_path / "back.safetensors").read_bytes() == original.read_bytes()


def test_theta_to_file_to_theta_is_exact_in_float64(tmp_path):
    net = mlp()
    theta = np.random.default_rng(3).normal(size=net.size)
    sf.save_state_dict(net, theta, tmp_path / "t.safetensors", dtype="float64")
    assert np.array_equal(sf.load_state_dict(net, tmp_path / "t.safetensors"), theta)
    state = sf.state_dict(net, theta)
    assert state["0.weight"].shape == (6, 4) and state["2.weight"].shape == (5, 6) and "2.bias" not in state
    assert np.array_equal(state["0.weight"], sf.weight(net, 1, theta))


def test_a_state_dict_that_does_not_fit_is_refused_by_name():
    net = mlp()
    tensors = sf.read_safetensors(DATA / "torch_mlp.safetensors")
    missing = dict(tensors)
    del missing["4.bias"]
    with pytest.raises(ValueError, match=r"no tensor '4.bias' for layer 5"):
        sf.params_from_state_dict(net, missing)
    wrong = dict(tensors, **{"2.weight": tensors["2.weight"].T})
    with pytest.raises(ValueError, match=r"'2.weight' has shape \(6, 5\), layer 3 .* needs \(5, 6\)"):
        sf.params_from_state_dict(net, wrong)
    extra = dict(tensors, **{"1.running_mean": np.zeros(6)})
    with pytest.raises(ValueError, match=r"no place for: 1.running_mean"):
        sf.params_from_state_dict(net, extra)
    assert np.array_equal(sf.params_from_state_dict(net, extra, allow_unused=True),
                          sf.params_from_state_dict(net, tensors))


def test_malformed_files_are_refused_with_the_reader_s_message(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((1000).to_bytes(8, "little") + b"{}")
    with pytest.raises(RuntimeError, match="broken.safetensors"):
        sf.read_safetensors(broken)
    with pytest.raises(ValueError, match="float32 or float64"):
        sf.write_safetensors(tmp_path / "x.safetensors", {"a": np.zeros(2)}, dtype="float16")
