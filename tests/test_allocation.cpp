// Specification: the hot paths of a fixed-size model never touch the heap. The counters of
// allocation_counter.hpp (operator new, and Eigen's heap through EIGEN_RUNTIME_NO_MALLOC) watch each
// window: for a fixed-size two-layer network the objective (through the SIMD activation kernels), the
// Hessian-vector product in dual numbers, the conserved quantities and a gradient-descent loop that
// records loss and Q at every step must leave both at zero.
// (tests/test_flow_allocation.cpp covers the integrators and the driver.)
#include "allocation_counter.hpp"

#include "support.hpp"

#include <array>
#include <cmath>
#include <vector>

#include <symflow/conserved.hpp>

namespace sf = symflow;

TEST_CASE("the allocation counter sees heap allocations", "[allocation]") {
  // The check must be able to fail: a dynamic vector and a std::vector both allocate.
  CHECK(allocations_during([] {
          Eigen::VectorXd v(100);
          v.setOnes();
          REQUIRE(v.sum() == 100.0);
        }) >= 1);
  CHECK(allocations_during([] {
          std::vector<int> v(10, 1);
          REQUIRE(v.size() == 10);
        }) >= 1);
}

TEMPLATE_TEST_CASE("a fixed-size training step allocates nothing", "[allocation]", sf::Identity, sf::ReLU, sf::Tanh,
                   sf::Sigmoid) {
  // The paper's Appendix D network: input 10, hidden 50, output 5, X = I, mean squared error.
  using Net = sf::TwoLayer<double, TestType, 10, 50, 5>;
  const Net net;
  auto rng = sf::test::rng_for(0);
  const Eigen::Matrix<double, 10, 10> x = Eigen::Matrix<double, 10, 10>::Identity();
  const auto y = sf::test::normal<Eigen::Matrix<double, 5, 10>>(rng);
  const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
  typename Net::Params theta = sf::random_params(net, rng, 0.1);
  typename Net::Params grad, v = sf::random_params(net, rng);
  const sf::ElementwiseQuantity<Net> quantity(net);
  double sink = 0;

  CHECK(allocations_during([&] { sink += objective.value_and_gradient(theta, grad); }) == 0);
  CHECK(allocations_during([&] { sink += objective.value(theta); }) == 0);
  CHECK(allocations_during([&] {
          for (int t = 0; t < 10; ++t) sink += sf::gd_step(objective, theta, 1e-3, grad);
        }) == 0);
  CHECK(allocations_during([&] { sink += quantity.value(theta).sum(); }) == 0);
  CHECK(allocations_during([&] { sink += objective.hessian_vector_product(theta, v).sum(); }) == 0);

  // The paper's loop with its bookkeeping: a step, then the loss and Q recorded into storage
  // reserved beforehand.
  std::array<double, 100> losses{}, qs{};
  CHECK(allocations_during([&] {
          for (std::size_t t = 0; t < losses.size(); ++t) {
            losses[t] = sf::gd_step(objective, theta, 1e-3, grad);
            qs[t] = quantity.value(theta).sum();
          }
        }) == 0);
  CHECK(losses.back() <= losses.front());
  CHECK(std::isfinite(sink));
}

TEST_CASE("the layer-imbalance trace of a fixed-size linear network allocates nothing", "[allocation]") {
  using Net = sf::TwoLayer<float, sf::Identity, 10, 50, 5>;
  const Net net;
  auto rng = sf::test::rng_for(1);
  const Net::Params theta = sf::random_params(net, rng);
  const sf::LayerImbalanceTrace<Net> trace(net);
  float q = 0;
  CHECK(allocations_during([&] { q = trace.value(theta); }) == 0);
  CHECK(std::isfinite(q));
}
