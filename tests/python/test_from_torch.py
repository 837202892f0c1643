"""symflow.from_torch against PyTorch itself (skipped where torch is not installed)."""

import numpy as np
import pytest

import symflow as sf

torch = pytest.importorskip("torch")
nn = torch.nn


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def torch_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2, bias=False), nn.LeakyReLU(0.1),
        nn.Flatten(), nn.Linear(4 * 2 * 2, 8), nn.LayerNorm(8, elementwise_affine=False), nn.Tanh(),
        nn.Sequential(nn.Linear(8, 5, bias=False), nn.BatchNorm1d(5, affine=False)), nn.Sigmoid(), nn.Linear(5, 3),
    ).double()


def symflow_gradient_layout(module):
    """PyTorch's parameter gradients in symflow's θ order (Linear weights column-major)."""
    blocks = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            blocks.append(m.weight.grad.numpy().flatten(order="F"))
        elif isinstance(m, nn.Conv2d):
            blocks.append(m.weight.grad.numpy().reshape(-1))
        else:
            continue
        if m.bias is not None:
            blocks.append(m.bias.grad.numpy())
    return np.concatenate(blocks)


def test_outputs_loss_and_gradient_match_pytorch():
    module = torch_net()
    net, theta = sf.from_torch(module, input=(2, 5, 5))
    assert net.dtype == "float64" and theta.size == net.size == sum(p.numel() for p in module.parameters())
    x = torch.randn(9, 2, 5, 5, dtype=torch.float64)
    labels = torch.randint(0, 3, (9,))
    out = module(x)  # training mode: BatchNorm uses the batch's statistics, as symflow's
    xs = x.reshape(9, -1).numpy().T  # samples are columns
    assert rel(net.forward(theta, xs), out.detach().numpy().T) <= 1e-12
    loss = nn.CrossEntropyLoss()(out, labels)
    loss.backward()
    y = np.eye(3)[:, labels.numpy()]
    objective = sf.Objective(net, "cross_entropy", xs, y)
    assert rel(objective.value(theta), loss.item()) <= 1e-12
    assert rel(objective.gradient(theta), symflow_gradient_layout(module)) <= 1e-12


def test_a_state_dict_gives_theta_for_the_same_model():
    module = torch_net()
    net, theta = sf.from_torch(module, input=(2, 5, 5))
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(2.0)
    assert np.array_equal(sf.from_torch(module.state_dict(), model=net), 2 * theta)


def test_float32_mlp_and_mse():
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    net, theta = sf.from_torch(module)
    assert net.dtype == "float32" and theta.dtype == np.float32
    x, y = torch.randn(5, 4), torch.randn(5, 2)
    loss = nn.MSELoss()(module(x), y)
    objective = sf.Objective(net, "mse", x.numpy().T, y.numpy().T)
    assert rel(objective.value(theta), loss.item()) <= 1e-6


@pytest.mark.parametrize("module,message", [
    (nn.Sequential(nn.Linear(3, 3), nn.Dropout()), "Dropout is not supported"),
    (nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)), "elementwise_affine=True"),
    (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), "affine=True"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, dilation=2)), "dilation"),
    (nn.Sequential(nn.Conv2d(2, 2, (3, 1))), "kernel"),
    (nn.Linear(3, 3), "expected a torch.nn.Sequential"),
])
def test_unsupported_modules_are_refused_by_name(module, message):
    with pytest.raises(ValueError, match=message):
        sf.from_torch(module, input=(2, 5, 5))
