// Parity with the reference fixtures (../shared/fixtures): each dataset must match within
// max(10 x its relerr_f32_vs_f64, 1e-5) (the fixtures README), and activations captured
// by name must cover every dataset under a group's activations/.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "io/h5.h"
#include "io/h5_tensor.h"
#include "models/state_dict.h"

namespace styleseg::test {

// ||ours - expected|| / ||expected|| in float64, ours reshaped to expected's shape.
inline double relative_error(const at::Tensor& ours, const at::Tensor& expected) {
  at::Tensor a = ours.to(at::kCPU, at::kDouble).reshape(expected.sizes());
  at::Tensor b = expected.to(at::kDouble);
  return (a - b).norm().item<double>() / std::max(b.norm().item<double>(), 1e-30);
}

// The fixtures' rule for a float32 result: max(10 x the float32-vs-float64 error the reference
// measured for it, 1e-5).
inline double tolerance_for(double relerr_f32_vs_f64) { return std::max(10.0 * relerr_f32_vs_f64, 1e-5); }

// The rule for a dataset of a fixture file; 1e-5 where the dataset carries no measured error.
inline double parity_tolerance(const h5::File& file, const std::string& path) {
  return tolerance_for(file.has_attribute(path, "relerr_f32_vs_f64") ? file.read_double_attribute(path, "relerr_f32_vs_f64") : 0.0);
}

// Collects activations by name; a name seen twice gets #0, #1 (the fixtures' convention for
// modules called more than once, e.g. the mapping network when mixing).
struct Capture {
  std::map<std::string, std::vector<at::Tensor>> calls;
  models::ActivationSink sink() {
    return [this](const std::string& name, const at::Tensor& t) { calls[name].push_back(t.detach().clone()); };
  }
  at::Tensor get(const std::string& dataset_name) const {
    std::string name = dataset_name;
    size_t index = 0;
    if (auto hash = name.find('#'); hash != std::string::npos) {
      index = std::stoul(name.substr(hash + 1));
      name = name.substr(0, hash);
    }
    auto it = calls.find(name);
    if (it == calls.end() || index >= it->second.size()) return {};
    return it->second[index];
  }
};

class ParityChecker {
 public:
  ParityChecker(h5::File& file, std::string group) : file_(file), group_(std::move(group)) {}

  at::Tensor input(const std::string& name) { return h5::read_tensor(file_, group_ + "/inputs/" + name); }

  void expect_close(const std::string& dataset, const at::Tensor& ours) {
    SCOPED_TRACE(group_ + "/" + dataset);
    ASSERT_TRUE(ours.defined()) << "no output captured for " << dataset;
    const std::string path = group_ + "/" + dataset;
    at::Tensor expected = h5::read_tensor(file_, path);
    ASSERT_EQ(ours.numel(), expected.numel()) << "shape mismatch for " << path;
    const double reference = file_.read_double_attribute(path, "relerr_f32_vs_f64");
    const double tolerance = tolerance_for(reference);
    const double err = relative_error(ours, expected);
    EXPECT_LE(err, tolerance) << path << ": relative error " << err << " > " << tolerance;
    ++checked_;
    if (err / tolerance > worst_ratio_) {
      worst_ratio_ = err / tolerance;
      char text[64];
      std::snprintf(text, sizeof text, ": %.2e (tolerance %.2e)", err, tolerance);
      worst_ = path + text;
    }
  }
  ~ParityChecker() {
    std::printf("[ parity   ] %s: %d datasets, closest to its tolerance %s\n", group_.c_str(), checked_, worst_.c_str());
  }

  // Every dataset under activations/ must be produced and match.
  void expect_activations(const Capture& capture) {
    const auto names = file_.members(group_ + "/activations");
    ASSERT_FALSE(names.empty());
    for (const auto& name : names) expect_close("activations/" + name, capture.get(name));
  }
  int checked() const { return checked_; }

 private:
  h5::File& file_;
  std::string group_;
  int checked_ = 0;
  double worst_ratio_ = 0;
  std::string worst_;
};

}  // namespace styleseg::test
