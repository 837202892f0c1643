// expect: integrates the gradient flow of a fixed objective
// Runge–Kutta gradient flow on a mini-batch objective (which changes every step) fails to compile.
#include <symflow/symflow.hpp>

int main() {
  namespace sf = symflow;
  using Net = sf::TwoLayer<double, sf::Tanh, 2, 3, 1>;
  const Net net;
  const Eigen::Matrix<double, 2, Eigen::Dynamic> x = Eigen::MatrixXd::Ones(2, 4);
  const Eigen::Matrix<double, 1, Eigen::Dynamic> y = Eigen::MatrixXd::Zero(1, 4);
  sf::MiniBatchObjective batches(net, sf::HalfSquaredError{}, x, y, 2, std::mt19937_64(1));
  Net::Params theta = Net::Params::Constant(0.1);
#ifdef SYMFLOW_SHOULD_FAIL
  sf::run(sf::RungeKutta4{0.1}, batches, theta, sf::Stopping{.max_steps = 3});
#else
  sf::run(sf::GradientDescent{0.1}, batches, theta, sf::Stopping{.max_steps = 3});
#endif
  return theta.allFinite() ? 0 : 1;
}
