#include "mpi/mpi_communicator.h"

#include <chrono>
#include <thread>

#include <ATen/ops/empty.h>
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace styleseg::comm {

struct MpiCommunicator::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length));
}

// MPI calls on our communicator return their errors (MPI_ERRORS_RETURN); this turns one into
// a CommError naming the styleseg operation, the MPI call and the host.
#define STYLESEG_MPI_CHECK(op, call)                                                     \
  do {                                                                                   \
    const int mpi_rc_ = (call);                                                          \
    if (mpi_rc_ != MPI_SUCCESS) {                                                        \
      throw CommError(std::string(op) + ": " #call " failed on rank " +                 \
                      std::to_string(rank_) + " (" + host_ + "): " + mpi_error_string(mpi_rc_)); \
    }                                                                                    \
  } while (0)

MPI_Datatype mpi_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;  // unreachable: check_tensor(reduction=true) ran first
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

// MPI counts are int: larger buffers go in pieces of at most this many elements.
constexpr int64_t kMaxCount = INT_MAX;

// dtype, rank, number of elements and the first kSignatureDims sizes: enough to tell two
// tensors apart in practice, in a fixed-size record that one MPI_Allgather can exchange.
constexpr int kSignatureDims = 8;
constexpr int kSignatureLength = 3 + kSignatureDims;

std::vector<int64_t> signature(const at::Tensor& t) {
  std::vector<int64_t> s(kSignatureLength, -1);
  s[0] = static_cast<int64_t>(t.scalar_type());
  s[1] = t.dim();
  s[2] = t.numel();
  for (int64_t d = 0; d < std::min<int64_t>(t.dim(), kSignatureDims); ++d) s[3 + d] = t.size(d);
  return s;
}

std::string describe_signature(const int64_t* s) {
  std::ostringstream out;
  out << detail::dtype_name(static_cast<at::ScalarType>(s[0])) << " [";
  for (int64_t d = 0; d < std::min<int64_t>(s[1], kSignatureDims); ++d) out << (d ? ", " : "") << s[3 + d];
  if (s[1] > kSignatureDims) out << ", ...";
  out << "]";
  return out.str();
}

}  // namespace

MpiCommunicator::MpiCommunicator() : handle_(std::make_unique<Handle>()) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) throw CommError("MPI backend: MPI is not initialised (create an MpiSession first)");
  char name[MPI_MAX_PROCESSOR_NAME];
  int name_length = 0;
  MPI_Get_processor_name(name, &name_length);
  host_.assign(name, static_cast<std::size_t>(name_length));

  STYLESEG_MPI_CHECK("MPI backend", MPI_Comm_dup(MPI_COMM_WORLD, &handle_->comm));
  // Errors come back as return codes (checked above and below) rather than killing the job
  // from inside MPI, so they carry styleseg's context.
  STYLESEG_MPI_CHECK("MPI backend", MPI_Comm_set_errhandler(handle_->comm, MPI_ERRORS_RETURN));
  STYLESEG_MPI_CHECK("MPI backend", MPI_Comm_rank(handle_->comm, &rank_));
  STYLESEG_MPI_CHECK("MPI backend", MPI_Comm_size(handle_->comm, &size_));

  MPI_Comm node = MPI_COMM_NULL;
  STYLESEG_MPI_CHECK("MPI backend",
                     MPI_Comm_split_type(handle_->comm, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

MpiCommunicator::~MpiCommunicator() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised && handle_->comm != MPI_COMM_NULL) MPI_Comm_free(&handle_->comm);
}

c10::Device MpiCommunicator::device() const { return c10::Device(c10::kCPU); }

void MpiCommunicator::allreduce(at::Tensor& t, ReduceOp op) {
  detail::check_tensor("allreduce", t, device(), /*reduction=*/true);
  const MPI_Datatype type = mpi_type(t.scalar_type());
  auto* data = static_cast<char*>(t.data_ptr());
  const int64_t element_size = static_cast<int64_t>(t.element_size());
  for (int64_t offset = 0; offset < t.numel(); offset += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, t.numel() - offset));
    STYLESEG_MPI_CHECK("allreduce", MPI_Allreduce(MPI_IN_PLACE, data + offset * element_size, count, type,
                                                  mpi_op(op), handle_->comm));
  }
}

namespace {

// A non-blocking allreduce: one MPI_Iallreduce per piece of at most kMaxCount elements.
class MpiPendingAllreduce final : public PendingCollective {
 public:
  MpiPendingAllreduce(at::Tensor tensor, std::vector<MPI_Request> requests, std::string where)
      : tensor_(std::move(tensor)), requests_(std::move(requests)), where_(std::move(where)) {}
  ~MpiPendingAllreduce() override {
    if (!finished_) MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }
  bool test() override {
    if (!finished_) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
      finished_ = done != 0;
    }
    return finished_;
  }
  void wait() override {
    if (finished_) return;
    check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    finished_ = true;
  }

 private:
  void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    finished_ = true;  // the requests are void: nothing left to wait for
    throw CommError(std::string("allreduce: ") + call + " failed " + where_ + ": " + mpi_error_string(rc));
  }
  at::Tensor tensor_;  // held: MPI writes into it until finished
  std::vector<MPI_Request> requests_;
  std::string where_;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<PendingCollective> MpiCommunicator::start_allreduce(at::Tensor& t, ReduceOp op) {
  detail::check_tensor("allreduce", t, device(), /*reduction=*/true);
  const MPI_Datatype type = mpi_type(t.scalar_type());
  auto* data = static_cast<char*>(t.data_ptr());
  const int64_t element_size = static_cast<int64_t>(t.element_size());
  std::vector<MPI_Request> requests;
  for (int64_t offset = 0; offset < t.numel(); offset += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, t.numel() - offset));
    requests.push_back(MPI_REQUEST_NULL);
    STYLESEG_MPI_CHECK("allreduce", MPI_Iallreduce(MPI_IN_PLACE, data + offset * element_size, count, type,
                                                   mpi_op(op), handle_->comm, &requests.back()));
  }
  return std::make_unique<MpiPendingAllreduce>(t, std::move(requests),
                                               "on rank " + std::to_string(rank_) + " (" + host_ + ")");
}

void MpiCommunicator::broadcast(at::Tensor& t, int root) {
  detail::check_tensor("broadcast", t, device(), /*reduction=*/false);
  detail::check_root("broadcast", root, size_);
  broadcast_bytes(t.data_ptr(), t.nbytes(), root);
}

void MpiCommunicator::broadcast_bytes(void* data, std::size_t bytes, int root) {
  auto* p = static_cast<char*>(data);
  for (std::size_t offset = 0; offset < bytes; offset += static_cast<std::size_t>(kMaxCount)) {
    const int count = static_cast<int>(std::min<std::size_t>(kMaxCount, bytes - offset));
    STYLESEG_MPI_CHECK("broadcast", MPI_Bcast(p + offset, count, MPI_BYTE, root, handle_->comm));
  }
}

void MpiCommunicator::check_same_shape(const char* op, const at::Tensor& t) {
  const std::vector<int64_t> mine = signature(t);
  std::vector<int64_t> all(static_cast<std::size_t>(kSignatureLength) * size_);
  STYLESEG_MPI_CHECK(op, MPI_Allgather(mine.data(), kSignatureLength, MPI_INT64_T, all.data(),
                                       kSignatureLength, MPI_INT64_T, handle_->comm));
  bool same = true;
  for (int r = 1; r < size_ && same; ++r) {
    same = std::equal(all.begin(), all.begin() + kSignatureLength, all.begin() + r * kSignatureLength);
  }
  if (same) return;
  // Every rank saw the same records, so every rank throws (nobody is left waiting).
  std::ostringstream msg;
  msg << op << ": ranks passed tensors of different dtype or shape:";
  for (int r = 0; r < size_; ++r) {
    msg << (r ? "," : "") << " rank " << r << " " << describe_signature(all.data() + r * kSignatureLength);
  }
  throw CommError(msg.str());
}

at::Tensor MpiCommunicator::allgather(const at::Tensor& t) {
  detail::check_tensor("allgather", t, device(), /*reduction=*/false);
  check_same_shape("allgather", t);
  std::vector<int64_t> shape{size_};
  shape.insert(shape.end(), t.sizes().begin(), t.sizes().end());
  at::Tensor out = at::empty(shape, t.options());
  const std::size_t bytes = t.nbytes();
  if (bytes == 0) return out;
  if (bytes > static_cast<std::size_t>(kMaxCount)) {
    throw CommError("allgather: " + std::to_string(bytes) +
                    " bytes per rank is over MPI's 2 GiB count limit; gather in pieces");
  }
  STYLESEG_MPI_CHECK("allgather", MPI_Allgather(t.data_ptr(), static_cast<int>(bytes), MPI_BYTE, out.data_ptr(),
                                                static_cast<int>(bytes), MPI_BYTE, handle_->comm));
  return out;
}

void MpiCommunicator::barrier() { STYLESEG_MPI_CHECK("barrier", MPI_Barrier(handle_->comm)); }

void MpiCommunicator::abort(int exit_code, const std::string& message) {
  std::fprintf(stderr, "rank %d: %s\n", rank_, message.c_str());
  std::fflush(stderr);
  abort_job(exit_code);
}

void MpiCommunicator::abort_job(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  // MPI_Abort asks the launcher to end every rank; with a node unreachable it may not return
  // (seen with OpenMPI's mpirun after a cut link: "abort is already in progress"). This rank
  // ends anyway; its launcher sees it exit non-zero and ends the job.
  std::thread([exit_code] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::_Exit(exit_code);
  }).detach();
  MPI_Abort(handle_->comm != MPI_COMM_NULL ? handle_->comm : MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this tells the compiler so
}

}  // namespace styleseg::comm
