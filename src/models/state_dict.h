// A checkpoint's named tensors with checked access, shared by the model loaders
// (stylegan2/checkpoint.cpp, clip/model_file.cpp): every missing key or wrong shape is an
// InputError that names the file, what part of it was read, and the key.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/py_value.h"

namespace styleseg::models {

// Receives named intermediate activations (module paths of the reference implementation),
// for parity tests and debugging. Null means nothing is captured. Without autograd later
// steps may update a value in place: clone it to keep it.
using ActivationSink = std::function<void(const std::string& name, const at::Tensor& value)>;

class StateDict {
 public:
  // `source`: the file, `what`: which part of it ("NVlabs 'G_ema'", "CLIP model").
  StateDict(const io::PyValue& dict, std::string source, std::string what);
  StateDict(std::map<std::string, at::Tensor> tensors, std::string source, std::string what);

  bool has(const std::string& key) const { return tensors_.count(key) != 0; }
  // The tensor as float32, checked against `shape` (-1: any size).
  at::Tensor get(const std::string& key, const std::vector<int64_t>& shape) const;
  // The tensor as stored (any dtype, any shape).
  const at::Tensor& raw(const std::string& key) const;
  // n such that prefix + "0" + suffix ... prefix + (n-1) + suffix all exist.
  int count_prefix(const std::string& prefix, const std::string& suffix) const;
  const std::map<std::string, at::Tensor>& tensors() const { return tensors_; }
  const std::string& source() const { return source_; }

  // The InputError for `key` with `problem`, in the loaders' wording.
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

 private:
  std::map<std::string, at::Tensor> tensors_;
  std::string source_;
  std::string what_;
};

// "[3, 64, 7, 7]".
std::string shape_text(at::IntArrayRef sizes);

// Loads saved weights into a model: every target (a model's own tensor, by name) takes the
// tensor of that name in `saved`, converted to its device and dtype, in place (no autograd).
// InputError naming `source` and the key when one is missing ("SOURCE: no 'KEY' for the
// MODEL HINT") or has another shape ("SOURCE: 'KEY' has shape [..], the MODEL's is [..]").
// Targets `skip` accepts are left as they are.
using NamedTensorList = std::vector<std::pair<std::string, at::Tensor>>;
void load_named_tensors(const NamedTensorList& targets, const NamedTensorList& saved, const std::string& source,
                        const std::string& model, const std::string& missing_hint = "",
                        const std::function<bool(const std::string&)>& skip = {});

}  // namespace styleseg::models
