// expect: the activation must provide value\(z\) and derivative\(z\)
// A user activation that forgets its derivative is rejected with a sentence naming what is missing.
#include <symflow/symflow.hpp>

struct Softsign {
  template <class S> S value(const S& z) const { return z / (S(1) + (z < S(0) ? -z : z)); }
#ifndef SYMFLOW_SHOULD_FAIL
  template <class S> S derivative(const S& z) const { const S a = S(1) + (z < S(0) ? -z : z); return S(1) / (a * a); }
#endif
};

int main() {
  symflow::Mlp<double, Softsign, 3, 4, 2> net;
  return static_cast<int>(net.size()) == 20 ? 0 : 1;
}
