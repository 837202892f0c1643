"""Counting conservation laws and eq. (48) from Python, against the counts of
docs/conservation-laws.md, closed-form potentials and the flow itself.

The counts are exact integers (ranks with a wide gap: the stable range is checked to span orders of
magnitude); eq. (48) against NumPy to 1e-13 relative; its conservation along Dormand–Prince at
rtol = atol = 1e-12 to 1e-9 relative.
"""

import numpy as np
import pytest

import symflow as sf


def two_layer(activation, n=2, h=3, m=2, dtype="float64"):
    return sf.Sequential(input=n, layers=[sf.Dense(h), activation, sf.Dense(m)], dtype=dtype)


def gaussian(net, samples, seed):
    return np.random.default_rng(seed).standard_normal((net.input_size, samples))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linear_network_has_the_layer_imbalance_laws_and_they_explain_all(seed):
    # Identity 2-3-2, all data: d = 12, 6 laws = the symmetric 3 × 3 layer imbalance (table row 1).
    net = two_layer(sf.Identity())
    theta = net.random_params(seed=seed)
    count = sf.count_conservation_laws(net, theta, x=gaussian(net, 2 * net.size, seed))
    assert (count.parameters, count.laws, count.dimension) == (12, 6, 6)
    assert list(count.dimension_per_depth) == [4, 6, 6]
    assert count.converged
    low, high = count.stable_range
    assert high / low > 1e6  # the rank decision has a wide gap
    accounting = sf.account_for_laws(count, theta, [sf.Junction(net, 1, "linear_imbalance")])
    assert (accounting.explained, accounting.missing, accounting.quantities) == (6, 0, 9)
    assert accounting.violation < 1e-10
    # The law gradients are orthogonal to every field: they are gradients of conserved quantities.
    assert np.abs(count.law_gradients.T @ count.trace_basis).max() < 1e-12


def test_relu_network_has_one_law_per_hidden_unit():
    # ReLU 2-3-2, all data: 3 laws, the scaling imbalances (table row 4).
    net = two_layer(sf.ReLU())
    theta = net.random_params(seed=4)
    count = sf.count_conservation_laws(net, theta, x=gaussian(net, 48, 4))
    assert count.laws == 3
    accounting = sf.account_for_laws(count, theta, [sf.Junction(net, 1, "rescale")])
    assert (accounting.explained, accounting.missing) == (3, 0)


def test_a_conv_net_has_exactly_its_junction_laws():
    # conv 2 → ReLU → conv 2 → identity → dense: the rescale imbalance per channel (2) and the GL
    # imbalance over channels (2 × 2 symmetric: 3) are the 5 laws, and they explain all of them.
    net = sf.Sequential(input=(1, 4, 4), layers=[sf.Conv2d(2, 3, padding=1), sf.ReLU(), sf.Conv2d(2, 3), sf.Identity(),
                                                  sf.Dense(2)])
    theta = net.random_params(seed=3)
    count = sf.count_conservation_laws(net, theta, x=np.random.default_rng(0).standard_normal((16, 40)))
    assert (count.parameters, count.laws) == (74, 5)
    accounting = sf.account_for_laws(count, theta, [sf.Junction(net, 1, "rescale"), sf.Junction(net, 3, "linear_imbalance")])
    assert (accounting.explained, accounting.missing) == (5, 0)
    assert accounting.violation < 1e-10


def test_loss_fields_of_an_objective_count_like_the_output_fields_for_every_target():
    # X_j = ∇ℓ(F(x_j), y_j) for the mean squared error: with 2d samples and generic targets the
    # linear network's count is the same 6.
    net = two_layer(sf.Identity())
    theta = net.random_params(seed=5)
    x = gaussian(net, 24, 5)
    y = np.random.default_rng(6).standard_normal((2, 24))
    count = sf.count_conservation_laws(sf.Objective(net, "mse", x, y), theta)
    assert count.laws == 6


def test_tanh_on_whitened_inputs_has_the_eq48_laws():
    # tanh 2-3-2 with X = I: 3 laws, all of them eq. (48) (table row 10); depth 4 needed.
    net = two_layer(sf.Tanh())
    theta = net.random_params(seed=7)
    q = sf.ElementwiseQuantity(net, 1)
    count = sf.count_conservation_laws(net, theta, x=np.eye(2))
    assert count.laws == 3
    assert list(count.dimension_per_depth) == [4, 7, 9, 9]
    accounting = sf.account_for_laws(count, theta, [q])
    assert (accounting.explained, accounting.missing) == (3, 0)
    assert accounting.violation < 1e-10
    # On Gaussian data eq. (48) is not conserved: its gradients leave the law space.
    general = sf.count_conservation_laws(net, theta, x=gaussian(net, 24, 8))
    assert general.laws == 0
    assert sf.account_for_laws(general, theta, [q]).violation > 0.1


def test_account_for_laws_takes_gradient_rows_and_checks_them():
    net = two_layer(sf.Identity())
    theta = net.random_params(seed=9)
    count = sf.count_conservation_laws(net, theta, x=gaussian(net, 24, 9))
    rows = count.law_gradients.T.copy()
    assert sf.account_for_laws(count, theta, [rows]).explained == 6
    with pytest.raises(ValueError, match="columns, expected d = 12"):
        sf.account_for_laws(count, theta, [rows[:, :5]])
    with pytest.raises(TypeError, match="quantities must be"):
        sf.account_for_laws(count, theta, ["not a quantity"])
    with pytest.raises(ValueError, match="d = 12"):
        sf.account_for_laws(count, theta[:5], [])


def test_counting_errors_are_clear():
    net = two_layer(sf.Identity())
    theta = net.random_params(seed=1)
    with pytest.raises(ValueError, match="needs its inputs x"):
        sf.count_conservation_laws(net, theta)
    with pytest.raises(TypeError, match="float64"):
        net32 = two_layer(sf.Identity(), dtype="float32")
        sf.count_conservation_laws(net32, net32.random_params(seed=1), x=np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="max_depth"):
        sf.count_conservation_laws(net, theta, x=np.eye(2), max_depth=9)
    with pytest.raises(ValueError, match="length 3, expected 12"):
        sf.count_conservation_laws(net, theta[:3], x=np.eye(2))
    with pytest.raises(ValueError, match="expected 2 rows"):
        sf.count_conservation_laws(net, theta, x=np.eye(3))


# Φ_σ(v) = ∫_0^v σ/σ′ in closed form.
POTENTIALS = {
    "identity": (sf.Identity(), lambda v: v * v / 2),
    "relu": (sf.ReLU(), lambda v: np.maximum(v, 0) ** 2 / 2),
    "leaky_relu": (sf.LeakyReLU(0.2), lambda v: v * v / 2),
    "homogeneous": (sf.Homogeneous(3.0), lambda v: np.maximum(v, 0) ** 2 / 6),
    "tanh": (sf.Tanh(), lambda v: np.sinh(v) ** 2 / 2),  # tanh/sech² = sinh·cosh
    "sigmoid": (sf.Sigmoid(), lambda v: v + np.expm1(v)),  # σ/σ′ = 1/(1 − σ) = 1 + eᵛ
}


@pytest.mark.parametrize("name", sorted(POTENTIALS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_eq48_against_numpy(name, dtype):
    act, phi = POTENTIALS[name]
    # Junction at layer 3 of a deeper net: W_3 (5 × 4) and W_5 (2 × 5); W_5's bias plays no part.
    net = sf.Sequential(input=3, layers=[sf.Dense(4, bias=True), sf.Tanh(), sf.Dense(5), act, sf.Dense(2, bias=True)],
                        dtype=dtype)
    theta = net.random_params(seed=11, stddev=0.8)
    q = sf.ElementwiseQuantity(net, 3)
    assert q.shape == (5,) and q.activation == name
    v = sf.weight(net, 3, theta).astype(np.float64)
    u = sf.weight(net, 5, theta).astype(np.float64)
    expected = 0.5 * (u ** 2).sum(axis=0) - phi(v).sum(axis=1)
    tol = 1e-13 if dtype == "float64" else 1e-6
    scale = 0.5 * (u ** 2).sum() + np.abs(phi(v)).sum()
    assert np.abs(q.value(theta) - expected).max() <= tol * scale
    assert abs(q.outgoing(theta) - 0.5 * (u ** 2).sum()) <= tol * scale
    assert abs(q.incoming(theta) - phi(v).sum()) <= tol * scale
    assert np.abs(q.potentials(theta) - phi(v).sum(axis=1)).max() <= tol * scale


@pytest.mark.parametrize("act", [sf.Tanh(), sf.Sigmoid(), sf.ReLU()], ids=["tanh", "sigmoid", "relu"])
def test_eq48_is_conserved_along_gradient_flow_on_whitened_inputs(act):
    net = two_layer(act, n=3, h=4, m=2)
    theta = net.random_params(seed=12, stddev=0.7)
    y = np.random.default_rng(13).standard_normal((2, 3))
    objective = sf.Objective(net, "half_squared_error", np.eye(3), y)
    q = sf.ElementwiseQuantity(net, 1)
    result = sf.run(objective, theta, sf.DormandPrince(rtol=1e-12, atol=1e-12), max_time=2.0, max_steps=100000,
                    quantities=[q])
    trace = result["quantities"][0]
    assert trace.shape[1] == 4 and trace.shape[0] > 2
    assert result["status"]["reason"] == "time_budget"
    drift = np.abs(trace - trace[0]).max()
    assert drift <= 1e-9 * np.abs(trace[0]).max()
    # The loss did move: the quantity is conserved, not the point.
    assert result["loss"][-1] < 0.9 * result["loss"][0]


def test_eq48_refuses_what_it_cannot_be_on():
    net = sf.Sequential(input=3, layers=[sf.Dense(4, bias=True), sf.Tanh(), sf.Dense(2), sf.BatchNorm(),
                                         sf.ReLU(), sf.Dense(2)])
    with pytest.raises(ValueError, match="a bias breaks eq"):
        sf.ElementwiseQuantity(net, 1)
    with pytest.raises(ValueError, match="is batch_norm, expected an activation"):
        sf.ElementwiseQuantity(net, 3)
    with pytest.raises(ValueError, match="the model has 6 layers"):
        sf.ElementwiseQuantity(net, 5)
    q = sf.ElementwiseQuantity(two_layer(sf.Tanh()), 1)
    with pytest.raises(ValueError, match="length 3, expected 12"):
        q.value(np.zeros(3))
