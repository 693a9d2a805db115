#include "dataset/dataset_file.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>

#include "core/checked_cast.h"
#include "core/error.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"

namespace styleseg::dataset {


void create_datasets(h5::File& file, const DatasetLayout& l) {
  const h5::Allocation data = l.compression > 0 ? h5::Allocation::Incremental : h5::Allocation::EarlyUnfilled;
  const h5::Extent grows = h5::Extent::Grows;
  file.create_dataset("images", h5::DType::U8, {l.count, l.height, l.width, 3}, {1, l.height, l.width, 3}, l.compression, data,
                      grows);
  file.create_dataset("masks", l.mask_uint16 ? h5::DType::U16 : h5::DType::U8, {l.count, l.height, l.width},
                      {1, l.height, l.width}, l.compression, data, grows);
  if (l.num_ws > 0)
    file.create_dataset("latents", h5::DType::F32, {l.count, l.num_ws, l.w_dim}, {1, l.num_ws, l.w_dim}, 0, data, grows);
  // Zeroed: "not done" must be what a fresh file says.
  file.create_dataset("done", h5::DType::U8, {l.count}, {}, 0, h5::Allocation::EarlyZeroed);
}

void grow_datasets(h5::File& file, int64_t needed, int64_t rows_per_round) {
  // The per-sample datasets; "done" is one byte a sample, allocated whole at creation.
  file.grow_ahead({"images", "masks", "latents"}, needed, rows_per_round);
}

double planned_bytes(const DatasetLayout& l) {
  if (l.compression > 0) return 0;
  const double pixels = static_cast<double>(l.height) * static_cast<double>(l.width);
  const double sample = pixels * 3 + pixels * (l.mask_uint16 ? 2 : 1) + 4.0 * static_cast<double>(l.num_ws * l.w_dim) + 1;
  return sample * static_cast<double>(l.count);
}

void write_dataset_attributes(h5::File& file, const std::vector<std::string>& classes,
                              const std::vector<std::array<uint8_t, 3>>& palette, int64_t count, int64_t height,
                              int64_t width, const nlohmann::json& extra) {
  nlohmann::json colours = nlohmann::json::array();
  for (const auto& rgb : palette) colours.push_back({rgb[0], rgb[1], rgb[2]});
  file.write_string_attribute("/", "classes", nlohmann::json(classes).dump());
  file.write_string_attribute("/", "palette", colours.dump());
  file.write_int_attribute("/", "ignore_label", 255);
  if (height == width) file.write_int_attribute("/", "size", height);
  file.write_int_attribute("/", "height", height);
  file.write_int_attribute("/", "width", width);
  file.write_int_attribute("/", "count", count);
  for (const auto& [name, value] : extra.items())
    file.write_string_attribute("/", name, value.is_string() ? value.get<std::string>() : value.dump());
  file.write_int_attribute("/", "complete", 0);
}

void write_dataset(const std::string& path, const at::Tensor& images, const at::Tensor& masks,
                   const std::vector<std::string>& classes, const std::vector<std::array<uint8_t, 3>>& palette,
                   const nlohmann::json& attributes) {
  STYLESEG_CHECK(images.dim() == 4 && images.size(3) == 3 && images.scalar_type() == at::kByte && masks.dim() == 3 &&
                     masks.sizes() == images.sizes().slice(0, 3),
                 Error, "write_dataset: expected uint8 images [N, H, W, 3] and masks [N, H, W]");
  const int64_t n = images.size(0), height = images.size(1), width = images.size(2);
  STYLESEG_ASSERT(!classes.empty() && classes.size() == palette.size() && classes.size() <= 255,
                  "write_dataset: one palette colour per class, 1 to 255 classes");
  AtomicOutput output(path);
  {
    h5::File file = h5::File::create(output.temp_path(), MPI_COMM_NULL);
    create_datasets(file, {n, height, width, 0, 0, false, 0});
    grow_datasets(file, n, n);
    h5::write_tensor_rows(file, "images", 0, images.contiguous());
    h5::write_tensor_rows(file, "masks", 0, masks.to(at::kByte).contiguous());
    h5::write_tensor_rows(file, "done", 0, at::ones({n}, at::kByte));
    write_dataset_attributes(file, classes, palette, n, height, width, attributes);
    file.write_int_attribute("/", "complete", 1);
    file.close();
  }
  output.commit();
}

namespace {

// Attribute text goes into JSON (inspect prints it, errors quote it), which holds UTF-8 only.
bool is_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();  // nlohmann's strict UTF-8 check
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

DatasetHeader read_header(const h5::File& file) {
  const std::string& path = file.path();
  for (const char* name : {"images", "masks", "done"})
    STYLESEG_CHECK(file.exists(name), InputError, path + ": no dataset '" + name + "' (not a styleseg dataset)");
  DatasetHeader h;
  const auto images = file.info("images").shape, masks = file.info("masks").shape, done = file.info("done").shape;
  STYLESEG_CHECK(images.size() == 4 && images[3] == 3, InputError, path + ": 'images' must be [N, H, W, 3]");
  h.count = images[0];
  h.height = images[1];
  h.width = images[2];
  h.size = h.height == h.width ? h.height : 0;
  STYLESEG_CHECK(masks == (std::vector<int64_t>{h.count, h.height, h.width}), InputError,
                 path + ": 'masks' must be [N, H, W] like 'images'");
  STYLESEG_CHECK(done == std::vector<int64_t>{h.count}, InputError, path + ": 'done' must be [N]");
  h.mask_uint16 = file.info("masks").dtype != h5::DType::U8;
  h.attributes = nlohmann::json::object();  // a file without attributes is named below, not a null's type error
  for (const std::string& name : file.attribute_names("/")) {
    STYLESEG_CHECK(is_utf8(name), InputError, path + ": an attribute's name is not UTF-8 text");
    try {
      const std::string text = file.read_string_attribute("/", name);
      STYLESEG_CHECK(is_utf8(text), InputError, path + ": attribute '" + name + "' is not UTF-8 text");
      try {
        h.attributes[name] = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception&) {
        h.attributes[name] = text;
      }
    } catch (const InputError&) {
      // Numbers: integers (seed, count, size) stay integers.
      const double value = file.read_double_attribute("/", name);
      if (value == std::floor(value) && std::fabs(value) < 9.0e15) h.attributes[name] = static_cast<int64_t>(value);
      else h.attributes[name] = value;
    }
  }
  const auto number = [&](const char* name, double fallback) {
    const auto it = h.attributes.find(name);
    if (it == h.attributes.end()) return fallback;
    STYLESEG_CHECK(it->is_number(), InputError, path + ": attribute '" + name + "' must be a number, not " + it->dump());
    return it->get<double>();
  };
  h.complete = number("complete", 0.0) != 0.0;
  const int64_t highest_label = h.mask_uint16 ? 65535 : 255;
  h.ignore_label = whole_number(number("ignore_label", highest_label), 0, highest_label, path + ": attribute 'ignore_label'");
  try {
    h.classes = h.attributes.at("classes").get<std::vector<std::string>>();
    for (const auto& rgb : h.attributes.at("palette")) {
      std::array<uint8_t, 3> colour{};
      STYLESEG_CHECK(rgb.is_array() && rgb.size() == 3, InputError, path + ": a 'palette' colour is not [r, g, b]: " + rgb.dump());
      for (size_t c = 0; c < 3; ++c) {
        STYLESEG_CHECK(rgb[c].is_number(), InputError, path + ": a 'palette' colour is not [r, g, b]: " + rgb.dump());
        colour[c] = static_cast<uint8_t>(whole_number(rgb[c].get<double>(), 0, 255, path + ": a 'palette' value"));
      }
      h.palette.push_back(colour);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": the 'classes' and 'palette' attributes cannot be read: " + e.what());
  }
  STYLESEG_CHECK(h.palette.size() == h.classes.size(), InputError, path + ": 'palette' and 'classes' differ in length");
  return h;
}

}  // namespace styleseg::dataset
