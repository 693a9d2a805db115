// io/h5.h, io/h5_tensor.h and io/atomic_output.h with the serial driver (MPI_COMM_NULL):
// this executable has no MPI_Init. The parallel driver is tested in tests/mpi.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "core/error.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

namespace styleseg::h5 {
namespace {

namespace fs = std::filesystem;

using test::expect_error;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Value of element i for each type: distinct, exact in the type, negative where possible.
template <typename T>
T value_at(std::int64_t i) {
  if constexpr (std::is_same_v<T, std::uint8_t>) return static_cast<T>((i * 37 + 11) % 256);
  else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(i) * T(0.25) - T(7.5);
  else if constexpr (sizeof(T) == 8) return static_cast<T>(i) * 3'000'000'007LL - 5;
  else return static_cast<T>(i * 1000 - 20000);
}

template <typename T>
std::vector<T> values(std::int64_t first, std::int64_t count) {
  std::vector<T> result(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) result[static_cast<std::size_t>(i)] = value_at<T>(first + i);
  return result;
}

// Writes a [7, 3, 2] dataset in three row blocks (plus an empty write), reads it back
// whole and in part, and compares every value.
template <typename T>
void round_trip(const std::string& dir, const std::vector<std::int64_t>& chunks, int deflate) {
  const DType dtype = dtype_for<T>();
  const std::string path = dir + "/" + name_of(dtype) + (chunks.empty() ? "_contiguous" : "_chunked") + ".h5";
  const std::int64_t row = 3 * 2;
  {
    File file = File::create(path, MPI_COMM_NULL);
    file.create_dataset("data", dtype, {7, 3, 2}, chunks, deflate);
    // Written out of order, at offsets, with an empty write in between.
    file.write_rows("data", 5, 2, values<T>(5 * row, 2 * row).data(), dtype);
    file.write_rows("data", 0, 2, values<T>(0, 2 * row).data(), dtype);
    file.write_rows("data", 4, 0, nullptr, dtype);
    file.write_rows("data", 2, 3, values<T>(2 * row, 3 * row).data(), dtype);
    file.close();
  }
  File file = File::open(path, Mode::Read);
  const DatasetInfo info = file.info("data");
  EXPECT_EQ(info.dtype, dtype);
  EXPECT_TRUE(info.exact);
  EXPECT_EQ(info.shape, (std::vector<std::int64_t>{7, 3, 2}));
  EXPECT_EQ(file.read_all<T>("data"), values<T>(0, 7 * row)) << path;
  std::vector<T> middle(static_cast<std::size_t>(3 * row));
  file.read_rows("data", 3, 3, middle.data(), dtype);
  EXPECT_EQ(middle, values<T>(3 * row, 3 * row)) << path;
}

TEST(H5Dataset, EveryDTypeRoundTripsContiguous) {
  const std::string dir = test::scratch_dir("h5");
  round_trip<std::uint8_t>(dir, {}, 0);
  round_trip<std::uint16_t>(dir, {}, 0);
  round_trip<std::int32_t>(dir, {}, 0);
  round_trip<std::int64_t>(dir, {}, 0);
  round_trip<float>(dir, {}, 0);
  round_trip<double>(dir, {}, 0);
}

TEST(H5Dataset, EveryDTypeRoundTripsChunkedAndCompressed) {
  const std::string dir = test::scratch_dir("h5");
  // Chunks of 2 rows: 7 rows end in a partial chunk; the row writes straddle chunks.
  round_trip<std::uint8_t>(dir, {2, 3, 2}, 4);
  round_trip<std::uint16_t>(dir, {2, 3, 2}, 4);
  round_trip<std::int32_t>(dir, {2, 3, 2}, 4);
  round_trip<std::int64_t>(dir, {2, 0, 0}, 9);  // 0: the whole dimension
  round_trip<float>(dir, {2, 3, 2}, 1);
  round_trip<double>(dir, {3, 1, 2}, 6);
}

TEST(H5Dataset, CompressionShrinksRepetitiveData) {
  const std::string dir = test::scratch_dir("h5");
  std::vector<float> zeros(100000, 0.0f);
  for (const bool compress : {false, true}) {
    File file = File::create(dir + (compress ? "/deflate.h5" : "/plain.h5"), MPI_COMM_NULL);
    file.create_dataset("zeros", DType::F32, {100000}, compress ? std::vector<std::int64_t>{10000} : std::vector<std::int64_t>{}, compress ? 6 : 0);
    file.write_rows("zeros", 0, 100000, zeros.data(), DType::F32);
    file.close();
  }
  EXPECT_LT(fs::file_size(dir + "/deflate.h5"), fs::file_size(dir + "/plain.h5") / 10);
}

TEST(H5Dataset, NestedGroupsAreCreatedAndListed) {
  const std::string path = test::scratch_dir("h5") + "/nested.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("layers/4/features", DType::F32, {2, 5});
  file.create_dataset("layers/8/features", DType::F32, {2, 5});
  file.create_dataset("labels", DType::I64, {2});
  EXPECT_TRUE(file.exists("layers"));
  EXPECT_TRUE(file.exists("layers/4"));
  EXPECT_TRUE(file.exists("/layers/8/features"));
  EXPECT_FALSE(file.exists("layers/16/features"));
  EXPECT_FALSE(file.exists("absent"));
  EXPECT_EQ(file.members(), (std::vector<std::string>{"labels", "layers"}));
  EXPECT_EQ(file.members("layers"), (std::vector<std::string>{"4", "8"}));
  EXPECT_EQ(file.members("layers/4"), (std::vector<std::string>{"features"}));
  expect_error<OutputError>([&] { file.create_dataset("labels", DType::I64, {2}); },
                            {path, "labels", "exists already"});
}

TEST(H5Dataset, ReadsConvertOnlyWithoutLoss) {
  const std::string path = test::scratch_dir("h5") + "/convert.h5";
  {
    File file = File::create(path, MPI_COMM_NULL);
    file.create_dataset("bytes", DType::U8, {3});
    file.create_dataset("longs", DType::I64, {3});
    file.create_dataset("doubles", DType::F64, {3});
    const std::uint8_t bytes[3] = {0, 128, 255};
    const std::int64_t longs[3] = {1, -2, 3};
    const double doubles[3] = {0.5, 1.5, 2.5};
    file.write_rows("bytes", 0, 3, bytes, DType::U8);
    file.write_rows("longs", 0, 3, longs, DType::I64);
    file.write_rows("doubles", 0, 3, doubles, DType::F64);
  }
  File file = File::open(path, Mode::Read);
  float as_float[3];
  file.read_all("bytes", as_float, DType::F32);
  EXPECT_EQ(std::vector<float>(as_float, as_float + 3), (std::vector<float>{0, 128, 255}));
  std::int32_t as_int[3];
  file.read_all("bytes", as_int, DType::I32);
  EXPECT_EQ(std::vector<std::int32_t>(as_int, as_int + 3), (std::vector<std::int32_t>{0, 128, 255}));
  expect_error<InputError>([&] { file.read_all("longs", as_float, DType::F32); },
                           {path, "longs", "int64", "float32", "lose precision"});
  expect_error<InputError>([&] { file.read_all("longs", as_int, DType::I32); }, {"longs", "int32"});
  expect_error<InputError>([&] { file.read_all("doubles", as_float, DType::F32); },
                           {"doubles", "float64", "float32"});
  expect_error<InputError>([&] { file.read_rows("doubles", 0, 1, as_int, DType::I32); },
                           {"doubles", "float64", "int32"});
}

// Another program's int8 dataset is read as int32 (the narrowest DType holding it) but
// described as what it is.
TEST(H5Dataset, InfoNamesTheStoredTypeOfAForeignDataset) {
  const std::string path = test::scratch_dir("h5") + "/int8.h5";
  {
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {2, 3};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t dataset = H5Dcreate2(file, "features", H5T_STD_I8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::int8_t values[6] = {-3, -2, -1, 0, 1, 2};
    ASSERT_GE(H5Dwrite(dataset, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Fclose(file);
  }
  const File file = File::open(path, Mode::Read);
  const DatasetInfo info = file.info("features");
  EXPECT_EQ(info.dtype, DType::I32);
  EXPECT_FALSE(info.exact);
  EXPECT_EQ(info.stored, "int8");
}

TEST(H5Dataset, WriteWithAnotherDTypeIsRefused) {
  const std::string path = test::scratch_dir("h5") + "/mismatch.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("features", DType::F32, {4, 2});
  const double data[8] = {};
  expect_error<OutputError>([&] { file.write_rows("features", 0, 4, data, DType::F64); },
                            {path, "features", "float32", "float64"});
}

TEST(H5Dataset, RowsOutsideTheDatasetAreRefused) {
  const std::string path = test::scratch_dir("h5") + "/range.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("features", DType::I32, {4, 2});
  const std::int32_t data[8] = {};
  expect_error<OutputError>([&] { file.write_rows("features", 3, 2, data, DType::I32); },
                            {path, "features", "[3, 5)", "4 rows"});
  std::int32_t out[8];
  expect_error<InputError>([&] { file.read_rows("features", -1, 1, out, DType::I32); },
                           {path, "features", "4 rows"});
}

// Extent::Grows: no rows and no chunk storage at creation; grow_rows adds rows up to the
// created shape, keeps what was written, never shrinks, and refuses to go beyond.
TEST(H5Dataset, AGrowingDatasetStartsEmptyAndTakesRowsAsItGrows) {
  const std::string path = test::scratch_dir("h5") + "/grows.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("rows", DType::I32, {100000, 4}, {1, 4}, 0, Allocation::EarlyUnfilled, Extent::Grows);
  EXPECT_EQ(file.info("rows").shape, (std::vector<std::int64_t>{0, 4}));
  const std::int32_t one[4] = {1, 2, 3, 4};
  expect_error<OutputError>([&] { file.write_rows("rows", 0, 1, one, DType::I32); }, {path, "rows", "0 rows"});
  file.grow_rows("rows", 3);
  file.write_rows("rows", 2, 1, one, DType::I32);
  file.grow_rows("rows", 2);  // fewer: no change
  EXPECT_EQ(file.info("rows").shape, (std::vector<std::int64_t>{3, 4}));
  expect_error<OutputError>([&] { file.grow_rows("rows", 100001); }, {path, "rows", "100001", "at most 100000"});
  file.close();
  // 100,000 chunks of 16 bytes were planned; the file holds only the 3 rows' (early
  // allocation of them all would take 1.6 MB).
  EXPECT_LT(fs::file_size(path), 200u << 10);
  File read = File::open(path, Mode::Read);
  std::int32_t back[4];
  read.read_rows("rows", 2, 1, back, DType::I32);
  EXPECT_EQ(std::vector<std::int32_t>(back, back + 4), std::vector<std::int32_t>(one, one + 4));
}

TEST(H5Dataset, OnlyAChunkedDatasetCanGrow) {
  const std::string path = test::scratch_dir("h5") + "/grows_contiguous.h5";
  File file = File::create(path, MPI_COMM_NULL);
  expect_error<OutputError>([&] { file.create_dataset("rows", DType::U8, {10}, {}, 0, Allocation::Incremental, Extent::Grows); },
                            {path, "rows", "chunk shape"});
  file.create_dataset("fixed", DType::U8, {10});
  expect_error<OutputError>([&] { file.grow_rows("fixed", 11); }, {path, "fixed", "at most 10"});
}

TEST(H5Attributes, EveryKindRoundTripsOnRootGroupAndDataset) {
  const std::string path = test::scratch_dir("h5") + "/attributes.h5";
  const std::string text = u8"StyleGAN2 ffhq — größe 256";
  {
    File file = File::create(path, MPI_COMM_NULL);
    file.create_dataset("clusters/centroids", DType::F32, {3, 4});
    for (const std::string object : {"/", "clusters", "clusters/centroids"}) {
      file.write_string_attribute(object, "model", text);
      file.write_int_attribute(object, "seed", -(std::int64_t{1} << 40));
      file.write_double_attribute(object, "temperature", 0.1);
      file.write_doubles_attribute(object, "scales", {1.0, -2.5, 1e-300});
      file.write_doubles_attribute(object, "no_scales", {});
      file.write_ints_attribute(object, "layers", {4, 8, std::int64_t{1} << 50});
    }
    file.write_string_attribute("", "empty", "");
    file.write_int_attribute("/", "replaced", 1);
    file.write_string_attribute("/", "replaced", "now a string");  // another kind replaces it
  }
  File file = File::open(path, Mode::Read);
  for (const std::string object : {"/", "clusters", "clusters/centroids"}) {
    SCOPED_TRACE(object);
    EXPECT_EQ(file.read_string_attribute(object, "model"), text);
    EXPECT_EQ(file.read_int_attribute(object, "seed"), -(std::int64_t{1} << 40));
    EXPECT_EQ(file.read_double_attribute(object, "temperature"), 0.1);
    EXPECT_EQ(file.read_doubles_attribute(object, "scales"), (std::vector<double>{1.0, -2.5, 1e-300}));
    EXPECT_TRUE(file.read_doubles_attribute(object, "no_scales").empty());
    EXPECT_EQ(file.read_ints_attribute(object, "layers"),
              (std::vector<std::int64_t>{4, 8, std::int64_t{1} << 50}));
    EXPECT_EQ(file.read_double_attribute(object, "seed"), -1099511627776.0);  // integers read as doubles
    EXPECT_TRUE(file.has_attribute(object, "model"));
    EXPECT_FALSE(file.has_attribute(object, "absent"));
  }
  EXPECT_EQ(file.read_string_attribute("/", "empty"), "");
  EXPECT_EQ(file.read_string_attribute("/", "replaced"), "now a string");
  EXPECT_FALSE(file.has_attribute("nowhere", "model"));
  EXPECT_EQ(file.attribute_names("clusters/centroids"),
            (std::vector<std::string>{"layers", "model", "no_scales", "scales", "seed", "temperature"}));
  EXPECT_EQ(file.attribute_names("/").size(), 8u);
}

TEST(H5Attributes, WrongKindOrMissingIsAnInputErrorNamingIt) {
  const std::string path = test::scratch_dir("h5") + "/attributes.h5";
  {
    File file = File::create(path, MPI_COMM_NULL);
    file.write_string_attribute("/", "model", "ffhq");
    file.write_double_attribute("/", "temperature", 0.5);
    file.write_ints_attribute("/", "layers", {1, 2});
  }
  File file = File::open(path, Mode::Read);
  expect_error<InputError>([&] { file.read_int_attribute("/", "model"); },
                           {path, "model", "string", "integers"});
  expect_error<InputError>([&] { file.read_int_attribute("/", "temperature"); },
                           {path, "temperature", "float"});
  expect_error<InputError>([&] { file.read_string_attribute("/", "temperature"); },
                           {"temperature", "expected a string"});
  expect_error<InputError>([&] { file.read_int_attribute("/", "layers"); },
                           {"layers", "2 values", "expected one"});
  expect_error<InputError>([&] { file.read_string_attribute("/", "absent"); },
                           {path, "absent", "does not exist"});
  expect_error<InputError>([&] { file.read_string_attribute("no/group", "model"); },
                           {path, "no/group", "does not exist"});
}

TEST(H5Errors, MissingFileSaysSo) {
  const std::string path = test::scratch_dir("h5") + "/absent.h5";
  expect_error<InputError>([&] { File::open(path, Mode::Read); }, {path, "no such file"});
}

TEST(H5Errors, NonHdf5FileSaysSo) {
  const std::string path = test::scratch_dir("h5") + "/text.h5";
  std::ofstream(path) << "this is not an HDF5 file, just some text that is long enough\n";
  expect_error<InputError>([&] { File::open(path, Mode::Read); }, {path, "not an HDF5 file"});
}

TEST(H5Errors, MissingDatasetNamesFileAndDataset) {
  const std::string path = test::scratch_dir("h5") + "/some.h5";
  File::create(path, MPI_COMM_NULL).create_dataset("present", DType::U8, {1});
  File file = File::open(path, Mode::Read);
  expect_error<InputError>([&] { file.info("features"); }, {path, "'features'", "does not exist"});
  std::uint8_t out;
  expect_error<InputError>([&] { file.read_rows("group/features", 0, 1, &out, DType::U8); },
                           {path, "'group/features'", "does not exist"});
}

TEST(H5Errors, CreateInMissingFolderIsAnOutputErrorNamingIt) {
  const std::string dir = test::scratch_dir("h5") + "/not_made";
  expect_error<OutputError>([&] { File::create(dir + "/out.h5", MPI_COMM_NULL); },
                            {dir + "/out.h5", "folder " + dir + " does not exist"});
}

TEST(H5Errors, WritingToAReadOnlyFileIsRefused) {
  const std::string path = test::scratch_dir("h5") + "/read_only.h5";
  File::create(path, MPI_COMM_NULL).create_dataset("x", DType::U8, {1});
  File file = File::open(path, Mode::Read);
  const std::uint8_t one = 1;
  expect_error<OutputError>([&] { file.write_rows("x", 0, 1, &one, DType::U8); }, {path, "read-only"});
  expect_error<OutputError>([&] { file.write_int_attribute("/", "a", 1); }, {path, "read-only"});
}

TEST(H5Files, SameDataGivesByteIdenticalFiles) {
  const std::string dir = test::scratch_dir("h5");
  auto write = [](const std::string& path) {
    File file = File::create(path, MPI_COMM_NULL);
    file.write_string_attribute("/", "model", "ffhq");
    file.create_dataset("layers/4/features", DType::F32, {6, 4}, {2, 4}, 5);
    file.create_dataset("labels", DType::I64, {6});
    file.write_rows("layers/4/features", 0, 6, values<float>(0, 24).data(), DType::F32);
    file.write_rows("labels", 0, 6, values<std::int64_t>(0, 6).data(), DType::I64);
    file.write_doubles_attribute("layers/4/features", "scale", {0.5, 2});
    file.close();
  };
  write(dir + "/first.h5");
  // HDF5 timestamps have one-second resolution: wait past a second so that recorded
  // times would differ.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  write(dir + "/second.h5");
  const std::string first = read_bytes(dir + "/first.h5");
  ASSERT_GT(first.size(), 0u);
  EXPECT_TRUE(first == read_bytes(dir + "/second.h5")) << "files differ";
}

TEST(H5Files, ReopenedForWritingKeepsData) {
  const std::string path = test::scratch_dir("h5") + "/append.h5";
  File::create(path, MPI_COMM_NULL).create_dataset("a", DType::I32, {2});
  {
    File file = File::open(path, Mode::ReadWrite);
    const std::int32_t data[2] = {7, 8};
    file.write_rows("a", 0, 2, data, DType::I32);
    file.create_dataset("b", DType::U8, {1});
  }
  File file = File::open(path, Mode::Read);
  EXPECT_EQ(file.read_all<std::int32_t>("a"), (std::vector<std::int32_t>{7, 8}));
  EXPECT_TRUE(file.exists("b"));
}

// ---- tensors -----------------------------------------------------------------------------

TEST(H5Tensor, Uint16DatasetsTakeAndGiveInt32TensorsAndRefuseOutOfRange) {
  const std::string path = test::scratch_dir("h5") + "/u16.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("labels", DType::U16, {3, 2}, {1, 2}, 1);
  const at::Tensor labels = at::tensor({0, 1, 300, 65535, 7, 40000}, at::kInt).reshape({3, 2});
  write_tensor_rows(file, "labels", 0, labels);
  EXPECT_THROW(write_tensor_rows(file, "labels", 0, at::full({1, 2}, 65536, at::kInt)), OutputError);
  EXPECT_THROW(write_tensor_rows(file, "labels", 0, at::full({1, 2}, -1, at::kInt)), OutputError);
  const at::Tensor back = read_tensor(file, "labels");
  EXPECT_EQ(back.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(back, labels));
  EXPECT_EQ(file.info("labels").dtype, DType::U16);
}

TEST(H5Tensor, DTypeOfMapsEverySupportedScalarType) {
  EXPECT_EQ(dtype_of(at::kByte), DType::U8);
  EXPECT_EQ(dtype_of(at::kInt), DType::I32);
  EXPECT_EQ(dtype_of(at::kLong), DType::I64);
  EXPECT_EQ(dtype_of(at::kFloat), DType::F32);
  EXPECT_EQ(dtype_of(at::kDouble), DType::F64);
  EXPECT_THROW(dtype_of(at::kHalf), Error);
  for (DType dtype : {DType::U8, DType::I32, DType::I64, DType::F32, DType::F64}) {
    EXPECT_EQ(dtype_of(scalar_type_of(dtype)), dtype);
  }
}

TEST(H5Tensor, RowsRoundTripInTheFilesDType) {
  const std::string path = test::scratch_dir("h5") + "/tensor.h5";
  const at::Tensor all = at::arange(5 * 3 * 2, at::kDouble).reshape({5, 3, 2});
  {
    File file = File::create(path, MPI_COMM_NULL);
    file.create_dataset("x", DType::F64, {5, 3, 2}, {2, 3, 2}, 3);
    write_tensor_rows(file, "x", 3, all.slice(0, 3, 5));
    write_tensor_rows(file, "x", 0, all.slice(0, 0, 3).transpose(1, 2).contiguous().transpose(1, 2));  // not contiguous
    write_tensor_rows(file, "x", 2, at::Tensor());  // nothing, still fine
  }
  File file = File::open(path, Mode::Read);
  const at::Tensor back = read_tensor(file, "x");
  EXPECT_EQ(back.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(back, all));
  const at::Tensor middle = read_tensor(file, "x", 1, 2);
  EXPECT_EQ(middle.sizes(), (std::vector<std::int64_t>{2, 3, 2}));
  EXPECT_TRUE(at::equal(middle, all.slice(0, 1, 3)));
}

TEST(H5Tensor, MismatchedDTypeOrShapeIsAnOutputErrorNamingTheDataset) {
  const std::string path = test::scratch_dir("h5") + "/tensor.h5";
  File file = File::create(path, MPI_COMM_NULL);
  file.create_dataset("features", DType::F32, {4, 3});
  expect_error<OutputError>(
      [&] { write_tensor_rows(file, "features", 0, at::zeros({2, 3}, at::kDouble)); },
      {path, "features", "float32", "Double"});
  expect_error<OutputError>(
      [&] { write_tensor_rows(file, "features", 0, at::zeros({2, 4}, at::kFloat)); },
      {path, "features", "[3]", "[2, 4]"});
}

// ---- atomic outputs ------------------------------------------------------------------------

TEST(H5AtomicOutput, FinalNameAppearsOnlyOnCommit) {
  const std::string dir = test::scratch_dir("atomic");
  const std::string final_path = dir + "/made/here/out.h5";  // folders created on the way
  AtomicOutput output(final_path);
  EXPECT_EQ(output.temp_path().rfind(final_path + ".tmp.", 0), 0u) << output.temp_path();
  File file = File::create(output.temp_path(), MPI_COMM_NULL);
  file.create_dataset("x", DType::U8, {1});
  file.close();
  EXPECT_TRUE(fs::exists(output.temp_path()));
  EXPECT_FALSE(fs::exists(final_path));
  output.commit();
  EXPECT_TRUE(fs::exists(final_path));
  EXPECT_FALSE(fs::exists(output.temp_path()));
  EXPECT_TRUE(File::open(final_path, Mode::Read).exists("x"));
}

TEST(H5AtomicOutput, UncommittedTempFileIsRemoved) {
  const std::string dir = test::scratch_dir("atomic");
  std::string temp;
  {
    AtomicOutput output(dir + "/out.png");
    temp = output.temp_path();
    std::ofstream(temp) << "partial";
    ASSERT_TRUE(fs::exists(temp));
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_FALSE(fs::exists(dir + "/out.png"));
}

TEST(H5AtomicOutput, TokenGivesTheSameTempNameEverywhere) {
  const std::string dir = test::scratch_dir("atomic");
  const std::string token = AtomicOutput::make_token();
  EXPECT_NE(token, AtomicOutput::make_token());
  AtomicOutput a(dir + "/out.h5", token), b(dir + "/out.h5", token), c(dir + "/out.h5");
  EXPECT_EQ(a.temp_path(), b.temp_path());
  EXPECT_EQ(a.temp_path(), dir + "/out.h5.tmp." + token);
  EXPECT_NE(a.temp_path(), c.temp_path());
}

TEST(H5AtomicOutput, CommitWithoutTempFileIsAnOutputError) {
  const std::string dir = test::scratch_dir("atomic");
  AtomicOutput output(dir + "/out.h5");
  expect_error<OutputError>([&] { output.commit(); }, {dir + "/out.h5", "was not written"});
}

TEST(H5AtomicOutput, ParentThatIsAFileIsAnOutputErrorNamingIt) {
  const std::string dir = test::scratch_dir("atomic");
  std::ofstream(dir + "/plain_file") << "x";
  expect_error<OutputError>([&] { AtomicOutput output(dir + "/plain_file/sub/out.h5"); },
                            {dir + "/plain_file/sub/out.h5", dir + "/plain_file/sub"});
}

TEST(H5AtomicOutput, ReadOnlyParentIsAnOutputErrorNamingIt) {
  if (geteuid() == 0) GTEST_SKIP() << "root may write into read-only folders";
  const std::string dir = test::scratch_dir("atomic") + "/locked";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  expect_error<OutputError>([&] { AtomicOutput output(dir + "/out.h5"); },
                            {dir + "/out.h5", dir, "not writable"});
  fs::permissions(dir, fs::perms::owner_all);
}

}  // namespace
}  // namespace styleseg::h5
