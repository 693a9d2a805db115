#include "mpi/communicator.h"

#include <ATen/ATen.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>

#include <cstring>
#include <sstream>

#include "core/error.h"

namespace styleseg::comm {

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::Mpi: return "mpi";
    case Backend::Nccl: return "nccl";
    case Backend::Local: return "local";
    case Backend::Threads: return "threads";
  }
  return "?";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

namespace {
// What a blocking collective leaves to wait for: nothing.
class FinishedCollective final : public PendingCollective {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<PendingCollective> Communicator::start_allreduce(at::Tensor& t, ReduceOp op) {
  allreduce(t, op);
  return std::make_unique<FinishedCollective>();
}

namespace detail {

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(dtype);
  }
}

void check_tensor(const char* op, const at::Tensor& t, const c10::Device& device, bool reduction) {
  if (!t.defined()) throw CommError(std::string(op) + ": the tensor is undefined");
  if (t.device() != device) {
    std::ostringstream msg;
    msg << op << ": the tensor is on " << t.device() << " but this communicator needs tensors on "
        << device;
    throw CommError(msg.str());
  }
  if (reduction) {
    const auto dtype = t.scalar_type();
    if (dtype != at::kFloat && dtype != at::kDouble && dtype != at::kLong) {
      throw CommError(std::string(op) + ": dtype " + dtype_name(dtype) +
                      " is not supported (float32, float64 or int64)");
    }
  }
  if (!t.is_contiguous()) {
    std::ostringstream msg;
    msg << op << ": the tensor (sizes " << t.sizes() << ", strides " << t.strides()
        << ") is not contiguous; pass t.contiguous() and copy the result back";
    throw CommError(msg.str());
  }
}

void check_root(const char* op, int root, int size) {
  if (root < 0 || root >= size) {
    throw CommError(std::string(op) + ": root " + std::to_string(root) +
                    " is not a rank (the job has " + std::to_string(size) + ")");
  }
}

}  // namespace detail

namespace {
at::TensorOptions scalar_options(Communicator& comm, at::ScalarType dtype) {
  return at::TensorOptions().dtype(dtype).device(comm.device());
}
}  // namespace

int64_t allreduce_sum(Communicator& comm, int64_t value) {
  at::Tensor t = at::full({1}, value, scalar_options(comm, at::kLong));
  comm.allreduce(t, ReduceOp::Sum);
  return t.item<int64_t>();
}

double allreduce_max(Communicator& comm, double value) {
  at::Tensor t = at::full({1}, value, scalar_options(comm, at::kDouble));
  comm.allreduce(t, ReduceOp::Max);
  return t.item<double>();
}

bool any_rank(Communicator& comm, bool flag) {
  at::Tensor t = at::full({1}, static_cast<int64_t>(flag ? 1 : 0), scalar_options(comm, at::kLong));
  comm.allreduce(t, ReduceOp::Max);
  return t.item<int64_t>() != 0;
}

std::string broadcast_string(Communicator& comm, const std::string& text, int root) {
  detail::check_root("broadcast_string", root, comm.size());
  const bool is_root = comm.rank() == root;
  at::Tensor length =
      at::full({1}, static_cast<int64_t>(is_root ? text.size() : 0), scalar_options(comm, at::kLong));
  comm.broadcast(length, root);
  const int64_t n = length.item<int64_t>();
  if (n == 0) return std::string();
  // Bytes travel through a host tensor copied to the device (a no-op copy on CPU).
  at::Tensor host = at::empty({n}, at::TensorOptions().dtype(at::kByte));
  if (is_root) std::memcpy(host.data_ptr(), text.data(), static_cast<size_t>(n));
  at::Tensor bytes = host.to(comm.device());
  comm.broadcast(bytes, root);
  host = bytes.to(at::kCPU);
  return std::string(static_cast<const char*>(host.data_ptr()), static_cast<size_t>(n));
}

std::string detail::decide_text_on_root(Communicator& comm, const std::function<std::string()>& decide) {
  // Rank 0 sends "=" + result, or an error kind letter + message.
  std::string message;
  if (comm.rank() == 0) {
    try {
      message = "=" + decide();
    } catch (const ConfigError& e) {
      message = std::string("C") + e.what();
    } catch (const InputError& e) {
      message = std::string("I") + e.what();
    } catch (const OutputError& e) {
      message = std::string("O") + e.what();
    } catch (const std::exception& e) {
      message = std::string("E") + e.what();
    }
  }
  message = broadcast_string(comm, message, 0);
  const std::string text = message.substr(1);
  switch (message.at(0)) {
    case '=': return text;
    case 'C': throw ConfigError(text);
    case 'I': throw InputError(text);
    case 'O': throw OutputError(text);
    default: throw Error(text);
  }
}

std::pair<at::Tensor, at::Tensor> allgather_rows(Communicator& comm, const at::Tensor& rows, const at::Tensor& ids) {
  const c10::Device device = comm.device();
  const int64_t d = rows.size(1);
  at::Tensor count = at::full({1}, rows.size(0), at::TensorOptions().dtype(at::kLong).device(device));
  const at::Tensor counts = comm.allgather(count).cpu();
  const int64_t most = counts.max().item<int64_t>();
  at::Tensor padded_rows = at::zeros({most, d}, at::TensorOptions().dtype(at::kFloat).device(device));
  at::Tensor padded_ids = at::full({most}, -1, at::TensorOptions().dtype(at::kLong).device(device));
  if (rows.size(0) > 0) {
    padded_rows.narrow(0, 0, rows.size(0)).copy_(rows);
    padded_ids.narrow(0, 0, rows.size(0)).copy_(ids);
  }
  const at::Tensor all_rows = comm.allgather(padded_rows).reshape({-1, d});
  const at::Tensor all_ids = comm.allgather(padded_ids).reshape({-1});
  const at::Tensor keep = at::nonzero(all_ids >= 0).reshape({-1});
  at::Tensor kept_ids = all_ids.index_select(0, keep);
  auto [sorted_ids, order] = kept_ids.sort();
  return {all_rows.index_select(0, keep).index_select(0, order), sorted_ids};
}

}  // namespace styleseg::comm
