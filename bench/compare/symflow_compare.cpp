// The symflow side of the side-by-side comparison with the paper's PyTorch code (torch_compare.py
// drives both and prints the table; run.sh builds and runs everything).
//
//   trajectory  gradient descent on the paper's two-layer network from the tensors in a file,
//               recording after every step the loss ‖Y − Uσ(VᵀX)‖_F and Q exactly as the reference
//               code does (its Q is Tr(UᵀU − VᵀV) for a linear network, see q_reference below)
//   time-step   the same loop timed: median over repeats of the time per step
//   qstats      Appendix E: Q of `draws` Xavier initialisations at m = h = n = size, timed
//   hessian     the full Hessian of the mean-squared error at the file's parameters, timed and
//               written to a tensor file for comparison
//
// The paper stores V ∈ R^{n×h} and computes U σ(Vᵀ X); symflow's first layer is W_1 = Vᵀ ∈ R^{h×n},
// so θ = [vec(W_1), vec(W_2)] (column-major) = [V row-major, U column-major].
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <symflow/analysis/sweep.hpp>
#include <symflow/conserved.hpp>
#include <symflow/init.hpp>
#include <symflow/symflow.hpp>

#include "tensor_file.hpp"

namespace sf = symflow;
namespace sc = symflow_compare;

namespace {

constexpr int n_in = 10, hidden = 50, n_out = 5;

template <class S, class Act>
using PaperNet = sf::TwoLayer<S, Act, n_in, hidden, n_out>;

/// Wall-clock and CPU time (of the whole process, all threads) since construction: the machine
/// may be shared, and CPU time is what a loaded machine does not inflate.
struct Stopwatch {
  std::chrono::steady_clock::time_point wall0 = std::chrono::steady_clock::now();
  std::clock_t cpu0 = std::clock();
  double wall() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(); }
  double cpu() const { return double(std::clock() - cpu0) / CLOCKS_PER_SEC; }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The reference code's Q (utils.compute_Q) in terms of eq. (48), Q48 = Σ_k [½‖u_k‖² − Σ_j Φ(V_kj)]:
/// linear and ReLU: Tr(UᵀU) − Tr(σ(V)ᵀσ(V)) = 2·Q48; tanh: Tr(UᵀU − cosh(V)ᵀcosh(V)) = 2·Q48 − hn
/// (Φ = sinh²/2); sigmoid: ½Tr(UᵀU) − ΣV − Σe^V = Q48 − hn (Φ = v + eᵛ − 1).
template <class Act>
double q_reference(double q48, double hn) {
  if constexpr (std::is_same_v<Act, sf::Tanh>) return 2 * q48 - hn;
  else if constexpr (std::is_same_v<Act, sf::Sigmoid>) return q48 - hn;
  else return 2 * q48;
}

/// Q48 summed over units; for a linear network it is −½ Tr Q (LayerImbalanceTrace), a streaming pass.
template <class Net>
struct PaperQuantity {
  Net net;
  typename Net::Scalar operator()(const typename Net::Params& theta) const {
    using S = typename Net::Scalar;
    if constexpr (std::is_same_v<typename Net::Activation, sf::Identity>) {
      return S(-0.5) * sf::LayerImbalanceTrace<Net>(net).value(theta);
    } else {
      return sf::ElementwiseQuantity<Net>(net).value(theta).sum();
    }
  }
};

template <class S, class Act>
struct Problem {
  using Net = PaperNet<S, Act>;
  using X = Eigen::Matrix<S, n_in, n_in>;
  using Y = Eigen::Matrix<S, n_out, n_in>;
  Net net;
  sf::Objective<Net, sf::MeanSquaredError, n_in> objective;
  typename Net::Params theta0;

  explicit Problem(const sc::TensorFile& file)
      : objective(net, sf::MeanSquaredError{}, file.get("X", n_in, n_in).cast<S>(),
                  file.get("Y", n_out, n_in).cast<S>()) {
    const Eigen::MatrixXd& u = file.get("U", n_out, hidden);
    const Eigen::MatrixXd& v = file.get("V", n_in, hidden);
    theta0.setZero();
    net.template weight<1>(theta0) = v.transpose().cast<S>();
    net.template weight<2>(theta0) = u.cast<S>();
  }
};

/// The paper's loop: a gradient-descent step, then loss ‖Y − Uσ(VᵀX)‖_F and Q at the new point.
/// L(θ_{t+1}) is the value the next step's value_and_gradient returns, so each step evaluates the
/// network once; ‖·‖_F = √(mk · MSE).
template <class S, class Act>
void train(const Problem<S, Act>& problem, typename PaperNet<S, Act>::Params& theta, int steps, double lr,
           std::vector<S>& losses, std::vector<S>& qs) {
  using Net = PaperNet<S, Act>;
  const PaperQuantity<Net> quantity{problem.net};
  const S mk = S(n_out * n_in);
  typename Net::Params grad;
  losses.resize(static_cast<std::size_t>(steps));
  qs.resize(static_cast<std::size_t>(steps));
  for (int t = 0; t < steps; ++t) {
    const S loss_before = sf::gd_step(problem.objective, theta, lr, grad);
    if (t > 0) losses[static_cast<std::size_t>(t - 1)] = std::sqrt(mk * loss_before);
    qs[static_cast<std::size_t>(t)] = quantity(theta);
  }
  if (steps > 0) losses[static_cast<std::size_t>(steps - 1)] = std::sqrt(mk * problem.objective.value(theta));
}

struct Options {
  std::string tensors, activation = "identity", dtype = "float64", out;
  int steps = 1000, repeats = 7, threads = 1, draws = 1000, size = 100;
  double lr = 0.1;
  std::uint64_t seed = 1;
};

template <class S, class Act>
int run_trajectory(const Options& o, const sc::TensorFile& file) {
  const Problem<S, Act> problem(file);
  auto theta = problem.theta0;
  std::vector<S> losses, qs;
  train(problem, theta, o.steps, o.lr, losses, qs);
  const double hn = double(hidden * n_in);
  std::FILE* out = std::fopen(o.out.c_str(), "w");
  if (!out) throw std::runtime_error(o.out + ": cannot write");
  std::fprintf(out, "step loss q\n");
  for (int t = 0; t < o.steps; ++t)
    std::fprintf(out, "%d %a %a\n", t + 1, static_cast<double>(losses[t]),
                 q_reference<Act>(static_cast<double>(qs[t]), hn));
  std::fclose(out);
  return 0;
}

template <class S, class Act>
int run_time_step(const Options& o, const sc::TensorFile& file) {
  const Problem<S, Act> problem(file);
  std::vector<S> losses, qs;
  losses.reserve(o.steps);
  qs.reserve(o.steps);
  std::vector<double> wall, cpu;
  auto theta = problem.theta0;
  train(problem, theta, std::min(o.steps, 200), o.lr, losses, qs);  // warm-up
  for (int r = 0; r < o.repeats; ++r) {
    theta = problem.theta0;
    const Stopwatch watch;
    train(problem, theta, o.steps, o.lr, losses, qs);
    wall.push_back(watch.wall() / o.steps);
    cpu.push_back(watch.cpu() / o.steps);
  }
  std::printf("{\"median_seconds_per_step\": %.9g, \"median_cpu_seconds_per_step\": %.9g, \"repeats\": %d, "
              "\"final_loss\": %.17g}\n",
              median(wall), median(cpu), o.repeats, static_cast<double>(losses.back()));
  return 0;
}

template <class S, class Act>
int run_qstats(const Options& o) {
  using Net = sf::TwoLayer<S, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({o.size, o.size, o.size});
  const PaperQuantity<Net> quantity{net};
  const double hn = double(o.size) * double(o.size);
  auto draw = [&](std::uint64_t i) {
    auto rng = sf::sweep_generator(o.seed, i);
    const typename Net::Params theta = sf::initialize(net, sf::XavierNormal{}, rng);
    return q_reference<Act>(static_cast<double>(quantity(theta)), hn);
  };
  std::vector<double> times, cpu, q;
  for (int r = 0; r < o.repeats; ++r) {
    const Stopwatch watch;
    q = sf::sweep(static_cast<std::uint64_t>(o.draws), draw, o.threads);
    times.push_back(watch.wall());
    cpu.push_back(watch.cpu());
  }
  double mean = 0, var = 0;
  for (double v : q) mean += v / double(q.size());
  for (double v : q) var += (v - mean) * (v - mean) / double(q.size() - 1);
  std::printf("{\"median_seconds\": %.9g, \"median_cpu_seconds\": %.9g, \"draws\": %d, \"mean\": %.17g, \"variance\": %.17g}\n",
              median(times), median(cpu), o.draws, mean, var);
  return 0;
}

template <class S, class Act>
int run_hessian(const Options& o, const sc::TensorFile& file) {
  const Problem<S, Act> problem(file);
  std::vector<double> times, cpu;
  Eigen::MatrixXd h;
  for (int r = 0; r < o.repeats; ++r) {
    const Stopwatch watch;
    h = problem.objective.hessian(problem.theta0).template cast<double>();
    times.push_back(watch.wall());
    cpu.push_back(watch.cpu());
  }
  if (!o.out.empty()) sc::write_tensor_file(o.out, "float64", {{"H", h}});
  std::printf("{\"median_seconds\": %.9g, \"median_cpu_seconds\": %.9g, \"parameters\": %ld}\n", median(times),
              median(cpu), static_cast<long>(h.rows()));
  return 0;
}

template <class S, class Act>
int dispatch(const std::string& mode, const Options& o) {
  if (mode == "qstats") return run_qstats<S, Act>(o);
  const sc::TensorFile file = sc::read_tensor_file(o.tensors);
  // long double runs start from float64 tensors (exactly representable) as a high-precision reference.
  if ((file.dtype == "float32") != std::is_same_v<S, float>)
    throw std::runtime_error(o.tensors + " holds " + file.dtype + " tensors, but --dtype is " + o.dtype);
  if (mode == "trajectory") return run_trajectory<S, Act>(o, file);
  if (mode == "time-step") return run_time_step<S, Act>(o, file);
  return run_hessian<S, Act>(o, file);
}

template <class S>
int dispatch_activation(const std::string& mode, const Options& o) {
  if (o.activation == "identity") return dispatch<S, sf::Identity>(mode, o);
  if (o.activation == "relu") return dispatch<S, sf::ReLU>(mode, o);
  if (o.activation == "tanh") return dispatch<S, sf::Tanh>(mode, o);
  if (o.activation == "sigmoid") return dispatch<S, sf::Sigmoid>(mode, o);
  throw std::runtime_error("unknown activation " + o.activation + " (identity, relu, tanh, sigmoid)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"symflow side of the PyTorch comparison"};
  Options o;
  app.require_subcommand(1);
  auto common = [&](CLI::App* sub, bool needs_tensors) {
    if (needs_tensors) sub->add_option("--tensors", o.tensors, "tensor file written by torch_compare.py")->required();
    sub->add_option("--activation", o.activation, "identity, relu, tanh or sigmoid")->capture_default_str();
    sub->add_option("--dtype", o.dtype, "float64, float32 or longdouble (a reference run from float64 tensors)")
        ->capture_default_str();
    sub->add_option("--threads", o.threads, "threads (OpenMP and Eigen)")->capture_default_str();
    sub->add_option("--repeats", o.repeats, "timed repeats; the median is reported")->capture_default_str();
  };
  auto* trajectory = app.add_subcommand("trajectory", "record loss and Q after every step");
  common(trajectory, true);
  trajectory->add_option("--steps", o.steps)->capture_default_str();
  trajectory->add_option("--lr", o.lr)->capture_default_str();
  trajectory->add_option("--out", o.out)->required();
  auto* time_step = app.add_subcommand("time-step", "time the training loop per step");
  common(time_step, true);
  time_step->add_option("--steps", o.steps)->capture_default_str();
  time_step->add_option("--lr", o.lr)->capture_default_str();
  auto* qstats = app.add_subcommand("qstats", "time the Appendix E sweep of Q over Xavier draws");
  common(qstats, false);
  qstats->add_option("--draws", o.draws)->capture_default_str();
  qstats->add_option("--size", o.size, "m = h = n")->capture_default_str();
  qstats->add_option("--seed", o.seed)->capture_default_str();
  auto* hessian = app.add_subcommand("hessian", "time the full Hessian and write it");
  common(hessian, true);
  hessian->add_option("--out", o.out);
  CLI11_PARSE(app, argc, argv);
  try {
#if defined(_OPENMP)
    omp_set_num_threads(o.threads);
#endif
    Eigen::setNbThreads(o.threads);
    const std::string mode = app.get_subcommands().front()->get_name();
    if (o.dtype == "float64") return dispatch_activation<double>(mode, o);
    if (o.dtype == "float32") return dispatch_activation<float>(mode, o);
    if (o.dtype == "longdouble") return dispatch_activation<long double>(mode, o);
    throw std::runtime_error("unknown dtype " + o.dtype + " (float64, float32, longdouble)");
  } catch (const std::exception& e) {
    std::cerr << "symflow_compare: " << e.what() << "\n";
    return 1;
  }
}
