// check-comm: proves the communication layer on the machines at hand (a cluster's first
// job): every collective gives the expected numbers, allreduce bandwidth, and, with
// --fail-rank, that a failing rank stops the whole job with its message instead of a hang.
#include <ATen/ATen.h>

#include <chrono>

#include "cli/cli.h"
#include "core/error.h"
#include "core/log.h"
#include "mpi/communicator.h"

namespace styleseg::cli {
namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw CommError("check-comm: " + what + " gave a wrong result");
}

void check_collectives(comm::Communicator& comm) {
  const auto dev = at::TensorOptions().device(comm.device());
  const int r = comm.rank(), n = comm.size();
  for (auto type : {at::kFloat, at::kDouble, at::kLong}) {
    const std::string name = std::string(c10::toString(type));
    at::Tensor t = at::full({7}, r + 1, dev.dtype(type));
    comm.allreduce(t, comm::ReduceOp::Sum);
    expect(t.to(at::kCPU).eq(n * (n + 1) / 2).all().item<bool>(), "allreduce sum " + name);
    t = at::full({3}, r, dev.dtype(type));
    comm.allreduce(t, comm::ReduceOp::Max);
    expect(t.to(at::kCPU).eq(n - 1).all().item<bool>(), "allreduce max " + name);
    t = at::full({3}, r + 5, dev.dtype(type));
    comm.allreduce(t, comm::ReduceOp::Min);
    expect(t.to(at::kCPU).eq(5).all().item<bool>(), "allreduce min " + name);
  }
  at::Tensor b = at::full({4}, r == n - 1 ? 42.0 : -1.0, dev.dtype(at::kFloat));
  comm.broadcast(b, n - 1);
  expect(b.to(at::kCPU).eq(42.0).all().item<bool>(), "broadcast");
  at::Tensor g = comm.allgather(at::full({2}, r, dev.dtype(at::kLong)));
  expect(g.size(0) == n && g.to(at::kCPU).select(1, 0).equal(at::arange(n, at::kLong)), "allgather");
  comm.barrier();
}

}  // namespace

int check_comm_main(const std::vector<std::string>& args) {
  int fail_rank = -1;
  double megabytes = 16;
  int iterations = 5;
  OptionSet set("check-comm",
                "Runs every collective of the communication layer and checks the results, then times allreduce.\n"
                "With --fail-rank K, rank K throws after the first collective while the others wait in a barrier:\n"
                "the job must end on every rank with a non-zero exit and rank K's message (no hang).");
  set.add("fail-rank", &fail_rank, "rank that raises an error on purpose (-1: none)")
      .add("megabytes", &megabytes, "allreduce size for the bandwidth test")
      .add("iterations", &iterations, "timed allreduce repetitions");
  return run_command(set, args, [&](comm::Communicator& comm) {
    STYLESEG_CHECK(megabytes > 0 && iterations > 0, ConfigError, "check-comm: --megabytes and --iterations must be positive");
    STYLESEG_CHECK(fail_rank < comm.size(), ConfigError,
                   "check-comm: --fail-rank " + std::to_string(fail_rank) + " but there are " + std::to_string(comm.size()) + " ranks");
    check_collectives(comm);
    log::info("collectives correct on {} rank(s), backend {}, device {}", comm.size(),
              comm::backend_name(comm.backend()), comm.device().str());
    if (comm.rank() == fail_rank) throw Error("injected failure on rank " + std::to_string(fail_rank) + " (--fail-rank)");
    comm.barrier();
    at::Tensor payload = at::ones({static_cast<int64_t>(megabytes * 1024 * 1024 / 4)}, at::TensorOptions().device(comm.device()));
    comm.allreduce(payload);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) comm.allreduce(payload);
    comm.barrier();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
    // Bus bandwidth as nccl-tests reports it: 2 (n-1)/n of the bytes cross each link.
    const double bus = megabytes / 1024.0 * 2.0 * (comm.size() - 1) / comm.size() / seconds;
    if (comm.size() == 1)  // an in-place allreduce of one rank moves nothing: no figure to give
      log::info("allreduce of {:.1f} MB: {:.2f} ms on one rank (bandwidth needs 2 or more ranks)", megabytes, seconds * 1e3);
    else
      log::info("allreduce of {:.1f} MB: {:.2f} ms, bus bandwidth {:.2f} GB/s", megabytes, seconds * 1e3, bus);
    return 0;
  });
}

}  // namespace styleseg::cli
