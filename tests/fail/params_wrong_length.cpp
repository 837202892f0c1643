// expect: the parameter vector's length differs from the model's number of parameters
// A fixed-size parameter vector of the wrong length fails to compile.
#include <symflow/symflow.hpp>

int main() {
  using Net = symflow::Mlp<double, symflow::Tanh, 3, 4, 2>;
  const Net net;
#ifdef SYMFLOW_SHOULD_FAIL
  const Eigen::Matrix<double, 19, 1> theta = Eigen::Matrix<double, 19, 1>::Zero();
#else
  const Eigen::Matrix<double, 20, 1> theta = Eigen::Matrix<double, 20, 1>::Zero();
#endif
  return net.weight<1>(theta).size() == 12 ? 0 : 1;
}
