// The communication interface: the only thing stages see of MPI or NCCL.
//
// One small virtual class, as LightGBM's network.h, XGBoost's collective::Coll and PyTorch
// c10d's Backend do it: the transports (mpi_communicator.h, nccl_communicator.h) live
// beside each other and are chosen at run time by make_communicator() (launch.h), so no
// stage includes mpi.h or nccl.h.
//
// Collective calls: allreduce, broadcast, allgather, barrier and the free helpers below are
// COLLECTIVE: every rank must call them, in the same order, with tensors of the same dtype
// and shape (broadcast: the shape of the root's tensor). A rank that skips one (an early
// return, an exception caught on one rank only) hangs the others until the collective
// watchdog (launch.h) ends the job. rank(), size(), local_rank(), local_size(), backend()
// and device() are local and free. abort() is local: one rank calling it ends every rank.
//
// Checks: each collective checks its tensor before sending anything (dtype, contiguity,
// device) and throws styleseg::CommError naming the operation and the problem. The checks
// are local, so a mistake every rank makes alike throws on every rank and nothing hangs.
// allgather also compares shapes across ranks (its result depends on it); allreduce and
// broadcast do not (that would cost a second round trip per call): a shape that differs
// between ranks there is undefined behaviour of the transport.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace styleseg::comm {

enum class ReduceOp { Sum, Max, Min };
// Local: one rank, no MPI (local_communicator.h). Threads: N ranks as threads of one
// process, for tests (thread_communicator.h).
enum class Backend { Mpi, Nccl, Local, Threads };

// "mpi" | "nccl" | "local", for messages.
const char* backend_name(Backend backend);
const char* reduce_op_name(ReduceOp op);

// A collective this rank has started and not yet finished (c10d's Work). Until wait()
// returns, the tensor it was given must be neither read nor written.
class PendingCollective {
 public:
  // Waits if still unfinished: a buffer freed under the transport would be worse than a wait.
  virtual ~PendingCollective() = default;
  // Local: lets the transport advance (MPI moves a non-blocking collective on only inside MPI
  // calls); true once finished.
  virtual bool test() = 0;
  // Returns once the result is in the tensor. Throws CommError on a transport error.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank and number of ranks on this node (ranks sharing memory with this one).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual Backend backend() const = 0;
  // Where tensors passed to this communicator must live: CPU for MPI, cuda:<device> for
  // NCCL (the device is the local rank, see nccl_communicator.h).
  virtual c10::Device device() const = 0;

  // Collective. In place: every rank ends with the element-wise reduction over all ranks.
  // dtype float32, float64 or int64; contiguous; on device().
  virtual void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // Collective, started: allreduce's result arrives in `t` while this rank goes on computing
  // (gradient buckets reduced during the backward pass). Every rank starts the same ones in
  // the same order and waits for each. By default it is the blocking allreduce, finished on
  // return; MPI starts a non-blocking one (MPI_Iallreduce).
  virtual std::unique_ptr<PendingCollective> start_allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum);
  // Collective. In place: every rank ends with root's values. Any dtype; contiguous; on
  // device(); same shape on every rank.
  virtual void broadcast(at::Tensor& t, int root) = 0;
  // Collective. Returns a new tensor of shape [size(), *t.sizes()] whose row r is rank r's
  // t. Any dtype; contiguous; on device(); shape and dtype must agree across ranks
  // (checked: CommError on every rank otherwise).
  virtual at::Tensor allgather(const at::Tensor& t) = 0;
  // Collective. Returns once every rank has entered it (NCCL: and this rank's device work
  // queued before it has finished).
  virtual void barrier() = 0;

  // Local; ends every rank of the job with exit_code, after printing "rank R: message" to
  // stderr on this rank. Never returns.
  [[noreturn]] virtual void abort(int exit_code, const std::string& message) = 0;
};

// ---- helpers over the interface (all collective) -------------------------------------
// They move host scalars through a one-element tensor on comm.device(); on NCCL that is a
// device round trip, so keep them out of inner loops.

// Sum of `value` over all ranks.
int64_t allreduce_sum(Communicator& comm, int64_t value);
// Collective: float rows [n, D] with int64 global ids [n] on each rank (ranks may hold
// different numbers of rows) -> every rank's rows on every rank, ordered by id, and the ids.
std::pair<at::Tensor, at::Tensor> allgather_rows(Communicator& comm, const at::Tensor& rows, const at::Tensor& ids);
// Maximum of `value` over all ranks.
double allreduce_max(Communicator& comm, double value);
// True on every rank when `flag` is true on at least one rank. The way to agree on an
// early exit without hanging: every rank calls it, every rank gets the same answer.
bool any_rank(Communicator& comm, bool flag);
// root's `text` on every rank (the argument is ignored on other ranks).
std::string broadcast_string(Communicator& comm, const std::string& text, int root);

namespace detail {
// decide_on_root's transport: the decision as text.
std::string decide_text_on_root(Communicator& comm, const std::function<std::string()>& decide);
}  // namespace detail

// Runs `decide` on rank 0 only (a decision that needs one view of the file system: start
// afresh, resume, refuse) and returns its result on every rank. When it throws a
// styleseg error, every rank throws the same kind with the same message, so all ranks
// fail together and none waits in a later collective.
//
// `decide` returns a std::string, an integer, a bool or an enum (sent as its number), or
// nothing (a check: every rank returns once rank 0's check passed, or throws its error).
template <typename Decide>
auto decide_on_root(Communicator& comm, Decide&& decide) -> decltype(decide()) {
  using T = decltype(decide());
  if constexpr (std::is_void_v<T>) {
    detail::decide_text_on_root(comm, [&] {
      decide();
      return std::string();
    });
  } else if constexpr (std::is_same_v<T, std::string>) {
    return detail::decide_text_on_root(comm, decide);
  } else {
    static_assert(std::is_integral_v<T> || std::is_enum_v<T>, "decide_on_root: a string, an integer, a bool or an enum");
    const std::string text =
        detail::decide_text_on_root(comm, [&] { return std::to_string(static_cast<long long>(decide())); });
    return static_cast<T>(std::stoll(text));
  }
}

// ---- for backends ------------------------------------------------------------------
namespace detail {
// Throws CommError "<op>: <problem>" unless t is defined, contiguous and on `device`, and,
// when `reduction` is true, float32, float64 or int64.
void check_tensor(const char* op, const at::Tensor& t, const c10::Device& device, bool reduction);
// "float32", "int64", ... (PyTorch's names), for messages.
std::string dtype_name(at::ScalarType dtype);
// Throws CommError unless 0 <= root < size.
void check_root(const char* op, int root, int size);
}  // namespace detail

}  // namespace styleseg::comm
