// Tensors in and out of HDF5 datasets (io/h5.h). Kept apart from io/h5.h so that HDF5
// code stays free of ATen, and this header free of HDF5 and MPI.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace styleseg::h5 {

class File;
enum class DType;

// The dataset element type of a tensor dtype: kByte → U8, kInt → I32, kLong → I64,
// kFloat → F32, kDouble → F64. Throws styleseg::Error for any other dtype.
// uint16 datasets (U16) are read and written as kInt tensors (ATen 1.13 has no uint16).
DType dtype_of(at::ScalarType scalar_type);

// The tensor dtype of a dataset element type (inverse of dtype_of).
at::ScalarType scalar_type_of(DType dtype);

// Rows [row0, row0 + nrows) of dataset `name` (nrows < 0: to the end) as a CPU tensor of
// shape [nrows, shape[1:]...] in the dataset's own type (info(name).dtype). Independent.
at::Tensor read_tensor(const File& file, const std::string& name, std::int64_t row0 = 0,
                       std::int64_t nrows = -1);

// Writes `rows` (CPU, shape [n, shape[1:]...], the dataset's exact dtype; non-contiguous
// tensors are copied) into rows [row0, row0 + n). Collective on a parallel file like
// File::write_rows: a rank with nothing to write passes an empty tensor (size(0) == 0, or
// an undefined tensor) and still takes part. Throws OutputError naming the file and
// dataset when the dtype or the row shape do not match.
void write_tensor_rows(File& file, const std::string& name, std::int64_t row0, const at::Tensor& rows);

// Creates dataset `name` with the tensor's shape and element type and writes the whole
// tensor (any device, any layout) into it: small files written by one rank (clusters,
// directions). Throws like create_dataset and write_tensor_rows.
void write_tensor(File& file, const std::string& name, const at::Tensor& tensor);

}  // namespace styleseg::h5
