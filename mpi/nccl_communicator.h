// NCCL backend: one rank per GPU, tensors on cuda:<device>, collectives through NCCL.
//
// Compiled only when CMake finds CUDA and NCCL (STYLESEG_WITH_NCCL); it uses the CUDA
// runtime and NCCL directly, so it builds against a CPU LibTorch too (then it can be
// created on a GPU node but no LibTorch tensor can live on its device; launch.cpp's
// "auto" therefore picks it only when LibTorch has CUDA as well).
//
// Device: the local rank (ranks on a node take GPUs 0, 1, ...), or device 0 when the
// process sees exactly one GPU (a launcher that binds one GPU per task through
// CUDA_VISIBLE_DEVICES, e.g. `srun --gpus-per-task=1`).
//
// Streams: every collective runs on CUDA's legacy default stream and this rank waits for it
// before returning. LibTorch's default stream is that same legacy stream, so collectives
// order after the kernels that produced their input without this file linking LibTorch's
// CUDA parts; the price is no overlap of communication with computation.
//
// cuda_runtime_api.h and nccl.h stay in the .cpp.
#pragma once

#include <atomic>
#include <string>

#include "mpi/communicator.h"
#include "mpi/mpi_communicator.h"

struct ncclComm;  // nccl.h: typedef struct ncclComm* ncclComm_t

namespace styleseg::comm {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over MPI_COMM_WORLD (MPI must be initialised). Throws CommError on every
  // rank when any rank has no usable GPU ("no CUDA device visible to rank R ...") or NCCL
  // cannot start.
  NcclCommunicator();
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int local_rank() const override { return host_.local_rank(); }
  int local_size() const override { return host_.local_size(); }
  Backend backend() const override { return Backend::Nccl; }
  c10::Device device() const override;

  void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor allgather(const at::Tensor& t) override;
  // A one-element NCCL allreduce, then wait: returns once every rank got there and this
  // rank's queued device work is done.
  void barrier() override;
  // Prints "rank R: message", ncclCommAbort (frees ranks blocked in NCCL), then MPI_Abort.
  [[noreturn]] void abort(int exit_code, const std::string& message) override;

 private:
  void set_device();
  void wait(const char* op);  // the legacy stream is done, or an NCCL/CUDA error is thrown
  void release() noexcept;

  MpiCommunicator host_;  // rank, local rank, the NCCL id exchange, shape checks
  int device_index_ = -1;
  ncclComm* nccl_ = nullptr;
  void* scratch_ = nullptr;  // one float on the device, for barrier()
  bool failed_ = false;      // an NCCL error was seen: abort the comm instead of destroying it
  // Set by abort() (possibly from the watchdog's thread): wait() stops touching the NCCL
  // communicator, which abort() is tearing down just before MPI_Abort ends the process.
  std::atomic<bool> aborting_{false};
};

// Number of CUDA devices this process can use; 0 when there is none or no working driver
// (then `why`, if given, says what the CUDA runtime reported). Never throws.
int visible_cuda_devices(std::string* why = nullptr);

}  // namespace styleseg::comm
