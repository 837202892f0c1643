// Appendix H of the paper on Fashion-MNIST: train one multilayer perceptron with Adam, build
// ensembles by transforming its last two layers with the nonlinear group action π(g, H) and with
// the paper's four random baselines, and measure
//  1. accuracy and loss of each ensemble relative to the single model, over ε and the number of
//     members (ensemble_sweep.csv, ensemble_by_epsilon.csv, ensemble_members_*.csv,
//     ensemble_accuracy.png, ensemble_members.png);
//  2. accuracy under FGSM and PGD against the single model, the group ensemble and each baseline:
//     white box through the averaged logits and through the averaged probabilities, transferred
//     from the single model (the paper's protocol), and the worst of the three per sample
//     (attacks.csv, attacks_*.csv, attack_ensembles.csv, attacks_eps*.png).
// It checks what must hold and exits with status 1 when a check fails: ε = 0 reproduces the single
// model's predictions exactly, an attack of radius 0 changes nothing, FGSM accuracy does not rise
// with the radius on average, and results do not depend on the number of threads.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <symflow/ensemble.hpp>
#include <symflow/flow/adam.hpp>
#include <symflow/flow/minibatch_objective.hpp>
#include <symflow/flow/run.hpp>
#include <symflow/io.hpp>
#include <symflow/symflow.hpp>

#include "support/plot.hpp"

namespace sf = symflow;
using Matrix = Eigen::MatrixXd;
using Net = sf::BiasedMlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
using Ensemble = sf::LastLayersEnsemble<Net>;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// Processor time of all threads so far: on a busy machine it measures the work, not the wait.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }
std::string timing(Clock::time_point t, double cpu) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << seconds_since(t) << " s (" << cpu_seconds() - cpu << " s of processor time)";
  return s.str();
}
// ε as it reads, for file names and column headers.
std::string short_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The ensembles compared: the group action with both curves, and the four baselines with g = I + εM
// as the paper states them.
struct Variant {
  sf::EnsembleKind kind;
  sf::GroupCurve curve;
  std::string name() const {
    const std::string k = sf::ensemble_kind_name(kind);
    return kind == sf::EnsembleKind::group ? (curve == sf::GroupCurve::linear ? "group_linear" : "group_exp") : k;
  }
};
const std::vector<Variant> variants = {
    {sf::EnsembleKind::group, sf::GroupCurve::linear},
    {sf::EnsembleKind::group, sf::GroupCurve::exponential},
    {sf::EnsembleKind::inverse, sf::GroupCurve::linear},
    {sf::EnsembleKind::random_diagonal, sf::GroupCurve::linear},
    {sf::EnsembleKind::shuffled, sf::GroupCurve::linear},
    {sf::EnsembleKind::interpolated_permutation, sf::GroupCurve::linear},
};

// Columns `idx` of x and the matching labels.
sf::LabelledImages<double> subset(const sf::LabelledImages<double>& d, const std::vector<sf::Index>& idx) {
  sf::LabelledImages<double> s;
  s.classes = d.classes;
  s.images.rows = d.images.rows;
  s.images.columns = d.images.columns;
  s.images.pixels.resize(d.images.pixels.rows(), static_cast<sf::Index>(idx.size()));
  for (std::size_t j = 0; j < idx.size(); ++j) {
    s.images.pixels.col(static_cast<sf::Index>(j)) = d.images.pixels.col(idx[j]);
    s.labels.push_back(d.labels[static_cast<std::size_t>(idx[j])]);
  }
  return s;
}

// The first n indices of a random permutation of 0…N−1.
std::vector<sf::Index> random_indices(sf::Index total, sf::Index n, std::mt19937_64& rng) {
  std::vector<sf::Index> all(static_cast<std::size_t>(total));
  for (sf::Index i = 0; i < total; ++i) all[static_cast<std::size_t>(i)] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(std::min(n, total)));
  return all;
}

// He-normal weights N(0, 2/fan_in) and zero biases.
Net::Params initial_params(const Net& net, std::mt19937_64& rng) {
  Net::Params theta = net.zero_params();
  for (int layer = 1; layer <= Net::depth; ++layer) {
    std::normal_distribution<double> normal(0.0, std::sqrt(2.0 / static_cast<double>(net.width(layer - 1))));
    auto w = net.weight_at(layer, theta);
    for (sf::Index i = 0; i < w.size(); ++i) w(i) = normal(rng);
  }
  return theta;
}

struct Checks {
  int failed = 0;
  void expect(bool ok, const std::string& what) {
    std::cout << (ok ? "  check passed: " : "  CHECK FAILED: ") << what << "\n";
    if (!ok) ++failed;
  }
};

template <class F>
auto with_threads(int threads, const F& f) {
#if defined(_OPENMP)
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto result = f();
  omp_set_num_threads(before);
  return result;
#else
  static_cast<void>(threads);
  return f();
#endif
}

std::string join(const std::vector<double>& v) {
  std::ostringstream s;
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? " " : "") << v[i];
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// --published: the configuration of the paper's notebooks (ensemble_CIFAR.ipynb, Figure 9, and
// adversarial_CIFAR.ipynb, Figure 10, in Rose-STL-Lab/Gradient-Flow-Symmetry) on Fashion-MNIST,
// as closely as symflow can; docs/figures.md ("As published" under Appendix H) lists what differs.
namespace published {

using Net32 = sf::BiasedMlp<float, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;

// The notebooks' model ends in nn.Softmax and is trained and evaluated with F.cross_entropy, which
// applies log-softmax again: the loss of logits z is the cross-entropy of softmax(p), p = softmax(z),
// log Σ_c e^{p_c} − p_y, confined to [log(e + 9) − 1, log(e + 9)] for 10 classes.
struct SoftmaxHeadCrossEntropy {
  template <class D>
  static typename D::PlainObject softmax(const Eigen::MatrixBase<D>& f) {
    using std::exp;
    typename D::PlainObject p(f.rows(), f.cols());
    for (sf::Index j = 0; j < f.cols(); ++j) {
      const auto top = f.col(j).maxCoeff();
      for (sf::Index c = 0; c < f.rows(); ++c) p(c, j) = exp(f(c, j) - top);
      p.col(j) /= p.col(j).sum();
    }
    return p;
  }
  template <class DF, class DY>
  typename DF::Scalar value(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    return sf::SoftmaxCrossEntropy{}.value(softmax(f), y);
  }
  // ∂L/∂z = p ⊙ (q − ⟨p, q⟩), q = ∂L/∂p = (softmax(p) − y)/k: the softmax Jacobian of the head.
  template <class DF, class DY>
  typename DF::PlainObject gradient(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    const typename DF::PlainObject p = softmax(f);
    typename DF::PlainObject q = sf::SoftmaxCrossEntropy{}.gradient(p, y);
    for (sf::Index j = 0; j < f.cols(); ++j) {
      const auto inner = p.col(j).dot(q.col(j));
      q.col(j) = (p.col(j).array() * (q.col(j).array() - inner)).matrix();
    }
    return q;
  }
  static std::string name() { return "softmax_head_cross_entropy"; }
};

// nn.Linear's initialisation: weights and biases uniform in ±1/√fan_in.
Net32::Params torch_linear_params(const Net32& net, std::mt19937_64& rng) {
  Net32::Params theta = net.zero_params();
  for (int layer = 1; layer <= Net32::depth; ++layer) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(net.width(layer - 1)));
    std::uniform_real_distribution<float> uniform(static_cast<float>(-bound), static_cast<float>(bound));
    const sf::Index begin = net.weight_offset(layer), end = net.bias_offset(layer) + net.width(layer);
    for (sf::Index i = begin; i < end; ++i) theta(i) = uniform(rng);
  }
  return theta;
}

// advertorch 0.2.4's GradientSignAttack and PGDAttack (ℓ∞) with their defaults clip_min = 0,
// clip_max = 1: the notebook calls perturb twice, the second time on the first one's output, and
// clamps the result to [0, 1] once more.
struct Attack {
  std::string name;       // fgsm or pgd
  double radius;          // FGSM eps; PGD eps
  int steps = 0;          // PGD nb_iter
  double step = 0.01;     // PGD eps_iter
  bool random_start = true;
};

Matrix clamp(const Matrix& x, double lo, double hi) { return x.cwiseMax(lo).cwiseMin(hi); }
Matrix sign(const Matrix& g) { return g.unaryExpr([](double v) { return double((v > 0) - (v < 0)); }); }

template <class Gradient>
Matrix advertorch_perturb(const Attack& a, const Gradient& gradient, const Matrix& x, double lo, double hi, std::mt19937_64& rng) {
  if (a.name == "fgsm") return clamp(x + a.radius * sign(gradient(x)), lo, hi);
  Matrix delta = Matrix::Zero(x.rows(), x.cols());
  if (a.random_start) {
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    for (sf::Index i = 0; i < delta.size(); ++i) delta(i) = a.radius * uniform(rng);
    delta = clamp(x + delta, lo, hi) - x;
  }
  for (int t = 0; t < a.steps; ++t) {
    delta += a.step * sign(gradient(x + delta));
    delta = clamp(delta, -a.radius, a.radius);
    delta = clamp(x + delta, lo, hi) - x;
  }
  return clamp(x + delta, lo, hi);
}

// −mean log softmax(p̄)_y of the averaged member probabilities p̄: the notebooks' F.cross_entropy on
// the ensemble's mean softmax output.
double head_loss(const Matrix& mean_probabilities, const std::vector<int>& y) {
  return SoftmaxHeadCrossEntropy{}.value(mean_probabilities.cast<double>().eval(), sf::one_hot_targets<double>(y, 10)) ;
}
// The members' averaged softmax output on block inputs a.
Matrix mean_probabilities(const Ensemble& e, const Matrix& a) {
  Matrix sum = Matrix::Zero(10, a.cols());
  for (sf::Index j = 0; j < e.size(); ++j) sum += SoftmaxHeadCrossEntropy::softmax(e.member_outputs(j, a));
  return sum / static_cast<double>(e.size());
}

const std::vector<Variant> variants = {
    {sf::EnsembleKind::group, sf::GroupCurve::exponential},
    {sf::EnsembleKind::inverse, sf::GroupCurve::exponential},
    {sf::EnsembleKind::random_diagonal, sf::GroupCurve::exponential},
    {sf::EnsembleKind::shuffled, sf::GroupCurve::exponential},
    {sf::EnsembleKind::interpolated_permutation, sf::GroupCurve::exponential},
};

struct Options {
  std::filesystem::path out;
  std::string data_dir;
  std::uint64_t seed;
  bool quick;
  sf::Index hidden;
};

int run(const Options& o) {
  const auto start = Clock::now();
  Checks checks;
  sf::LabelledImages<double> all;
  try {
    all = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::train, o.data_dir);
  } catch (const sf::DataFileError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  // The notebooks use the training set only, in file order, scaled to x/255 − 0.5: the first 80%
  // trains, the last h·N images give the members' batches and the 1000 before them are evaluated.
  const sf::Index n = o.quick ? 12000 : all.count();
  const Matrix x = all.images.pixels.leftCols(n).array() - 0.5;
  const std::vector<int> labels(all.labels.begin(), all.labels.begin() + n);
  const sf::Index n_train = n - n / 5, batch = 32, evaluated = 1000, h = 16;
  const int epochs = o.quick ? 2 : 10;
  const std::vector<double> epsilons = o.quick ? std::vector<double>{1e-4, 1e-2, 1, 10}
                                               : std::vector<double>{1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 20};
  const std::vector<sf::Index> member_counts = o.quick ? std::vector<sf::Index>{10, 20}
                                                       : std::vector<sf::Index>{10, 20, 40, 60, 80, 100, 120};
  const sf::Index attack_members = o.quick ? 20 : 200;
  const double attack_epsilon = 10;

  // Training: float32, Adam (PyTorch's defaults), batches of 32 in order, no shuffling.
  auto t = Clock::now();
  double cpu = cpu_seconds();
  const Net32 net32({784, o.hidden, h, 10}, sf::LeakyReLU{0.1});
  std::mt19937_64 init_rng(o.seed);
  Net32::Params theta32 = torch_linear_params(net32, init_rng);
  const Eigen::MatrixXf x32 = x.cast<float>();
  const Eigen::MatrixXf y32 = sf::one_hot_targets<float>(labels, 10);
  const Net net({784, o.hidden, h, 10}, sf::LeakyReLU{0.1});
  const auto held_out = [&](sf::Index members) { return n - h * members - evaluated; };  // first evaluated column
  {
    const sf::Adam adam{.learning_rate = 1e-3};
    auto csv = sf::examples::open_csv(o.out / "published_training.csv");
    csv << "epoch,train_loss,held_out_loss,held_out_accuracy\n";
    using Batch = sf::Objective<Net32, SoftmaxHeadCrossEntropy, sf::Dynamic>;
    auto state = adam.start(Batch(net32, {}, x32.leftCols(batch).eval(), y32.leftCols(batch).eval()), theta32);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double total = 0;
      sf::Index batches = 0;
      for (sf::Index i = 0; i < n_train; i += batch, ++batches) {
        const sf::Index k = std::min(batch, n_train - i);
        const Batch objective(net32, {}, x32.middleCols(i, k).eval(), y32.middleCols(i, k).eval());
        total += objective.value_and_gradient(theta32, state.point.gradient);
        adam.advance(objective, state, theta32, 0.0f);
        ++state.steps;
      }
      const sf::Index first = held_out(member_counts.back());
      const Batch check(net32, {}, x32.middleCols(first, evaluated).eval(), y32.middleCols(first, evaluated).eval());
      const std::vector<int> yh(labels.begin() + first, labels.begin() + first + evaluated);
      csv << epoch << ',' << total / static_cast<double>(batches) << ',' << check.value(theta32) << ','
          << sf::accuracy(sf::predicted_classes(net32.forward(theta32, x32.middleCols(first, evaluated))), yh) << '\n';
    }
  }
  const Net::Params theta = theta32.cast<double>();
  const sf::Classifier<Net> single(net, theta);
  std::cout << "published: " << epochs << " epochs of float32 Adam on " << n_train << " images in batches of " << batch
            << " in " << timing(t, cpu) << "\n";

  // Figure 9: for each N, the members' batches are the last h·N images and the 1000 before them are
  // evaluated (the notebook retrains a model per cell; here one model serves every cell).
  t = Clock::now();
  cpu = cpu_seconds();
  {
    auto csv = sf::examples::open_csv(o.out / "published_sweep.csv");
    csv << "variant,epsilon,members,accuracy,single_accuracy,accuracy_change,loss,single_loss,head_loss,single_head_loss,"
           "mean_member_accuracy\n";
    for (sf::Index members : member_counts) {
      const sf::Index first = held_out(members);
      const Matrix xe = x.middleCols(first, evaluated);
      const std::vector<int> ye(labels.begin() + first, labels.begin() + first + evaluated);
      const Matrix pool = sf::block_inputs(net, theta, x.middleCols(n - h * members, h * members).eval());
      const double single_accuracy = sf::accuracy(single.predict(xe), ye), single_loss = single.loss(xe, ye);
      const double single_head = head_loss(SoftmaxHeadCrossEntropy::softmax(single.logits(xe)), ye);
      for (const Variant& v : variants) {
        for (double eps : epsilons) {
          std::mt19937_64 rng(o.seed + 3);
          const Ensemble e = sf::make_ensemble(net, theta, pool, sf::EnsembleRecipe{v.kind, v.curve, eps, members}, rng);
          const sf::EnsembleEvaluation ev = e.evaluate(xe, ye);
          csv << v.name() << ',' << eps << ',' << members << ',' << ev.accuracy() << ',' << single_accuracy << ','
              << ev.accuracy() - single_accuracy << ',' << ev.loss() << ',' << single_loss << ','
              << head_loss(mean_probabilities(e, e.block_inputs(xe)), ye) << ',' << single_head << ','
              << ev.mean_member_accuracy() << '\n';
        }
      }
    }
  }
  std::cout << "published sweep: " << variants.size() << " ensembles x " << epsilons.size() << " epsilons x "
            << member_counts.size() << " sizes in " << timing(t, cpu) << "\n";

  // Figure 10: inputs attacked on the single model (the attack is built while the group activation
  // is in its normal mode), through the loss of its softmax output, and fed to every ensemble.
  t = Clock::now();
  cpu = cpu_seconds();
  const sf::Index first = held_out(attack_members);
  const Matrix xa = x.middleCols(first, evaluated);
  const std::vector<int> ya(labels.begin() + first, labels.begin() + first + evaluated);
  const Matrix pool = sf::block_inputs(net, theta, x.middleCols(n - h * attack_members, h * attack_members).eval());
  std::vector<std::pair<std::string, Ensemble>> targets;
  for (const Variant& v : variants) {
    std::mt19937_64 rng(o.seed + 3);
    targets.emplace_back(v.name(), sf::make_ensemble(net, theta, pool, sf::EnsembleRecipe{v.kind, v.curve, attack_epsilon, attack_members}, rng));
  }
  const auto gradient = [&](const Matrix& xs) {
    const sf::Objective<Net, SoftmaxHeadCrossEntropy, sf::Dynamic> objective(net, {}, xs, sf::one_hot_targets<double>(ya, 10));
    return Matrix(objective.input_gradient(theta));
  };
  auto csv = sf::examples::open_csv(o.out / "published_attacks.csv");
  csv << "attack,parameter,protocol,radius,target,accuracy,max_change,mean_change,moved_beyond_bound,below_bound\n";
  // Protocols: as published (twice, box [0, 1], clamp); the clamp to [0, 1] alone; the same attack
  // once inside the data's range [−0.5, 0.5]; for PGD also once at the largest FGSM radius.
  struct Row {
    std::string attack;
    double parameter;
    std::string protocol;
    Attack a;
  };
  std::vector<Row> rows;
  for (double r : {0.0, 0.003, 0.006, 0.009, 0.012}) {
    rows.push_back({"fgsm", r, "published", {"fgsm", r}});
    rows.push_back({"fgsm", r, "clamp_only", {"fgsm", 0.0}});
    rows.push_back({"fgsm", r, "once_in_range", {"fgsm", r}});
  }
  for (int k : {0, 1, 2, 3}) {
    rows.push_back({"pgd", double(k), "published", {"pgd", 0.3, k}});
    rows.push_back({"pgd", double(k), "clamp_only", {"pgd", 0.0, 0}});
    rows.push_back({"pgd", double(k), "once_in_range", {"pgd", 0.3, k}});
    rows.push_back({"pgd", double(k), "once_in_range_r0.012", {"pgd", 0.012, k}});
  }
  bool radius_zero_identity = true;
  for (const Row& row : rows) {
    std::mt19937_64 rng(o.seed + 4);
    Matrix adv;
    const bool zero = row.parameter == 0;  // the notebook's column 0: the clean data
    // The bound on how far a pixel may move: twice the radius (two calls) as published, once otherwise.
    double bound = 0;
    if (zero) {
      adv = xa;
    } else if (row.protocol == "clamp_only") {
      adv = clamp(xa, 0, 1);
    } else if (row.protocol == "published") {
      adv = clamp(advertorch_perturb(row.a, gradient, advertorch_perturb(row.a, gradient, xa, 0, 1, rng), 0, 1, rng), 0, 1);
      bound = 2 * row.a.radius;
    } else {
      adv = advertorch_perturb(row.a, gradient, xa, -0.5, 0.5, rng);
      bound = row.a.radius;
    }
    if (zero) radius_zero_identity = radius_zero_identity && adv == xa;
    const Matrix change = (adv - xa).cwiseAbs();
    const double beyond = (change.array() > bound + 1e-12).cast<double>().mean();
    const double below = (xa.array() < -bound).cast<double>().mean();
    const auto write = [&](const std::string& target, double accuracy) {
      csv << row.attack << ',' << row.parameter << ',' << row.protocol << ',' << row.a.radius << ',' << target << ','
          << accuracy << ',' << change.maxCoeff() << ',' << change.mean() << ',' << beyond << ',' << below << '\n';
    };
    write("single", sf::accuracy(single.predict(adv), ya));
    for (const auto& [name, e] : targets) write(name, sf::accuracy(e.predict(adv), ya));
  }
  sf::examples::close_csv(csv, o.out / "published_attacks.csv");
  std::cout << "published attacks: FGSM and PGD (advertorch defaults, twice, clamped to [0, 1]) from the single model on "
            << evaluated << " images, ensembles of " << attack_members << " members at epsilon " << attack_epsilon << " in "
            << timing(t, cpu) << "\n";
  checks.expect(radius_zero_identity, "the attack column 0 is the clean data");
  if (sf::examples::render("ensemble_fashion_mnist_published.gp", o.out))
    std::cout << "wrote " << (o.out / "ensemble.png").string() << "\n";
  std::cout << "total " << timing(start, 0.0) << "; " << checks.failed << " checks failed\n";
  return checks.failed == 0 ? 0 : 1;
}

}  // namespace published


static int run_example(int argc, char** argv) {
  CLI::App app{
      "Ensembles from the nonlinear group action on Fashion-MNIST (appendix H): accuracy and loss over epsilon and "
      "members against four random baselines, and robustness under FGSM and PGD"};
  std::string out_dir = "out/ensemble_fashion_mnist";
  std::string data_dir = sf::fashion_mnist_default_directory;
  std::uint64_t seed = 1;
  bool quick = false;
  int epochs = 12;
  sf::Index batch_size = 128;
  double learning_rate = 1e-3;
  sf::Index hidden = 128;
  double slope = 0.1;
  std::vector<double> epsilons = {1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3, 10, 20};
  std::vector<sf::Index> member_counts = {10, 20, 40, 60, 80, 100, 120};
  std::vector<double> attack_epsilons = {0.1, 10};
  sf::Index attack_members = 40;
  sf::Index attack_samples = 1000;
  std::vector<double> fgsm_radii = {0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1};
  std::vector<double> pgd_radii = {0, 0.01, 0.02, 0.05};
  int pgd_steps = 10;
  double pgd_step_factor = 2.5;
  sf::Index chunk = 100;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files (.gz or not)")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed (initialisation, batches, ensembles, subsets)");
  app.add_flag("--quick", quick, "a small run that checks the properties that must hold (for tests)");
  bool as_published = false;
  app.add_flag("--published", as_published,
               "the configuration of the paper's notebooks (float32, softmax head, h = 16, exp(eps T), advertorch "
               "attacks as called) on Fashion-MNIST; takes --quick, --seed, --hidden, --data, --out");
  app.add_option("--epochs", epochs, "training epochs")->capture_default_str();
  app.add_option("--batch-size", batch_size, "mini-batch size")->capture_default_str();
  app.add_option("--lr", learning_rate, "Adam learning rate")->capture_default_str();
  app.add_option("--hidden", hidden, "width of the first hidden layer (784 -> hidden -> 32 -> 10)")->capture_default_str();
  app.add_option("--slope", slope, "negative slope of the LeakyReLU")->capture_default_str();
  app.add_option("--eps", epsilons, "epsilon grid of the ensemble sweep")->capture_default_str();
  app.add_option("--members", member_counts, "ensemble sizes of the sweep (the largest is built)")->capture_default_str();
  app.add_option("--attack-eps", attack_epsilons, "epsilons of the ensembles under attack")->capture_default_str();
  app.add_option("--attack-members", attack_members, "members of the ensembles under attack")->capture_default_str();
  app.add_option("--attack-samples", attack_samples, "test samples attacked")->capture_default_str();
  app.add_option("--fgsm-radii", fgsm_radii, "FGSM l-infinity radii")->capture_default_str();
  app.add_option("--pgd-radii", pgd_radii, "PGD l-infinity radii")->capture_default_str();
  app.add_option("--pgd-steps", pgd_steps, "PGD steps")->capture_default_str();
  app.add_option("--pgd-step-factor", pgd_step_factor, "PGD step size = factor * radius / steps")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (as_published) {
    Eigen::setNbThreads(1);
    return published::run({sf::examples::prepare_output(out_dir), data_dir, seed, quick, hidden});
  }

  sf::Index train_samples = 60000, test_samples = 10000;
  if (quick) {
    train_samples = 6000;
    test_samples = 1000;
    epochs = 2;
    epsilons = {1e-4, 1e-2, 1, 20};
    member_counts = {10, 20};
    attack_members = 5;
    attack_samples = 200;
    fgsm_radii = {0, 0.01, 0.02, 0.05, 0.1};
    pgd_radii = {0, 0.05};
    pgd_steps = 3;
  }
  std::sort(member_counts.begin(), member_counts.end());
  std::sort(fgsm_radii.begin(), fgsm_radii.end());
  std::sort(pgd_radii.begin(), pgd_radii.end());
  const sf::Index max_members = member_counts.back();
  // Eigen's own threads would change the blocking of its products with the thread count; symflow's
  // loops over members and chunks of samples carry the parallelism instead.
  Eigen::setNbThreads(1);
  const auto start = Clock::now();
  Checks checks;
#if defined(_OPENMP)
  std::cout << "ensemble_fashion_mnist: " << omp_get_max_threads() << " OpenMP threads\n";
#endif

  // Data.
  auto t = Clock::now();
  double cpu = cpu_seconds();
  sf::LabelledImages<double> train, test;
  try {
    train = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::train, data_dir);
    test = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::test, data_dir);
  } catch (const sf::DataFileError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::mt19937_64 data_rng(seed ^ 0x5eed0da7aULL);
  if (train_samples < train.count()) train = subset(train, random_indices(train.count(), train_samples, data_rng));
  if (test_samples < test.count()) test = subset(test, random_indices(test.count(), test_samples, data_rng));
  std::cout << "data: " << train.count() << " training and " << test.count() << " test images from " << data_dir
            << " (" << std::fixed << std::setprecision(1) << seconds_since(t) << " s)\n";

  // Training: 784 -> hidden -> 32 -> 10, LeakyReLU, biases, Adam on mini-batches of softmax cross-entropy.
  const auto out = sf::examples::prepare_output(out_dir);
  const Net net({784, hidden, 32, 10}, sf::LeakyReLU{slope});
  std::mt19937_64 init_rng(seed);
  Net::Params theta = initial_params(net, init_rng);
  t = Clock::now();
  cpu = cpu_seconds();
  {
    sf::MiniBatchObjective objective(net, sf::SoftmaxCrossEntropy{}, train.images.pixels,
                                     sf::one_hot_targets<double>(train.labels, 10), batch_size,
                                     std::mt19937_64(seed + 1));
    const sf::Adam adam{.learning_rate = learning_rate};
    auto state = adam.start(objective, theta);
    auto csv = sf::examples::open_csv(out / "training.csv");
    csv << "epoch,seconds,test_loss,test_accuracy\n";
    const sf::Index steps_per_epoch = train.count() / batch_size;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const auto status = sf::run(adam, state, objective, theta, sf::Stopping{.max_steps = steps_per_epoch});
      if (status.reason != sf::StopReason::step_budget) {
        std::cerr << "training stopped early at epoch " << epoch << "\n";
        return 1;
      }
      const sf::Classifier<Net> c(net, theta);
      csv << epoch << ',' << seconds_since(t) << ',' << c.loss(test.images.pixels, test.labels) << ','
          << sf::accuracy(c.predict(test.images.pixels), test.labels) << '\n';
    }
  }
  const sf::Classifier<Net> single(net, theta);
  const double single_accuracy = sf::accuracy(single.predict(test.images.pixels), test.labels);
  const double single_loss = single.loss(test.images.pixels, test.labels);
  std::cout << std::setprecision(4) << "training: " << epochs << " epochs of Adam (lr " << learning_rate << ", batch "
            << batch_size << ") in " << timing(t, cpu) << "; test accuracy " << std::setprecision(4) << single_accuracy
            << ", test loss " << single_loss << "\n";
  if (!quick) checks.expect(single_accuracy >= 0.85, "the single model reaches at least 85% test accuracy");

  // Block inputs (features entering the 32-unit layer) of training samples, h = 32 per member.
  const sf::Index h = net.width(Net::depth - 1);
  std::mt19937_64 pool_rng(seed + 2);
  const std::vector<sf::Index> pool_idx = random_indices(train.count(), h * max_members, pool_rng);
  Matrix pool_x(784, static_cast<sf::Index>(pool_idx.size()));
  for (std::size_t j = 0; j < pool_idx.size(); ++j) pool_x.col(static_cast<sf::Index>(j)) = train.images.pixels.col(pool_idx[j]);
  const Matrix pool = sf::block_inputs(net, theta, pool_x);
  const sf::EnsembleEvaluation base = Ensemble(net, theta).evaluate_base(test.images.pixels, test.labels);
  const std::vector<int> single_predictions = base.vote();

  // 1. The sweep over ε and members. Every (variant, ε) uses the same generator state, so member j
  // has the same direction M_j throughout.
  t = Clock::now();
  cpu = cpu_seconds();
  std::map<double, std::vector<std::pair<double, double>>> by_epsilon;  // ε -> (accuracy, loss) per variant
  std::map<std::string, std::map<double, std::vector<double>>> changes;  // variant -> ε -> change per size
  {
    auto csv = sf::examples::open_csv(out / "ensemble_sweep.csv");
    csv << "variant,epsilon,members,accuracy,loss,accuracy_change,loss_change,mean_member_accuracy,mean_member_loss,"
           "ill_conditioned_members,max_condition\n";
    std::vector<double> grid = epsilons;
    grid.insert(grid.begin(), 0.0);  // ε = 0: the check that the ensemble is the single model
    for (const Variant& v : variants) {
      for (double eps : grid) {
        std::mt19937_64 rng(seed + 3);
        sf::EnsembleDiagnostics diagnostics;
        // ε = 0 checks members one by one: a few of them suffice.
        const sf::Index members = eps == 0 ? std::min<sf::Index>(max_members, 10) : max_members;
        const Ensemble e =
            sf::make_ensemble(net, theta, pool, sf::EnsembleRecipe{v.kind, v.curve, eps, members}, rng, &diagnostics);
        const sf::EnsembleEvaluation ev = e.evaluate(test.images.pixels, test.labels);
        if (eps == 0) {
          bool same = true;
          for (sf::Index j = 0; j < ev.members(); ++j)
            for (sf::Index i = 0; i < ev.samples(); ++i) same = same && ev.predictions(j, i) == single_predictions[static_cast<std::size_t>(i)];
          if (v.kind == sf::EnsembleKind::shuffled) {
            // π(I, H) = I shuffled is a random permutation of U's columns: this baseline does not
            // reduce to the model at ε = 0, by construction.
            checks.expect(!same, v.name() + " at epsilon = 0: the members differ from the single model (U P Q)");
          } else {
            checks.expect(same, v.name() + " at epsilon = 0: every member predicts exactly what the single model predicts");
          }
          continue;
        }
        for (sf::Index n : member_counts) {
          const double acc = ev.accuracy(n), loss = ev.loss(n);
          csv << v.name() << ',' << eps << ',' << n << ',' << acc << ',' << loss << ',' << acc - single_accuracy << ','
              << loss - single_loss << ',' << ev.mean_member_accuracy(n) << ',' << ev.mean_member_loss(n) << ','
              << diagnostics.ill_conditioned << ',' << diagnostics.max_condition << '\n';
        }
        by_epsilon[eps].push_back({ev.accuracy(), ev.loss()});
        for (sf::Index n : member_counts) changes[v.name()][eps].push_back(100 * (ev.accuracy(n) - single_accuracy));
        if (eps == epsilons.front()) {
          const std::vector<int> vote = ev.vote();
          sf::Index agree = 0;
          for (std::size_t i = 0; i < vote.size(); ++i) agree += vote[i] == single_predictions[i];
          std::cout << "  " << v.name() << " at epsilon " << eps << ": the vote agrees with the single model on " << agree
                    << " of " << vote.size() << " test images\n";
        }
      }
    }
  }
  {
    // Accuracy change (percentage points) as a matrix per variant: rows = sizes, columns = ε.
    for (const Variant& v : variants) {
      auto csv = sf::examples::open_csv(out / ("ensemble_members_" + v.name() + ".csv"));
      csv << "members";
      for (const auto& [eps, row] : changes[v.name()]) csv << ',' << short_number(eps);
      csv << '\n';
      for (std::size_t k = 0; k < member_counts.size(); ++k) {
        csv << member_counts[k];
        for (const auto& [eps, row] : changes[v.name()]) csv << ',' << row[k];
        csv << '\n';
      }
    }
  }
  {
    // The same at the largest ensemble, one column per variant, for the plots.
    auto csv = sf::examples::open_csv(out / "ensemble_by_epsilon.csv");
    csv << "epsilon,single_accuracy,single_loss";
    for (const Variant& v : variants) csv << ",accuracy_" << v.name();
    for (const Variant& v : variants) csv << ",loss_" << v.name();
    csv << '\n';
    for (const auto& [eps, rows] : by_epsilon) {
      csv << eps << ',' << single_accuracy << ',' << single_loss;
      for (const auto& r : rows) csv << ',' << r.first;
      for (const auto& r : rows) csv << ',' << r.second;
      csv << '\n';
    }
  }
  std::cout << "sweep: " << variants.size() << " ensembles x " << epsilons.size() << " epsilons x " << max_members
            << " members on " << test.count() << " test images in " << timing(t, cpu) << "\n";

  // Results must not depend on the number of threads.
#if defined(_OPENMP)
  {
    std::mt19937_64 rng(seed + 3);
    const Ensemble e = sf::make_ensemble(net, theta, pool, sf::EnsembleRecipe{sf::EnsembleKind::group, sf::GroupCurve::linear, 1.0, 8}, rng);
    const Matrix xs = test.images.pixels.leftCols(std::min<sf::Index>(300, test.count()));
    const std::vector<int> ys(test.labels.begin(), test.labels.begin() + xs.cols());
    const auto one = with_threads(1, [&] { return e.evaluate(xs, ys).log_probabilities; });
    const auto two = with_threads(2, [&] { return e.evaluate(xs, ys).log_probabilities; });
    const auto attack = [&](const Matrix& xc, const std::vector<int>& yc) { return sf::fgsm(e, xc, yc, 0.05); };
    const Matrix a1 = with_threads(1, [&] { return sf::attack_in_chunks(xs, ys, 50, attack); });
    const Matrix a2 = with_threads(2, [&] { return sf::attack_in_chunks(xs, ys, 50, attack); });
    checks.expect(one == two && a1 == a2, "evaluation and attacks give the same bits on 1 and 2 threads");
  }
#endif

  // 2. Attacks on the first `attack_samples` test images. Targets: the single model, and each
  // variant at each ε in attack_epsilons. An ensemble is attacked through three gradients:
  //  - self_logits: white box, the cross-entropy of its averaged logits;
  //  - self_probabilities: white box, the loss of its averaged predictive distribution;
  //  - single: transfer, the single model's own gradient (the paper's protocol);
  // and `any` counts a sample as robust only when none of the three fools the vote.
  t = Clock::now();
  cpu = cpu_seconds();
  const Matrix ax = test.images.pixels.leftCols(std::min(attack_samples, test.count()));
  const std::vector<int> ay(test.labels.begin(), test.labels.begin() + ax.cols());
  // Anything with loss_input_gradient(X, labels), erased to one type.
  struct Gradient {
    std::function<Matrix(const Matrix&, const std::vector<int>&)> of;
    Matrix loss_input_gradient(const Matrix& x, const std::vector<int>& y) const { return of(x, y); }
  };
  const auto attack_with = [&](const std::string& attack, double r, const Gradient& g) {
    if (r == 0) return Matrix(ax);
    const sf::PgdOptions pgd_options{.radius = r, .step = pgd_step_factor * r / std::max(pgd_steps, 1), .steps = pgd_steps};
    return sf::attack_in_chunks(ax, ay, chunk, [&](const Matrix& xc, const std::vector<int>& yc) {
      return attack == "fgsm" ? sf::fgsm(g, xc, yc, r) : sf::pgd(g, xc, yc, pgd_options);
    });
  };
  const Gradient single_gradient{[&](const Matrix& x, const std::vector<int>& y) { return single.loss_input_gradient(x, y); }};
  const auto correct = [&](const std::vector<int>& p) {
    std::vector<char> c(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) c[i] = p[i] == ay[i];
    return c;
  };
  const auto mean = [](const std::vector<char>& c) {
    return static_cast<double>(std::count(c.begin(), c.end(), 1)) / static_cast<double>(c.size());
  };
  const std::vector<std::string> attacks = {"fgsm", "pgd"};
  // The single model's adversarial inputs, per attack and radius (they are also the transfer attacks).
  std::map<std::string, std::map<double, Matrix>> from_single;
  for (const std::string& attack : attacks)
    for (double r : attack == "fgsm" ? fgsm_radii : pgd_radii) from_single[attack][r] = attack_with(attack, r, single_gradient);

  auto csv = sf::examples::open_csv(out / "attacks.csv");
  csv << "attack,radius,ensemble_epsilon,target,gradient,accuracy\n";
  auto diag_csv = sf::examples::open_csv(out / "attack_ensembles.csv");
  diag_csv << "variant,epsilon,members,clean_accuracy,ill_conditioned_members,max_condition,median_member_logit_rms,"
              "max_member_logit_rms\n";
  std::map<std::string, std::vector<double>> fgsm_accuracy;  // white box, per target
  bool radius_zero_identity = true;
  for (const std::string& attack : attacks) {
    for (double r : attack == "fgsm" ? fgsm_radii : pgd_radii) {
      const double acc = mean(correct(single.predict(from_single[attack][r])));
      csv << attack << ',' << r << ",0,single,self," << acc << '\n';
      if (attack == "fgsm") fgsm_accuracy["single"].push_back(acc);
      radius_zero_identity = radius_zero_identity && (r != 0 || from_single[attack][r] == ax);
    }
  }
  std::vector<std::string> epsilon_names;
  for (double eps : attack_epsilons) {
    const std::string name = short_number(eps);
    epsilon_names.push_back(name);
    // attack -> radius -> columns: single, then per variant logits, probabilities, transfer, any.
    std::map<std::string, std::map<double, std::vector<double>>> wide;
    for (const std::string& attack : attacks)
      for (double r : attack == "fgsm" ? fgsm_radii : pgd_radii)
        wide[attack][r].push_back(mean(correct(single.predict(from_single[attack][r]))));
    for (const Variant& v : variants) {
      std::mt19937_64 rng(seed + 3);
      sf::EnsembleDiagnostics diagnostics;
      const Ensemble e = sf::make_ensemble(net, theta, pool, sf::EnsembleRecipe{v.kind, v.curve, eps, attack_members}, rng,
                                           &diagnostics);
      // How far the members' logits spread: an outlier member dominates the averaged logits.
      const Matrix a = e.block_inputs(ax);
      std::vector<double> rms;
      for (sf::Index j = 0; j < e.size(); ++j) rms.push_back(e.member_outputs(j, a).norm() / std::sqrt(static_cast<double>(a.cols() * 10)));
      std::sort(rms.begin(), rms.end());
      diag_csv << v.name() << ',' << eps << ',' << attack_members << ',' << mean(correct(e.predict(ax))) << ','
               << diagnostics.ill_conditioned << ',' << diagnostics.max_condition << ',' << rms[rms.size() / 2] << ','
               << rms.back() << '\n';
      const auto averaged = e.averaged_logit_classifier();
      const auto memberwise = e.memberwise_network();
      const Gradient logits{[&](const Matrix& x, const std::vector<int>& y) { return averaged.loss_input_gradient(x, y); }};
      const Gradient probabilities{[&](const Matrix& x, const std::vector<int>& y) { return memberwise.loss_input_gradient(x, y); }};
      for (const std::string& attack : attacks) {
        for (double r : attack == "fgsm" ? fgsm_radii : pgd_radii) {
          const Matrix adv_logits = attack_with(attack, r, logits), adv_probabilities = attack_with(attack, r, probabilities);
          if (r == 0) radius_zero_identity = radius_zero_identity && adv_logits == ax && adv_probabilities == ax;
          const std::vector<char> c1 = correct(e.predict(adv_logits)), c2 = correct(e.predict(adv_probabilities)),
                                  c3 = correct(e.predict(from_single[attack][r]));
          std::vector<char> all(c1.size());
          for (std::size_t i = 0; i < all.size(); ++i) all[i] = c1[i] && c2[i] && c3[i];
          const std::vector<double> accs = {mean(c1), mean(c2), mean(c3), mean(all)};
          const char* names[] = {"self_logits", "self_probabilities", "single", "any"};
          for (int k = 0; k < 4; ++k)
            csv << attack << ',' << r << ',' << eps << ',' << v.name() << ',' << names[k] << ',' << accs[static_cast<std::size_t>(k)] << '\n';
          auto& row = wide[attack][r];
          row.insert(row.end(), accs.begin(), accs.end());
          if (attack == "fgsm" && eps == attack_epsilons.front()) fgsm_accuracy[v.name()].push_back(accs[0]);
        }
      }
    }
    for (const auto& [attack, rows] : wide) {
      auto table = sf::examples::open_csv(out / ("attacks_" + attack + "_eps" + name + ".csv"));
      table << "radius,single";
      for (const Variant& v : variants)
        table << ',' << v.name() << "_logits," << v.name() << "_probabilities," << v.name() << "_transfer," << v.name() << "_any";
      table << '\n';
      for (const auto& [r, row] : rows) {
        table << r;
        for (double a : row) table << ',' << a;
        table << '\n';
      }
    }
  }
  sf::examples::close_csv(csv, out / "attacks.csv");
  sf::examples::close_csv(diag_csv, out / "attack_ensembles.csv");
  {
    std::ofstream list(out / "attack_epsilons.txt");
    for (const auto& n : epsilon_names) list << n << '\n';
  }
  std::cout << "attacks: FGSM at radii " << join(fgsm_radii) << " and PGD (" << pgd_steps << " steps of "
            << short_number(pgd_step_factor) << " r/steps) at radii " << join(pgd_radii) << " on " << ax.cols()
            << " test images; ensembles of " << attack_members << " members at epsilon " << join(attack_epsilons)
            << "; in " << timing(t, cpu) << "\n";
  checks.expect(radius_zero_identity, "attacks of radius 0 return the inputs unchanged");
  for (const auto& [name, acc] : fgsm_accuracy) {
    // On average non-increasing: the last radius is below the first and no step up exceeds 1%.
    bool ok = acc.back() <= acc.front();
    for (std::size_t i = 1; i < acc.size(); ++i) ok = ok && acc[i] <= acc[i - 1] + 0.01;
    checks.expect(ok, "white-box FGSM accuracy of " + name + " does not rise with the radius (" + join(acc) + ")");
  }

  if (sf::examples::render("ensemble_fashion_mnist.gp", out))
    std::cout << "wrote " << (out / "ensemble_accuracy.png").string() << ", ensemble_members.png, attacks_eps*.png\n";
  std::cout << "wrote " << (out / "training.csv").string() << ", ensemble_sweep.csv, attacks.csv\n";
  std::cout << "total " << timing(start, 0.0) << "; " << checks.failed << " checks failed\n";
  return checks.failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("ensemble_fashion_mnist", [&] { return run_example(argc, argv); });
}
