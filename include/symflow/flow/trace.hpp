// SPDX-License-Identifier: MIT
#pragma once
/// \file Trace: an observer that records named columns every N steps and writes them as CSV, one
/// row per record (tidy), with a header line.
///
/// Every trace has the columns `step` and `time`. A column is added with `add(name, f)`, where f is
/// either a quantity of the parameters, `f(const Params& θ)`, or anything computed from the
/// snapshot, `f(const Snapshot<Params>& s)`; f returns a scalar (one column) or an Eigen vector or
/// matrix (one column per entry, named `name_i` for vectors and `name_r_c` for matrices, entries in
/// column-major order). The last point of a run is always recorded.
///
/// ```
/// Trace<Net::Params> trace(10);                 // every 10 steps
/// trace.add_loss().add("Q", [&](const Net::Params& p) { return imbalance(p); });
/// run(GradientDescent{0.01}, objective, theta, Stopping{.max_steps = 1000}, trace);
/// trace.write_csv("run.csv");
/// ```

#include <concepts>
#include <fstream>
#include <functional>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/flow/observer.hpp"

namespace symflow {

template <class Params>
class Trace {
 public:
  using Scalar = typename Params::Scalar;

  /// Records at steps 0, every, 2·every, … and at the last point of a run.
  explicit Trace(Index every = 1) : every_(every) {
    if (every < 1) throw std::invalid_argument("symflow::Trace: `every` is " + std::to_string(every) + ", expected ≥ 1");
  }

  /// Adds a column computed by f(θ) or f(snapshot); f returns a scalar or an Eigen vector/matrix.
  template <class F>
  Trace& add(std::string name, F f) {
    if (rows() > 0) throw std::logic_error("symflow::Trace: add columns before the first record");
    for (const auto& c : columns_)
      if (c.name == name) throw std::invalid_argument("symflow::Trace: a column named '" + name + "' exists already");
    Column c;
    c.name = std::move(name);
    if constexpr (std::invocable<F&, const Snapshot<Params>&>) {
      c.record = [f = std::move(f)](const Snapshot<Params>& s, Column& col) mutable { col.append(f(s)); };
    } else {
      static_assert(std::invocable<F&, const Params&>,
                    "symflow::Trace::add: the column must be callable as f(theta) or f(snapshot)");
      c.record = [f = std::move(f)](const Snapshot<Params>& s, Column& col) mutable { col.append(f(s.theta)); };
    }
    columns_.push_back(std::move(c));
    return *this;
  }

  /// The column `loss`: L(θ).
  Trace& add_loss() { return add("loss", [](const Snapshot<Params>& s) { return s.loss; }); }
  /// The column `gradient_norm`: ‖∇L(θ)‖₂.
  Trace& add_gradient_norm() {
    return add("gradient_norm", [](const Snapshot<Params>& s) { return s.gradient.norm(); });
  }
  /// The column `step_size`: the size of the step that led to the point.
  Trace& add_step_size() { return add("step_size", [](const Snapshot<Params>& s) { return s.step_size; }); }

  /// Records the snapshot when its step is a multiple of `every` or it is the last point.
  void operator()(const Snapshot<Params>& s) {
    if (s.step % every_ != 0 && !s.last) return;
    if (!steps_.empty() && steps_.back() == s.step && times_.back() == s.time) return;  // already recorded
    steps_.push_back(s.step);
    times_.push_back(s.time);
    for (auto& c : columns_) c.record(s, c);
  }

  /// Number of records.
  Index rows() const { return static_cast<Index>(steps_.size()); }
  Index every() const { return every_; }
  const std::vector<Index>& steps() const { return steps_; }
  const std::vector<Scalar>& times() const { return times_; }

  /// The CSV column names in order: step, time, then each column (expanded per entry).
  std::vector<std::string> names() const {
    std::vector<std::string> out{"step", "time"};
    for (const auto& c : columns_) {
      if (c.entry_names.empty()) out.push_back(c.name);
      else out.insert(out.end(), c.entry_names.begin(), c.entry_names.end());
    }
    return out;
  }

  /// The values of one CSV column over all records, by its name ("loss", "Q_3", "time", …).
  std::vector<Scalar> column(const std::string& name) const {
    if (name == "time") return times_;
    if (name == "step") {
      std::vector<Scalar> out;
      for (Index s : steps_) out.push_back(static_cast<Scalar>(s));
      return out;
    }
    for (const auto& c : columns_) {
      const Index width = static_cast<Index>(c.entry_names.empty() ? 1 : c.entry_names.size());
      for (Index i = 0; i < width; ++i) {
        const std::string& n = c.entry_names.empty() ? c.name : c.entry_names[static_cast<std::size_t>(i)];
        if (n != name) continue;
        std::vector<Scalar> out;
        for (Index r = 0; r < rows(); ++r) out.push_back(c.values[static_cast<std::size_t>(r * width + i)]);
        return out;
      }
    }
    throw std::out_of_range("symflow::Trace: no column named '" + name + "'");
  }

  /// Writes the header line and one row per record; numbers round-trip (max_digits10).
  void write_csv(std::ostream& out) const {
    const auto header = names();
    for (std::size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << header[i];
    out << '\n';
    const auto precision = out.precision(std::numeric_limits<Scalar>::max_digits10);
    for (Index r = 0; r < rows(); ++r) {
      const auto ru = static_cast<std::size_t>(r);
      out << steps_[ru] << ',' << static_cast<long double>(times_[ru]);
      for (const auto& c : columns_) {
        const Index width = static_cast<Index>(c.entry_names.empty() ? 1 : c.entry_names.size());
        for (Index i = 0; i < width; ++i)
          out << ',' << static_cast<long double>(c.values[static_cast<std::size_t>(r * width + i)]);
      }
      out << '\n';
    }
    out.precision(precision);
  }

  /// Writes the CSV to a file; throws std::runtime_error when it cannot be opened.
  void write_csv(const std::string& path) const {
    std::ofstream file(path);
    if (!file) throw std::runtime_error("symflow::Trace: cannot open '" + path + "' for writing");
    write_csv(file);
    if (!file) throw std::runtime_error("symflow::Trace: writing '" + path + "' failed");
  }

  /// Forgets every record (the columns stay).
  void clear() {
    steps_.clear();
    times_.clear();
    for (auto& c : columns_) c.values.clear();
  }

 private:
  struct Column {
    std::string name;
    std::vector<std::string> entry_names;  // empty for a scalar column
    bool shaped = false;
    Index width = 1;
    std::function<void(const Snapshot<Params>&, Column&)> record;
    std::vector<Scalar> values;

    template <class V>
    void append(const V& v) {
      if constexpr (std::is_convertible_v<const V&, Scalar>) {
        shape(1, 1, false);
        values.push_back(static_cast<Scalar>(v));
      } else {
        const auto& m = v.derived();
        shape(m.rows(), m.cols(), true);
        for (Index j = 0; j < m.cols(); ++j)
          for (Index i = 0; i < m.rows(); ++i) values.push_back(static_cast<Scalar>(m(i, j)));
      }
    }

    void shape(Index r, Index c, bool is_matrix) {
      if (shaped) {
        if (r * c != width)
          throw std::invalid_argument("symflow::Trace: column '" + name + "' changed size from " +
                                      std::to_string(width) + " to " + std::to_string(r * c) + " entries");
        return;
      }
      shaped = true;
      width = r * c;
      if (!is_matrix) return;
      for (Index j = 0; j < c; ++j)
        for (Index i = 0; i < r; ++i) {
          if (c == 1) entry_names.push_back(name + "_" + std::to_string(i));
          else if (r == 1) entry_names.push_back(name + "_" + std::to_string(j));
          else entry_names.push_back(name + "_" + std::to_string(i) + "_" + std::to_string(j));
        }
    }
  };

  Index every_;
  std::vector<Index> steps_;
  std::vector<Scalar> times_;
  std::vector<Column> columns_;
};

}  // namespace symflow
