// Specification: a step of every integrator allocates nothing on the heap for a fixed-size model.
//
// The counters of allocation_counter.hpp (operator new and Eigen's heap) must both stay at zero.
#include "allocation_counter.hpp"

#include "flow_support.hpp"

namespace sf = symflow;
using sf::Index;

namespace {

// The paper's experiment size: input 10, hidden 50, output 5, X = I.
using Net = sf::TwoLayer<double, sf::Tanh, 10, 50, 5>;
using X = Eigen::Matrix<double, 10, 10>;
using Y = Eigen::Matrix<double, 5, 10>;

struct Problem {
  Net net;
  sf::Objective<Net, sf::MeanSquaredError, 10> objective;
  Net::Params theta;
  explicit Problem(std::mt19937_64& rng)
      : net(), objective(net, {}, X::Identity(), sf::test::normal<Y>(rng)), theta(sf::random_params(net, rng, 0.3)) {}
};

template <class Method>
long allocations_of_steps(const Method& method, int steps) {
  auto rng = sf::test::rng_for(0);
  Problem p(rng);
  auto state = method.start(p.objective, p.theta);
  sf::step(method, state, p.objective, p.theta);  // a first step outside the window (DP picks h)
  const long count = allocations_during([&] {
    for (int k = 0; k < steps; ++k) sf::step(method, state, p.objective, p.theta);
  });
  CHECK(p.theta.allFinite());
  CHECK(state.steps == steps + 1);
  return count;
}

}  // namespace

TEST_CASE("the counters see heap allocations (a dynamic-size step allocates)", "[flow][allocation]") {
  // Without this, a counter that never counts would pass every test below.
  using Dyn = sf::TwoLayer<double, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Dyn net({10, 50, 5});
  auto rng = sf::test::rng_for(0);
  const sf::Objective objective(net, sf::MeanSquaredError{}, Eigen::MatrixXd(X::Identity()), sf::test::normal<Eigen::MatrixXd>(rng, 5, 10));
  Eigen::VectorXd theta = sf::random_params(net, rng, 0.3);
  CHECK(allocations_during([&] { sf::gd_step(objective, theta, 1e-3); }) > 0);
  CHECK(allocations_during([] { std::vector<int> v(3); }) == 1);
}

TEST_CASE("no heap allocation in a step of any integrator for a fixed-size model", "[flow][allocation]") {
  const int steps = 50;
  CHECK(allocations_of_steps(sf::GradientDescent{1e-3}, steps) == 0);
  CHECK(allocations_of_steps(sf::Momentum{.learning_rate = 1e-3, .momentum = 0.9}, steps) == 0);
  CHECK(allocations_of_steps(sf::Momentum{.learning_rate = 1e-3, .momentum = 0.9, .nesterov = true}, steps) == 0);
  CHECK(allocations_of_steps(sf::Adam{.learning_rate = 1e-3}, steps) == 0);
  CHECK(allocations_of_steps(sf::RungeKutta4{1e-2}, steps) == 0);
  CHECK(allocations_of_steps(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10}, steps) == 0);
  // The free functions too.
  auto rng = sf::test::rng_for(1);
  Problem p(rng);
  CHECK(allocations_during([&] {
          for (int k = 0; k < steps; ++k) sf::gd_step(p.objective, p.theta, 1e-3);
          for (int k = 0; k < steps; ++k) sf::rk4_flow_step(p.objective, p.theta, 1e-2);
        }) == 0);
}

TEST_CASE("no heap allocation in a whole run with an observer, nor in mini-batch steps with a compile-time batch",
          "[flow][allocation]") {
  auto rng = sf::test::rng_for(2);
  Problem p(rng);
  double sum = 0;
  const auto observer = [&sum](const sf::Snapshot<Net::Params>& s) { sum += s.loss; };
  // The states are created inside run(): fixed-size, on the stack.
  CHECK(allocations_during([&] {
          sf::run(sf::GradientDescent{1e-3}, p.objective, p.theta, sf::Stopping{.max_steps = 50}, observer);
          sf::run(sf::DormandPrince{}, p.objective, p.theta, sf::Stopping{.max_steps = 20, .max_time = 1.0}, observer);
        }) == 0);
  CHECK(std::isfinite(sum));

  // SGD and mini-batch Adam: batches of 4 out of 40 samples, drawn and gathered in place.
  using Inputs = Eigen::Matrix<double, 10, Eigen::Dynamic>;
  using Targets = Eigen::Matrix<double, 5, Eigen::Dynamic>;
  for (const auto sampling : {sf::Sampling::without_replacement, sf::Sampling::with_replacement}) {
    sf::MiniBatchObjective<Net, sf::MeanSquaredError, 4> batches(
        Net{}, {}, sf::test::normal<Inputs>(rng, 10, 40), sf::test::normal<Targets>(rng, 5, 40), 4, std::mt19937_64(3),
        sampling);
    Net::Params theta = p.theta;
    const sf::Adam adam{.learning_rate = 1e-3};
    auto state = adam.start(batches, theta);
    CHECK(allocations_during([&] {
            for (int k = 0; k < 50; ++k) sf::sgd_step(batches, theta, 1e-3);
            for (int k = 0; k < 50; ++k) sf::step(adam, state, batches, theta);
            sf::run(adam, state, batches, theta, sf::Stopping{.max_steps = 50});
          }) == 0);
    CHECK(batches.sampler().batches_drawn() >= 150);
  }
}
