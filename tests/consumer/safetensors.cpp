// Uses the installed symflow::safetensors: a small network's θ through a safetensors buffer and back.
#include <symflow/symflow.hpp>
#include <symflow/io/state_dict.hpp>

#include <iostream>
#include <random>

int main() {
  using Net = symflow::BiasedMlp<double, symflow::Tanh, 3, 4, 2>;
  const Net net;
  std::mt19937_64 rng(7);
  const Net::Params theta = symflow::random_params(net, rng);
  const auto bytes = symflow::serialize_safetensors(symflow::state_dict_from_params(net, theta), symflow::SafetensorsDtype::F64);
  const Net::Params back = symflow::params_from_state_dict(net, symflow::parse_safetensors(bytes, "buffer"));
  std::cout << "consumer_safetensors: " << bytes.size() << " bytes, round trip " << (back == theta ? "exact" : "WRONG") << "\n";
  return back == theta ? 0 : 1;
}
