// Teleporting to a chosen conserved quantity: the balanced point in closed form (matrix geometric
// mean), any symmetric Q of GL_h by Newton's method, per-unit scaling targets in closed form,
// products over layers; unreachable targets and bad input.
#include "support.hpp"

#include <Eigen/Eigenvalues>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

using Linear = sf::TwoLayer<double, sf::Identity, 6, 4, 5>;
using Leaky = sf::BiasedMlp<double, sf::LeakyReLU, 5, 6, 4, 3>;


/// A random batch (X, Y) of k samples for the model's input and output widths.
template <class Model>
auto random_objective(const Model& model, std::mt19937_64& rng, sf::Index k) {
  using S = typename Model::Scalar;
  using X = Eigen::Matrix<S, Model::input_width, sf::Dynamic>;
  using Y = Eigen::Matrix<S, Model::output_width, sf::Dynamic>;
  return sf::Objective(model, sf::HalfSquaredError{}, sf::random_normal<X>(model.input_size(), k, rng),
                       sf::random_normal<Y>(model.output_size(), k, rng));
}

/// The Gram matrices A = W₁W₁ᵀ, B = W₂ᵀW₂ of a two-layer linear network.
std::pair<Eigen::Matrix4d, Eigen::Matrix4d> grams(const Linear& net, const Linear::Params& p) {
  const auto w = net.weight<1>(p);
  const auto u = net.weight<2>(p);
  return {w * w.transpose(), u.transpose() * u};
}

}  // namespace

TEST_CASE("Balancing GL_h is the matrix geometric mean, in closed form", "[teleport][balance]") {
  const Linear net;
  const auto action = sf::symmetry<1>(net);
  double worst_g = 0, worst_q = 0, worst_loss = 0, worst_output = 0;
  for (int trial = 0; trial < 100; ++trial) {
    auto rng = rng_for(trial);
    const Linear::Params theta = sf::random_params(net, rng, 1.0);
    const auto objective = random_objective(net, rng, 7);
    const auto r = sf::balance(objective, action, theta);
    REQUIRE(r.reached());
    // The formula, through eigendecompositions: g² = gᵀg = A^{−1/2}(A^{1/2}BA^{1/2})^{1/2}A^{−1/2}.
    const auto [a, b] = grams(net, theta);
    const Eigen::SelfAdjointEigenSolver<Eigen::Matrix4d> ea(a);
    const Eigen::Matrix4d c = ea.operatorSqrt() * b * ea.operatorSqrt();
    const Eigen::Matrix4d p = ea.operatorInverseSqrt() * Eigen::SelfAdjointEigenSolver<Eigen::Matrix4d>(c).operatorSqrt() *
                              ea.operatorInverseSqrt();
    const Eigen::Matrix4d g = Eigen::SelfAdjointEigenSolver<Eigen::Matrix4d>(p).operatorSqrt();
    worst_g = std::max(worst_g, st::relative_error(r.g, g));
    CHECK(st::relative_error(r.g, r.g.transpose()) == 0.0);
    // Q = W₁W₁ᵀ − W₂ᵀW₂ = 0 at the new point, relative to the size of its two terms.
    const auto [a1, b1] = grams(net, r.theta);
    worst_q = std::max(worst_q, (a1 - b1).norm() / (a1.norm() + b1.norm()));
    worst_loss = std::max(worst_loss, r.report.relative_loss_change());
    worst_output = std::max(worst_output, st::relative_error(net.forward(r.theta, objective.inputs()),
                                                              net.forward(theta, objective.inputs())));
    // The balanced point has the least norm on the orbit (Kempf–Ness): moving away along
    // symmetric directions only increases ‖θ‖².
    const Eigen::Matrix4d s = sf::random_normal<Eigen::Matrix4d>(4, 4, rng, 0.1);
    const Eigen::Matrix4d sym = s + s.transpose();
    CHECK(action.act(action.exp(sym), r.theta).squaredNorm() > r.theta.squaredNorm());
  }
  INFO("worst |g − formula| " << worst_g << ", |Q|/scale " << worst_q << ", loss " << worst_loss << ", output " << worst_output);
  CHECK(worst_g <= 1e-11);
  CHECK(worst_q <= 1e-12);
  CHECK(worst_loss <= 1e-12);
  CHECK(worst_output <= 1e-12);
}

TEST_CASE("A chosen symmetric Q of GL_h by Newton's method, converging quadratically", "[teleport][newton]") {
  const Linear net;
  const auto action = sf::symmetry<1>(net);
  int quadratic_steps = 0;
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const Linear::Params theta = sf::random_params(net, rng, 1.0);
    // Reachable by construction (the quantity at another point of the orbit), and an arbitrary one.
    // Targets of the size of the Gram matrices, so that g stays well conditioned.
    const Eigen::Matrix4d s = sf::random_normal<Eigen::Matrix4d>(4, 4, rng, 0.1);
    const Eigen::Matrix4d elsewhere = sf::orbit_quantity(action, action.act(action.exp(s + s.transpose()), theta));
    const Eigen::Matrix4d n = sf::random_normal<Eigen::Matrix4d>(4, 4, rng);
    const auto [a0, b0] = grams(net, theta);
    const Eigen::Matrix4d arbitrary = (0.25 * (a0.norm() + b0.norm()) / (n + n.transpose()).norm()) * (n + n.transpose());
    for (const Eigen::Matrix4d& target : {elsewhere, arbitrary}) {
      const auto r = sf::teleport_to_quantity(action, theta, target);
      INFO("trial " << trial << ": " << r.report.reason);
      REQUIRE(r.reached());
      const Eigen::Matrix4d q = sf::orbit_quantity(action, r.theta);
      const auto [a, b] = grams(net, r.theta);
      CHECK((q - target).norm() <= 1e-12 * (a.norm() + b.norm() + target.norm()));
      CHECK(st::relative_error(net.forward(r.theta, Eigen::Matrix<double, 6, 3>::Identity()),
                               net.forward(theta, Eigen::Matrix<double, 6, 3>::Identity())) <= 1e-12);
      // Quadratic convergence: once the residual is small, the next is of the order of its square.
      const auto& h = r.report.history;
      for (std::size_t k = 0; k + 1 < h.size(); ++k) {
        if (h[k] < 1e-2 && h[k + 1] > 1e-14) {
          CHECK(h[k + 1] <= 10 * h[k] * h[k]);
          ++quadratic_steps;
        }
      }
    }
  }
  CHECK(quadratic_steps >= 20);
}

TEST_CASE("Per-unit scaling targets are reached exactly, for degree 1 and degree 2", "[teleport][scaling]") {
  const Leaky net;
  const auto action = sf::symmetry<1>(net);
  using Homogeneous2 = sf::TwoLayer<double, sf::Homogeneous, 3, 5, 2>;
  const Homogeneous2 square(sf::Homogeneous{2.0});
  const auto square_action = sf::symmetry<1>(square);
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const Leaky::Params theta = sf::random_params(net, rng, 1.0);
    const Eigen::Matrix<double, 6, 1> target = sf::random_normal<Eigen::Matrix<double, 6, 1>>(6, 1, rng, 2.0);
    const auto objective = random_objective(net, rng, 9);
    const auto r = sf::teleport_to_quantity(objective, action, theta, target);
    REQUIRE(r.reached());
    CHECK(r.report.iterations == 1);
    CHECK(st::relative_error(sf::orbit_quantity(action, r.theta), target) <= 1e-14);
    CHECK(r.report.relative_loss_change() <= 1e-12);
    CHECK(st::relative_error(net.forward(r.theta, objective.inputs()), net.forward(theta, objective.inputs())) <= 1e-12);
    CHECK(st::relative_error(r.theta, action.act(r.g, theta)) == 0.0);

    const Homogeneous2::Params p2 = sf::random_params(square, rng, 1.0);
    const Eigen::Matrix<double, 5, 1> t2 = sf::random_normal<Eigen::Matrix<double, 5, 1>>(5, 1, rng);
    const auto r2 = sf::teleport_to_quantity(square_action, p2, t2);
    REQUIRE(r2.reached());
    CHECK(st::relative_error(sf::orbit_quantity(square_action, r2.theta), t2) <= 1e-13);
    CHECK(st::relative_error(square.forward(r2.theta, Eigen::Matrix3d::Identity()), square.forward(p2, Eigen::Matrix3d::Identity())) <= 1e-12);
  }
}

TEST_CASE("Balancing every hidden layer of a product at once", "[teleport][product]") {
  const Leaky net;
  const auto action = sf::product_symmetry(net);
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Leaky::Params theta = sf::random_params(net, rng, 1.0);
    const auto objective = random_objective(net, rng, 9);
    const auto r = sf::balance(objective, action, theta);
    INFO(r.report.reason);
    REQUIRE(r.reached());
    const auto [q1, q2] = sf::orbit_quantity(action, r.theta);
    const double scale = r.theta.squaredNorm();
    CHECK(q1.cwiseAbs().maxCoeff() <= 1e-12 * scale);
    CHECK(q2.cwiseAbs().maxCoeff() <= 1e-12 * scale);
    CHECK(r.report.relative_loss_change() <= 1e-12);
    CHECK(st::relative_error(r.theta, action.act(r.g, theta)) <= 1e-13);
    // Balanced = least norm on the orbit.
    CHECK(r.theta.squaredNorm() <= theta.squaredNorm());
  }
}

TEST_CASE("Unreachable targets and bad input leave θ untouched and say why", "[teleport][errors]") {
  auto rng = rng_for(0);
  const Leaky net;
  const auto action = sf::symmetry<1>(net);
  Leaky::Params theta = sf::random_params(net, rng, 1.0);
  // Unit 2 receives nothing: its Q is −‖w_out‖² c⁻² < 0 on the whole orbit.
  net.weight<1>(theta).row(2).setZero();
  net.bias<1>(theta)[2] = 0;
  Eigen::Matrix<double, 6, 1> target = Eigen::Matrix<double, 6, 1>::Zero();
  auto r = sf::teleport_to_quantity(action, theta, target);
  CHECK(r.report.status == sf::TeleportStatus::unreachable);
  CHECK_THAT(r.report.reason, Catch::Contains("Q_2") && Catch::Contains("negative"));
  CHECK(r.theta == theta);
  CHECK(r.g == action.identity());
  target[2] = -1.5;  // negative values are reachable for it
  CHECK(sf::teleport_to_quantity(action, theta, target).reached());

  // A hidden layer wider than its input: W₁W₁ᵀ has rank 2, W₂ᵀW₂ rank 4, and congruence keeps both,
  // so Q = 0 is out of reach; the solver refuses, naming the ranks.
  using Wide = sf::TwoLayer<double, sf::Identity, 2, 4, 5>;
  const Wide wide;
  const auto wide_gl = sf::symmetry<1>(wide);
  const Wide::Params pw = sf::random_params(wide, rng, 1.0);
  const auto rw = sf::balance(wide_gl, pw);
  CHECK(rw.report.status == sf::TeleportStatus::unreachable);
  CHECK_THAT(rw.report.reason, Catch::Contains("ranks 2 and 4"));
  CHECK(rw.theta == pw);
  // Targets that are reachable by construction, Q(g·θ) for g near the identity, are reached by Newton
  // though A and B are singular: it needs only A + B ≻ 0.
  for (int trial = 0; trial < 20; ++trial) {
    auto r2 = rng_for(100 + trial);
    const Wide::Params p2 = sf::random_params(wide, r2, 1.0);
    const Eigen::Matrix4d g = Eigen::Matrix4d::Identity() + 0.2 * sf::random_normal<Eigen::Matrix4d>(4, 4, r2);
    const Eigen::Matrix4d target_q = sf::orbit_quantity(wide_gl, wide_gl.act(g, p2));
    const auto reached = sf::teleport_to_quantity(wide_gl, p2, target_q);
    INFO("trial " << trial << ": " << reached.report.reason);
    CHECK(reached.reached());
    CHECK((sf::orbit_quantity(wide_gl, reached.theta) - target_q).norm() <= 1e-12 * (1 + target_q.norm()));
  }
  // A hidden unit that receives and sends nothing: Q is zero on it along the whole orbit.
  Linear::Params dead = sf::random_params(Linear{}, rng, 1.0);
  Linear{}.weight<1>(dead).row(2).setZero();
  Linear{}.weight<2>(dead).col(2).setZero();
  const auto rd = sf::teleport_to_quantity(sf::symmetry<1>(Linear{}), dead, Eigen::Matrix4d::Identity().eval());
  CHECK(rd.report.status == sf::TeleportStatus::unreachable);
  CHECK_THAT(rd.report.reason, Catch::Contains("receives and sends nothing") && Catch::Contains("rank 3 of h = 4"));

  // Non-finite θ, a non-symmetric target.
  const Linear lin;
  const auto gl = sf::symmetry<1>(lin);
  Linear::Params bad = sf::random_params(lin, rng, 1.0);
  const Linear::Params good = bad;
  bad[3] = std::numeric_limits<double>::quiet_NaN();
  const auto rb = sf::balance(gl, bad);
  CHECK(rb.report.status == sf::TeleportStatus::invalid_input);
  CHECK(std::isnan(rb.theta[3]));
  Eigen::Matrix4d skewed = Eigen::Matrix4d::Identity();
  skewed(0, 1) = 1;
  const auto rs = sf::teleport_to_quantity(gl, good, skewed);
  CHECK(rs.report.status == sf::TeleportStatus::invalid_input);
  CHECK_THAT(rs.report.reason, Catch::Contains("not symmetric"));

}

