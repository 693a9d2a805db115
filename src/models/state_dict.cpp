#include "models/state_dict.h"

#include <ATen/ATen.h>

#include <sstream>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include "core/error.h"

namespace styleseg::models {

std::string shape_text(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << "]";
  return out.str();
}

StateDict::StateDict(const io::PyValue& dict, std::string source, std::string what)
    : source_(std::move(source)), what_(std::move(what)) {
  for (auto& [key, tensor] : io::tensor_items(dict)) tensors_.emplace(key, tensor);
}

StateDict::StateDict(std::map<std::string, at::Tensor> tensors, std::string source, std::string what)
    : tensors_(std::move(tensors)), source_(std::move(source)), what_(std::move(what)) {}

void StateDict::fail(const std::string& key, const std::string& problem) const {
  throw InputError(source_ + ": " + what_ + " tensor '" + key + "' " + problem);
}

const at::Tensor& StateDict::raw(const std::string& key) const {
  auto it = tensors_.find(key);
  if (it == tensors_.end()) throw InputError(source_ + ": " + what_ + " has no tensor '" + key + "'");
  return it->second;
}

at::Tensor StateDict::get(const std::string& key, const std::vector<int64_t>& shape) const {
  const at::Tensor& t = raw(key);
  bool ok = t.dim() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == t.size(static_cast<int64_t>(i));
  if (!ok) fail(key, "has shape " + shape_text(t.sizes()) + ", expected " + shape_text(shape) + " (-1: any)");
  return t.to(at::kFloat).contiguous();
}

int StateDict::count_prefix(const std::string& prefix, const std::string& suffix) const {
  int n = 0;
  while (has(prefix + std::to_string(n) + suffix)) ++n;
  return n;
}

void load_named_tensors(const NamedTensorList& targets, const NamedTensorList& saved, const std::string& source,
                        const std::string& model, const std::string& missing_hint,
                        const std::function<bool(const std::string&)>& skip) {
  const std::map<std::string, at::Tensor> given(saved.begin(), saved.end());
  at::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    if (skip && skip(name)) continue;
    const auto it = given.find(name);
    STYLESEG_CHECK(it != given.end(), InputError,
                   source + ": no '" + name + "' for the " + model + (missing_hint.empty() ? "" : " " + missing_hint));
    STYLESEG_CHECK(it->second.sizes() == target.sizes(), InputError,
                   source + ": '" + name + "' has shape " + shape_text(it->second.sizes()) + ", the " + model + "'s is " +
                       shape_text(target.sizes()));
    target.copy_(it->second.to(target.device(), target.scalar_type()));
  }
}

}  // namespace styleseg::models
