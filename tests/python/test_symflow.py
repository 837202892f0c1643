"""The symflow Python module against NumPy formulas and the library's own identities.

Tolerances: 1e-12 relative for exact identities in float64 (rounding of sums of a few hundred
terms), derivative checks by central differences at the step's own accuracy.
"""

import math

import numpy as np
import pytest

import symflow as sf


def rel(a, b, floor=1e-300):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), floor))


def batch(net, samples=7, seed=0, one_hot=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((net.input_size, samples))
    if one_hot:
        y = np.eye(net.output_size)[:, rng.integers(0, net.output_size, samples)]
    else:
        y = rng.standard_normal((net.output_size, samples))
    return x, y


def mlp(hidden_activation=None, bias=True, dtype="float64"):
    act = hidden_activation if hidden_activation is not None else sf.ReLU()
    return sf.Sequential(input=4, layers=[sf.Dense(6, bias=bias), act, sf.Dense(3, bias=bias)], dtype=dtype)


# Every junction kind: 1 rescale (α = 2), 3 linear (GL), 5 batch-norm scale, 8 layer-norm scale
# and translation, 11 softmax head translation.
def junction_net():
    return sf.Sequential(
        input=4,
        layers=[sf.Dense(5, bias=True), sf.Homogeneous(2.0), sf.Dense(6, bias=True), sf.Identity(), sf.Dense(5),
                sf.BatchNorm(), sf.Sigmoid(), sf.Dense(6, bias=True), sf.LayerNorm(), sf.LeakyReLU(0.2),
                sf.Dense(3, bias=True)])


def conv_net():
    return sf.Sequential(
        input=(2, 6, 5),
        layers=[sf.Conv2d(3, 3, stride=1, padding=1), sf.ReLU(), sf.Conv2d(4, 3, stride=2, padding=1, bias=False),
                sf.Identity(), sf.Conv2d(3, 2), sf.BatchNorm(), sf.Tanh(), sf.Dense(4, bias=True)])


JUNCTIONS = [(1, "rescale"), (3, "linear_imbalance"), (3, "rescale"), (5, "scale"), (8, "scale"),
             (8, "translation"), (11, "translation")]
CONV_JUNCTIONS = [(1, "rescale"), (3, "linear_imbalance"), (5, "scale")]


def numpy_forward(net, theta, x):
    """The network written in NumPy from the documented θ layout."""
    a = x
    for i, layer in enumerate(net.layers, start=1):
        name, o = layer.name, layer.options
        if name == "Dense":
            a = sf.weight(net, i, theta) @ a
            if o["bias"]:
                a = a + sf.bias(net, i, theta)[:, None]
        elif name == "ReLU":
            a = np.maximum(a, 0)
        elif name == "LeakyReLU":
            a = np.where(a < 0, o["slope"] * a, a)
        elif name == "Tanh":
            a = np.tanh(a)
        elif name == "Sigmoid":
            a = 1 / (1 + np.exp(-a))
        elif name == "Homogeneous":
            a = np.maximum(a, 0) ** o["alpha"]
        elif name == "Identity":
            pass
        elif name == "LayerNorm":
            mu, var = a.mean(axis=0), a.var(axis=0)
            a = (a - mu) / np.sqrt(var + o["eps"])
        elif name == "BatchNorm":
            c = net.layer_input_shape(i)[0]
            groups = a.reshape(c, -1, a.shape[1])
            mu = groups.mean(axis=(1, 2), keepdims=True)
            var = groups.var(axis=(1, 2), keepdims=True)
            a = ((groups - mu) / np.sqrt(var + o["eps"])).reshape(a.shape)
        else:
            raise NotImplementedError(name)
    return a


# ---------------------------------------------------------------- model, loss, derivatives


def test_forward_is_the_documented_network():
    net = junction_net()
    theta = net.random_params(seed=3, stddev=0.6)
    x, _ = batch(net)
    assert net.forward(theta, x).shape == (3, 7)
    assert rel(net.forward(theta, x), numpy_forward(net, theta, x)) <= 1e-12


def test_layout_views_share_memory_with_theta():
    net = mlp()
    theta = net.random_params(seed=1)
    w1, b1, w2 = sf.weight(net, 1, theta), sf.bias(net, 1, theta), sf.weight(net, 3, theta)
    assert w1.shape == (6, 4) and b1.shape == (6,) and w2.shape == (3, 6)
    assert np.shares_memory(w1, theta) and np.shares_memory(b1, theta)
    # W column-major, then b: entry (r, c) of W_1 is θ[c·6 + r].
    assert w1[2, 1] == theta[1 * 6 + 2] and b1[0] == theta[24]
    assert net.offset(3) == 30 and net.size == 30 + 18 + 3
    w1[0, 0] = 7.0
    assert theta[0] == 7.0
    with pytest.raises(ValueError, match="no weights"):
        sf.weight(net, 2, theta)


@pytest.mark.parametrize("loss", ["mse", "half_squared_error", "cross_entropy"])
def test_losses_are_the_documented_formulas(loss):
    net = mlp()
    theta = net.random_params(seed=2)
    x, y = batch(net, one_hot=loss == "cross_entropy")
    f = numpy_forward(net, theta, x)
    if loss == "mse":
        expected = np.mean((f - y) ** 2)
    elif loss == "half_squared_error":
        expected = 0.5 * np.sum((f - y) ** 2)
    else:
        shifted = f - f.max(axis=0)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=0))
        expected = -np.sum(y * log_softmax) / f.shape[1]
    objective = sf.Objective(net, loss, x, y)
    assert rel(objective.value(theta), expected) <= 1e-12
    value, gradient = objective.value_and_gradient(theta)
    assert value == objective.value(theta)
    assert np.array_equal(gradient, objective.gradient(theta))


@pytest.mark.parametrize("make", [junction_net, conv_net])
def test_gradient_and_hessian_vector_product_against_finite_differences(make):
    net = make()
    theta = net.random_params(seed=4, stddev=0.5)
    x, y = batch(net, one_hot=True)
    objective = sf.Objective(net, "cross_entropy", x, y)
    grad = objective.gradient(theta)
    h = 1e-6
    fd = np.array([(objective.value(theta + h * e) - objective.value(theta - h * e)) / (2 * h)
                   for e in np.eye(net.size)])
    assert rel(grad, fd) <= 1e-7
    v = np.random.default_rng(5).standard_normal(net.size)
    hv = objective.hessian_vector_product(theta, v)
    h = 1e-5
    fd_hv = (objective.gradient(theta + h * v) - objective.gradient(theta - h * v)) / (2 * h)
    assert rel(hv, fd_hv) <= 1e-6


def test_hessian_is_the_matrix_of_hessian_vector_products():
    net = mlp(sf.Tanh())
    theta = net.random_params(seed=6)
    x, y = batch(net)
    objective = sf.Objective(net, "mse", x, y)
    hessian = objective.hessian(theta)
    assert hessian.shape == (net.size, net.size)
    assert np.array_equal(hessian, hessian.T)
    v = np.random.default_rng(7).standard_normal(net.size)
    assert rel(hessian @ v, objective.hessian_vector_product(theta, v)) <= 1e-12


def test_float32_models_agree_with_float64():
    net64, net32 = mlp(sf.Tanh()), mlp(sf.Tanh(), dtype="float32")
    theta = net64.random_params(seed=8)
    x, y = batch(net64)
    o64 = sf.Objective(net64, "mse", x, y)
    o32 = sf.Objective(net32, "mse", x.astype(np.float32), y.astype(np.float32))
    g32 = o32.gradient(theta.astype(np.float32))
    assert g32.dtype == np.float32
    assert rel(g32, o64.gradient(theta)) <= 1e-5
    assert rel(o32.hessian(theta.astype(np.float32)), o64.hessian(theta)) <= 1e-4


# ---------------------------------------------------------------- junctions


def test_junction_kinds_follow_the_layers():
    net = junction_net()
    assert net.junction_kinds(1) == ["rescale"]
    assert net.junction_kinds(3) == ["linear_imbalance"]
    assert net.junction_kinds(5) == ["scale"]
    assert net.junction_kinds(8) == ["scale", "translation"]
    assert [j.kind for j in sf.junctions(net, 11, loss="cross_entropy")] == ["translation"]


def test_quantities_are_the_numpy_formulas():
    net = junction_net()
    theta = net.random_params(seed=9, stddev=0.7)
    W = lambda i: sf.weight(net, i, theta)  # noqa: E731
    b = lambda i: sf.bias(net, i, theta)  # noqa: E731
    incoming = lambda i: np.column_stack([W(i), b(i)])  # noqa: E731
    # Rescale, α = 2: ‖[W b]_k‖² − α‖column k of W_3‖².
    q = sf.Junction(net, 1, "rescale").value(theta)
    assert rel(q, (incoming(1) ** 2).sum(axis=1) - 2 * (W(3) ** 2).sum(axis=0)) <= 1e-12
    # GL: [W b][W b]ᵀ − W_5ᵀW_5.
    q = sf.Junction(net, 3, "linear_imbalance").value(theta)
    assert q.shape == (6, 6)
    assert rel(q, incoming(3) @ incoming(3).T - W(5).T @ W(5)) <= 1e-12
    # BatchNorm: ‖row k of W_5‖² per unit; LayerNorm: ‖W_8‖² + ‖b_8‖².
    assert rel(sf.Junction(net, 5, "scale").value(theta), (W(5) ** 2).sum(axis=1)) <= 1e-12
    assert rel(sf.Junction(net, 8, "scale").value(theta), [np.sum(incoming(8) ** 2)]) <= 1e-12
    # Translations: (1ᵀW, 1ᵀb).
    for i in (8, 11):
        q = sf.Junction(net, i, "translation", loss="cross_entropy").value(theta)
        assert rel(q, np.append(W(i).sum(axis=0), b(i).sum())) <= 1e-12


def conv_incoming_outgoing(net, theta):
    w1, b1 = sf.weight(net, 1, theta), sf.bias(net, 1, theta)
    w3 = sf.weight(net, 3, theta)
    return (w1.reshape(3, -1) ** 2).sum(axis=1) + b1 ** 2, (w3 ** 2).sum(axis=(0, 2, 3))


def test_convolution_quantities_are_per_channel():
    net = conv_net()
    theta = net.random_params(seed=10)
    incoming, outgoing = conv_incoming_outgoing(net, theta)
    assert rel(sf.Junction(net, 1, "rescale").value(theta), incoming - outgoing) <= 1e-12


def all_junctions():
    return [(junction_net, i, kind) for i, kind in JUNCTIONS] + [(conv_net, i, kind) for i, kind in CONV_JUNCTIONS]


def junction_problem(make, layer, kind, seed):
    """The junction, a cross-entropy objective on a random batch, and a random θ."""
    net = make()
    x, y = batch(net, one_hot=True)
    return (sf.Junction(net, layer, kind, loss="cross_entropy"), sf.Objective(net, "cross_entropy", x, y),
            net.random_params(seed=seed, stddev=0.6))


@pytest.mark.parametrize("make,layer,kind", all_junctions())
def test_actions_leave_the_loss_unchanged(make, layer, kind):
    junction, objective, theta = junction_problem(make, layer, kind, seed=11)
    rng = np.random.default_rng(layer)
    m = 0.5 * rng.standard_normal(junction.shape)
    g = junction.exp(m)
    moved = junction.act(g, theta)
    assert rel(moved, theta) > 1e-3  # the action does move θ
    assert rel(objective.value(moved), objective.value(theta)) <= 1e-12
    # The generator is the derivative of the action, and orthogonal to ∇L.
    h = 1e-5
    xi = junction.generator(m, theta)
    fd = (junction.act(junction.exp(h * m), theta) - junction.act(junction.exp(-h * m), theta)) / (2 * h)
    assert rel(xi, fd) <= 1e-8
    grad = objective.gradient(theta)
    assert abs(grad @ xi) <= 1e-12 * np.linalg.norm(grad) * np.linalg.norm(xi)
    # Group axioms.
    assert np.array_equal(junction.act(junction.identity(), theta), theta)
    assert rel(junction.act(junction.inverse(g), moved), theta) <= 1e-13


@pytest.mark.parametrize("make,layer,kind", all_junctions())
def test_one_gradient_step_changes_q_as_the_drift_identity_says(make, layer, kind):
    junction, objective, theta = junction_problem(make, layer, kind, seed=12)
    eta = 0.1
    stepped, loss = objective.gd_step(theta, eta)
    grad = objective.gradient(theta)
    assert loss == objective.value(theta)
    assert np.array_equal(stepped, theta - eta * grad)
    change = junction.value(stepped) - junction.value(theta)
    predicted = junction.gd_step_change(grad, eta)
    # Q(θ − ηg) − Q(θ) = η²B(g, g) (quadratic kinds; −ηAg = 0 for the translation), exactly:
    # relative to Q itself where the change is at rounding level.
    assert rel(change, predicted, np.linalg.norm(junction.value(theta))) <= 1e-12
    if not junction.is_linear:
        assert np.array_equal(predicted, eta ** 2 * junction.form(grad, grad))
    assert sf.linear_trace_gd_bound(grad, eta) == pytest.approx(eta ** 2 * grad @ grad, rel=1e-15)


def test_orbit_dimensions_are_the_closed_forms():
    # GL_h on a hidden layer of h = 5 between n = 3 inputs and m = 2 outputs: h² − (h − m)(h − n) (eq. 20).
    net = sf.Sequential(input=3, layers=[sf.Dense(5), sf.Identity(), sf.Dense(2)])
    theta = net.random_params(seed=13)
    orbit = sf.Junction(net, 1, "linear_imbalance").orbit_dimension(theta)
    assert (orbit.dimension, orbit.algebra_dimension) == (25 - 3 * 2, 25)
    assert orbit.singular_values.shape == (25,) and orbit.gap > 1e6
    assert sf.Junction(net, 1, "rescale").orbit_dimension(theta).dimension == 5


def test_teleport_to_steepest_keeps_the_loss_and_raises_the_gradient():
    net = sf.Sequential(input=3, layers=[sf.Dense(4), sf.LeakyReLU(0.1), sf.Dense(2)])
    x, y = batch(net)
    objective = sf.Objective(net, "mse", x, y)
    theta = net.random_params(seed=14, stddev=0.5)
    junction = sf.Junction(net, 1, "rescale")
    result = junction.teleport_to_steepest(objective, theta, sf.OrbitSearchOptions(max_iterations=20))
    moved = result["theta"]
    assert rel(objective.value(moved), objective.value(theta)) <= 1e-10
    assert np.linalg.norm(objective.gradient(moved)) > 1.01 * np.linalg.norm(objective.gradient(theta))
    assert rel(junction.act(result["g"], theta), moved) <= 1e-12


# ---------------------------------------------------------------- integrators


def linear_problem():
    net = sf.Sequential(input=3, layers=[sf.Dense(4), sf.Identity(), sf.Dense(2)])
    x, y = batch(net, samples=5)
    return net, sf.Objective(net, "half_squared_error", x, y), net.random_params(seed=15, stddev=0.5)


def test_gradient_descent_run_is_the_numpy_loop():
    net, objective, theta = linear_problem()
    q = sf.Junction(net, 1, "linear_imbalance")
    out = sf.run(objective, theta, sf.GradientDescent(0.05), max_steps=20, every=5, quantities=[q])
    expected = theta.copy()
    for _ in range(20):
        expected = expected - 0.05 * objective.gradient(expected)
    assert np.array_equal(out["theta"], expected)
    assert out["status"]["reason"] == "step_budget" and out["status"]["step"] == 20
    assert list(out["step"]) == [0, 5, 10, 15, 20]
    assert out["quantities"][0].shape == (5, 4, 4)
    assert np.array_equal(out["quantities"][0][-1], q.value(expected))
    assert out["loss"][-1] < out["loss"][0]
    assert rel(out["gradient_norm"][0], np.linalg.norm(objective.gradient(theta))) <= 1e-15


def rk4_drift(objective, theta, q, step):
    out = sf.run(objective, theta, sf.RungeKutta4(step), max_steps=round(0.4 / step))
    return np.linalg.norm(q.value(out["theta"]) - q.value(theta))


def test_gradient_flow_conserves_q_to_the_integrators_order():
    net, objective, theta = linear_problem()
    q = sf.Junction(net, 1, "linear_imbalance")
    coarse, fine = rk4_drift(objective, theta, q, 0.04), rk4_drift(objective, theta, q, 0.02)
    assert 10 < coarse / fine < 22  # fourth order: 16
    out = sf.run(objective, theta, sf.DormandPrince(rtol=1e-10, atol=1e-12), max_time=1.0, max_steps=10**6,
                 quantities=[q])
    assert out["status"]["reason"] == "time_budget"
    assert out["time"][-1] == pytest.approx(1.0, rel=1e-12)
    assert rel(out["quantities"][0][-1], q.value(theta), np.linalg.norm(q.value(theta))) <= 1e-8
    assert out["loss"][-1] < 0.9 * out["loss"][0]


@pytest.mark.parametrize("method", [sf.Momentum(0.02, 0.9), sf.Adam(0.01)])
def test_momentum_and_adam_train(method):
    _, objective, theta = linear_problem()
    out = sf.run(objective, theta, method, max_steps=50)
    assert out["loss"][-1] < out["loss"][0]
    assert out["status"]["step"] == 50


# ---------------------------------------------------------------- errors and non-finite input


def test_errors_name_what_is_wrong():
    net = mlp()
    theta = net.random_params()
    x, y = batch(net)
    objective = sf.Objective(net, "mse", x, y)
    with pytest.raises(TypeError, match="θ has dtype float32, but the model is float64"):
        objective.value(theta.astype(np.float32))
    with pytest.raises(TypeError, match="dtype int64"):
        objective.gradient(np.zeros(net.size, dtype=np.int64))
    with pytest.raises(TypeError, match="θ has dtype object"):
        objective.value(object())
    with pytest.raises(ValueError, match="parameter vector θ has length 3"):
        objective.value(np.zeros(3))
    with pytest.raises(ValueError, match=r"θ has shape \(51, 1\), expected a 1-D array"):
        objective.value(theta[:, None])
    with pytest.raises(ValueError, match="input X has shape 5x7, expected 4 rows"):
        sf.Objective(net, "mse", np.zeros((5, 7)), y)
    with pytest.raises(ValueError, match="target Y"):
        sf.Objective(net, "mse", x, np.zeros((3, 6)))
    with pytest.raises(ValueError, match=r"X has shape \(4,\), expected a 2-D array \(features, samples\)"):
        net.forward(theta, np.zeros(4))
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        sf.Objective(net, "l1", x, y)
    with pytest.raises(ValueError, match="layer 0 does not exist"):
        net.offset(0)
    with pytest.raises(ValueError, match=r"layer 2 \(relu\) has no weights"):
        sf.Junction(net, 2, "rescale")
    with pytest.raises(ValueError, match="has rescale, not linear_imbalance"):
        sf.Junction(net, 1, "linear_imbalance")
    with pytest.raises(ValueError, match=r"\(tanh\) has no linear symmetry"):
        mlp(sf.Tanh()).junction_kinds(1)
    with pytest.raises(ValueError, match="layer 3 \\(dense\\) on input 6x1x1: symflow::Dense: the number of units is 0"):
        sf.Sequential(4, [sf.Dense(6), sf.ReLU(), sf.Dense(0)])
    with pytest.raises(TypeError, match="layers must be symflow layers"):
        sf.Sequential(4, ["relu"])
    with pytest.raises(ValueError, match="expected the number of features n or the image shape"):
        sf.Sequential((2, 3), [sf.ReLU()])
    with pytest.raises(ValueError, match="learning_rate is -1"):
        sf.run(objective, theta, sf.GradientDescent(-1.0))
    junction = sf.Junction(net, 1, "rescale")
    with pytest.raises(ValueError, match="group element has shape 5x1, expected 6x1"):
        junction.act(np.ones(5), theta)
    with pytest.raises(ValueError, match="entry 1 is -1.0+, expected a finite number > 0"):
        junction.act(np.array([1.0, -1, 1, 1, 1, 1]), theta)
    with pytest.raises(TypeError, match="dtype float64"):
        sf.Junction(sf.Sequential(4, [sf.Dense(6), sf.ReLU(), sf.Dense(3)], dtype="float32"), 1, "rescale").value(theta)


def test_nan_propagates_without_a_crash():
    net = sf.Sequential(4, [sf.Dense(6), sf.BatchNorm(), sf.ReLU(), sf.Dense(3)])
    x, y = batch(net)
    objective = sf.Objective(net, "mse", x, y)
    theta = net.random_params()
    theta[0] = math.nan
    # BatchNorm with ε = 0 refuses a group it cannot standardise (its variance is NaN here).
    with pytest.raises(ValueError, match="cannot be standardised"):
        objective.value(theta)
    plain = mlp()
    x, y = batch(plain)
    objective = sf.Objective(plain, "mse", x, y)
    theta = plain.random_params()
    theta[0] = math.nan
    assert math.isnan(objective.value(theta))
    assert np.isnan(objective.gradient(theta)).any()
    assert np.isnan(objective.hessian_vector_product(theta, theta)).any()
    with pytest.raises(ValueError, match="the orbit of a non-finite point is undefined"):
        sf.Junction(plain, 1, "rescale").orbit_dimension(theta)
    out = sf.run(objective, theta, sf.GradientDescent(0.1))
    assert out["status"]["reason"] == "non_finite_parameter" and out["status"]["diverged"]
    x[0, 0] = math.nan
    assert math.isnan(sf.Objective(plain, "mse", x, y).value(plain.random_params()))
