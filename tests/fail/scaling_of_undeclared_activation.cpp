// expect: positive scaling is a symmetry only of a positively homogeneous.*ScalingEquivariant
// A user activation that does not declare its equivariance has no scaling action; the message says how
// to declare it.
#include <symflow/symflow.hpp>

struct Softplus {
#ifndef SYMFLOW_SHOULD_FAIL
  using equivariance = symflow::ScalingEquivariant;  // false for softplus, but the type system takes it on trust
  static constexpr double degree() { return 1.0; }
#endif
  template <class S> S value(const S& z) const { using std::exp; using std::log; return log(S(1) + exp(z)); }
  template <class S> S derivative(const S& z) const { using std::exp; return S(1) / (S(1) + exp(-z)); }
};

int main() {
  using Net = symflow::Mlp<double, Softplus, 3, 4, 2>;
  const symflow::ScalingAction<Net> action{Net{}};
  return action.hidden() == 4 ? 0 : 1;
}
