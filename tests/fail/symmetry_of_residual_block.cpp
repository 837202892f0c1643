// expect: a Residual block at layer R is no junction
// symmetry<I> on a Residual block names the list that holds its junctions, residual_block<R>(net).
#include <symflow/symflow.hpp>

int main() {
  using Net = symflow::Sequential<double, symflow::Input<3>, symflow::Dense<4>, symflow::ReLU,
                                  symflow::Residual<symflow::Dense<5>, symflow::ReLU, symflow::Dense<4>>,
                                  symflow::Dense<2>>;
  const Net net;
#ifdef SYMFLOW_SHOULD_FAIL
  const auto s = symflow::symmetry<3>(net);
#else
  const auto s = symflow::symmetry<1>(symflow::residual_block<3>(net));
#endif
  return s.hidden() == 5 ? 0 : 1;
}
