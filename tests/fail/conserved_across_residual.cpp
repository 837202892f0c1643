// expect: crosses a residual block's skip connection
// A junction whose activation feeds a residual block: scaling the stream's units does not commute
// with the block's f, so conserved<I> refuses it by name; the junction inside the block works.
#include <symflow/junction.hpp>
#include <symflow/symflow.hpp>

int main() {
  using Net = symflow::Sequential<double, symflow::Input<3>, symflow::Dense<4>, symflow::ReLU,
                                  symflow::Residual<symflow::Dense<5>, symflow::ReLU, symflow::Dense<4>>,
                                  symflow::Dense<2>>;
  const Net net;
#ifdef SYMFLOW_SHOULD_FAIL
  const auto quantities = symflow::conserved<1>(net);
#else
  const auto quantities = symflow::conserved<1>(symflow::residual_block<3>(net));
#endif
  return std::tuple_size_v<decltype(quantities)> == 1 ? 0 : 1;
}
