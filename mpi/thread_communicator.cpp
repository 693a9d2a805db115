#include "mpi/thread_communicator.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"

namespace styleseg::comm {

// The rendezvous of one group's ranks. Each collective is one round of `exchange`: every rank
// deposits its contribution and receives every rank's, by rank; the rank that completes the
// round checks that all ranks called the same operation with the same kind of tensor.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), contributions_(size), operations_(size) {}

  int size() const { return size_; }

  // `mine` must not change afterwards (callers pass a copy). Throws CommError on every rank
  // when the group has failed or the ranks' calls disagree.
  std::vector<at::Tensor> exchange(int rank, const std::string& operation, const at::Tensor& mine) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (failure_.empty() && left_ > 0) {
      fail_locked(first_left_, "rank " + std::to_string(first_left_) + " returned while rank " + std::to_string(rank) +
                                   " entered " + operation);
    }
    if (!failure_.empty()) throw CommError(operation + ": " + failure_);
    contributions_[rank] = mine;
    operations_[rank] = operation + " " + signature(mine);
    if (++arrived_ == size_) return complete_round_locked(operation);
    const uint64_t round = round_;
    changed_.wait(lock, [&] { return round_ != round || !failure_.empty(); });
    if (round_ == round) throw CommError(operation + ": " + failure_);
    return completed_;
  }

  // The first failure wins; pending and later collectives throw CommError(why).
  void fail(int rank, const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_locked(rank, why);
  }

  // `rank` has returned from its body: a collective the others wait in, or enter later,
  // cannot complete.
  void leave(int rank) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (left_++ == 0) first_left_ = rank;
    if (arrived_ > 0) {
      fail_locked(rank, "rank " + std::to_string(rank) + " returned while " + std::to_string(arrived_) +
                            " rank(s) wait in a collective");
    }
  }

  // The rank whose failure came first (-1: none, or the ranks' calls disagreed).
  int origin() {
    std::lock_guard<std::mutex> lock(mutex_);
    return origin_;
  }

 private:
  static std::string signature(const at::Tensor& t) {
    if (!t.defined()) return "";
    std::ostringstream text;
    text << detail::dtype_name(t.scalar_type()) << t.sizes();
    return text.str();
  }

  std::vector<at::Tensor> complete_round_locked(const std::string& operation) {
    for (int r = 1; r < size_; ++r) {
      if (operations_[r] == operations_[0]) continue;
      std::ostringstream msg;
      msg << "ranks made different calls:";
      for (int q = 0; q < size_; ++q) msg << (q ? "," : "") << " rank " << q << " " << operations_[q];
      fail_locked(-1, msg.str());
      throw CommError(operation + ": " + failure_);
    }
    completed_ = std::move(contributions_);
    contributions_.assign(size_, at::Tensor());
    arrived_ = 0;
    ++round_;
    changed_.notify_all();
    return completed_;
  }

  void fail_locked(int rank, const std::string& why) {
    if (!failure_.empty()) return;
    failure_ = why;
    origin_ = rank;
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  const int size_;
  int arrived_ = 0;
  uint64_t round_ = 0;
  std::vector<at::Tensor> contributions_;  // of the round in progress
  std::vector<std::string> operations_;    // "allreduce sum float32[4, 3]", per rank
  std::vector<at::Tensor> completed_;      // of the last completed round
  int left_ = 0;
  int first_left_ = -1;
  std::string failure_;
  int origin_ = -1;
};

ThreadCommunicator::ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {}

int ThreadCommunicator::size() const { return group_->size(); }

void ThreadCommunicator::allreduce(at::Tensor& t, ReduceOp op) {
  detail::check_tensor("allreduce", t, device(), /*reduction=*/true);
  const auto all = group_->exchange(rank_, std::string("allreduce ") + reduce_op_name(op), t.clone());
  // Rank order on every rank: bit-identical results everywhere.
  at::Tensor result = all[0].clone();
  for (size_t r = 1; r < all.size(); ++r) {
    switch (op) {
      case ReduceOp::Sum: result.add_(all[r]); break;
      case ReduceOp::Max: result = at::maximum(result, all[r]); break;
      case ReduceOp::Min: result = at::minimum(result, all[r]); break;
    }
  }
  t.copy_(result);
}

void ThreadCommunicator::broadcast(at::Tensor& t, int root) {
  detail::check_tensor("broadcast", t, device(), /*reduction=*/false);
  detail::check_root("broadcast", root, size());
  const auto all = group_->exchange(rank_, "broadcast from " + std::to_string(root), rank_ == root ? t.clone() : t);
  if (rank_ != root) t.copy_(all[root]);
}

at::Tensor ThreadCommunicator::allgather(const at::Tensor& t) {
  detail::check_tensor("allgather", t, device(), /*reduction=*/false);
  return at::stack(group_->exchange(rank_, "allgather", t.clone()));
}

void ThreadCommunicator::barrier() { group_->exchange(rank_, "barrier", at::Tensor()); }

void ThreadCommunicator::abort(int exit_code, const std::string& message) {
  const std::string why = "rank " + std::to_string(rank_) + " aborted (exit code " + std::to_string(exit_code) + "): " + message;
  group_->fail(rank_, why);
  throw CommError(why);
}

void run_as_threads(int ranks, const std::function<void(Communicator&)>& body) {
  if (ranks < 1) throw CommError("run_as_threads: ranks must be at least 1, not " + std::to_string(ranks));
  auto group = std::make_shared<ThreadGroup>(ranks);
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  threads.reserve(ranks);
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        ThreadCommunicator comm(group, r);
        body(comm);
      } catch (const std::exception& e) {
        errors[r] = std::current_exception();
        group->fail(r, "rank " + std::to_string(r) + " failed: " + e.what());
      } catch (...) {
        errors[r] = std::current_exception();
        group->fail(r, "rank " + std::to_string(r) + " failed");
      }
      group->leave(r);
    });
  }
  for (auto& thread : threads) thread.join();
  const int origin = group->origin();
  if (origin >= 0 && errors[origin]) std::rethrow_exception(errors[origin]);
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace styleseg::comm
