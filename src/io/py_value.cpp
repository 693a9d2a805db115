#include "io/py_value.h"

#include <c10/core/ScalarType.h>

#include <map>
#include <sstream>
#include <unordered_map>

#include "core/error.h"

namespace styleseg::io {

struct PyValue::Node {
  Kind kind = Kind::None;
  int tag = 0;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0.0;
  std::string text;  // String, Bytes, Object class name
  at::Tensor tensor;
  std::vector<PyValue> items;                      // List, Tuple
  std::vector<std::pair<PyValue, PyValue>> entries;  // Dict
  std::unordered_map<std::string, size_t> string_index;
  std::map<int64_t, size_t> int_index;
  PyValue args;   // Object
  PyValue state;  // Object

  explicit Node(Kind k) : kind(k) {}
  ~Node();

  // Moves every child handle out (for the iterative destructor).
  void release_children(std::vector<std::shared_ptr<Node>>& out) {
    for (auto& item : items)
      if (item.node_) out.push_back(std::move(item.node_));
    for (auto& [key, value] : entries) {
      if (key.node_) out.push_back(std::move(key.node_));
      if (value.node_) out.push_back(std::move(value.node_));
    }
    if (args.node_) out.push_back(std::move(args.node_));
    if (state.node_) out.push_back(std::move(state.node_));
    items.clear();
    entries.clear();
  }
};

// A pickle can nest lists a million levels deep in a few megabytes; the default recursive
// destruction of shared_ptr children would overflow the stack. Children whose last owner
// is this node are taken apart here, one at a time.
PyValue::Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  release_children(pending);
  while (!pending.empty()) {
    std::shared_ptr<Node> child = std::move(pending.back());
    pending.pop_back();
    if (child.use_count() == 1) child->release_children(pending);
  }
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Bool: return "bool";
    case c10::ScalarType::ComplexFloat: return "complex64";
    case c10::ScalarType::ComplexDouble: return "complex128";
    default: return c10::toString(dtype);
  }
}

const char* kind_name(PyValue::Kind kind) {
  switch (kind) {
    case PyValue::Kind::None: return "None";
    case PyValue::Kind::Bool: return "bool";
    case PyValue::Kind::Int: return "int";
    case PyValue::Kind::Float: return "float";
    case PyValue::Kind::String: return "str";
    case PyValue::Kind::Bytes: return "bytes";
    case PyValue::Kind::Tensor: return "tensor";
    case PyValue::Kind::List: return "list";
    case PyValue::Kind::Tuple: return "tuple";
    case PyValue::Kind::Dict: return "dict";
    case PyValue::Kind::Object: return "object";
  }
  return "?";
}

PyValue::PyValue() = default;
PyValue::PyValue(std::shared_ptr<Node> node) : node_(std::move(node)) {}

PyValue PyValue::none() { return PyValue(); }

PyValue PyValue::boolean(bool value) {
  auto node = std::make_shared<Node>(Kind::Bool);
  node->boolean = value;
  return PyValue(std::move(node));
}

PyValue PyValue::integer(int64_t value) {
  auto node = std::make_shared<Node>(Kind::Int);
  node->integer = value;
  return PyValue(std::move(node));
}

PyValue PyValue::floating(double value) {
  auto node = std::make_shared<Node>(Kind::Float);
  node->floating = value;
  return PyValue(std::move(node));
}

PyValue PyValue::string(std::string utf8) {
  auto node = std::make_shared<Node>(Kind::String);
  node->text = std::move(utf8);
  return PyValue(std::move(node));
}

PyValue PyValue::bytes(std::string raw) {
  auto node = std::make_shared<Node>(Kind::Bytes);
  node->text = std::move(raw);
  return PyValue(std::move(node));
}

PyValue PyValue::tensor(at::Tensor value) {
  auto node = std::make_shared<Node>(Kind::Tensor);
  node->tensor = std::move(value);
  return PyValue(std::move(node));
}

PyValue PyValue::list(std::vector<PyValue> items) {
  auto node = std::make_shared<Node>(Kind::List);
  node->items = std::move(items);
  return PyValue(std::move(node));
}

PyValue PyValue::tuple(std::vector<PyValue> items) {
  auto node = std::make_shared<Node>(Kind::Tuple);
  node->items = std::move(items);
  return PyValue(std::move(node));
}

PyValue PyValue::dict() { return PyValue(std::make_shared<Node>(Kind::Dict)); }

PyValue PyValue::object(std::string class_name, PyValue args) {
  auto node = std::make_shared<Node>(Kind::Object);
  node->text = std::move(class_name);
  node->args = std::move(args);
  return PyValue(std::move(node));
}

PyValue::Kind PyValue::kind() const { return node_ ? node_->kind : Kind::None; }

const PyValue::Node& PyValue::node_of(Kind expected, const char* what) const {
  if (kind() != expected)
    throw InputError(std::string("expected ") + what + ", found " + describe());
  return *node_;
}

PyValue::Node& PyValue::mutable_node_of(Kind expected, const char* what) {
  if (kind() != expected)
    throw InputError(std::string("expected ") + what + ", found " + describe());
  return *node_;
}

void PyValue::append(PyValue item) {
  if (kind() != Kind::List && kind() != Kind::Tuple)
    throw InputError("cannot append to " + describe() + " (expected a list)");
  node_->items.push_back(std::move(item));
}

void PyValue::set_item(PyValue key, PyValue value) {
  Node& node = mutable_node_of(Kind::Dict, "a dict");
  const Kind key_kind = key.kind();
  if (key_kind == Kind::String) {
    auto [it, inserted] = node.string_index.emplace(key.node_->text, node.entries.size());
    if (!inserted) {
      node.entries[it->second].second = std::move(value);
      return;
    }
  } else if (key_kind == Kind::Int || key_kind == Kind::Bool) {
    const int64_t k = key_kind == Kind::Int ? key.node_->integer : key.node_->boolean;
    auto [it, inserted] = node.int_index.emplace(k, node.entries.size());
    if (!inserted) {
      node.entries[it->second].second = std::move(value);
      return;
    }
  }
  // Other keys (tuples, None, floats) are rare in checkpoints: appended without
  // de-duplication.
  node.entries.emplace_back(std::move(key), std::move(value));
}

void PyValue::set_state(PyValue state) {
  mutable_node_of(Kind::Object, "an object").state = std::move(state);
}

void PyValue::set_object_args(PyValue args) {
  mutable_node_of(Kind::Object, "an object").args = std::move(args);
}

void PyValue::clear_children() {
  if (!node_) return;
  std::vector<std::shared_ptr<Node>> released;
  node_->release_children(released);
  node_->string_index.clear();
  node_->int_index.clear();
}

void PyValue::set_tag(int tag) {
  if (!node_) throw InputError("cannot tag None");
  node_->tag = tag;
}

int PyValue::tag() const { return node_ ? node_->tag : 0; }

bool PyValue::as_bool() const { return node_of(Kind::Bool, "a bool").boolean; }

int64_t PyValue::as_int() const {
  if (kind() == Kind::Bool) return node_->boolean ? 1 : 0;
  return node_of(Kind::Int, "an int").integer;
}

double PyValue::as_float() const {
  if (kind() == Kind::Int) return static_cast<double>(node_->integer);
  return node_of(Kind::Float, "a float").floating;
}

const std::string& PyValue::as_string() const { return node_of(Kind::String, "a str").text; }
const std::string& PyValue::as_bytes() const { return node_of(Kind::Bytes, "bytes").text; }
const at::Tensor& PyValue::as_tensor() const { return node_of(Kind::Tensor, "a tensor").tensor; }

const std::vector<PyValue>& PyValue::items() const {
  if (kind() != Kind::List && kind() != Kind::Tuple)
    throw InputError("expected a list or tuple, found " + describe());
  return node_->items;
}

size_t PyValue::size() const {
  switch (kind()) {
    case Kind::List:
    case Kind::Tuple: return node_->items.size();
    case Kind::Dict: return node_->entries.size();
    default: throw InputError("expected a list, tuple or dict, found " + describe());
  }
}

const std::vector<std::pair<PyValue, PyValue>>& PyValue::dict_items() const {
  return node_of(Kind::Dict, "a dict").entries;
}

const PyValue* PyValue::find(const std::string& key) const {
  const Node& node = node_of(Kind::Dict, "a dict");
  auto it = node.string_index.find(key);
  return it == node.string_index.end() ? nullptr : &node.entries[it->second].second;
}

bool PyValue::contains(const std::string& key) const { return find(key) != nullptr; }

bool PyValue::contains(int64_t key) const {
  const Node& node = node_of(Kind::Dict, "a dict");
  return node.int_index.count(key) != 0;
}

namespace {

// "'a', 'b', 'c', ... (40 more)": keys of a dict for error messages.
std::string key_list(const std::vector<std::pair<PyValue, PyValue>>& entries) {
  constexpr size_t kShown = 20;
  std::ostringstream out;
  for (size_t i = 0; i < entries.size() && i < kShown; ++i) {
    if (i) out << ", ";
    const PyValue& key = entries[i].first;
    if (key.is_string())
      out << "'" << key.as_string() << "'";
    else if (key.is_int())
      out << key.as_int();
    else
      out << key.describe();
  }
  if (entries.size() > kShown) out << ", ... (" << entries.size() - kShown << " more)";
  if (entries.empty()) out << "none";
  return out.str();
}

std::string quoted_snippet(const std::string& text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax) return "'" + text + "'";
  return "'" + text.substr(0, kMax) + "...' (" + std::to_string(text.size()) + " bytes)";
}

}  // namespace

const PyValue& PyValue::at(const std::string& key) const {
  const PyValue* value = find(key);
  if (!value)
    throw InputError("key '" + key + "' not found; keys present: " + key_list(node_->entries));
  return *value;
}

const PyValue& PyValue::at(int64_t key) const {
  const Node& node = node_of(Kind::Dict, "a dict");
  auto it = node.int_index.find(key);
  if (it == node.int_index.end())
    throw InputError("key " + std::to_string(key) + " not found; keys present: " +
                     key_list(node.entries));
  return node.entries[it->second].second;
}

const std::string& PyValue::class_name() const { return node_of(Kind::Object, "an object").text; }
const PyValue& PyValue::object_args() const { return node_of(Kind::Object, "an object").args; }
const PyValue& PyValue::object_state() const { return node_of(Kind::Object, "an object").state; }

std::string PyValue::describe() const {
  std::ostringstream out;
  switch (kind()) {
    case Kind::None: return "None";
    case Kind::Bool: return node_->boolean ? "bool True" : "bool False";
    case Kind::Int: return "int " + std::to_string(node_->integer);
    case Kind::Float: out << "float " << node_->floating; return out.str();
    case Kind::String: return "str " + quoted_snippet(node_->text);
    case Kind::Bytes: return "bytes of length " + std::to_string(node_->text.size());
    case Kind::Tensor: {
      const at::Tensor& t = node_->tensor;
      if (!t.defined()) return "undefined tensor";
      out << "tensor " << dtype_name(t.scalar_type()) << " [";
      for (int64_t d = 0; d < t.dim(); ++d) out << (d ? ", " : "") << t.size(d);
      out << "]";
      return out.str();
    }
    case Kind::List: return "list with " + std::to_string(node_->items.size()) + " items";
    case Kind::Tuple: return "tuple with " + std::to_string(node_->items.size()) + " items";
    case Kind::Dict: {
      const size_t n = node_->entries.size();
      return "dict with " + std::to_string(n) + (n == 1 ? " key" : " keys");
    }
    case Kind::Object:
      return (node_->args.is_none() && node_->state.is_none() ? "class " : "object ") + node_->text;
  }
  return "?";
}

std::vector<std::pair<std::string, at::Tensor>> tensor_items(const PyValue& dict) {
  if (!dict.is_dict()) throw InputError("expected a state dict, found " + dict.describe());
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [key, value] : dict.dict_items())
    if (key.is_string() && value.is_tensor()) out.emplace_back(key.as_string(), value.as_tensor());
  return out;
}

}  // namespace styleseg::io
