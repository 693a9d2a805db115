// A pickle reader for what torch.save writes, without Python.
//
// Understands every opcode of protocols 0-5 that plain data needs (lists, tuples, dicts,
// sets, ints of any size, floats, str, bytes, memo, frames, persistent ids); the classes
// torch.save uses become plain PyValues:
//   collections.OrderedDict                      -> Dict (its BUILD, e.g. _metadata, ignored)
//   torch._utils._rebuild_tensor{,_v2,_v3}        -> Tensor (as_strided over the storage)
//   torch._utils._rebuild_parameter{,_with_state} -> Tensor
//   torch.Size                                   -> Tuple of ints
//   torch.device                                 -> String ("cpu", "cuda:1")
//   _codecs.encode(text, "latin1"), bytearray     -> Bytes
// A few plain classes (argparse.Namespace, set, copyreg's reconstructor) become an Object
// (class name, constructor args, BUILD state) for the caller to read.
//
// Checkpoints are data, by rule: a pickle may only name the globals of allowed_global()
// (tensor, parameter and storage rebuilding, dtypes, containers, the plain classes above),
// the equivalent of torch.load(weights_only=True). Any other global (os.system,
// builtins.eval, subprocess.Popen, a class of the program that saved the file) throws
// RefusedGlobal at its GLOBAL opcode, before reading on. Nothing a pickle names is ever
// called in any case: the allow-list makes that a rule checked at the door.
//
// Tensor storages come from the persistent ids ('storage', storage_type, key, location,
// numel[, view_metadata]) through a callback, so the same reader serves the zip format
// (one record per storage) and the legacy format (storages after the pickle). Views of one
// storage share it, as in Python. Tensors are CPU tensors of the stored dtype. A storage
// saved on its own (not inside a tensor) is an Object named after its storage class whose
// single argument is a 1-D tensor over it.
//
// torch 2.x writes the same persistent ids as 1.x: for tensors of the classic dtypes the
// storage type is still the legacy class (torch.FloatStorage, torch.HalfStorage, ...) with
// numel in elements; a bare torch.UntypedStorage, and tensors of dtypes added since (uint16,
// float8, ...: written with _rebuild_tensor_v3, dtype as 7th argument) use
// torch.storage.UntypedStorage with numel in bytes.
//
// Every length in the data is checked against the bytes that remain; corrupt input gives
// styleseg::InputError ("corrupt pickle at byte N: ..."), never a crash.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/core/Storage.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/error.h"
#include "io/py_value.h"

namespace styleseg::io {

// What one persistent id asks for.
struct StorageRef {
  std::string key;           // record name under data/ (zip) or storage key (legacy)
  std::string storage_type;  // "torch.FloatStorage", "torch.storage.UntypedStorage", ...
  at::ScalarType dtype;      // element type; uint8 for untyped storages
  int64_t numel = 0;         // elements of dtype (bytes for untyped storages)
  std::string location;      // "cpu", "cuda:0": informational, tensors load to the CPU
  int64_t nbytes() const;    // numel * element size
};

// Returns a CPU storage holding at least ref.nbytes() bytes for ref.key. Called once per
// key; throws InputError when the storage cannot be provided. The bytes may be filled in
// after the pickle is read (the legacy format stores them after it).
using StorageResolver = std::function<c10::Storage(const StorageRef& ref)>;

// Whether a pickle may name the global `qualified` ("module.name", Python 3 module names).
bool allowed_global(const std::string& qualified);

// A pickle named a global outside allowed_global(); what() names it.
class RefusedGlobal : public InputError {
 public:
  using InputError::InputError;
};

// Element type of a storage class name ("torch.HalfStorage", "torch.cuda.FloatStorage",
// "torch.UntypedStorage" -> uint8). Throws InputError for names that are not storages.
at::ScalarType storage_dtype(const std::string& storage_type);

// Globals a pickle may name beyond allowed_global(). TorchScriptModules: the module classes
// of a TorchScript archive's data.pkl ("__torch__.clip.model.CLIP", ...), which become plain
// objects holding their attributes (nothing is called: the archive's code is never compiled
// or run).
enum class ExtraGlobals { None, TorchScriptModules };

// Reads one pickle (up to its STOP opcode) from data[0, size).
class Unpickler {
 public:
  // `resolver` may be empty for pickles without tensors; a persistent id is then an error.
  Unpickler(const void* data, size_t size, StorageResolver resolver = {}, ExtraGlobals extra = ExtraGlobals::None);

  PyValue load();

  // Bytes consumed so far (after load(): the size of the pickle just read).
  size_t position() const { return pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  StorageResolver resolver_;
  ExtraGlobals extra_;
};

// Convenience: one pickle from a buffer; *consumed (if given) receives its length.
PyValue unpickle(const void* data, size_t size, StorageResolver resolver = {},
                 size_t* consumed = nullptr, ExtraGlobals extra = ExtraGlobals::None);

}  // namespace styleseg::io
