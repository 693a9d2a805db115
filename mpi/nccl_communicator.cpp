#include "mpi/nccl_communicator.h"

#include <ATen/ops/empty.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <chrono>
#include <exception>
#include <thread>
#include <vector>

#include "core/error.h"

namespace styleseg::comm {
namespace {

std::string nccl_detail(ncclResult_t rc, ncclComm_t comm) {
  std::string text = ncclGetErrorString(rc);
#if NCCL_VERSION_CODE >= 21300
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
#endif
  return text;
}

}  // namespace

// Every CUDA and NCCL call is checked (as nccl-tests does): the error names the call, the
// rank, the host, the source line and the library's own message.
#define STYLESEG_CUDA_CHECK(op, call)                                                          \
  do {                                                                                         \
    const cudaError_t cuda_rc_ = (call);                                                       \
    if (cuda_rc_ != cudaSuccess) {                                                             \
      throw CommError(std::string(op) + ": " #call " failed on rank " +                       \
                      std::to_string(host_.rank()) + " (host " + host_.host() + ", " __FILE__ \
                      ":" + std::to_string(__LINE__) + "): " + cudaGetErrorString(cuda_rc_));  \
    }                                                                                          \
  } while (0)

#define STYLESEG_NCCL_CHECK(op, call)                                                          \
  do {                                                                                         \
    const ncclResult_t nccl_rc_ = (call);                                                      \
    if (nccl_rc_ != ncclSuccess) {                                                             \
      failed_ = true;                                                                          \
      throw CommError(std::string(op) + ": " #call " failed on rank " +                       \
                      std::to_string(host_.rank()) + " (host " + host_.host() + ", " __FILE__ \
                      ":" + std::to_string(__LINE__) + "): " + nccl_detail(nccl_rc_, nccl_));  \
    }                                                                                          \
  } while (0)

namespace {

ncclDataType_t nccl_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    default: return ncclInt64;  // check_tensor(reduction=true) allows only these three
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

// The unique id and whether rank 0 could make it, broadcast together so that a failure on
// rank 0 reaches the others instead of leaving them in ncclCommInitRank.
struct IdMessage {
  ncclUniqueId id;
  int ok;
};

}  // namespace

int visible_cuda_devices(std::string* why) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(rc);
    cudaGetLastError();  // clear the sticky-free error so later runtime calls start clean
    return 0;
  }
  if (count == 0 && why) *why = "cudaGetDeviceCount found 0 devices";
  return count;
}

NcclCommunicator::NcclCommunicator() {
  // 1. Every rank picks its GPU; all ranks then agree whether that worked, so a rank without
  //    a GPU makes every rank throw rather than leaving the others in ncclCommInitRank.
  std::string problem;
  std::string why;
  const int count = visible_cuda_devices(&why);
  if (count == 0) {
    problem = "NCCL backend: no CUDA device visible to rank " + std::to_string(rank()) + " on host " +
              host_.host() + " (" + why + "); the NCCL backend needs one GPU per rank: run on a GPU " +
              "node (check CUDA_VISIBLE_DEVICES) or use the MPI backend (--backend mpi)";
  } else if (local_rank() < count) {
    device_index_ = local_rank();
  } else if (count == 1) {
    device_index_ = 0;  // the launcher bound one GPU to each task
  } else {
    problem = "NCCL backend: rank " + std::to_string(rank()) + " is local rank " + std::to_string(local_rank()) +
              " of " + std::to_string(local_size()) + " on host " + host_.host() + " but sees only " +
              std::to_string(count) + " CUDA devices; start at most one rank per GPU";
  }
  if (any_rank(host_, !problem.empty())) {
    if (!problem.empty()) throw CommError(problem);
    throw CommError("NCCL backend: another rank has no usable GPU (see its message); rank " +
                    std::to_string(rank()) + " stops too");
  }

  try {
    set_device();
    // 2. Rank 0 makes the NCCL id; MPI carries it to the others.
    IdMessage message{};
    std::string id_problem;
    if (rank() == 0) {
      const ncclResult_t rc = ncclGetUniqueId(&message.id);
      message.ok = rc == ncclSuccess ? 1 : 0;
      if (rc != ncclSuccess) id_problem = std::string("ncclGetUniqueId: ") + ncclGetErrorString(rc);
    }
    host_.broadcast_bytes(&message, sizeof message, 0);
    if (!message.ok) {
      throw CommError("NCCL backend: rank 0 could not create the NCCL id" +
                      (id_problem.empty() ? std::string(" (see its message)") : ": " + id_problem));
    }
    // 3. Collective: every rank joins the NCCL communicator.
    ncclComm_t comm = nullptr;
    STYLESEG_NCCL_CHECK("NCCL backend", ncclCommInitRank(&comm, size(), message.id, rank()));
    nccl_ = comm;
    STYLESEG_CUDA_CHECK("NCCL backend", cudaMalloc(&scratch_, sizeof(float)));
  } catch (...) {
    failed_ = true;
    release();
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() { release(); }

void NcclCommunicator::release() noexcept {
  if (nccl_ != nullptr) {
    // Destroying flushes outstanding work with the peers; after an error, or while an
    // exception unwinds (a peer may be gone), abort instead so this rank cannot hang here.
    if (failed_ || std::uncaught_exceptions() > 0) {
      ncclCommAbort(nccl_);
    } else {
      ncclCommDestroy(nccl_);
    }
    nccl_ = nullptr;
  }
  if (scratch_ != nullptr) {
    cudaFree(scratch_);
    scratch_ = nullptr;
  }
}

c10::Device NcclCommunicator::device() const {
  return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device_index_));
}

void NcclCommunicator::set_device() {
  // Cheap, and the caller may have switched the current device since the last call.
  STYLESEG_CUDA_CHECK("NCCL backend", cudaSetDevice(device_index_));
}

void NcclCommunicator::wait(const char* op) {
  // Poll instead of cudaStreamSynchronize: NCCL reports a failed peer asynchronously, and a
  // blocking synchronise would never see it.
  for (int polls = 0;; ++polls) {
    while (aborting_.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::seconds(1));
    const cudaError_t rc = cudaStreamQuery(cudaStreamLegacy);
    if (rc == cudaSuccess) return;
    if (rc != cudaErrorNotReady) {
      failed_ = true;
      STYLESEG_CUDA_CHECK(op, rc);
    }
    ncclResult_t async = ncclSuccess;
    STYLESEG_NCCL_CHECK(op, ncclCommGetAsyncError(nccl_, &async));
    if (async != ncclSuccess
#if NCCL_VERSION_CODE >= 21400
        && async != ncclInProgress
#endif
    ) {
      failed_ = true;
      throw CommError(std::string(op) + ": NCCL failed asynchronously on rank " + std::to_string(rank()) +
                      " (host " + host_.host() + "): " + nccl_detail(async, nccl_) +
                      "; another rank has probably failed");
    }
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

void NcclCommunicator::allreduce(at::Tensor& t, ReduceOp op) {
  detail::check_tensor("allreduce", t, device(), /*reduction=*/true);
  if (t.numel() == 0) return;
  set_device();
  STYLESEG_NCCL_CHECK("allreduce", ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                                 nccl_type(t.scalar_type()), nccl_op(op), nccl_,
                                                 cudaStreamLegacy));
  wait("allreduce");
}

void NcclCommunicator::broadcast(at::Tensor& t, int root) {
  detail::check_tensor("broadcast", t, device(), /*reduction=*/false);
  detail::check_root("broadcast", root, size());
  if (t.nbytes() == 0) return;
  set_device();
  STYLESEG_NCCL_CHECK("broadcast", ncclBroadcast(t.data_ptr(), t.data_ptr(), t.nbytes(), ncclUint8, root, nccl_,
                                                 cudaStreamLegacy));
  wait("broadcast");
}

at::Tensor NcclCommunicator::allgather(const at::Tensor& t) {
  detail::check_tensor("allgather", t, device(), /*reduction=*/false);
  host_.check_same_shape("allgather", t);  // a few bytes over MPI, before any device buffer
  std::vector<int64_t> shape{size()};
  shape.insert(shape.end(), t.sizes().begin(), t.sizes().end());
  at::Tensor out = at::empty(shape, t.options());
  if (t.nbytes() == 0) return out;
  set_device();
  STYLESEG_NCCL_CHECK("allgather", ncclAllGather(t.data_ptr(), out.data_ptr(), t.nbytes(), ncclUint8, nccl_,
                                                 cudaStreamLegacy));
  wait("allgather");
  return out;
}

void NcclCommunicator::barrier() {
  set_device();
  STYLESEG_NCCL_CHECK("barrier", ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, nccl_,
                                               cudaStreamLegacy));
  wait("barrier");
}

void NcclCommunicator::abort(int exit_code, const std::string& message) {
  std::fprintf(stderr, "rank %d: %s\n", rank(), message.c_str());
  std::fflush(stderr);
  // Another thread may be in wait(): park it first, then free the NCCL resources (and any
  // peer blocked on this rank), then end the job. nccl_ is left dangling on purpose: the
  // process ends in MPI_Abort and nothing runs its destructor.
  aborting_.store(true, std::memory_order_release);
  if (nccl_ != nullptr) ncclCommAbort(nccl_);
  host_.abort_job(exit_code);
}

}  // namespace styleseg::comm
