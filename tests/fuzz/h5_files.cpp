// styleseg's own HDF5 files (synthesized datasets, clusters.h5, direction files) as their
// readers meet them after someone else edited them: the input chooses a file kind, writes
// a valid small file with styleseg's writer, then changes it (attributes and datasets
// deleted, replaced by other types, shapes and values), and the reader must refuse what is
// inconsistent with one clear error rather than trust a shape, type or size.
//
// libhdf5's own parser is not the target (raw bytes would fuzz libhdf5, whose fixes are
// upstream's): every file here is well-formed HDF5 with hostile contents.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include <ATen/ATen.h>

#include <array>
#include <string>
#include <vector>

#include "cluster/clusters_file.h"
#include "dataset/dataset_file.h"
#include "dataset/reader.h"
#include "directions/latent_direction.h"
#include "io/h5.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using styleseg::h5::DType;

enum class Kind { Dataset, Clusters, Direction };

// The names each reader looks up: mutations mostly hit these.
const std::vector<std::string> kNames = {
    "images", "masks", "done", "classes", "palette", "ignore_label", "complete", "size", "count", "height", "width",
    "centroids", "counts", "inertia", "final_inertia", "iterations", "converged", "algorithm", "init",
    "restart_inertia", "fixed_vectors", "vectors_processed", "seconds", "source", "options", "names", "naming",
    "space", "space_mean", "space_map",
    "direction", "method", "scorer", "heldout_accuracy", "train_accuracy", "suggested_alpha", "projection_std",
    "latent_std", "positive_threshold", "sweep_alpha", "sweep_rate", "sweep_score"};

std::string pick_name(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return kNames[in.ConsumeIntegralInRange<std::size_t>(0, kNames.size() - 1)];
  return in.ConsumeRandomLengthString(16);
}

void write_valid_file(Kind kind, FuzzedDataProvider& in, const std::string& path) {
  const int64_t a = in.ConsumeIntegralInRange<int64_t>(1, 4), b = in.ConsumeIntegralInRange<int64_t>(1, 6);
  if (kind == Kind::Dataset) {
    const at::Tensor images = at::zeros({a, b, b, 3}, at::kByte);
    const at::Tensor masks = at::zeros({a, b, b}, at::kByte);
    styleseg::dataset::write_dataset(path, images, masks, {"background", "part"}, {{{0, 0, 0}}, {{255, 0, 0}}});
  } else if (kind == Kind::Clusters) {
    styleseg::cluster::Clusters c;
    c.centroids = at::zeros({a, b}, at::kFloat);
    c.counts = at::ones({a}, at::kLong);
    c.inertia_history = {1.0};
    c.algorithm = "lloyd";
    c.init = "kmeans++";
    if (in.ConsumeBool()) {  // a whitened space: features of d dimensions mapped to the centroids' b
      const int64_t d = in.ConsumeIntegralInRange<int64_t>(b, 8);
      c.space = styleseg::cluster::parse_space("whiten", "fuzz");
      c.space_map = {at::zeros({d}, at::kDouble), at::eye(d, at::kDouble).narrow(1, 0, b).contiguous()};
    }
    styleseg::cluster::write_clusters(path, c);
  } else {
    styleseg::directions::LatentDirection d;
    d.direction = at::ones({b}, at::kFloat);
    d.method = "svm";
    styleseg::directions::write_direction(path, d);
  }
}

void delete_object(const std::string& path, const std::string& name, bool attribute) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) styleseg::fuzz::finding("cannot reopen the file just written");
  H5E_BEGIN_TRY {
    if (attribute) H5Adelete(file, name.c_str());
    else H5Ldelete(file, name.c_str(), H5P_DEFAULT);
  }
  H5E_END_TRY;
  H5Fclose(file);
}

// A dataset of the input's type and shape (up to 3 dimensions of up to 8), filled with the
// input's bytes, where `name` was.
void replace_dataset(const std::string& path, const std::string& name, FuzzedDataProvider& in) {
  const DType dtype = in.PickValueInArray({DType::U8, DType::U16, DType::I32, DType::I64, DType::F32, DType::F64});
  std::vector<int64_t> shape(in.ConsumeIntegralInRange<int>(0, 3));
  int64_t elements = 1;
  for (int64_t& d : shape) elements *= (d = in.ConsumeIntegralInRange<int64_t>(0, 8));
  std::vector<std::uint8_t> values(static_cast<std::size_t>(elements) * styleseg::h5::size_of(dtype));
  for (std::uint8_t& v : values) v = in.ConsumeIntegral<std::uint8_t>();
  delete_object(path, name, false);
  styleseg::h5::File file = styleseg::h5::File::open(path, styleseg::h5::Mode::ReadWrite);
  file.create_dataset(name, dtype, shape);
  if (!shape.empty() && elements > 0) file.write_rows(name, 0, shape[0], values.data(), dtype);
  file.close();
}

void set_attribute(const std::string& path, const std::string& name, FuzzedDataProvider& in) {
  styleseg::h5::File file = styleseg::h5::File::open(path, styleseg::h5::Mode::ReadWrite);
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: file.write_string_attribute("/", name, in.ConsumeRandomLengthString(64)); break;
    case 1: file.write_int_attribute("/", name, in.ConsumeIntegral<int64_t>()); break;
    case 2: file.write_double_attribute("/", name, in.ConsumeFloatingPoint<double>()); break;
    default: {
      std::vector<double> values(in.ConsumeIntegralInRange<std::size_t>(0, 8));
      for (double& v : values) v = in.ConsumeFloatingPoint<double>();
      file.write_doubles_attribute("/", name, values);
    }
  }
  file.close();
}

void mutate(const std::string& path, FuzzedDataProvider& in) {
  for (int step = 0; step < 8 && in.remaining_bytes() > 0; ++step) {
    const int op = in.ConsumeIntegralInRange<int>(0, 3);
    const std::string name = pick_name(in);
    if (name.empty()) continue;
    if (op == 0) delete_object(path, name, true);
    else if (op == 1) delete_object(path, name, false);
    else if (op == 2) set_attribute(path, name, in);
    else replace_dataset(path, name, in);
  }
}

void read_back(Kind kind, const std::string& path) {
  if (kind == Kind::Dataset) {
    const styleseg::dataset::DatasetReader reader(path, /*allow_incomplete=*/true);
    if (!reader.available().empty()) (void)reader.read(reader.available());
  } else if (kind == Kind::Clusters) {
    const styleseg::cluster::Clusters c = styleseg::cluster::read_clusters(path);
    (void)c.project_vectors(at::ones({2, c.feature_dim()}));  // what assign does with each row
  } else {
    (void)styleseg::directions::read_direction(path).per_layer(4);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const Kind kind = in.PickValueInArray({Kind::Dataset, Kind::Clusters, Kind::Direction});
  const std::string path = styleseg::fuzz::scratch_path(".h5");
  try {
    write_valid_file(kind, in, path);
    mutate(path, in);
  } catch (const styleseg::Error&) {
    return 0;  // a change the writer refused (a name HDF5 cannot hold): nothing to read
  }
  styleseg::fuzz::expect_clean_refusal([&] { read_back(kind, path); });
  return 0;
}
