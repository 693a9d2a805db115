#include "io/h5_tensor.h"

#include <ATen/ops/aminmax.h>
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
    case DType::U16: return at::kInt;  // ATen has no uint16 common to 1.13 and 2.x
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
  file.read_rows(name, row0, nrows, tensor.data_ptr(), dtype_of(tensor.scalar_type()));
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
  if (info.dtype == DType::U16) {
    // Converted here, not by HDF5: a conversion during a collective write would make
    // HDF5 fall back to independent I/O, which compressed datasets do not allow.
    const auto [lo, hi] = at::aminmax(contiguous);
    if (lo.item<int64_t>() < 0 || hi.item<int64_t>() > 65535)
      throw OutputError(context + " holds uint16 values; the tensor has values outside [0, 65535]");
    const at::Tensor values = contiguous.to(at::kLong).contiguous();
    std::vector<std::uint16_t> narrow(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel());
    file.write_rows(name, row0, contiguous.size(0), narrow.data(), DType::U16);
    return;
  }
  file.write_rows(name, row0, contiguous.size(0), contiguous.data_ptr(), info.dtype);
}

void write_tensor(File& file, const std::string& name, const at::Tensor& tensor) {
  const at::Tensor cpu = tensor.cpu().contiguous();
  file.create_dataset(name, dtype_of(cpu.scalar_type()), std::vector<std::int64_t>(cpu.sizes().begin(), cpu.sizes().end()));
  write_tensor_rows(file, name, 0, cpu);
}

}  // namespace styleseg::h5
