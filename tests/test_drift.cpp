// Specification of the drift of conserved quantities under gradient descent (Appendix D): one step
// changes a quadratic quantity by exactly η² Q(∇L) (eq. 41 and its generalisation), bounded by
// η²‖∇L‖² (eq. 35); the drift of a step is second order in η, the drift over a fixed stretch of time
// first order; and the normalised drift ΔQ̃ of eq. (43) as an observer of the integrators' driver.
#include "support.hpp"

#include <symflow/analysis.hpp>
#include <symflow/conserved.hpp>
#include <symflow/flow.hpp>
#include <symflow/group.hpp>
#include <symflow/junction.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::Softplus;

namespace {

/// Q(θ − η∇L) − Q(θ) against η² Q(∇L), relative to the size of the change.
template <class Q, class Objective>
double step_identity_error(const Q& q, const Objective& objective, const typename Q::Params& theta, double eta) {
  using Params = typename Q::Params;
  const Params g = objective.gradient(theta);
  const Params next = theta - eta * g;
  const typename Q::Value after = q.value(next), before = q.value(theta);
  const typename Q::Value actual = after - before;
  const typename Q::Value predicted = sf::gd_step_change(q, g, eta);
  return st::relative_error(actual, predicted);
}

}  // namespace

TEST_CASE("one gradient-descent step changes a quadratic quantity by exactly η² Q(∇L)", "[drift][gd]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    INFO("trial " << trial);
    {
      using Net = sf::BiasedMlp<double, sf::Identity, 3, 4, 5, 2>;
      const Net net;
      const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
      const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
      const Net::Params theta = sf::random_params(net, rng, 0.8);
      for (double eta : {0.02, 0.1}) {
        CHECK(step_identity_error(sf::LayerImbalance<Net, 1>(net), objective, theta, eta) < 1e-12);
        CHECK(step_identity_error(sf::LayerImbalance<Net, 2>(net), objective, theta, eta) < 1e-12);
        CHECK(step_identity_error(sf::LayerImbalanceTrace<Net, 2>(net), objective, theta, eta) < 1e-12);
        CHECK(step_identity_error(sf::LayerImbalanceTraces<Net>(net), objective, theta, eta) < 1e-12);
        const sf::GeneralLinearAction<Net, 2> action(net);
        CHECK(step_identity_error(sf::lie_quantity(action, action.algebra().random(rng)), objective, theta, eta) < 1e-12);
      }
    }
    {
      using Net = sf::BiasedMlp<double, sf::Homogeneous, 3, 5, 2>;
      const Net net(sf::Homogeneous{1.5});
      const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
      const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
      const Net::Params theta = sf::random_params(net, rng, 0.8);
      CHECK(step_identity_error(sf::ScalingImbalance<Net>(net), objective, theta, 0.1) < 1e-12);
      const sf::ScalingAction<Net> action(net);
      CHECK(step_identity_error(sf::lie_quantity(action, action.algebra().random(rng)), objective, theta, 0.1) < 1e-12);
    }
  }
}

TEST_CASE("eq. (41) is the exact one-step change of Tr[UᵀU − VVᵀ], within the bound of eq. (35)", "[drift][gd]") {
  using Net = sf::TwoLayer<double, sf::Identity, 4, 6, 3>;
  const Net net;
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 7>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 7>>(rng);
    const sf::Objective objective(net, trial % 2 ? sf::HalfSquaredError{} : sf::HalfSquaredError{}, x, y);
    Net::Params theta = sf::random_params(net, rng, 0.7);
    const double eta = 0.05;
    auto paper_q = [&](const Net::Params& p) {  // Tr[UᵀU − VVᵀ], U = W_2, V = W_1
      return net.weight<2>(p).squaredNorm() - net.weight<1>(p).squaredNorm();
    };
    Net::Params g(net.size());
    const double before = paper_q(theta);
    sf::gd_step(objective, theta, eta, g);  // θ ← θ − η∇L, g = ∇L at the old θ
    const double change = paper_q(theta) - before;
    INFO("trial " << trial << ": ΔQ = " << change);
    CHECK(st::relative_error(change, sf::outgoing_minus_incoming_trace_gd_change(net, g, eta)) < 1e-12);
    CHECK(std::abs(change) <= sf::linear_trace_gd_bound(g, eta));
  }
}

TEST_CASE("on a Sequential laid out as an Mlp, the drift identities give the Mlp's numbers", "[drift][gd][sequential]") {
  // The BiasedMlp<Identity, 3, 4, 5, 2> case and the TwoLayer of eq. (41) above, written as layers.
  using Mlp = sf::BiasedMlp<double, sf::Identity, 3, 4, 5, 2>;
  using Seq = sf::Sequential<double, sf::Input<3>, sf::Dense<4, sf::WithBias>, sf::Identity, sf::Dense<5, sf::WithBias>,
                             sf::Identity, sf::Dense<2, sf::WithBias>>;
  using Two = sf::TwoLayer<double, sf::Identity, 4, 6, 3>;
  using TwoSeq = sf::Sequential<double, sf::Input<4>, sf::Dense<6>, sf::Identity, sf::Dense<3>>;
  const Mlp mlp;
  const Seq seq;
  const Two two;
  const TwoSeq two_seq;
  double worst = 0;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const Mlp::Params theta = sf::random_params(mlp, rng, 0.8);
    const Mlp::Params g = sf::Objective(mlp, sf::HalfSquaredError{}, x, y).gradient(theta);
    const Seq::Params g_seq = sf::Objective(seq, sf::HalfSquaredError{}, x, y).gradient(theta);
    const auto m = sf::symmetry<2>(mlp).algebra().random(rng);
    const double eta = 0.1;
    const auto x2 = sf::test::normal<Eigen::Matrix<double, 4, 7>>(rng);
    const auto y2 = sf::test::normal<Eigen::Matrix<double, 3, 7>>(rng);
    const Two::Params theta2 = sf::random_params(two, rng, 0.7);
    const Two::Params g2 = sf::Objective(two, sf::HalfSquaredError{}, x2, y2).gradient(theta2);
    const TwoSeq::Params g2_seq = sf::Objective(two_seq, sf::HalfSquaredError{}, x2, y2).gradient(theta2);
    worst = std::max(
        {worst, st::relative_error(g_seq, g), st::relative_error(g2_seq, g2),
         st::relative_error(sf::gd_step_change(sf::LayerImbalance<Seq, 1>(seq), g_seq, eta),
                            sf::gd_step_change(sf::LayerImbalance<Mlp, 1>(mlp), g, eta)),
         st::relative_error(sf::gd_step_change(sf::LayerImbalance<Seq, 3>(seq), g_seq, eta),
                            sf::gd_step_change(sf::LayerImbalance<Mlp, 2>(mlp), g, eta)),
         st::relative_error(sf::gd_step_change(sf::LayerImbalanceTrace<Seq, 3>(seq), g_seq, eta),
                            sf::gd_step_change(sf::LayerImbalanceTrace<Mlp, 2>(mlp), g, eta)),
         st::relative_error(sf::gd_step_change(sf::lie_quantity(sf::symmetry<3>(seq), m), g_seq, eta),
                            sf::gd_step_change(sf::lie_quantity(sf::symmetry<2>(mlp), m), g, eta)),
         st::relative_error(sf::outgoing_minus_incoming_trace_gd_change(two_seq, g2_seq, eta),
                            sf::outgoing_minus_incoming_trace_gd_change(two, g2, eta))});
  }
  CAPTURE(worst);
  CHECK(worst <= 1e-15);  // gradients by Sequential's back-propagation and Mlp's loop, then the same sums
}

TEST_CASE("on a Sequential with an activation of its own at each junction, one GD step changes Q by η² Q(∇L)",
          "[drift][gd][sequential]") {
  // Junction 1: LeakyReLU (scaling of 5 units); layer 3 → Tanh → layer 5 has no linear symmetry;
  // junction 5: the identity (GL_6).
  using Net = sf::Sequential<double, sf::Input<3>, sf::Dense<5, sf::WithBias>, sf::LeakyReLU, sf::Dense<4>, sf::Tanh,
                             sf::Dense<6, sf::WithBias>, sf::Identity, sf::Dense<2, sf::WithBias>>;
  const Net net(sf::Dense<5, sf::WithBias>{}, sf::LeakyReLU{0.2}, sf::Dense<4>{}, sf::Tanh{}, sf::Dense<6, sf::WithBias>{},
                sf::Identity{}, sf::Dense<2, sf::WithBias>{});
  // Tr[UᵀU − VVᵀ] − ‖b‖² at junction I, directly from the weights.
  auto trace = [&]<int I>(const Net::Params& p) {
    return net.weight<I + 2>(p).squaredNorm() - net.weight<I>(p).squaredNorm() - net.bias<I>(p).squaredNorm();
  };
  double worst = 0, worst_trace = 0;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(50 + trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const Net::Params theta = sf::random_params(net, rng, 0.8);
    const Net::Params g = objective.gradient(theta);
    for (double eta : {0.05, 0.2}) {
      worst = std::max({worst, step_identity_error(sf::ScalingImbalance<Net, 1>(net), objective, theta, eta),
                        step_identity_error(sf::LayerImbalance<Net, 5>(net), objective, theta, eta),
                        step_identity_error(sf::LayerImbalanceTrace<Net, 5>(net), objective, theta, eta),
                        step_identity_error(sf::HalfTraceOutgoingMinusIncoming<Net, 1>(net), objective, theta, eta),
                        step_identity_error(std::get<0>(sf::conserved<1>(net)), objective, theta, eta),
                        step_identity_error(std::get<0>(sf::conserved<5>(net)), objective, theta, eta),
                        step_identity_error(sf::lie_quantity(sf::symmetry<1>(net), sf::symmetry<1>(net).algebra().random(rng)),
                                            objective, theta, eta),
                        step_identity_error(sf::lie_quantity(sf::symmetry<5>(net), sf::symmetry<5>(net).algebra().random(rng)),
                                            objective, theta, eta)});
      const Net::Params next = theta - eta * g;
      worst_trace = std::max({worst_trace,
                              st::relative_error(trace.operator()<1>(next) - trace.operator()<1>(theta),
                                                 sf::outgoing_minus_incoming_trace_gd_change<1>(net, g, eta)),
                              st::relative_error(trace.operator()<5>(next) - trace.operator()<5>(theta),
                                                 sf::outgoing_minus_incoming_trace_gd_change<5>(net, g, eta))});
    }
  }
  CAPTURE(worst, worst_trace);
  CHECK(worst <= 1e-12);
  CHECK(worst_trace <= 1e-12);
  CHECK_THROWS_WITH(sf::outgoing_minus_incoming_trace_gd_change<1>(
                        sf::Sequential<double, sf::Input<2>, sf::Dense<3>, sf::Homogeneous, sf::Dense<1>>(
                            sf::Dense<3>{}, sf::Homogeneous{2.0}, sf::Dense<1>{}),
                        Eigen::VectorXd::Zero(9), 0.1),
                    Catch::Contains("homogeneous of degree 2"));
}

namespace {

/// Drift of eq. (48) (summed over units) over a gradient-descent run: net change and total
/// variation Σ|Q_{t+1} − Q_t|.
struct Drift {
  double net = 0;
  double variation = 0;
};

/// `steps` gradient-descent steps of size η on a whitened two-layer network, from a start fixed by
/// the trial.
template <class A>
Drift gd_drift(const A& act, double eta, sf::Index steps, int trial) {
  using Net = sf::Mlp<double, A, 4, 8, 3>;
  const Net net(act);
  auto rng = rng_for(trial);
  const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
  const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  typename Net::Params theta = sf::random_params(net, rng, 0.6);
  typename Net::Params g(net.size());
  const auto q = sf::summed(sf::ElementwiseQuantity<Net>(net));
  Drift d;
  double previous = q.value(theta);
  const double start = previous;
  for (sf::Index t = 0; t < steps; ++t) {
    sf::gd_step(objective, theta, eta, g);
    const double now = q.value(theta);
    d.variation += std::abs(now - previous);
    previous = now;
  }
  d.net = previous - start;
  return d;
}

}  // namespace

TEST_CASE("halving the learning rate divides the drift of a step by 4 and the drift over a fixed time by 2",
          "[drift][gd]") {
  auto run = [](auto act, double eta, double step_tol) {
    using A = decltype(act);
    for (int trial = 0; trial < 3; ++trial) {
      // One step: ΔQ = a η² + b η³ + …, so the ratio is 4(1 + O(η)); exactly 4 for quadratic Q.
      const double one = gd_drift(act, eta, 1, trial).net / gd_drift(act, eta / 2, 1, trial).net;
      // Time 1 = 1000 steps of 1e-3 or 2000 of 5e-4: (time/η)·η². The total variation of Q halves
      // (the mean change per step falls by 4); the net drift halves up to O(η) relative to the
      // variation (it can nearly cancel when the drift rate changes sign along the run).
      const Drift coarse = gd_drift(act, 1e-3, 1000, trial), fine = gd_drift(act, 5e-4, 2000, trial);
      const double variation_ratio = coarse.variation / fine.variation;
      const double per_step = (coarse.variation / 1000) / (fine.variation / 2000);
      INFO(A::name() << " trial " << trial << ": one step " << one << ", variation over time 1 " << variation_ratio
                     << ", mean change per step " << per_step << ", net " << coarse.net << " vs " << fine.net);
      CHECK(std::abs(one - 4) <= step_tol);
      CHECK(std::abs(variation_ratio - 2) <= 0.02);
      CHECK(std::abs(per_step - 4) <= 0.04);
      CHECK(std::abs(coarse.net - 2 * fine.net) <= 0.02 * coarse.variation);
    }
  };
  // Quadratic Q: one step is exactly η² Q(∇L), so only the rounding of Q(θ') − Q(θ) remains.
  run(sf::Identity{}, 1e-3, 1e-6);
  run(sf::LeakyReLU{0.2}, 1e-3, 1e-6);
  run(sf::Tanh{}, 1e-4, 0.01);
  run(sf::Sigmoid{}, 1e-4, 0.01);
  run(Softplus{}, 1e-4, 0.01);
}

TEST_CASE("the normalised drift of Appendix D as an observer of the driver and as a Trace column", "[drift][observer]") {
  using Net = sf::Mlp<double, sf::Tanh, 4, 8, 3>;
  const Net net;
  auto rng = rng_for(0);
  const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
  const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
  const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
  const Net::Params theta0 = sf::random_params(net, rng, 0.3);
  const sf::ElementwiseQuantity<Net> q(net);
  sf::NormalisedDrift drift(q, theta0);
  // Q̃(θ₀) by hand: |½‖U‖² − ΣΦ(V)| / (½‖U‖² + |ΣΦ(V)|).
  const double f1 = 0.5 * net.weight<2>(theta0).squaredNorm(), f2 = q.incoming(theta0);
  CHECK(drift.normalised(theta0) == Approx(std::abs(f1 - f2) / (f1 + std::abs(f2))).epsilon(1e-14));
  CHECK(drift.drift(theta0) == 0.0);

  Net::Params theta = theta0;
  sf::Trace<Net::Params> trace(10);
  trace.add_loss().add("dQ", drift.column()).add("Q", [&](const Net::Params& p) { return q.value(p).sum(); });
  sf::NormalisedDrift observer(q);
  const auto status = sf::run(sf::GradientDescent{0.1}, objective, theta, sf::Stopping{.max_steps = 300}, trace, observer);
  CHECK(status.reason == sf::StopReason::step_budget);
  CHECK(observer.last() == Approx(drift.drift(theta)).epsilon(1e-12));
  CHECK(observer.largest() >= std::abs(observer.last()));
  const auto dq = trace.column("dQ");
  const auto qs = trace.column("Q");
  CHECK(dq.front() == 0.0);
  CHECK(dq.back() == Approx(drift.drift(theta)).epsilon(1e-12));
  // While Q keeps its sign, ΔQ̃ = ±(Q − Q₀)/scale.
  const double sign = qs.front() > 0 ? 1.0 : -1.0;
  for (std::size_t i = 0; i < dq.size(); ++i)
    if (qs[i] * sign > 0) CHECK(dq[i] == Approx(sign * (qs[i] - qs.front()) / drift.scale()).margin(1e-15));
  // Gradient descent does drift, and more with a larger learning rate.
  CHECK(observer.largest() > 1e-7);
}

TEST_CASE("eq. (48) and its normalised drift on a Sequential that is the two-layer block: the Mlp's numbers, conserved "
          "with X = I",
          "[drift][observer][elementwise][sequential]") {
  // Dense 4 → 8 without bias, tanh, Dense 8 → 3 with a bias (which eq. 48 does not involve): θ holds
  // W_1 and W_2 where Mlp<Tanh, 4, 8, 3>'s θ does, then b_2.
  using Mlp = sf::Mlp<double, sf::Tanh, 4, 8, 3>;
  using Seq = sf::Sequential<double, sf::Input<4>, sf::Dense<8>, sf::Tanh, sf::Dense<3, sf::WithBias>>;
  const Mlp mlp;
  const Seq seq;
  REQUIRE(seq.size() == mlp.size() + 3);
  const sf::ElementwiseQuantity<Mlp> q_mlp(mlp);
  const sf::ElementwiseQuantity<Seq> q_seq(seq);
  static_assert(std::is_same_v<sf::ElementwiseQuantity<Seq>::Value, Eigen::Matrix<double, 8, 1>>);
  int differing = 0;
  double worst_rate = 0;
  for (int seed = 0; seed < 5; ++seed) {
    auto rng = rng_for(400 + seed);
    const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
    const sf::Objective objective(seq, sf::HalfSquaredError{}, x, y);
    Seq::Params theta(seq.size());
    theta << sf::random_params(mlp, rng, 0.5), sf::test::normal<Eigen::Vector3d>(rng);
    const Seq::Params theta0 = theta;
    const Mlp::Params mlp_theta0 = theta0.head(mlp.size());
    const sf::NormalisedDrift on_mlp(q_mlp, mlp_theta0);
    const sf::NormalisedDrift on_seq(q_seq, theta0);
    // Along 40 steps of gradient descent on the Sequential: the same numbers as the Mlp's on W_1, W_2.
    for (int step = 0; step < 40; ++step) {
      const Mlp::Params p = theta.head(mlp.size());
      differing += q_seq.value(theta) != q_mlp.value(p) || q_seq.potentials(theta) != q_mlp.potentials(p) ||
                   q_seq.outgoing(theta) != q_mlp.outgoing(p) || q_seq.incoming(theta) != q_mlp.incoming(p) ||
                   on_seq.drift(theta) != on_mlp.drift(p) || on_seq.signed_drift(theta) != on_mlp.signed_drift(p) ||
                   on_seq.normalised(theta) != on_mlp.normalised(p);
      // dQ/dt = 0 along −∇L entry by entry: W_1's rate cancels W_2's (b_2's is zero).
      const Seq::Params velocity = -objective.gradient(theta);
      Seq::Params outgoing_part = velocity;
      seq.weight<1>(outgoing_part).setZero();
      const auto rate = sf::directional_derivative(q_seq, theta, velocity);
      const auto rate_out = sf::directional_derivative(q_seq, theta, outgoing_part);
      worst_rate = std::max(worst_rate, rate.cwiseAbs().maxCoeff() / rate_out.cwiseAbs().maxCoeff());
      theta += 0.1 * velocity;
    }
    CHECK(on_seq.scale() == on_mlp.scale());
    CHECK(on_seq.drift(theta) != 0.0);  // gradient descent drifts (eq. 48 is conserved by the flow only)
    // As an observer of the driver, from the same θ₀.
    Seq::Params run_theta = theta0;
    sf::NormalisedDrift observer(q_seq);
    sf::run(sf::GradientDescent{0.1}, objective, run_theta, sf::Stopping{.max_steps = 40}, observer);
    CHECK(run_theta == theta);
    CHECK(observer.last() == on_mlp.drift(theta.head(mlp.size()).eval()));
  }
  CAPTURE(worst_rate);
  CHECK(differing == 0);
  CHECK(worst_rate <= 1e-12);
}

TEST_CASE("eq. (48) on a float Sequential with widths given at run time keeps the Mlp's double accumulation",
          "[drift][elementwise][sequential][scalar]") {
  // Both with every width Dynamic (fixed sizes sum the per-unit potentials in another order).
  using Mlp = sf::Mlp<float, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  using Seq = sf::Sequential<float, sf::Input<sf::Dynamic>, sf::Dense<sf::Dynamic>, sf::Tanh, sf::Dense<sf::Dynamic>>;
  const Mlp mlp({4, 8, 3});
  const Seq seq(sf::Shape{4}, sf::Dense<sf::Dynamic>{8}, sf::Tanh{}, sf::Dense<sf::Dynamic>{3});
  REQUIRE(seq.size() == mlp.size());
  const sf::ElementwiseQuantity<Mlp> q_mlp(mlp);
  const sf::ElementwiseQuantity<Seq> q_seq(seq);
  static_assert(std::is_same_v<decltype(q_seq.incoming(Seq::Params{})), double>);  // f₂ summed in double
  int differing = 0;
  for (int seed = 0; seed < 10; ++seed) {
    auto rng = rng_for(450 + seed);
    const Mlp::Params theta0 = sf::random_params(mlp, rng, 0.7);
    const Mlp::Params theta = theta0 + sf::random_params(mlp, rng, 0.01);
    const Seq::Params theta0_seq = theta0, theta_seq = theta;
    const sf::NormalisedDrift on_mlp(q_mlp, theta0);
    const sf::NormalisedDrift on_seq(q_seq, theta0_seq);
    differing += q_seq.value(theta_seq) != q_mlp.value(theta) || q_seq.potentials(theta_seq) != q_mlp.potentials(theta) ||
                 q_seq.outgoing(theta_seq) != q_mlp.outgoing(theta) || q_seq.incoming(theta_seq) != q_mlp.incoming(theta) ||
                 on_seq.drift(theta_seq) != on_mlp.drift(theta) || on_seq.signed_drift(theta_seq) != on_mlp.signed_drift(theta);
  }
  CHECK(differing == 0);
}
