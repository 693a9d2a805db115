// PyValue: the Python object tree a pickle describes, as far as checkpoints need it.
//
// A PyValue is a handle: copies are cheap and share their contents, like Python references
// (a list appended through one copy is appended for all). Code that reads checkpoints uses
// the const accessors; only the unpickler and tests build values.
//
// Wrong-kind access throws styleseg::InputError ("expected a dict, found list with 3 items"),
// so a checkpoint of the wrong shape is reported as a bad input file, never as a crash.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace styleseg::io {

class PyValue {
 public:
  // Object: an instance of any class the reader does not map to a plain kind (e.g.
  // argparse.Namespace, numpy arrays, NVlabs' EasyDict). It keeps the class name
  // ("module.qualname"), the constructor arguments (REDUCE / NEWOBJ) and the state that
  // BUILD gave it (usually a dict of attributes). A class reference that was never called
  // (a bare GLOBAL, e.g. torch.float32) is an Object with None args.
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tensor, List, Tuple, Dict, Object };

  PyValue();  // None

  // ---- construction (unpickler, tests) ----
  static PyValue none();
  static PyValue boolean(bool value);
  static PyValue integer(int64_t value);
  static PyValue floating(double value);
  static PyValue string(std::string utf8);
  static PyValue bytes(std::string raw);
  static PyValue tensor(at::Tensor value);
  static PyValue list(std::vector<PyValue> items = {});
  static PyValue tuple(std::vector<PyValue> items = {});
  static PyValue dict();
  // args: None (class reference, not called) or a Tuple.
  static PyValue object(std::string class_name, PyValue args = PyValue());

  // Mutators used while unpickling. They change every copy of this value.
  void append(PyValue item);                 // List (or Tuple while being built)
  void set_item(PyValue key, PyValue value); // Dict: replaces the value of an existing key
  void set_state(PyValue state);             // Object
  void set_object_args(PyValue args);        // Object
  // Empties a List, Tuple, Dict or Object (args and state): the unpickler breaks the
  // reference cycles of a pickle it refuses this way, so that their memory is freed.
  void clear_children();
  // Objects the reader marks for itself (storages, class references); not for users.
  void set_tag(int tag);
  int tag() const;

  // ---- reading ----
  Kind kind() const;
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_string() const { return kind() == Kind::String; }
  bool is_bytes() const { return kind() == Kind::Bytes; }
  bool is_tensor() const { return kind() == Kind::Tensor; }
  bool is_list() const { return kind() == Kind::List; }
  bool is_tuple() const { return kind() == Kind::Tuple; }
  bool is_sequence() const { return is_list() || is_tuple(); }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_object() const { return kind() == Kind::Object; }

  bool as_bool() const;
  int64_t as_int() const;   // Int (Bool accepted, as Python does)
  double as_float() const;  // Float or Int
  const std::string& as_string() const;
  const std::string& as_bytes() const;
  const at::Tensor& as_tensor() const;

  const std::vector<PyValue>& items() const;  // List or Tuple
  size_t size() const;                        // items of a List/Tuple, entries of a Dict

  const std::vector<std::pair<PyValue, PyValue>>& dict_items() const;  // Dict
  bool contains(const std::string& key) const;                        // Dict, string key
  bool contains(int64_t key) const;                                   // Dict, int key
  // Throws InputError naming the key and the keys present.
  const PyValue& at(const std::string& key) const;
  const PyValue& at(int64_t key) const;
  // nullptr when absent (Dict only).
  const PyValue* find(const std::string& key) const;

  const std::string& class_name() const;  // Object
  const PyValue& object_args() const;     // Object: Tuple, or None for a class reference
  const PyValue& object_state() const;    // Object: what BUILD set, None if nothing

  // Short human text: "dict with 3 keys", "tensor float16 [3, 4]", "str 'abc'".
  std::string describe() const;

  // True when both handles point at the same contents (Python `is`).
  bool same(const PyValue& other) const { return node_ == other.node_; }
  // The contents' address (nullptr for None): a key for "seen" sets when walking a graph.
  const void* identity() const { return node_.get(); }

  struct Node;

 private:
  explicit PyValue(std::shared_ptr<Node> node);
  const Node& node_of(Kind expected, const char* what) const;
  Node& mutable_node_of(Kind expected, const char* what);

  std::shared_ptr<Node> node_;  // null for None
};

const char* kind_name(PyValue::Kind kind);

// Python's name of a dtype: "float32", "float16", "bfloat16", "int64", ...
std::string dtype_name(c10::ScalarType dtype);

// String-keyed tensor entries of a state dict, in file order; other entries are skipped.
// Throws InputError when `dict` is not a Dict.
std::vector<std::pair<std::string, at::Tensor>> tensor_items(const PyValue& dict);

}  // namespace styleseg::io
