// expect: symflow::symmetry: this index names no junction of the model
// A convolution's symmetry acts on channels, not on the rows of a dense weight: symmetry<I> refuses
// it by name (its quantities are symflow::conserved<I>), while the dense junction of the same net works.
#include <symflow/symflow.hpp>

int main() {
  using Net = symflow::Sequential<double, symflow::Input<1, 4, 4>, symflow::Conv2d<2, 3, 1, 1>, symflow::ReLU,
                                  symflow::Dense<3>, symflow::Identity, symflow::Dense<2>>;
  const Net net;
#ifdef SYMFLOW_SHOULD_FAIL
  const auto s = symflow::symmetry<1>(net);
#else
  const auto s = symflow::symmetry<3>(net);
#endif
  return s.hidden() == 3 ? 0 : 1;
}
