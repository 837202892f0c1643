// Specification of sweeps over MPI ranks: rank 0 gathers every item's result in item order, bit
// for bit equal to the one-process sweep, whatever the number of ranks and however unevenly the
// items split; a failing item makes every rank throw. Run as `mpirun -np 2 test_mpi_sweep`.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <symflow/analysis/mpi_sweep.hpp>
#include <symflow/symflow.hpp>

namespace sf = symflow;

namespace {

using Net = sf::TwoLayer<double, sf::Tanh, 10, 20, 5>;

/// One item: 40 gradient-descent steps of a network drawn from the item's generator; returns the
/// final loss, eq. (48) summed, and the last entry of θ.
struct Outcome {
  double loss;
  double q;
  double last_entry;
  std::uint64_t item;
};

Outcome train(std::uint64_t seed, std::uint64_t item) {
  const Net net;
  auto rng = sf::sweep_generator(seed, item);
  const auto y = sf::random_normal<Eigen::Matrix<double, 5, 10>>(5, 10, rng);
  const sf::Objective objective(net, sf::MeanSquaredError{}, Eigen::Matrix<double, 10, 10>::Identity().eval(), y);
  Net::Params theta = sf::random_params(net, rng, 0.1);
  sf::run(sf::GradientDescent{0.05}, objective, theta, sf::Stopping{.max_steps = 40});
  return {objective.value(theta), sf::summed(sf::ElementwiseQuantity<Net>(net)).value(theta), theta[net.size() - 1], item};
}

int rank_of_world() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

}  // namespace

TEST_CASE("rank 0 gathers the items in order, bit for bit the one-process sweep", "[mpi][sweep]") {
  int ranks = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  INFO("ranks: " << ranks);
  for (std::uint64_t count : {0u, 1u, 13u, 64u}) {
    const sf::SweepRange range{5, count};
    const auto gathered = sf::mpi_sweep(MPI_COMM_WORLD, range, [](std::uint64_t i) { return train(2023, i); });
    if (rank_of_world() != 0) {
      CHECK(gathered.empty());
      continue;
    }
    const auto alone = sf::sweep(range, [](std::uint64_t i) { return train(2023, i); });
    REQUIRE(gathered.size() == alone.size());
    for (std::size_t i = 0; i < alone.size(); ++i) {
      INFO("item " << range.first + i);
      CHECK(gathered[i].item == range.first + i);
      CHECK(std::memcmp(&gathered[i], &alone[i], sizeof(Outcome)) == 0);
    }
  }
}

TEST_CASE("an item that throws makes every rank throw, the owner with its own exception", "[mpi][sweep][errors]") {
  const auto f = [](std::uint64_t i) -> std::array<double, 2> {
    if (i == 9 || i == 10) throw std::domain_error("item " + std::to_string(i) + " has no solution");
    return {static_cast<double>(i), 0.5};
  };
  int ranks = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  // Items [0, 12): item 9 lies in the last shard.
  const sf::SweepRange range{0, 12};
  const sf::SweepRange mine = sf::shard(range, static_cast<std::uint64_t>(rank_of_world()), static_cast<std::uint64_t>(ranks));
  if (mine.first <= 9 && 9 < mine.end()) {
    CHECK_THROWS_WITH(sf::mpi_sweep(MPI_COMM_WORLD, range, f), "item 9 has no solution");
  } else {
    CHECK_THROWS_WITH(sf::mpi_sweep(MPI_COMM_WORLD, range, f), Catch::Contains("item 9 failed on another rank"));
  }
  // The communicator is usable afterwards.
  const auto fine = sf::mpi_sweep(MPI_COMM_WORLD, 4, [](std::uint64_t i) { return static_cast<double>(i); });
  if (rank_of_world() == 0) CHECK(fine == std::vector<double>{0, 1, 2, 3});
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int failed = Catch::Session().run(argc, argv);
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any_failed > 0 ? 1 : 0;
}
