// expect: symflow::symmetry: this index names no junction of the model
// A one-hidden-layer net has no hidden layer 2: the message blames the index, whatever the activation
// (tanh has no linear symmetry either, and must not be what the first error talks about).
#include <symflow/symflow.hpp>

int main() {
  using Net = symflow::Mlp<double, symflow::Tanh, 3, 4, 2>;
  const Net net;
#ifdef SYMFLOW_SHOULD_FAIL
  const auto s = symflow::symmetry<2>(net);
  return s.hidden() == 4 ? 0 : 1;
#else
  return net.size() == 20 ? 0 : 1;
#endif
}
