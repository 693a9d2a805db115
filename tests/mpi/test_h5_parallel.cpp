// Parallel HDF5 (io/h5.h over MPI-IO): every rank writes its own interleaved row blocks
// into one shared file, in rounds where some ranks have nothing to write; then every
// rank reads all of it back. Runs under mpiexec at 1, 2 and 4 ranks.
//
// No ASSERT_* before a collective call: a rank that returns early hangs the others.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/atomic_output.h"
#include "core/error.h"
#include "io/h5.h"

#include <hdf5.h>

namespace styleseg::h5 {
namespace {

constexpr std::int64_t kRows = 103;      // not a multiple of the block or chunk size
constexpr std::int64_t kColumns = 5;
constexpr std::int64_t kBlockRows = 4;   // rows per write
constexpr std::int64_t kChunkRows = 6;   // chunks straddle blocks of different ranks

struct World {
  int rank = 0;
  int size = 1;
};

World world() {
  World w;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  return w;
}

// A name unique to this process group (size and rank 0's pid) under /tmp.
std::string shared_path(const std::string& stem) {
  const World w = world();
  long pid = static_cast<long>(getpid());
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  return "/tmp/styleseg_" + stem + "_np" + std::to_string(w.size) + "_" + std::to_string(pid) + ".h5";
}

std::string broadcast_token() {
  char token[128] = {0};
  if (world().rank == 0) {
    const std::string made = AtomicOutput::make_token();
    made.copy(token, sizeof(token) - 1);
  }
  MPI_Bcast(token, sizeof(token), MPI_CHAR, 0, MPI_COMM_WORLD);
  return token;
}

double float_value(std::int64_t row, std::int64_t column) { return row * 10.0 + column + 0.25; }
std::int64_t int_value(std::int64_t row, std::int64_t column) {
  return (row * 10 + column) * 1'000'000'007LL - 3;
}

// Writes the two datasets: block b (rows [b*4, b*4+4)) belongs to rank b % size; each
// round a rank writes its next block, except in rounds where (round + rank) % 3 == 0,
// when it writes nothing (nrows = 0) but still takes part. Returns the number of rounds
// in which at least one rank wrote nothing.
int write_interleaved(File& file) {
  const World w = world();
  const std::int64_t blocks = (kRows + kBlockRows - 1) / kBlockRows;
  std::int64_t next_block = w.rank;  // this rank's next block
  int rounds_with_idle_ranks = 0;
  for (int round = 0;; ++round) {
    const int mine_left = next_block < blocks ? 1 : 0;
    int any_left = 0;
    MPI_Allreduce(&mine_left, &any_left, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!any_left) break;

    std::int64_t row0 = 0, nrows = 0;
    if (mine_left && (round + w.rank) % 3 != 0) {
      row0 = next_block * kBlockRows;
      nrows = std::min(kBlockRows, kRows - row0);
      next_block += w.size;
    }
    std::vector<double> floats(static_cast<std::size_t>(nrows * kColumns));
    std::vector<std::int64_t> ints(floats.size());
    for (std::int64_t r = 0; r < nrows; ++r) {
      for (std::int64_t c = 0; c < kColumns; ++c) {
        floats[static_cast<std::size_t>(r * kColumns + c)] = float_value(row0 + r, c);
        ints[static_cast<std::size_t>(r * kColumns + c)] = int_value(row0 + r, c);
      }
    }
    file.write_rows("contiguous/values", row0, nrows, floats.data(), DType::F64);
    file.write_rows("compressed/values", row0, nrows, ints.data(), DType::I64);

    const int idle = nrows == 0 ? 1 : 0;
    int any_idle = 0;
    MPI_Allreduce(&idle, &any_idle, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    rounds_with_idle_ranks += any_idle;
  }
  return rounds_with_idle_ranks;
}

void create_and_write(const std::string& path, int* idle_rounds) {
  File file = File::create(path, MPI_COMM_WORLD);
  EXPECT_TRUE(file.is_parallel());
  file.write_string_attribute("/", "writer", "test_h5_parallel");
  file.write_int_attribute("/", "ranks", world().size);
  file.create_dataset("contiguous/values", DType::F64, {kRows, kColumns});
  file.create_dataset("compressed/values", DType::I64, {kRows, kColumns}, {kChunkRows, kColumns}, 4);
  *idle_rounds = write_interleaved(file);
  file.close();
}

// Checks every value of both datasets; returns the number of wrong values.
int count_wrong_values(const File& file) {
  int wrong = 0;
  const std::vector<double> floats = file.read_all<double>("contiguous/values");
  const std::vector<std::int64_t> ints = file.read_all<std::int64_t>("compressed/values");
  EXPECT_EQ(floats.size(), static_cast<std::size_t>(kRows * kColumns));
  EXPECT_EQ(ints.size(), static_cast<std::size_t>(kRows * kColumns));
  for (std::int64_t r = 0; r < kRows; ++r) {
    for (std::int64_t c = 0; c < kColumns; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * kColumns + c);
      if (i < floats.size() && floats[i] != float_value(r, c)) {
        if (++wrong <= 5) ADD_FAILURE() << "contiguous row " << r << " column " << c << ": " << floats[i];
      }
      if (i < ints.size() && ints[i] != int_value(r, c)) {
        if (++wrong <= 5) ADD_FAILURE() << "compressed row " << r << " column " << c << ": " << ints[i];
      }
    }
  }
  return wrong;
}

TEST(H5Parallel, InterleavedRowBlocksFromEveryRankReadBackEverywhere) {
  const World w = world();
  const std::string path = shared_path("h5_parallel");
  AtomicOutput output(path, broadcast_token());  // the same temp name on every rank

  int idle_rounds = 0;
  create_and_write(output.temp_path(), &idle_rounds);
  EXPECT_GT(idle_rounds, 0) << "the test should have rounds where some rank writes nothing";

  // Commit protocol (io/atomic_output.h): close, barrier, rank 0 renames, barrier.
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) output.commit();
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(output.temp_path()));

  {  // Opened in parallel: reads are independent, every rank reads everything.
    File file = File::open(path, Mode::Read, MPI_COMM_WORLD);
    EXPECT_EQ(count_wrong_values(file), 0) << "rank " << w.rank << ", parallel open";
    EXPECT_EQ(file.read_int_attribute("/", "ranks"), w.size);
    EXPECT_EQ(file.read_string_attribute("/", "writer"), "test_h5_parallel");
    EXPECT_EQ(file.info("compressed/values").shape, (std::vector<std::int64_t>{kRows, kColumns}));
    file.close();
  }
  {  // Opened by each rank alone with the serial driver.
    File file = File::open(path, Mode::Read);
    EXPECT_FALSE(file.is_parallel());
    EXPECT_EQ(count_wrong_values(file), 0) << "rank " << w.rank << ", serial open";
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) std::filesystem::remove(path);
}

TEST(H5Parallel, ReopenedFileTakesMoreRowsFromEveryRank) {
  const World w = world();
  const std::string path = shared_path("h5_parallel_reopen");
  {
    File file = File::create(path, MPI_COMM_WORLD);
    file.create_dataset("ids", DType::I32, {w.size * 2}, {3}, 1);
    file.close();
  }
  {
    File file = File::open(path, Mode::ReadWrite, MPI_COMM_WORLD);
    const std::int32_t mine[2] = {w.rank * 100, w.rank * 100 + 1};
    file.write_rows("ids", w.rank * 2, 2, mine, DType::I32);
    file.write_int_attribute("ids", "count", w.size * 2);
  }  // destructor closes (collective)
  MPI_Barrier(MPI_COMM_WORLD);
  File file = File::open(path, Mode::Read);
  std::vector<std::int32_t> expected;
  for (int r = 0; r < w.size; ++r) expected.insert(expected.end(), {r * 100, r * 100 + 1});
  EXPECT_EQ(file.read_all<std::int32_t>("ids"), expected);
  EXPECT_EQ(file.read_int_attribute("ids", "count"), w.size * 2);
  file.close();
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) std::filesystem::remove(path);
}

// Every rank grows the dataset alike (collective), then writes its own rows of the round.
TEST(H5Parallel, AGrowingDatasetTakesEveryRanksRowsRoundByRound) {
  const World w = world();
  const std::string path = shared_path("h5_parallel_grows");
  const int rounds = 3;
  {
    File file = File::create(path, MPI_COMM_WORLD);
    file.create_dataset("ids", DType::I32, {rounds * w.size}, {1}, 0, Allocation::EarlyUnfilled, Extent::Grows);
    for (int round = 0; round < rounds; ++round) {
      file.grow_rows("ids", (round + 1) * w.size);
      const std::int32_t mine = round * 1000 + w.rank;
      file.write_rows("ids", round * w.size + w.rank, 1, &mine, DType::I32);
    }
    EXPECT_EQ(file.info("ids").shape, (std::vector<std::int64_t>{rounds * w.size}));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  File file = File::open(path, Mode::Read);
  std::vector<std::int32_t> expected;
  for (int round = 0; round < rounds; ++round)
    for (int r = 0; r < w.size; ++r) expected.push_back(round * 1000 + r);
  EXPECT_EQ(file.read_all<std::int32_t>("ids"), expected);
  file.close();
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) std::filesystem::remove(path);
}

TEST(H5Parallel, SameWritesGiveByteIdenticalFiles) {
  const World w = world();
  const std::string first = shared_path("h5_parallel_first");
  const std::string second = shared_path("h5_parallel_second");
  int idle_rounds = 0;
  create_and_write(first, &idle_rounds);
  create_and_write(second, &idle_rounds);
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) {
    auto bytes = [](const std::string& path) {
      std::ifstream in(path, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    const std::string a = bytes(first);
    EXPECT_GT(a.size(), 0u);
    EXPECT_TRUE(a == bytes(second)) << first << " and " << second << " differ";
    std::filesystem::remove(first);
    std::filesystem::remove(second);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// The parallel I/O settings reach the file: hints go to MPI_File_open (MPI-IO reports them
// back), and with an alignment the storage of a large dataset starts at a multiple of it.
TEST(H5Parallel, MpiIoHintsAndAlignmentReachTheFile) {
  const World w = world();
  const std::string path = shared_path("h5_parallel_hints");
  set_parallel_io(ParallelIo{parse_mpi_io_hints(" cb_nodes=1 , romio_cb_write=enable,", "--mpi-io-hints"), 1 << 20});
  std::vector<std::pair<std::string, std::string>> reported;
  {
    File file = File::create(path, MPI_COMM_WORLD);
    file.create_dataset("big", DType::F32, {64, 4096});  // 1 MiB: aligned
    reported = file.mpi_io_hints();
    file.close();
  }
  set_parallel_io(ParallelIo{});
  EXPECT_NE(std::find(reported.begin(), reported.end(), std::make_pair(std::string("cb_nodes"), std::string("1"))),
            reported.end())
      << "MPI-IO did not report the cb_nodes hint given";
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "big", H5P_DEFAULT);
    const haddr_t offset = H5Dget_offset(dataset);
    H5Dclose(dataset);
    H5Fclose(file);
    EXPECT_NE(offset, HADDR_UNDEF);
    EXPECT_GT(offset, 0u);
    EXPECT_EQ(offset % (1 << 20), 0u) << "the dataset's storage starts at byte " << offset;
    std::filesystem::remove(path);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(H5Parallel, MalformedMpiIoHintsNameTheOption) {
  EXPECT_THROW(parse_mpi_io_hints("romio_cb_write", "STYLESEG_MPIIO_HINTS"), ConfigError);
  EXPECT_THROW(parse_mpi_io_hints("=enable", "--mpi-io-hints"), ConfigError);
  try {
    parse_mpi_io_hints("a=1,b", "STYLESEG_MPIIO_HINTS");
    ADD_FAILURE() << "an item without '=' was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("STYLESEG_MPIIO_HINTS"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(parse_mpi_io_hints("", "--mpi-io-hints").empty());
}

}  // namespace
}  // namespace styleseg::h5
