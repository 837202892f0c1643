// expect: symflow::product_symmetry: some hidden layer's activation has no linear symmetry
// The product of the hidden layers' linear symmetries of a tanh net does not exist: one sentence says
// so first, instead of a page about the factors.
#include <symflow/symflow.hpp>

int main() {
#ifdef SYMFLOW_SHOULD_FAIL
  using Net = symflow::Mlp<double, symflow::Tanh, 3, 4, 5, 2>;
#else
  using Net = symflow::Mlp<double, symflow::ReLU, 3, 4, 5, 2>;
#endif
  const Net net;
  const auto s = symflow::product_symmetry(net);
  return s.algebra().dimension() == 9 ? 0 : 1;
}
