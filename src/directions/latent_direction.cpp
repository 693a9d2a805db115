#include "directions/latent_direction.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"

namespace styleseg::directions {

at::Tensor LatentDirection::per_layer(int64_t num_ws) const {
  if (direction.dim() == 2) {
    STYLESEG_CHECK(direction.size(0) == num_ws, ConfigError,
                   "the direction has " + std::to_string(direction.size(0)) + " layers, the generator " + std::to_string(num_ws));
    return direction;
  }
  return direction.unsqueeze(0).expand({num_ws, direction.size(0)});
}

void write_direction(const std::string& path, const LatentDirection& d) {
  AtomicOutput output(path);
  {
    h5::File file = h5::File::create(output.temp_path(), MPI_COMM_NULL);
    h5::write_tensor(file, "direction", d.direction.to(at::kFloat));
    h5::write_tensor(file, "sweep_alpha", at::tensor(d.sweep_alpha, at::kDouble));
    h5::write_tensor(file, "sweep_rate", at::tensor(d.sweep_rate, at::kDouble));
    h5::write_tensor(file, "sweep_score", at::tensor(d.sweep_score, at::kDouble));
    file.write_string_attribute("/", "method", d.method);
    file.write_string_attribute("/", "scorer", d.scorer.dump());
    file.write_double_attribute("/", "heldout_accuracy", d.heldout_accuracy);
    file.write_double_attribute("/", "train_accuracy", d.train_accuracy);
    file.write_double_attribute("/", "suggested_alpha", d.suggested_alpha);
    file.write_double_attribute("/", "projection_std", d.projection_std);
    file.write_double_attribute("/", "latent_std", d.latent_std);
    file.write_double_attribute("/", "positive_threshold", d.positive_threshold);
    file.write_string_attribute("/", "source", d.source.dump());
    file.write_string_attribute("/", "options", d.options.dump());
    file.write_string_attribute("/", "styleseg_version", STYLESEG_VERSION);
    file.close();
  }
  output.commit();
}

LatentDirection read_direction(const std::string& path) {
  const h5::File file = h5::File::open(path, h5::Mode::Read);
  STYLESEG_CHECK(file.exists("direction") && file.has_attribute("/", "method"), InputError,
                 path + ": not a direction file (no 'direction' dataset or 'method' attribute; `styleseg direction` writes one)");
  LatentDirection d;
  d.direction = h5::read_tensor(file, "direction").to(at::kFloat);
  STYLESEG_CHECK((d.direction.dim() == 1 || d.direction.dim() == 2) && d.direction.numel() > 0 &&
                     at::isfinite(d.direction).all().item<bool>(),
                 InputError, path + ": 'direction' must be a finite [w_dim] or [num_ws, w_dim] array");
  auto doubles = [&](const char* name) {
    std::vector<double> out;
    if (!file.exists(name)) return out;
    const at::Tensor t = h5::read_tensor(file, name).to(at::kDouble).contiguous();
    out.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return out;
  };
  d.sweep_alpha = doubles("sweep_alpha");
  d.sweep_rate = doubles("sweep_rate");
  d.sweep_score = doubles("sweep_score");
  d.method = file.read_string_attribute("/", "method");
  auto number = [&](const char* name, double fallback) {
    return file.has_attribute("/", name) ? file.read_double_attribute("/", name) : fallback;
  };
  d.heldout_accuracy = number("heldout_accuracy", -1);
  d.train_accuracy = number("train_accuracy", -1);
  d.suggested_alpha = number("suggested_alpha", 0);
  d.projection_std = number("projection_std", 0);
  d.latent_std = number("latent_std", 0);
  d.positive_threshold = number("positive_threshold", 0);
  try {
    for (auto [name, target] : {std::pair{"scorer", &d.scorer}, {"source", &d.source}, {"options", &d.options}})
      if (file.has_attribute("/", name)) *target = nlohmann::json::parse(file.read_string_attribute("/", name));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": a JSON attribute cannot be read: " + e.what());
  }
  return d;
}

}  // namespace styleseg::directions
