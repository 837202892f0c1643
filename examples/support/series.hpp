// SPDX-License-Identifier: MIT
#pragma once
// What the figure programs share beyond plot.hpp: numbers as short text for CSV cells and legends,
// and where each series stands in a CSV that holds several one after the other. A gnuplot script
// then reads series i with `every ::first_i::last_i`, which skips the other rows unparsed, instead of
// testing every row of the file for every series it draws (gnuplot's CPU time on the full-scale
// CSVs of Figures 3 and 6: 3.6 s each that way, 0.4 and 0.2 s this way).

#include <cstddef>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace symflow::examples {

/// x with `digits` significant digits.
inline std::string format(double x, int digits = 10) {
  std::ostringstream o;
  o.precision(digits);
  o << x;
  return o.str();
}

/// The data rows (counted from 0 after the header line, as gnuplot's `skip 1 every` counts them)
/// of consecutive series in one CSV file.
class RowRanges {
 public:
  /// The next series: `rows` data rows (at least one) right after the previous series.
  void add(std::size_t rows) {
    first_.push_back(next_);
    next_ += rows;
    last_.push_back(next_ - 1);
  }

  /// Writes `<prefix>first_i = …` and `<prefix>last_i = …` for the series i = 1, 2, … in the
  /// order they were added: gnuplot variables for `every ::<prefix>first_i::<prefix>last_i`.
  void write(std::ostream& gp, const std::string& prefix = "") const {
    for (std::size_t i = 0; i < first_.size(); ++i)
      gp << prefix << "first_" << i + 1 << " = " << first_[i] << '\n' << prefix << "last_" << i + 1 << " = " << last_[i] << '\n';
  }

 private:
  std::size_t next_ = 0;
  std::vector<std::size_t> first_, last_;
};

}  // namespace symflow::examples
