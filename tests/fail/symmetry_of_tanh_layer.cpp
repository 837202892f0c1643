// expect: has no linear symmetry.*PseudoinverseAction
// Asking for the linear symmetry of a tanh layer fails to compile, and the message names the nonlinear
// action instead.
#include <symflow/symflow.hpp>

int main() {
#ifdef SYMFLOW_SHOULD_FAIL
  using Net = symflow::Mlp<double, symflow::Tanh, 3, 4, 2>;
#else
  using Net = symflow::Mlp<double, symflow::ReLU, 3, 4, 2>;
#endif
  const Net net;
  const auto s = symflow::symmetry<1>(net);
  return s.hidden() == 4 ? 0 : 1;
}
