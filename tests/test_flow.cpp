// Specification of the discrete integrators and the driver: gradient descent follows its closed
// form, mini-batch SGD is reproducible and reduces to gradient descent on the full batch, Adam
// follows PyTorch's update, runs stop where and why the status says, and Trace writes what it saw.
#include "flow_support.hpp"

#include <Eigen/Dense>

#include <cmath>
#include <complex>
#include <limits>
#include <set>
#include <sstream>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::Index;
using sf::test::Quadratic;
using sf::test::random_quadratic;

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_value = std::numeric_limits<double>::infinity();

/// ½‖θ‖² whose loss, gradient entry `index` or step are poisoned once θ_0 < threshold.
struct Poisoned {
  using Scalar = double;
  using Params = Eigen::Matrix<double, 4, 1>;
  enum class What { loss, gradient, huge_gradient } what;
  double threshold;
  Index index;
  Scalar value_and_gradient(const Params& p, Params& g) const {
    g = p;
    double loss = 0.5 * p.squaredNorm();
    if (p[0] < threshold) {
      if (what == What::loss) loss = nan_value;
      if (what == What::gradient) g[index] = -inf_value;
      if (what == What::huge_gradient) g[index] = -1e300;
    }
    return loss;
  }
};

using TanhNet = sf::TwoLayer<double, sf::Tanh, 3, 6, 2>;

struct NetProblem {
  Eigen::Matrix<double, 3, Eigen::Dynamic> x;
  Eigen::Matrix<double, 2, Eigen::Dynamic> y;
  TanhNet::Params theta;
};

NetProblem net_problem(std::mt19937_64& rng, Index samples) {
  const TanhNet net;
  NetProblem p{sf::test::normal<Eigen::MatrixXd>(rng, 3, samples), sf::test::normal<Eigen::MatrixXd>(rng, 2, samples),
               sf::random_params(net, rng, 0.8)};
  return p;
}

}  // namespace

TEST_CASE("gradient descent on a quadratic follows θ_t − θ* = (I − ηA)^t (θ_0 − θ*)", "[flow][gd]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    Eigen::Matrix<double, 6, 6> q;
    Eigen::Matrix<double, 6, 1> lambda;
    const auto quad = random_quadratic<6>(rng, 0.5, 3.0, &q, &lambda);
    const double eta = 0.2;  // 1 − ηλ ∈ [0.4, 0.9]
    const Eigen::Matrix<double, 6, 1> theta0 = sf::test::normal<Eigen::Matrix<double, 6, 1>>(rng);
    const auto star = quad.minimiser();
    Eigen::Matrix<double, 6, 1> theta = theta0;
    int seen = 0;
    const auto status = sf::run(sf::GradientDescent{eta}, quad, theta, sf::Stopping{.max_steps = 40},
                                [&](const sf::Snapshot<Eigen::Matrix<double, 6, 1>>& s) {
                                  // In the eigenbasis each mode contracts by (1 − ηλ_i) per step.
                                  const Eigen::Matrix<double, 6, 1> modes =
                                      (1.0 - eta * lambda.array()).pow(static_cast<double>(s.step)).matrix();
                                  const Eigen::Matrix<double, 6, 1> expected =
                                      star + q * modes.asDiagonal() * q.transpose() * (theta0 - star);
                                  CHECK(st::relative_error(s.theta, expected, 1.0) <= 1e-13);
                                  CHECK(s.time == Approx(eta * static_cast<double>(s.step)).epsilon(1e-15));
                                  ++seen;
                                });
    CHECK(status.reason == sf::StopReason::step_budget);
    CHECK(status.step == 40);
    CHECK(seen == 41);  // θ_0, …, θ_40
    CHECK(status.evaluations == 41);
  }
}

TEST_CASE("one gradient-descent step on a network is θ − η∇L(θ), by gd_step, step and run alike", "[flow][gd]") {
  const TanhNet net;
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    const auto p = net_problem(rng, 7);
    const sf::Objective objective(net, sf::MeanSquaredError{}, p.x, p.y);
    const TanhNet::Params expected = p.theta - 0.05 * objective.gradient(p.theta);
    TanhNet::Params a = p.theta, b = p.theta, c = p.theta;
    const double loss = sf::gd_step(objective, a, 0.05);
    CHECK(loss == objective.value(p.theta));
    CHECK(a == expected);
    const sf::GradientDescent gd{0.05};
    auto state = gd.start(objective, b);
    CHECK(sf::step(gd, state, objective, b) == loss);
    CHECK(b == expected);
    CHECK(state.steps == 1);
    sf::run(gd, objective, c, sf::Stopping{.max_steps = 1});
    CHECK(c == expected);
  }
}

TEST_CASE("the batch sampler draws epochs without replacement, reproducibly from its generator", "[flow][sgd]") {
  auto rng = rng_for(0);
  const Index n = 23, b = 5;  // 4 batches per epoch, 3 samples left out of each epoch
  sf::BatchSampler<> sampler(n, b, std::mt19937_64(rng()));
  CHECK(sampler.batches_per_epoch() == 4);
  for (int epoch = 1; epoch <= 6; ++epoch) {
    std::set<Index> seen;
    for (int k = 0; k < 4; ++k) {
      if (epoch > 1 || k > 0) sampler.next();
      CHECK(sampler.epoch() == epoch);
      const auto& idx = sampler.indices();
      CHECK(static_cast<Index>(idx.size()) == b);
      CHECK(std::is_sorted(idx.begin(), idx.end()));
      for (Index i : idx) {
        CHECK((i >= 0 && i < n));
        CHECK(seen.insert(i).second);  // no sample twice in an epoch
      }
    }
    CHECK(static_cast<Index>(seen.size()) == 20);
  }
  // The same seed gives the same batches; another seed does not.
  sf::BatchSampler<> s1(n, b, std::mt19937_64(7)), s2(n, b, std::mt19937_64(7)), s3(n, b, std::mt19937_64(8));
  bool differs = false;
  for (int k = 0; k < 20; ++k) {
    CHECK(s1.indices() == s2.indices());
    differs = differs || s1.indices() != s3.indices();
    s1.next();
    s2.next();
    s3.next();
  }
  CHECK(differs);
  // B = N: every batch is 0, …, N−1.
  sf::BatchSampler<> full(n, n, std::mt19937_64(1));
  for (int k = 0; k < 3; ++k, full.next()) {
    CHECK(full.full_batch());
    for (Index i = 0; i < n; ++i) CHECK(full.indices()[static_cast<std::size_t>(i)] == i);
  }
  CHECK_THROWS_WITH(sf::BatchSampler<>(n, n + 1, std::mt19937_64(1)), Catch::Contains("batch size 24"));
}

TEST_CASE("with replacement, batch indices are uniform over the data set", "[flow][sgd]") {
  const Index n = 10, b = 8, batches = 5000;
  sf::BatchSampler<> sampler(n, b, std::mt19937_64(Catch::rngSeed()), sf::Sampling::with_replacement);
  std::vector<double> counts(n, 0.0);
  for (Index k = 0; k < batches; ++k, sampler.next()) {
    CHECK(std::is_sorted(sampler.indices().begin(), sampler.indices().end()));
    for (Index i : sampler.indices()) counts[static_cast<std::size_t>(i)] += 1;
  }
  // Each count is Binomial(40000, 1/10): mean 4000, standard deviation 60; allow 6 standard deviations.
  for (double c : counts) CHECK(std::abs(c - 4000.0) <= 360.0);
}

TEST_CASE("a mini-batch objective is the objective on the gathered batch, and over an epoch averages to the full gradient",
          "[flow][sgd]") {
  const TanhNet net;
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    const auto p = net_problem(rng, 24);
    sf::MiniBatchObjective batches(net, sf::MeanSquaredError{}, p.x, p.y, 6, std::mt19937_64(trial));
    const sf::Objective full(net, sf::MeanSquaredError{}, Eigen::MatrixXd(p.x), Eigen::MatrixXd(p.y));
    TanhNet::Params mean = TanhNet::Params::Zero();
    for (int k = 0; k < 4; ++k) {
      Eigen::MatrixXd xb(3, 6), yb(2, 6);
      for (Index j = 0; j < 6; ++j) {
        xb.col(j) = p.x.col(batches.batch_indices()[static_cast<std::size_t>(j)]);
        yb.col(j) = p.y.col(batches.batch_indices()[static_cast<std::size_t>(j)]);
      }
      const sf::Objective on_batch(net, sf::MeanSquaredError{}, xb, yb);
      TanhNet::Params g1, g2;
      CHECK(batches.value_and_gradient(p.theta, g1) == on_batch.value_and_gradient(p.theta, g2));
      CHECK(g1 == g2);
      mean += g1 / 4.0;
      batches.next_batch();
    }
    // The four batches of an epoch partition the 24 samples, and MSE is a mean over samples.
    CHECK(st::relative_error(mean, full.gradient(p.theta)) <= 1e-14);
    CHECK(batches.dataset_value(p.theta) == Approx(full.value(p.theta)).epsilon(1e-15));
  }
}

TEST_CASE("mini-batch SGD is reproducible from its seed", "[flow][sgd]") {
  const TanhNet net;
  auto rng = rng_for(0);
  const auto p = net_problem(rng, 40);
  auto trajectory = [&](std::uint64_t seed, sf::Sampling sampling) {
    sf::MiniBatchObjective<TanhNet, sf::MeanSquaredError, 8> batches(net, {}, p.x, p.y, 8, std::mt19937_64(seed),
                                                                       sampling);
    TanhNet::Params theta = p.theta;
    sf::run(sf::GradientDescent{0.1}, batches, theta, sf::Stopping{.max_steps = 30});
    return theta;
  };
  for (auto sampling : {sf::Sampling::without_replacement, sf::Sampling::with_replacement}) {
    const TanhNet::Params a = trajectory(11, sampling), b = trajectory(11, sampling), c = trajectory(12, sampling);
    CHECK(a == b);
    CHECK(a != c);
  }
  // sgd_step by hand visits the same batches as run().
  sf::MiniBatchObjective<TanhNet, sf::MeanSquaredError, 8> batches(net, {}, p.x, p.y, 8, std::mt19937_64(11));
  TanhNet::Params theta = p.theta;
  for (int k = 0; k < 30; ++k) sf::sgd_step(batches, theta, 0.1);
  CHECK(theta == trajectory(11, sf::Sampling::without_replacement));
}

TEST_CASE("SGD with the whole data set as its batch is gradient descent, to the last bit", "[flow][sgd]") {
  const TanhNet net;
  for (int trial = 0; trial < 3; ++trial) {
    auto rng = rng_for(trial);
    const auto p = net_problem(rng, 12);
    // Dynamic batch against an objective with a dynamic number of samples.
    sf::MiniBatchObjective batches(net, sf::MeanSquaredError{}, p.x, p.y, 12, std::mt19937_64(trial));
    const sf::Objective full(net, sf::MeanSquaredError{}, Eigen::MatrixXd(p.x), Eigen::MatrixXd(p.y));
    TanhNet::Params a = p.theta, b = p.theta;
    sf::Trace<TanhNet::Params> ta, tb;
    ta.add_loss();
    tb.add_loss();
    sf::run(sf::GradientDescent{0.3}, batches, a, sf::Stopping{.max_steps = 50}, ta);
    sf::run(sf::GradientDescent{0.3}, full, b, sf::Stopping{.max_steps = 50}, tb);
    CHECK(a == b);
    CHECK(ta.column("loss") == tb.column("loss"));
    // A compile-time batch against an objective with a compile-time number of samples.
    sf::MiniBatchObjective<TanhNet, sf::MeanSquaredError, 12> fixed_batches(net, {}, p.x, p.y, 12, std::mt19937_64(1));
    const sf::Objective fixed_full(net, sf::MeanSquaredError{}, Eigen::Matrix<double, 3, 12>(p.x),
                                   Eigen::Matrix<double, 2, 12>(p.y));
    TanhNet::Params c = p.theta, d = p.theta;
    sf::run(sf::Adam{.learning_rate = 0.01}, fixed_batches, c, sf::Stopping{.max_steps = 50});
    sf::run(sf::Adam{.learning_rate = 0.01}, fixed_full, d, sf::Stopping{.max_steps = 50});
    CHECK(c == d);
  }
}

TEST_CASE("Adam follows PyTorch's update: hand-computed steps", "[flow][adam]") {
  // Defaults are PyTorch's.
  const sf::Adam defaults;
  CHECK(defaults.learning_rate == 1e-3);
  CHECK(defaults.beta1 == 0.9);
  CHECK(defaults.beta2 == 0.999);
  CHECK(defaults.epsilon == 1e-8);
  CHECK(defaults.weight_decay == 0.0);

  // L(θ) = ½(2 θ_0² + ½ θ_1²): ∇L = (2θ_0, ½θ_1).
  using P = Eigen::Matrix<double, 2, 1>;
  const Quadratic<2> quad{Eigen::Vector2d(2.0, 0.5).asDiagonal(), P::Zero()};
  const double lr = 0.1, eps = 1e-8;
  P theta(1.0, -2.0);

  // Step 1: m̂_1 = g, v̂_1 = g², so each entry moves by lr · g/(|g| + ε).
  // g = (2, −1): θ_1 = (1 − 0.1·2/(2 + 1e-8), −2 + 0.1·1/(1 + 1e-8)).
  const sf::Adam adam{.learning_rate = lr};
  auto state = adam.start(quad, theta);
  sf::step(adam, state, quad, theta);
  CHECK(theta[0] == Approx(1.0 - 0.1 * 2.0 / (2.0 + eps)).epsilon(1e-15));
  CHECK(theta[1] == Approx(-2.0 + 0.1 * 1.0 / (1.0 + eps)).epsilon(1e-15));
  CHECK(theta[0] == Approx(0.9000000005).epsilon(1e-15));

  // Steps 2 and 3 by the textbook form with explicit bias-corrected moments.
  long double m[2] = {0.1L * 2.0L, 0.1L * -1.0L}, v[2] = {0.001L * 4.0L, 0.001L * 1.0L};
  long double th[2] = {1.0L - 0.1L * 2.0L / (2.0L + 1e-8L), -2.0L + 0.1L * 1.0L / (1.0L + 1e-8L)};
  const long double curvature[2] = {2.0L, 0.5L};
  for (int t = 2; t <= 3; ++t) {
    for (int i = 0; i < 2; ++i) {
      const long double g = curvature[i] * th[i];
      m[i] = 0.9L * m[i] + 0.1L * g;
      v[i] = 0.999L * v[i] + 0.001L * g * g;
      const long double m_hat = m[i] / (1.0L - std::pow(0.9L, t));
      const long double v_hat = v[i] / (1.0L - std::pow(0.999L, t));
      th[i] -= 0.1L * m_hat / (std::sqrt(v_hat) + 1e-8L);
    }
    sf::step(adam, state, quad, theta);
    INFO("step " << t);
    CHECK(theta[0] == Approx(static_cast<double>(th[0])).epsilon(1e-14));
    CHECK(theta[1] == Approx(static_cast<double>(th[1])).epsilon(1e-14));
    CHECK(state.m[0] == Approx(static_cast<double>(m[0])).epsilon(1e-14));
    CHECK(state.v[1] == Approx(static_cast<double>(v[1])).epsilon(1e-14));
  }
  CHECK(state.steps == 3);
}

TEST_CASE("Adam's weight decay is the gradient of ½λ‖θ‖² added to the loss", "[flow][adam]") {
  using P = Eigen::Matrix<double, 3, 1>;
  auto rng = rng_for(0);
  const auto quad = random_quadratic<3>(rng, 0.5, 2.0);
  const double lambda = 0.3;
  Quadratic<3> penalised = quad;
  penalised.a += lambda * Eigen::Matrix3d::Identity();
  P a = sf::test::normal<P>(rng), b = a;
  sf::run(sf::Adam{.learning_rate = 0.05, .weight_decay = lambda}, quad, a, sf::Stopping{.max_steps = 100});
  sf::run(sf::Adam{.learning_rate = 0.05}, penalised, b, sf::Stopping{.max_steps = 100});
  CHECK(st::relative_error(a, b) <= 1e-13);
}

TEST_CASE("Adam's moments carry over when a run is continued with the same state", "[flow][adam][run]") {
  using P = Eigen::Matrix<double, 4, 1>;
  auto rng = rng_for(0);
  const auto quad = random_quadratic<4>(rng, 0.5, 2.0);
  const P theta0 = sf::test::normal<P>(rng);
  const sf::Adam adam{.learning_rate = 0.05};
  P a = theta0, b = theta0;
  sf::run(adam, quad, a, sf::Stopping{.max_steps = 20});
  auto state = adam.start(quad, b);
  sf::run(adam, state, quad, b, sf::Stopping{.max_steps = 12});
  const auto status = sf::run(adam, state, quad, b, sf::Stopping{.max_steps = 8});
  CHECK(a == b);
  CHECK(status.step == 20);
  CHECK(status.time == Approx(20 * 0.05).epsilon(1e-15));
}

TEST_CASE("divergence stops the run at the first non-finite loss, gradient or parameter, saying where", "[flow][run]") {
  using P = Poisoned::Params;
  const P theta0(1.0, 0.5, -0.5, 2.0);
  // θ_0 = 0.9^t: first below 0.5 at t = 7 (0.9^7 ≈ 0.478).
  auto run_poisoned = [&](Poisoned::What what, double lr, Index* observed) {
    P theta = theta0;
    *observed = 0;
    const auto status = sf::run(sf::GradientDescent{lr}, Poisoned{what, 0.5, 2}, theta, sf::Stopping{.max_steps = 100},
                                [&](const sf::Snapshot<P>& s) {
                                  CHECK(std::isfinite(s.loss));
                                  CHECK(s.gradient.allFinite());
                                  ++*observed;
                                });
    return std::make_pair(status, theta);
  };
  Index observed = 0;
  {
    const auto [status, theta] = run_poisoned(Poisoned::What::loss, 0.1, &observed);
    CHECK(status.reason == sf::StopReason::non_finite_loss);
    CHECK(status.diverged());
    CHECK(status.step == 7);
    CHECK(std::isnan(status.value));
    CHECK(status.time == Approx(0.7));
    CHECK(observed == 7);             // θ_0, …, θ_6; never the NaN point
    CHECK(status.evaluations == 8);   // no evaluation after the NaN
    CHECK(theta[0] == Approx(std::pow(0.9, 7)));
    CHECK_THAT(status.message(), Catch::Contains("diverged at step 7") && Catch::Contains("loss is nan"));
  }
  {
    const auto [status, theta] = run_poisoned(Poisoned::What::gradient, 0.1, &observed);
    CHECK(status.reason == sf::StopReason::non_finite_gradient);
    CHECK(status.step == 7);
    CHECK(status.index == 2);
    CHECK(status.value == -inf_value);
    CHECK(observed == 7);
    CHECK_THAT(status.message(), Catch::Contains("gradient entry 2 is -inf"));
  }
  {
    // A finite but huge gradient entry throws θ_2 to +∞ one step later. With η = 1e10 the first step
    // already takes θ_0 to 1 − 1e10 < 0.5, so ∇L_2 = −1e300 at step 1 and θ_2 = +∞ at step 2.
    P theta = theta0;
    const auto status = sf::run(sf::GradientDescent{1e10}, Poisoned{Poisoned::What::huge_gradient, 0.5, 2}, theta,
                                sf::Stopping{.max_steps = 100, .blow_up_factor = 0});
    CHECK(status.reason == sf::StopReason::non_finite_parameter);
    CHECK(status.step == 2);
    CHECK(status.index == 2);
    CHECK(status.value == inf_value);
    CHECK_THAT(status.message(), Catch::Contains("parameter entry 2 is inf"));
  }
  {
    // A non-finite starting point stops before any step.
    P theta = theta0;
    theta[3] = nan_value;
    const auto status = sf::run(sf::GradientDescent{0.1}, Poisoned{Poisoned::What::loss, -1.0, 0}, theta, sf::Stopping{});
    CHECK(status.reason == sf::StopReason::non_finite_parameter);
    CHECK(status.step == 0);
    CHECK(status.index == 3);
  }
}

TEST_CASE("a loss blow-up stops the run once the loss exceeds factor · |L(θ_0)|", "[flow][run]") {
  // Gradient descent on ½·3θ² with η = 1: θ ← −2θ, so L grows by 4 per step; L_0 = 1.5.
  using P = Eigen::Matrix<double, 1, 1>;
  const Quadratic<1> quad{P(3.0), P(0.0)};
  P theta(1.0);
  std::vector<double> losses;
  const auto status = sf::run(sf::GradientDescent{1.0}, quad, theta, sf::Stopping{.blow_up_factor = 1000},
                              [&](const sf::Snapshot<P>& s) { losses.push_back(s.loss); });
  // 4^t > 1000 first at t = 5.
  CHECK(status.reason == sf::StopReason::loss_blow_up);
  CHECK(status.step == 5);
  CHECK(status.value == 1.5 * 1024);
  CHECK(status.threshold == 1500.0);
  CHECK(losses.size() == 5);
  CHECK(losses.back() == 1.5 * 256);
  CHECK_THAT(status.message(), Catch::Contains("exceeds the blow-up threshold 1500"));
  // Switched off, the same run goes on until the loss overflows.
  theta = P(1.0);
  const auto off = sf::run(sf::GradientDescent{1.0}, quad, theta, sf::Stopping{.max_steps = 10000, .blow_up_factor = 0});
  CHECK(off.reason == sf::StopReason::non_finite_loss);
  CHECK(off.value == inf_value);
}

TEST_CASE("budgets and tolerances end a run at the first point that meets them", "[flow][run]") {
  using P = Eigen::Matrix<double, 1, 1>;
  const Quadratic<1> quad{P(1.0), P(0.0)};  // L = ½θ², GD: θ_t = (1 − η)^t θ_0
  auto go = [&](const sf::Stopping& stop, double eta = 0.5) {
    P theta(1.0);
    return sf::run(sf::GradientDescent{eta}, quad, theta, stop);
  };
  const auto steps = go(sf::Stopping{.max_steps = 3});
  CHECK(steps.reason == sf::StopReason::step_budget);
  CHECK(steps.step == 3);
  CHECK(steps.loss == 0.5 * std::pow(0.5, 6));
  CHECK_FALSE(steps.converged());
  CHECK_FALSE(steps.diverged());
  // Time is the sum of learning rates; 10 steps of 0.1 reach t = 1.
  const auto time = go(sf::Stopping{.max_time = 1.0}, 0.1);
  CHECK(time.reason == sf::StopReason::time_budget);
  CHECK(time.step == 10);
  // L_t = ½·0.25^t ≤ 1e-6 first at t = 10 (½·0.25^10 ≈ 4.8e-7).
  const auto loss = go(sf::Stopping{.loss_tolerance = 1e-6});
  CHECK(loss.reason == sf::StopReason::loss_tolerance);
  CHECK(loss.converged());
  CHECK(loss.step == 10);
  // |∇L| = 0.5^t ≤ 1e-3 first at t = 10.
  const auto grad = go(sf::Stopping{.gradient_tolerance = 1e-3});
  CHECK(grad.reason == sf::StopReason::gradient_tolerance);
  CHECK(grad.step == 10);
  const auto wall = go(sf::Stopping{.max_seconds = 0.0});
  CHECK(wall.reason == sf::StopReason::wall_clock_budget);
  CHECK(wall.step == 0);
  // An observer can stop the run.
  P theta(1.0);
  const auto asked = sf::run(sf::GradientDescent{0.5}, quad, theta, sf::Stopping{},
                             [](Index step, double, const P&, double, const P&) {
                               return step == 4 ? sf::Signal::stop : sf::Signal::proceed;
                             });
  CHECK(asked.reason == sf::StopReason::observer);
  CHECK(asked.step == 4);
}

TEST_CASE("Trace records named columns every N steps and the last point, and writes them as CSV", "[flow][trace]") {
  using P = Eigen::Matrix<double, 2, 1>;
  const Quadratic<2> quad{Eigen::Vector2d(1.0, 2.0).asDiagonal(), P::Zero()};
  sf::Trace<P> trace(3);
  trace.add_loss()
      .add("norm", [](const P& t) { return t.norm(); })
      .add("theta", [](const P& t) { return t; })
      .add("half_loss", [](const sf::Snapshot<P>& s) { return 0.5 * s.loss; });
  P theta(1.0, 1.0);
  sf::run(sf::GradientDescent{0.25}, quad, theta, sf::Stopping{.max_steps = 10}, trace);
  // θ_t = (0.75^t, 0.5^t).
  REQUIRE(trace.rows() == 5);
  CHECK(trace.steps() == std::vector<Index>{0, 3, 6, 9, 10});
  CHECK(trace.names() == std::vector<std::string>{"step", "time", "loss", "norm", "theta_0", "theta_1", "half_loss"});
  const auto t0 = trace.column("theta_0"), t1 = trace.column("theta_1"), loss = trace.column("loss");
  for (std::size_t r = 0; r < 5; ++r) {
    const double step = static_cast<double>(trace.steps()[r]);
    CHECK(t0[r] == Approx(std::pow(0.75, step)).epsilon(1e-15));
    CHECK(t1[r] == Approx(std::pow(0.5, step)).epsilon(1e-15));
    CHECK(loss[r] == Approx(0.5 * t0[r] * t0[r] + t1[r] * t1[r]).epsilon(1e-15));
    CHECK(trace.times()[r] == Approx(0.25 * step).epsilon(1e-15));
  }
  std::ostringstream csv;
  trace.write_csv(csv);
  std::istringstream in(csv.str());
  std::string line;
  std::getline(in, line);
  CHECK(line == "step,time,loss,norm,theta_0,theta_1,half_loss");
  const auto norm = trace.column("norm"), half = trace.column("half_loss");
  for (std::size_t r = 0; r < 5; ++r) {
    REQUIRE(std::getline(in, line));
    std::istringstream row(line);
    std::vector<double> cells;
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(std::stod(cell));
    REQUIRE(cells.size() == 7);
    // Every value round-trips exactly through the CSV text.
    CHECK(cells[0] == static_cast<double>(trace.steps()[r]));
    CHECK(cells[1] == trace.times()[r]);
    CHECK(cells[2] == loss[r]);
    CHECK(cells[3] == norm[r]);
    CHECK(cells[4] == t0[r]);
    CHECK(cells[5] == t1[r]);
    CHECK(cells[6] == half[r]);
  }
  CHECK_FALSE(std::getline(in, line));
  CHECK_THROWS_WITH(trace.column("nope"), Catch::Contains("no column named 'nope'"));
  CHECK_THROWS_WITH(trace.add("late", [](const P& t) { return t[0]; }), Catch::Contains("before the first record"));
  CHECK_THROWS_WITH(trace.write_csv(std::string("/nonexistent-dir/x.csv")), Catch::Contains("cannot open"));
}

TEST_CASE("the observer that also takes the state sees the integrator's memory", "[flow][run]") {
  using P = Eigen::Matrix<double, 2, 1>;
  const Quadratic<2> quad{Eigen::Vector2d(1.0, 2.0).asDiagonal(), P::Zero()};
  P theta(1.0, -1.0);
  Index last_t = -1;
  sf::run(sf::Adam{.learning_rate = 0.1}, quad, theta, sf::Stopping{.max_steps = 5},
          [&](const sf::Snapshot<P>& s, const sf::Adam::State<P>& state) {
            CHECK(state.steps == s.step);
            CHECK(&state.point.gradient == &s.gradient);
            last_t = state.steps;
          });
  CHECK(last_t == 5);
}

namespace {

/// a_t for a_{t+1} = p a_t − q a_{t−1} from a_0, a_1, in closed form by the roots of r² − p r + q.
double two_term_recurrence(long double p, long double q, long double a0, long double a1, int t) {
  using C = std::complex<long double>;
  const C root = std::sqrt(C(p * p - 4 * q));
  const C r1 = (p + root) / 2.0L, r2 = (p - root) / 2.0L;
  const C value = ((a1 - r2 * a0) * std::pow(r1, t) - (a1 - r1 * a0) * std::pow(r2, t)) / (r1 - r2);
  return static_cast<double>(value.real());
}

}  // namespace

TEST_CASE("heavy-ball momentum on a quadratic follows its closed-form recurrence", "[flow][momentum]") {
  // Per eigen-mode e = ⟨q_i, θ − θ*⟩ with curvature λ:
  //   heavy ball: e_{t+1} = (1 + μ − ηλ) e_t − μ e_{t−1},             e_1 = (1 − ηλ) e_0;
  //   Nesterov:   e_{t+1} = (1 + μ)(1 − ηλ) e_t − μ(1 − ηλ) e_{t−1},  e_1 = (1 − ηλ(1 + μ)) e_0.
  using V = Eigen::Matrix<double, 6, 1>;
  for (const bool nesterov : {false, true}) {
    for (const double mu : {0.3, 0.7}) {
      for (int trial = 0; trial < 5; ++trial) {
        auto rng = rng_for(trial);
        Eigen::Matrix<double, 6, 6> q;
        V lambda;
        const auto quad = random_quadratic<6>(rng, 0.5, 3.0, &q, &lambda);
        const double eta = 0.1;
        const V theta0 = sf::test::normal<V>(rng);
        const V star = quad.minimiser();
        const V e0 = q.transpose() * (theta0 - star);
        V theta = theta0;
        const sf::Momentum method{.learning_rate = eta, .momentum = mu, .nesterov = nesterov};
        sf::run(method, quad, theta, sf::Stopping{.max_steps = 60}, [&](const sf::Snapshot<V>& s) {
          V expected_modes;
          for (int i = 0; i < 6; ++i) {
            const long double l = lambda[i], m = mu, h = eta;
            const long double p = nesterov ? (1 + m) * (1 - h * l) : 1 + m - h * l;
            const long double qq = nesterov ? m * (1 - h * l) : m;
            const long double e1 = (nesterov ? 1 - h * l * (1 + m) : 1 - h * l) * e0[i];
            expected_modes[i] = two_term_recurrence(p, qq, e0[i], e1, static_cast<int>(s.step));
          }
          INFO("nesterov " << nesterov << ", mu " << mu << ", step " << s.step);
          CHECK(st::relative_error((q.transpose() * (s.theta - star)).eval(), expected_modes, 1.0) <= 1e-12);
          // Time per step is η/(1 − μ).
          CHECK(s.time == Approx(static_cast<double>(s.step) * eta / (1 - mu)).epsilon(1e-14));
        });
      }
    }
  }
}

TEST_CASE("heavy ball is PyTorch's v ← μv + g, θ ← θ − ηv and Polyak's θ_{t+1} = θ_t − η∇L + μ(θ_t − θ_{t−1})",
          "[flow][momentum]") {
  const TanhNet net;
  auto rng = rng_for(0);
  const auto p = net_problem(rng, 7);
  const sf::Objective objective(net, sf::HalfSquaredError{}, p.x, p.y);
  const double eta = 0.05, mu = 0.8;
  TanhNet::Params theta = p.theta, previous = p.theta, polyak = p.theta;
  const sf::Momentum method{.learning_rate = eta, .momentum = mu};
  auto state = method.start(objective, theta);
  for (int t = 0; t < 30; ++t) {
    const TanhNet::Params v_before = state.velocity;
    sf::step(method, state, objective, theta);
    CHECK(st::relative_error(state.velocity, (mu * v_before + objective.gradient(theta + eta * state.velocity)).eval()) <=
          1e-12);
    const TanhNet::Params next = polyak - eta * objective.gradient(polyak) + mu * (polyak - previous);
    previous = polyak;
    polyak = next;
    CHECK(st::relative_error(theta, polyak) <= 1e-12);
  }
}

TEST_CASE("heavy ball from the paper's second-order flow (τ/2)θ̈ + θ̇ = −∇L converges to it at first order in h",
          "[flow][momentum]") {
  // Eq. (31) with ε = 1 on ½λθ² for one mode, θ(0) = 1, θ̇(0) = 0: θ(t) = A e^{s₁t} + B e^{s₂t}
  // with (τ/2)s² + s + λ = 0, A + B = 1, s₁A + s₂B = 0.
  const double tau = 0.5, horizon = 4.0;
  using V = Eigen::Matrix<double, 4, 1>;
  const V lambda(0.4, 1.3, 2.0, 3.0);  // 2τλ = 0.4 (overdamped) … 3 (underdamped); 2τλ = 1 is critical
  const Quadratic<4> quad{lambda.asDiagonal(), V::Zero()};
  V exact;
  for (int i = 0; i < 4; ++i) {
    using C = std::complex<double>;
    const C root = std::sqrt(C(1.0 - 2.0 * tau * lambda[i]));
    const C s1 = (-1.0 + root) / tau, s2 = (-1.0 - root) / tau;
    const C a = -s2 / (s1 - s2), b = s1 / (s1 - s2);
    exact[i] = (a * std::exp(s1 * horizon) + b * std::exp(s2 * horizon)).real();
  }
  std::vector<double> errors;
  for (const int n : {400, 800, 1600, 3200}) {
    const double h = horizon / n;
    const auto method = sf::Momentum::from_second_order_flow(tau, h);
    CHECK(method.second_order_flow_tau() == Approx(tau).epsilon(1e-12));
    V theta = V::Ones();
    const auto status = sf::run(method, quad, theta, sf::Stopping{.max_steps = n});
    CHECK(status.time == Approx(horizon).epsilon(1e-12));  // each step covers time h
    errors.push_back((theta - exact).norm() / exact.norm());
  }
  for (std::size_t k = 1; k < errors.size(); ++k) {
    INFO("errors " << errors[k - 1] << " -> " << errors[k]);
    CHECK(errors[k - 1] / errors[k] == Approx(2.0).epsilon(0.05));
  }
  CHECK_THROWS_WITH(sf::Momentum::from_second_order_flow(0.1, 0.2), Catch::Contains("expected 0 < h <= tau"));
}

TEST_CASE("heavy ball multiplies the angular momentum ⟨Mθ_t, θ_{t−1}⟩ of a rotation symmetry by exactly μ per step",
          "[flow][momentum]") {
  // For L invariant under exp(sM), M antisymmetric (so ⟨Mθ, θ⟩ = 0 and ⟨M∇L(θ), θ⟩ = 0), Polyak's
  // θ_{t+1} = (1 + μ)θ_t − μθ_{t−1} − η∇L(θ_t) gives K_{t+1} = ⟨Mθ_{t+1}, θ_t⟩ = μ⟨Mθ_t, θ_{t−1}⟩.
  // Per unit time of (31) (μ = (τ − h)/(τ + h), h per step) that is μ^{1/h} → e^{−2/τ}: the Noether
  // current of the second-order flow decays as e^{−2t/τ}.
  // L(θ) = ¼(‖θ‖² − 1)², invariant under all of O(6).
  struct MexicanHat {
    using Scalar = double;
    using Params = Eigen::Matrix<double, 6, 1>;
    Scalar value_and_gradient(const Params& p, Params& g) const {
      const double r = p.squaredNorm() - 1.0;
      g = r * p;
      return 0.25 * r * r;
    }
  };
  using P = MexicanHat::Params;
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::Matrix<double, 6, 6> b = sf::test::normal<Eigen::Matrix<double, 6, 6>>(rng);
    const Eigen::Matrix<double, 6, 6> m = b - b.transpose();
    const double mu = 0.9;
    const sf::Momentum method{.learning_rate = 0.05, .momentum = mu};
    P theta = 0.7 * sf::test::normal<P>(rng);
    auto state = method.start(MexicanHat{}, theta);
    state.velocity = sf::test::normal<P>(rng);  // start with a velocity off the radial direction
    P previous = theta;
    std::vector<double> k;
    sf::run(method, state, MexicanHat{}, theta, sf::Stopping{.max_steps = 60}, [&](const sf::Snapshot<P>& s) {
      if (s.step > 0) k.push_back((m * s.theta).dot(previous));
      previous = s.theta;
    });
    // θ_1 − θ_0 = −η(μv_0 + ∇L), so K_1 ≠ 0; from there on K shrinks by μ exactly.
    REQUIRE(k.size() == 60);
    CHECK(std::abs(k[0]) > 1e-3);
    for (std::size_t t = 1; t < k.size(); ++t) {
      INFO("step " << t + 1);
      CHECK(k[t] == Approx(mu * k[t - 1]).epsilon(1e-10).margin(1e-14 * std::abs(k[0])));
    }
    // Gradient descent (μ = 0) keeps ⟨Mθ_{t+1}, θ_t⟩ = 0: the discrete form of θᵀMθ̇ = 0 (29).
    P gd = 0.7 * sf::test::normal<P>(rng);
    P before = gd;
    for (int t = 0; t < 20; ++t) {
      before = gd;
      sf::gd_step(MexicanHat{}, gd, 0.05);
      CHECK(std::abs((m * gd).dot(before)) <= 1e-14 * m.norm() * gd.norm() * before.norm());
    }
  }
  // μ^{1/h} → e^{−2/τ}, not the e^{−1/τ} of eq. (33).
  const double tau = 0.5;
  for (const double h : {1e-2, 1e-3, 1e-4}) {
    const double mu = sf::Momentum::from_second_order_flow(tau, h).momentum;
    CHECK(std::pow(mu, 1.0 / h) == Approx(std::exp(-2.0 / tau)).epsilon(10 * h * h / (tau * tau)));
  }
}
