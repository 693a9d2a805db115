#include "world.h"

#include <gtest/gtest.h>

#include <memory>

#include "mpi/launch.h"

namespace styleseg::test {
namespace {

class WorldEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { comm = comm::make_communicator(comm::Backend::Mpi); }
  void TearDown() override { comm.reset(); }
  static std::unique_ptr<comm::Communicator> comm;
};
std::unique_ptr<comm::Communicator> WorldEnvironment::comm;
[[maybe_unused]] auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

}  // namespace

comm::Communicator& world() { return *WorldEnvironment::comm; }

}  // namespace styleseg::test
