#include "io/h5_tensor.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "io/h5.h"

namespace styleseg::h5 {
namespace {

std::string shape_text(at::IntArrayRef sizes) {
  std::ostringstream text;
  text << "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text << (i ? ", " : "") << sizes[i];
  text << "]";
  return text.str();
}

}  // namespace

DType dtype_of(at::ScalarType scalar_type) {
  switch (scalar_type) {
    case at::kByte: return DType::U8;
    case at::kInt: return DType::I32;
    case at::kLong: return DType::I64;
    case at::kFloat: return DType::F32;
    case at::kDouble: return DType::F64;
    default:
      throw Error(std::string("HDF5 datasets cannot hold tensors of dtype ") +
                  c10::toString(scalar_type) + " (uint8, int32, int64, float32, float64 only)");
  }
}

at::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::U8: return at::kByte;
    case DType::I32: return at::kInt;
    case DType::I64: return at::kLong;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
  }
  throw Error("unknown h5::DType");
}

at::Tensor read_tensor(const File& file, const std::string& name, std::int64_t row0, std::int64_t nrows) {
  const DatasetInfo info = file.info(name);
  if (info.shape.empty()) {
    throw InputError(file.path() + ": dataset '" + name + "' is a scalar; it has no rows");
  }
  std::vector<std::int64_t> shape = info.shape;
  if (nrows < 0) nrows = std::max<std::int64_t>(info.rows() - row0, 0);
  shape[0] = nrows;
  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(scalar_type_of(info.dtype)));
  file.read_rows(name, row0, nrows, tensor.data_ptr(), info.dtype);
  return tensor;
}

void write_tensor_rows(File& file, const std::string& name, std::int64_t row0, const at::Tensor& rows) {
  const DatasetInfo info = file.info(name);
  const std::string context = file.path() + ": dataset '" + name + "'";
  if (!rows.defined() || (rows.dim() > 0 && rows.size(0) == 0)) {
    file.write_rows(name, row0, 0, nullptr, info.dtype);  // nothing here; still take part
    return;
  }
  if (!rows.device().is_cpu()) {
    throw OutputError(context + ": tensors must be on the CPU to be written (got " +
                      rows.device().str() + ")");
  }
  const at::ScalarType expected = scalar_type_of(info.dtype);
  if (rows.scalar_type() != expected) {
    throw OutputError(context + " holds " + name_of(info.dtype) + " values; cannot write a " +
                      c10::toString(rows.scalar_type()) + " tensor into it (convert it to " +
                      c10::toString(expected) + " first)");
  }
  const at::IntArrayRef sizes = rows.sizes();
  const bool shape_matches =
      sizes.size() == info.shape.size() &&
      std::equal(sizes.begin() + 1, sizes.end(), info.shape.begin() + 1);
  if (!shape_matches) {
    std::vector<std::int64_t> row_shape(info.shape.begin() + 1, info.shape.end());
    throw OutputError(context + " has rows of shape " + shape_text(row_shape) +
                      "; cannot write a tensor of shape " + shape_text(sizes) +
                      " (expected [n, ...row shape])");
  }
  const at::Tensor contiguous = rows.contiguous();
  file.write_rows(name, row0, contiguous.size(0), contiguous.data_ptr(), info.dtype);
}

}  // namespace styleseg::h5
