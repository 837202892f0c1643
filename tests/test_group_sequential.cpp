// Specification of the linear symmetries of a model composed from layers: a junction of a
// Sequential is (Dense layer I, activation I + 1, Dense layer I + 2), named by its incoming layer as
// in symflow::conserved<I>; its group is the one its activation declares, whatever the other
// junctions' activations are, and symmetry<I>, product_symmetry and orbit_dimension act on it as on
// the hidden layers of an Mlp with the same θ layout.
#include "group_support.hpp"

#include <symflow/analysis/orbit.hpp>
#include <symflow/conserved.hpp>
#include <symflow/junction.hpp>

namespace sf = symflow;
namespace st = symflow::testing;

namespace {

// ReLU (scaling of 4 units) at junction 1, the identity (GL_5, with bias) at junction 3.
using Mixed = sf::Sequential<double, sf::Input<3>, sf::Dense<4, sf::WithBias>, sf::ReLU, sf::Dense<5, sf::WithBias>,
                             sf::Identity, sf::Dense<2, sf::WithBias>>;
// The same layers as BiasedMlp<double, ReLU, 3, 4, 5, 2>, whose θ is laid out the same way.
using LikeMlp = sf::Sequential<double, sf::Input<3>, sf::Dense<4, sf::WithBias>, sf::ReLU, sf::Dense<5, sf::WithBias>,
                               sf::ReLU, sf::Dense<2, sf::WithBias>>;
using Mlp = sf::BiasedMlp<double, sf::ReLU, 3, 4, 5, 2>;

static_assert(std::is_same_v<sf::junction_indices<Mixed>, std::integer_sequence<int, 1, 3>>);
static_assert(sf::junction_count<Mixed> == 2 && !sf::is_junction<Mixed, 2> && !sf::is_junction<Mixed, 5>);
static_assert(std::is_same_v<sf::Symmetry<Mixed, 1>, sf::ScalingAction<Mixed, 1>>);
static_assert(std::is_same_v<sf::Symmetry<Mixed, 3>, sf::GeneralLinearAction<Mixed, 3>>);
static_assert(std::is_same_v<sf::junction_indices<Mlp>, std::integer_sequence<int, 1, 2>>);
// Q_M takes the shortcut through the group's full quantity on a Sequential, as on an Mlp.
static_assert(sf::detail::HasQuantityShortcut<sf::Symmetry<Mixed, 3>> &&
              sf::detail::HasQuantityShortcut<sf::Symmetry<Mixed, 1>>);

}  // namespace

TEST_CASE("a Sequential's junctions act as an Mlp's hidden layers on the same θ, bit for bit", "[group][sequential]") {
  const Mlp mlp;
  const LikeMlp seq;
  REQUIRE(mlp.size() == seq.size());
  const auto mlp1 = sf::symmetry<1>(mlp);
  const auto mlp2 = sf::symmetry<2>(mlp);
  const auto seq1 = sf::symmetry<1>(seq);
  const auto seq3 = sf::symmetry<3>(seq);
  for (int seed = 0; seed < 20; ++seed) {
    auto rng = sf::test::rng_for(seed);
    const Mlp::Params theta = sf::random_params(mlp, rng);
    const auto g1 = seq1.exp(seq1.algebra().random(rng));
    const auto g3 = seq3.exp(seq3.algebra().random(rng));
    CHECK(seq1.act(g1, theta) == mlp1.act(g1, theta));
    CHECK(seq3.act(g3, theta) == mlp2.act(g3, theta));
    const auto m3 = seq3.algebra().random(rng);
    CHECK(seq3.generator(m3, theta) == mlp2.generator(m3, theta));
  }
}

TEST_CASE("each junction of a Sequential keeps the loss under its own activation's group", "[group][sequential]") {
  const Mixed net;
  auto data_rng = sf::test::rng_for(99);
  const sf::Objective objective(net, sf::MeanSquaredError{}, sf::test::normal<Eigen::MatrixXd>(data_rng, 3, 7),
                                sf::test::normal<Eigen::MatrixXd>(data_rng, 2, 7));
  const auto both = sf::product_symmetry(net);
  double worst_exact = 0, worst_derivative = 0;
  for (int seed = 0; seed < 20; ++seed) {
    auto rng = sf::test::rng_for(100 + seed);
    const Mixed::Params theta = sf::random_params(net, rng);
    for (const auto& report : {st::check_linear_symmetry(sf::symmetry<1>(net), objective, theta, rng),
                               st::check_linear_symmetry(sf::symmetry<3>(net), objective, theta, rng),
                               st::check_linear_symmetry(both, objective, theta, rng)}) {
      worst_exact = std::max(worst_exact, report.worst_exact());
      worst_derivative = std::max(worst_derivative, report.generator_derivative);
    }
    // A generic point: scaling of 4 units and GL_5 on [W₃ | b₃] (5 × 5, invertible) act freely.
    CHECK(sf::orbit_dimension(both, theta).dimension == 4 + 25);
  }
  CAPTURE(worst_exact, worst_derivative);
  CHECK(worst_exact <= st::exact_tolerance<double>());            // invariance, axioms, ⟨∇L, M̄θ⟩ = 0
  CHECK(worst_derivative <= st::derivative_tolerance<double>());  // M̄θ against central differences
}

TEST_CASE("the pseudoinverse action on a Sequential's junction reads the features after the layers before it",
          "[group][sequential][pinv]") {
  // Tanh everywhere: the junctions have no linear symmetry, only the data-dependent one (eq. 15).
  using TanhSeq = sf::Sequential<double, sf::Input<3>, sf::Dense<4, sf::WithBias>, sf::Tanh, sf::Dense<4, sf::WithBias>,
                                 sf::Tanh, sf::Dense<2, sf::WithBias>>;
  using TanhMlp = sf::BiasedMlp<double, sf::Tanh, 3, 4, 4, 2>;
  static_assert(sf::last_junction<TanhSeq> == 3 && sf::last_junction<TanhMlp> == 2);
  const TanhSeq seq;
  const TanhMlp mlp;
  double worst = 0;
  for (int seed = 0; seed < 20; ++seed) {
    auto rng = sf::test::rng_for(200 + seed);
    const Eigen::MatrixXd x = sf::test::normal<Eigen::MatrixXd>(rng, 3, 4);  // k = h = 4: a group action
    const TanhMlp::Params theta = sf::random_params(mlp, rng, 0.5);
    const sf::PseudoinverseAction<TanhSeq> on_seq(seq, x);  // junction 3 by default
    const sf::PseudoinverseAction<TanhMlp> on_mlp(mlp, x);  // hidden layer 2 by default
    const Eigen::Matrix4d g = on_seq.exp(0.3 * sf::test::normal<Eigen::Matrix4d>(rng));
    worst = std::max({worst, st::relative_error(on_seq.block_input(theta), on_mlp.block_input(theta)),
                      st::relative_error(on_seq.act(g, theta), on_mlp.act(g, theta)),
                      st::relative_error(on_seq.generator(Eigen::Matrix4d::Identity(), theta),
                                         on_mlp.generator(Eigen::Matrix4d::Identity(), theta))});
    // The network's output on the batch is unchanged (k = h).
    CHECK(st::relative_error(seq.forward(on_seq.act(g, theta), x), seq.forward(theta, x)) <= 1e-12);
  }
  CAPTURE(worst);
  CHECK(worst <= 1e-15);  // the same arithmetic through Sequential's forward pass and Mlp's loop
}

TEST_CASE("the hidden-layer quantities and Q_M on a Sequential's junction are conserved<I>'s and the Mlp's",
          "[group][sequential][conserved]") {
  const Mixed net;
  const auto linear = std::get<0>(sf::conserved<3>(net));   // LinearImbalance, 5 × 5
  const auto rescale = std::get<0>(sf::conserved<1>(net));  // RescaleImbalance, 4 units
  const auto gl = sf::symmetry<3>(net);
  const auto scaling = sf::symmetry<1>(net);
  const Mlp mlp;
  const LikeMlp seq;
  double worst_junction = 0, worst_mlp = 0;
  for (int seed = 0; seed < 20; ++seed) {
    auto rng = sf::test::rng_for(300 + seed);
    const Mixed::Params theta = sf::random_params(net, rng);
    const Eigen::Matrix<double, 5, 5> q = sf::LayerImbalance<Mixed, 3>(net).value(theta);
    const auto m = gl.algebra().random(rng);
    const auto c = scaling.algebra().random(rng);
    const auto q_m = sf::lie_quantity(gl, m);
    const auto q_c = sf::lie_quantity(scaling, c);
    worst_junction = std::max(
        {worst_junction, st::relative_error(q, linear.value(theta)),
         st::relative_error(sf::LayerImbalanceTrace<Mixed, 3>(net).value(theta), q.trace()),
         st::relative_error(sf::HalfTraceOutgoingMinusIncoming<Mixed, 3>(net).value(theta), -0.5 * q.trace()),
         st::relative_error(sf::ScalingImbalance<Mixed, 1>(net).value(theta), rescale.value(theta)),
         st::relative_error(q_m.value(theta), m.cwiseProduct(linear.value(theta)).sum()),
         st::relative_error(q_m.value(theta), q_m.through_generator(theta)),
         st::relative_error(q_c.value(theta), c.dot(rescale.value(theta))),
         st::relative_error(q_c.value(theta), q_c.through_generator(theta))});
    // θ laid out as a BiasedMlp's: Sequential junction 3 is the Mlp's hidden layer 2.
    const Mlp::Params p = sf::random_params(mlp, rng);
    const auto c2 = sf::symmetry<2>(mlp).algebra().random(rng);
    worst_mlp = std::max(
        {worst_mlp,
         st::relative_error(sf::ScalingImbalance<LikeMlp, 1>(seq).value(p), sf::ScalingImbalance<Mlp, 1>(mlp).value(p)),
         st::relative_error(sf::ScalingImbalance<LikeMlp, 3>(seq).value(p), sf::ScalingImbalance<Mlp, 2>(mlp).value(p)),
         st::relative_error(sf::HalfTraceOutgoingMinusIncoming<LikeMlp, 3>(seq).value(p),
                            sf::HalfTraceOutgoingMinusIncoming<Mlp, 2>(mlp).value(p)),
         st::relative_error(sf::lie_quantity(sf::symmetry<3>(seq), c2).value(p),
                            sf::lie_quantity(sf::symmetry<2>(mlp), c2).value(p))});
  }
  CAPTURE(worst_junction, worst_mlp);
  CHECK(worst_junction <= 1e-12);  // the same forms summed in another order
  CHECK(worst_mlp <= 1e-15);       // the same arithmetic on the same weights
}

namespace {
// Dense 3 → 6, ReLU, then a residual block y = x + f(x) on the 6-unit stream, f = Dense 6 → 8 (bias),
// ReLU, Dense 8 → 5, Identity, Dense 5 → 6 (bias): junctions 1 (scaling of 8) and 3 (GL_5) of f.
using Block = sf::Residual<sf::Dense<8, sf::WithBias>, sf::ReLU, sf::Dense<5>, sf::Identity, sf::Dense<6, sf::WithBias>>;
using WithResidual = sf::Sequential<double, sf::Input<3>, sf::Dense<6, sf::WithBias>, sf::ReLU, Block,
                                    sf::Dense<2, sf::WithBias>>;
using Inside = sf::ResidualBlock<WithResidual, 3>;
static_assert(std::is_same_v<sf::junction_indices<WithResidual>, std::integer_sequence<int>>);
static_assert(std::is_same_v<sf::junction_indices<Inside>, std::integer_sequence<int, 1, 3>>);
}  // namespace

TEST_CASE("a junction inside a residual block keeps its group; the residual stream's scaling does not survive",
          "[group][sequential][residual]") {
  const WithResidual net;
  const auto block = sf::residual_block<3>(net);
  auto data_rng = sf::test::rng_for(400);
  const sf::Objective objective(net, sf::MeanSquaredError{}, sf::test::normal<Eigen::MatrixXd>(data_rng, 3, 7),
                                sf::test::normal<Eigen::MatrixXd>(data_rng, 2, 7));
  const auto rescale = std::get<0>(sf::conserved<1>(block));
  const auto linear = std::get<0>(sf::conserved<3>(block));
  const auto both = sf::product_symmetry(block);
  double worst_exact = 0, worst_loss = 0, worst_rate = 0, worst_same = 0, least_broken = 1e300;
  for (int seed = 0; seed < 100; ++seed) {
    auto rng = sf::test::rng_for(500 + seed);
    const WithResidual::Params theta = sf::random_params(net, rng);
    // The product (scaling of f's 8 units × GL_5) with random elements of both factors at once.
    const auto report = st::check_linear_symmetry(both, objective, theta, rng);
    worst_exact = std::max(worst_exact, report.worst_exact());
    worst_loss = std::max(worst_loss, report.loss_invariance);
    // The quantities are conserved by gradient flow: dQ/dt = DQ[−∇L] = 0, relative to ‖Q‖‖∇L‖/‖θ‖.
    const WithResidual::Params g = objective.gradient(theta);
    const double scale = g.norm() / theta.norm();
    worst_rate = std::max({worst_rate,
                           sf::directional_derivative(rescale, theta, -g).norm() / (scale * rescale.value(theta).norm()),
                           sf::directional_derivative(linear, theta, -g).norm() / (scale * linear.value(theta).norm())});
    worst_same = std::max({worst_same, st::relative_error(sf::ScalingImbalance<Inside, 1>(block).value(theta),
                                                          rescale.value(theta)),
                           st::relative_error(sf::LayerImbalance<Inside, 3>(block).value(theta), linear.value(theta))});
    // Per-unit scaling of the stream (rows of W₁ and b₁ by c, the ReLU passes it, the columns of
    // W₄ by 1/c) would be a symmetry without the skip; with it, f(c x) ≠ c f(x) and the loss moves.
    const Eigen::Matrix<double, 6, 1> c = sf::test::normal<Eigen::Matrix<double, 6, 1>>(rng).array().exp();
    WithResidual::Params scaled = theta;
    net.weight<1>(scaled) = c.asDiagonal() * net.weight<1>(theta);
    net.bias<1>(scaled) = c.asDiagonal() * net.bias<1>(theta);
    net.weight<4>(scaled) = net.weight<4>(theta) * c.cwiseInverse().asDiagonal();
    least_broken = std::min(least_broken, st::relative_error(objective.value(scaled), objective.value(theta)));
  }
  CAPTURE(worst_exact, worst_loss, worst_rate, worst_same, least_broken);
  CHECK(worst_loss <= 1e-12);                     // L(g·θ) = L(θ), 100 seeds
  CHECK(worst_exact <= st::exact_tolerance<double>());  // axioms, output, ⟨∇L, M̄θ⟩ = 0
  CHECK(worst_rate <= 1e-12);
  CHECK(worst_same <= 1e-12);
  CHECK(least_broken >= 1e-3);
}

namespace {
// Dense 3 → 4 → 5 → 2 with biases and the identity at both junctions, every width Dynamic: θ laid
// out as LinearMlp's.
using LinearDense = sf::Dense<sf::Dynamic, sf::WithBias>;
using Linear = sf::Sequential<double, sf::Input<sf::Dynamic>, LinearDense, sf::Identity, LinearDense, sf::Identity, LinearDense>;
using LinearMlp = sf::BiasedMlp<double, sf::Identity, 3, 4, 5, 2>;
static_assert(std::is_same_v<sf::LayerImbalanceTraces<Linear>::Value, Eigen::Vector2d>);
static_assert(std::is_same_v<sf::ScalingImbalances<Mixed>::Value, Eigen::Matrix<double, 9, 1>>);
static_assert(std::is_same_v<sf::ScalingImbalances<Linear>::Value, Eigen::VectorXd>);
}  // namespace

TEST_CASE("the quantities of every junction at once on a Sequential: each junction's, and the Mlp's bit for bit",
          "[group][sequential][conserved]") {
  const Linear linear(sf::Shape{3}, LinearDense{4}, sf::Identity{}, LinearDense{5}, sf::Identity{}, LinearDense{2});
  const LinearMlp linear_mlp;
  const Mixed mixed;
  const LikeMlp like_mlp;
  const Mlp mlp;
  const WithResidual with_residual;
  const auto block = sf::residual_block<3>(with_residual);
  auto data_rng = sf::test::rng_for(600);
  const sf::Objective objective(with_residual, sf::MeanSquaredError{}, sf::test::normal<Eigen::MatrixXd>(data_rng, 3, 7),
                                sf::test::normal<Eigen::MatrixXd>(data_rng, 2, 7));
  int differing = 0;
  double worst_junction = 0, worst_rate = 0;
  for (int seed = 0; seed < 20; ++seed) {
    auto rng = sf::test::rng_for(600 + seed);
    // Linear junctions 1 and 3 (hidden layers 1 and 2 of the Mlp): traces, matrices and per-unit scalings.
    const LinearMlp::Params p = sf::random_params(linear_mlp, rng);
    const Linear::Params q = p;
    const Eigen::Vector2d traces = sf::LayerImbalanceTraces<Linear>(linear).value(q);
    const Eigen::MatrixXd q1 = sf::layer_imbalance_at(linear, 1, q), q3 = sf::layer_imbalance_at(linear, 3, q);
    differing += traces != sf::LayerImbalanceTraces<LinearMlp>(linear_mlp).value(p) ||
                 traces[0] != sf::LayerImbalanceTrace<Linear, 1>(linear).value(q) ||
                 traces[1] != sf::LayerImbalanceTrace<Linear, 3>(linear).value(q) ||
                 q1 != sf::layer_imbalance_at(linear_mlp, 1, p) || q3 != sf::layer_imbalance_at(linear_mlp, 2, p) ||
                 sf::ScalingImbalances<Linear>(linear).value(q) != sf::ScalingImbalances<LinearMlp>(linear_mlp).value(p);
    // ReLU at both junctions, laid out as the BiasedMlp<ReLU>.
    const Mlp::Params r = sf::random_params(mlp, rng);
    differing += sf::ScalingImbalances<LikeMlp>(like_mlp).value(r) != sf::ScalingImbalances<Mlp>(mlp).value(r);
    // ReLU at junction 1, the identity at 3; and the junctions inside a residual block.
    const Mixed::Params m = sf::random_params(mixed, rng);
    const Eigen::Matrix<double, 9, 1> stacked = sf::ScalingImbalances<Mixed>(mixed).value(m);
    const WithResidual::Params w = sf::random_params(with_residual, rng);
    const sf::ScalingImbalances<sf::ResidualBlock<WithResidual, 3>> inside(block);
    const Eigen::VectorXd in_block = inside.value(w);
    REQUIRE(in_block.size() == 8 + 5);
    worst_junction = std::max(
        {worst_junction, st::relative_error(q1, sf::LayerImbalance<Linear, 1>(linear).value(q)),
         st::relative_error(q3, sf::LayerImbalance<Linear, 3>(linear).value(q)),
         st::relative_error(sf::layer_imbalance_at(mixed, 3, m), std::get<0>(sf::conserved<3>(mixed)).value(m)),
         st::relative_error(stacked.head<4>(), std::get<0>(sf::conserved<1>(mixed)).value(m)),
         st::relative_error(stacked.head<4>(), sf::ScalingImbalance<Mixed, 1>(mixed).value(m)),
         st::relative_error(stacked.tail<5>(), sf::ScalingImbalance<Mixed, 3>(mixed).value(m)),
         st::relative_error(stacked.tail<5>(), std::get<0>(sf::conserved<3>(mixed)).value(m).diagonal()),
         st::relative_error(in_block.head(8), sf::ScalingImbalance<Inside, 1>(block).value(w)),
         st::relative_error(in_block.tail(5), sf::ScalingImbalance<Inside, 3>(block).value(w))});
    // Conserved by gradient flow entry by entry, relative to ‖Q‖‖∇L‖/‖θ‖.
    const WithResidual::Params g = objective.gradient(w);
    worst_rate = std::max(worst_rate, sf::directional_derivative(inside, w, -g).norm() /
                                          (g.norm() / w.norm() * in_block.norm()));
  }
  CAPTURE(worst_junction, worst_rate);
  CHECK(differing == 0);
  CHECK(worst_junction <= 1e-12);
  CHECK(worst_rate <= 1e-12);
  // A run-time index names a junction, and a linear one.
  const Mixed::Params m = Mixed::Params::Ones();
  const Linear::Params q = Linear::Params::Ones(linear.size());
  CHECK_THROWS_WITH(sf::layer_imbalance_at(mixed, 2, m), Catch::Contains("its junctions are 1, 3"));
  CHECK_THROWS_AS(sf::layer_imbalance_at(mixed, 1, m), std::invalid_argument);
  CHECK_THROWS_AS(sf::layer_imbalance_at(linear, 5, q), std::out_of_range);
}
