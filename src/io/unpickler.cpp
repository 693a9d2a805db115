#include "io/unpickler.h"

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"

namespace styleseg::io {

namespace {

// Markers on Object nodes the reader makes for itself.
constexpr int kClassRefTag = 1;  // a GLOBAL: a class or function not called yet
constexpr int kStorageTag = 2;   // a storage from a persistent id; args = (1-D tensor,)

// Pickle opcodes (CPython Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I',
  BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P',
  BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
  EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j',
  LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
  SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
  // protocol 2
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85,
  TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
  // protocol 3
  BINBYTES = 'B', SHORT_BINBYTES = 'C',
  // protocol 4
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f,
  ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
  FRAME = 0x95,
  // protocol 5
  BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

// Python 2 module names that protocol 2 pickles still use (pickle's fix_imports).
std::string python3_module(const std::string& module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return module;
}

// Code points of UTF-8 text as latin-1 bytes (what _codecs.encode(s, "latin1") returns).
bool utf8_to_latin1(const std::string& text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < text.size()) {
      const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      if (cp > 0xFF) return false;
      out->push_back(static_cast<char>(cp));
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

at::ScalarType dtype_from_name(const std::string& qualified) {
  static const std::unordered_map<std::string, at::ScalarType> names = {
      {"torch.float32", at::kFloat},        {"torch.float", at::kFloat},
      {"torch.float64", at::kDouble},       {"torch.double", at::kDouble},
      {"torch.float16", at::kHalf},         {"torch.half", at::kHalf},
      {"torch.bfloat16", at::kBFloat16},    {"torch.int64", at::kLong},
      {"torch.long", at::kLong},            {"torch.int32", at::kInt},
      {"torch.int", at::kInt},              {"torch.int16", at::kShort},
      {"torch.short", at::kShort},          {"torch.int8", at::kChar},
      {"torch.uint8", at::kByte},           {"torch.bool", at::kBool},
      {"torch.complex64", at::kComplexFloat}, {"torch.complex128", at::kComplexDouble},
  };
  auto it = names.find(qualified);
  if (it == names.end())
    throw InputError("tensor dtype " + qualified + " is not supported by this reader");
  return it->second;
}

// The pickle virtual machine for one load().
class Machine {
 public:
  Machine(const uint8_t* data, size_t size, size_t* pos, const StorageResolver& resolver, ExtraGlobals extra)
      : data_(data), size_(size), pos_(*pos), resolver_(resolver), extra_(extra) {}
  ~Machine() { break_cycles(); }

  // The value the pickle describes. Throws InputError for a pickle that is corrupt, names a
  // refused global, or describes a container that holds itself.
  PyValue run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError("corrupt pickle at byte " + std::to_string(op_start_) + ": " + what);
  }

  // ---- raw reads, each bounded by the bytes left ----
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_)
      throw InputError("pickle data ends early at byte " + std::to_string(size_) +
                       " (needed " + std::to_string(n) + " more bytes at byte " +
                       std::to_string(pos_) + ")");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint8_t u8() { return *take(1); }
  uint64_t uint_le(int bytes) {
    const uint8_t* p = take(bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string text(uint64_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
  std::string line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("unterminated text line");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string s = text(n);
    ++pos_;
    return s;
  }

  // ---- stack ----
  void push(PyValue v) { stack_.push_back(std::move(v)); }
  PyValue pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    PyValue v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyValue& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Items above the last MARK, removed from the stack with the mark.
  std::vector<PyValue> pop_mark() {
    if (marks_.empty()) fail("MARK expected");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<PyValue> items(std::make_move_iterator(stack_.begin() + start),
                               std::make_move_iterator(stack_.end()));
    stack_.resize(start);
    return items;
  }
  std::vector<PyValue> pop_n(size_t n) {
    if (stack_.size() < floor() + n) fail("stack underflow");
    std::vector<PyValue> items(std::make_move_iterator(stack_.end() - n),
                               std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return items;
  }

  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " is missing");
    push(it->second);
  }

  // ---- values ----
  PyValue make_long(const uint8_t* p, size_t n);
  PyValue class_ref(const std::string& module, const std::string& name) {
    const std::string qualified = python3_module(module) + "." + name;
    const bool extra = extra_ == ExtraGlobals::TorchScriptModules && qualified.rfind("__torch__.", 0) == 0;
    if (!allowed_global(qualified) && !extra)
      throw RefusedGlobal("refused: the pickle names the global '" + qualified + "' (at byte " + std::to_string(op_start_) +
                          "), which no checkpoint needs; styleseg reads tensors, containers and plain data only, as "
                          "torch.load(weights_only=True) does");
    PyValue v = PyValue::object(qualified);
    v.set_tag(kClassRefTag);
    return v;
  }
  void set_items(PyValue& dict, std::vector<PyValue>& kv);
  void add_to_set(PyValue& set, std::vector<PyValue>& items);
  void build(PyValue& target, PyValue state);

  // Reference cycles. Opcodes that fill a container after it exists (APPEND, SETITEM, BUILD,
  // ADDITEMS, with DUP or the memo) can make it hold itself. No checkpoint does (torch.save
  // writes trees, with shared leaves at most), and a cycle would send recursive readers into
  // endless recursion and leak the shared handles. Every container filled that way is
  // remembered; the result is refused if a walk through it meets a cycle, and on the way out
  // every remembered container that is not part of the accepted result is emptied, which
  // breaks any cycle among them.
  void remember_filled(const PyValue& container) { filled_.push_back(container); }
  void refuse_cycles(const PyValue& result) const;
  void break_cycles();

  // Calling a class or function (REDUCE, NEWOBJ).
  PyValue call(const PyValue& callable, const PyValue& args, int depth = 0);
  PyValue persistent_load(const PyValue& pid);
  at::Tensor rebuild_tensor(const std::vector<PyValue>& args, size_t dtype_arg);

  const uint8_t* data_;
  size_t size_;
  size_t& pos_;
  const StorageResolver& resolver_;
  ExtraGlobals extra_;
  size_t op_start_ = 0;

  std::vector<PyValue> stack_;
  std::vector<PyValue> filled_;  // containers filled after creation (remember_filled)
  PyValue accepted_;             // run()'s result once refuse_cycles passed
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyValue> memo_;
  std::unordered_map<std::string, PyValue> storages_;  // by key: views share storage
};

PyValue Machine::make_long(const uint8_t* p, size_t n) {
  if (n == 0) return PyValue::integer(0);
  const bool negative = (p[n - 1] & 0x80) != 0;
  // Drop sign-extension bytes beyond 8.
  size_t used = n;
  while (used > 8 && p[used - 1] == (negative ? 0xFF : 0x00) &&
         ((p[used - 2] & 0x80) != 0) == negative)
    --used;
  if (used <= 8) {
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (size_t i = 0; i < used; ++i) {
      v &= ~(uint64_t{0xFF} << (8 * i));
      v |= uint64_t{p[i]} << (8 * i);
    }
    return PyValue::integer(static_cast<int64_t>(v));
  }
  // Larger than int64 (e.g. the legacy magic number): kept as its two's-complement bytes.
  return PyValue::object("builtins.int",
                         PyValue::tuple({PyValue::bytes(std::string(reinterpret_cast<const char*>(p), n))}));
}

void Machine::set_items(PyValue& dict, std::vector<PyValue>& kv) {
  if (kv.size() % 2) fail("SETITEMS with an odd number of items");
  if (!dict.is_dict()) fail("SETITEM on " + dict.describe());
  remember_filled(dict);
  for (size_t i = 0; i < kv.size(); i += 2) dict.set_item(std::move(kv[i]), std::move(kv[i + 1]));
}

void Machine::add_to_set(PyValue& set, std::vector<PyValue>& items) {
  if (!set.is_object() || set.class_name() != "builtins.set" || !set.object_args().is_tuple() ||
      set.object_args().items().empty())
    fail("ADDITEMS on " + set.describe());
  PyValue members = set.object_args().items()[0];
  if (!members.is_list()) fail("ADDITEMS on a malformed set");
  for (auto& item : items) members.append(std::move(item));
}

void Machine::build(PyValue& target, PyValue state) {
  // OrderedDict state dicts carry `_metadata` this way; tensors carry Python attributes.
  // Neither matters for reading weights. Objects keep their state for the caller.
  if (target.is_object() && target.tag() != kStorageTag) {
    remember_filled(target);
    target.set_state(std::move(state));
  }
}

namespace {

// The values a value holds directly.
std::vector<const PyValue*> children_of(const PyValue& value) {
  std::vector<const PyValue*> children;
  if (value.is_sequence()) {
    for (const PyValue& item : value.items()) children.push_back(&item);
  } else if (value.is_dict()) {
    for (const auto& [key, item] : value.dict_items()) {
      children.push_back(&key);
      children.push_back(&item);
    }
  } else if (value.is_object()) {
    children.push_back(&value.object_args());
    children.push_back(&value.object_state());
  }
  return children;
}

}  // namespace

void Machine::refuse_cycles(const PyValue& result) const {
  if (filled_.empty()) return;  // nothing was filled after creation: no cycle can exist
  // Depth-first, iteratively (a pickle may nest a million levels): a value met again while
  // it is still on the path is a cycle.
  enum class Mark { OnPath, Done };
  std::unordered_map<const void*, Mark> marks;
  struct Frame {
    const PyValue* value;
    std::vector<const PyValue*> children;
    size_t next = 0;
  };
  std::vector<Frame> path;
  auto enter = [&](const PyValue* value) {
    if (value->identity() == nullptr) return;
    auto [it, fresh] = marks.emplace(value->identity(), Mark::OnPath);
    if (!fresh) {
      if (it->second == Mark::OnPath)
        fail("the pickle describes a " + std::string(kind_name(value->kind())) +
             " that contains itself; checkpoints hold trees of tensors and plain values");
      return;
    }
    path.push_back({value, children_of(*value)});
  };
  enter(&result);
  while (!path.empty()) {
    Frame& frame = path.back();
    if (frame.next < frame.children.size()) {
      enter(frame.children[frame.next++]);
    } else {
      marks[frame.value->identity()] = Mark::Done;
      path.pop_back();
    }
  }
}

void Machine::break_cycles() {
  std::unordered_set<const void*> kept;
  std::vector<const PyValue*> pending{&accepted_};
  while (!pending.empty()) {
    const PyValue* value = pending.back();
    pending.pop_back();
    if (value->identity() == nullptr || !kept.insert(value->identity()).second) continue;
    for (const PyValue* child : children_of(*value)) pending.push_back(child);
  }
  for (PyValue& container : filled_)
    if (kept.count(container.identity()) == 0) container.clear_children();
}

at::Tensor Machine::rebuild_tensor(const std::vector<PyValue>& args, size_t dtype_arg) {
  if (args.size() < 4) fail("tensor rebuild with " + std::to_string(args.size()) + " arguments");
  const PyValue& storage = args[0];
  if (!storage.is_object() || storage.tag() != kStorageTag)
    fail("tensor rebuild without a storage (found " + storage.describe() + ")");
  const at::Tensor& base = storage.object_args().items()[0].as_tensor();

  const int64_t offset = args[1].as_int();
  std::vector<int64_t> sizes, strides;
  for (const auto& v : args[2].items()) sizes.push_back(v.as_int());
  for (const auto& v : args[3].items()) strides.push_back(v.as_int());
  if (sizes.size() != strides.size())
    fail("tensor with " + std::to_string(sizes.size()) + " sizes but " +
         std::to_string(strides.size()) + " strides");

  const at::ScalarType dtype =
      dtype_arg < args.size() && args[dtype_arg].is_object()
          ? dtype_from_name(args[dtype_arg].class_name())
          : base.scalar_type();
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t base_elem = static_cast<int64_t>(c10::elementSize(base.scalar_type()));

  // Storage window in bytes (a legacy storage view starts inside its root storage).
  const int64_t begin_bytes = base.storage_offset() * base_elem;
  const int64_t end_bytes = begin_bytes + base.numel() * base_elem;
  if (begin_bytes % elem) fail("storage view not aligned to the tensor's element size");

  // Highest element index the tensor touches, with overflow checks.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 16;
  if (offset < 0 || offset > kMax) fail("tensor storage offset " + std::to_string(offset));
  bool empty = false;
  int64_t extent = 0;  // max linear index relative to offset
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0 || sizes[d] > kMax || strides[d] > kMax)
      fail("tensor size/stride out of range");
    if (sizes[d] == 0) empty = true;
    if (sizes[d] > 1 && strides[d] > 0) {
      if ((sizes[d] - 1) > (kMax - extent) / strides[d]) fail("tensor extent overflows");
      extent += (sizes[d] - 1) * strides[d];
    }
  }
  const int64_t first = begin_bytes / elem + offset;
  if (!empty && (first + extent + 1) * elem > end_bytes)
    fail("tensor of sizes " + args[2].describe() + " at offset " + std::to_string(offset) +
         " reaches beyond its storage of " + std::to_string(end_bytes - begin_bytes) + " bytes");

  at::Tensor t = at::empty({0}, at::TensorOptions().dtype(dtype).device(at::kCPU));
  t.set_(base.storage(), empty ? 0 : first, sizes, strides);
  return t;
}

PyValue Machine::persistent_load(const PyValue& pid) {
  if (!pid.is_tuple() || pid.items().size() < 5 || !pid.items()[0].is_string() ||
      pid.items()[0].as_string() != "storage")
    fail("unsupported persistent id " + pid.describe());
  if (!resolver_) fail("pickle refers to tensor storage, but no storage source was given");
  const auto& f = pid.items();
  if (!f[1].is_object()) fail("storage type is " + f[1].describe());

  StorageRef ref;
  ref.storage_type = f[1].class_name();
  ref.dtype = storage_dtype(ref.storage_type);
  ref.key = f[2].is_string() ? f[2].as_string() : std::to_string(f[2].as_int());
  ref.location = f[3].is_string() ? f[3].as_string() : "";
  ref.numel = f[4].as_int();
  if (ref.numel < 0 || ref.numel > std::numeric_limits<int64_t>::max() / 16)
    fail("storage of " + std::to_string(ref.numel) + " elements");

  auto it = storages_.find(ref.key);
  if (it == storages_.end()) {
    c10::Storage storage = resolver_(ref);
    if (static_cast<int64_t>(storage.nbytes()) < ref.nbytes())
      fail("storage '" + ref.key + "' holds " + std::to_string(storage.nbytes()) +
           " bytes, expected " + std::to_string(ref.nbytes()));
    at::Tensor flat = at::empty({0}, at::TensorOptions().dtype(ref.dtype).device(at::kCPU));
    flat.set_(storage, 0, {ref.numel}, {1});
    PyValue value = PyValue::object(ref.storage_type, PyValue::tuple({PyValue::tensor(flat)}));
    value.set_tag(kStorageTag);
    it = storages_.emplace(ref.key, value).first;
  }
  // Legacy storage views: (view_key, offset, size) in elements of the root storage.
  if (f.size() >= 6 && f[5].is_tuple()) {
    const auto& view = f[5].items();
    if (view.size() != 3) fail("malformed storage view " + f[5].describe());
    const std::string view_key = view[0].is_string() ? view[0].as_string() : view[0].describe();
    auto vit = storages_.find("view:" + view_key);
    if (vit != storages_.end()) return vit->second;
    const int64_t view_offset = view[1].as_int(), view_size = view[2].as_int();
    const at::Tensor& root = it->second.object_args().items()[0].as_tensor();
    if (view_offset < 0 || view_size < 0 || view_offset > root.numel() ||
        view_size > root.numel() - view_offset)
      fail("storage view outside its storage");
    PyValue value = PyValue::object(
        ref.storage_type, PyValue::tuple({PyValue::tensor(root.narrow(0, view_offset, view_size))}));
    value.set_tag(kStorageTag);
    storages_.emplace("view:" + view_key, value);
    return value;
  }
  return it->second;
}

PyValue Machine::call(const PyValue& callable, const PyValue& args, int depth) {
  if (!callable.is_object() || callable.tag() != kClassRefTag)
    fail("call of " + callable.describe() + " (not a class or function)");
  if (!args.is_tuple()) fail("call arguments are " + args.describe() + ", expected a tuple");
  const std::string& name = callable.class_name();
  const auto& a = args.items();

  if (name == "collections.OrderedDict" || name == "builtins.dict") {
    PyValue dict = PyValue::dict();
    if (!a.empty() && a[0].is_sequence())  // OrderedDict([(key, value), ...])
      for (const auto& pair : a[0].items())
        if (pair.is_sequence() && pair.items().size() == 2)
          dict.set_item(pair.items()[0], pair.items()[1]);
    return dict;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor")
    return PyValue::tensor(rebuild_tensor(a, std::numeric_limits<size_t>::max()));
  if (name == "torch._utils._rebuild_tensor_v3")  // dtype is the 7th argument
    return PyValue::tensor(rebuild_tensor(a, 6));
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || !a[0].is_tensor()) fail("parameter without a tensor");
    return a[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
    // (func, new_type, args, state): a tensor subclass; its data is what func builds.
    if (depth == 0 && a.size() >= 3 && a[0].is_object() && a[2].is_tuple())
      return call(a[0], a[2], depth + 1);
    fail("malformed " + name);
  }
  // LibTorch's pickler (torch::pickle_save, styleseg's own checkpoints) tags typed
  // containers: restore_type_tag(value, "Dict[str, Tensor]") and build_*list(list) are the
  // value itself.
  if (name == "torch.jit._pickle.restore_type_tag" || name == "torch.jit._pickle.build_intlist" ||
      name == "torch.jit._pickle.build_doublelist" || name == "torch.jit._pickle.build_boollist" ||
      name == "torch.jit._pickle.build_tensorlist" || name == "torch.jit._pickle.build_genericlist") {
    if (a.empty()) fail("malformed " + name);
    return a[0];
  }
  if (name == "torch.Size") {
    if (a.size() == 1 && a[0].is_sequence()) return PyValue::tuple(a[0].items());
    return PyValue::tuple({});
  }
  if (name == "torch.device") {
    if (a.size() >= 1 && a[0].is_string()) {
      std::string device = a[0].as_string();
      if (a.size() >= 2 && a[1].is_int()) device += ":" + std::to_string(a[1].as_int());
      return PyValue::string(device);
    }
  }
  if (name == "_codecs.encode") {
    if (a.size() >= 1 && a[0].is_string()) {
      std::string raw;
      const std::string encoding = a.size() >= 2 && a[1].is_string() ? a[1].as_string() : "utf-8";
      if (encoding == "latin1" || encoding == "latin-1") {
        if (!utf8_to_latin1(a[0].as_string(), &raw)) fail("bytes with characters above U+00FF");
      } else {
        raw = a[0].as_string();
      }
      return PyValue::bytes(std::move(raw));
    }
  }
  if (name == "builtins.bytearray" || name == "builtins.bytes") {
    if (a.empty()) return PyValue::bytes("");
    if (a[0].is_bytes()) return a[0];
    if (a[0].is_string()) {
      std::string raw;
      if (!utf8_to_latin1(a[0].as_string(), &raw)) raw = a[0].as_string();
      return PyValue::bytes(std::move(raw));
    }
  }
  if (name == "copyreg._reconstructor") {  // (cls, base, state): protocol 0/1 objects
    if (a.size() >= 1 && a[0].is_object()) return PyValue::object(a[0].class_name(), PyValue::tuple({}));
  }
  if (name == "builtins.set" || name == "builtins.frozenset") {
    PyValue members = PyValue::list();
    if (!a.empty() && a[0].is_sequence())
      for (const auto& item : a[0].items()) members.append(item);
    return PyValue::object(name, PyValue::tuple({members}));
  }
  // Any other class: kept opaque with its arguments.
  return PyValue::object(name, args);
}

PyValue Machine::run() {
  for (;;) {
    op_start_ = pos_;
    const uint8_t op = u8();
    switch (op) {
      case PROTO: {
        const uint8_t version = u8();
        if (version > 5) fail("pickle protocol " + std::to_string(version) + " is not supported");
        break;
      }
      case FRAME: uint_le(8); break;  // frames only group opcodes for buffered reading
      case STOP: {
        PyValue result = top();
        refuse_cycles(result);
        accepted_ = result;
        return result;
      }
      case MARK: marks_.push_back(stack_.size()); break;
      case POP:  // as CPython: right after a MARK, POP drops the mark
        if (!marks_.empty() && stack_.size() == floor()) marks_.pop_back();
        else pop();
        break;
      case POP_MARK: pop_mark(); break;
      case DUP: push(top()); break;

      // ---- constants and numbers ----
      case NONE: push(PyValue::none()); break;
      case NEWTRUE: push(PyValue::boolean(true)); break;
      case NEWFALSE: push(PyValue::boolean(false)); break;
      case BININT: push(PyValue::integer(static_cast<int32_t>(uint_le(4)))); break;
      case BININT1: push(PyValue::integer(u8())); break;
      case BININT2: push(PyValue::integer(static_cast<int64_t>(uint_le(2)))); break;
      case LONG1: {
        const size_t n = u8();
        push(make_long(take(n), n));
        break;
      }
      case LONG4: {
        const uint64_t n = uint_le(4);
        if (n & 0x80000000u) fail("negative LONG4 length");
        push(make_long(take(n), static_cast<size_t>(n)));
        break;
      }
      case INT: {
        const std::string s = line();
        if (s == "00") push(PyValue::boolean(false));
        else if (s == "01") push(PyValue::boolean(true));
        else {
          char* end = nullptr;
          errno = 0;
          const long long v = std::strtoll(s.c_str(), &end, 10);
          if (s.empty() || *end || errno) fail("bad INT '" + s + "'");
          push(PyValue::integer(v));
        }
        break;
      }
      case LONG: {
        std::string s = line();
        if (!s.empty() && s.back() == 'L') s.pop_back();
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end || errno) fail("LONG '" + s + "' out of range");
        push(PyValue::integer(v));
        break;
      }
      case BINFLOAT: {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
        double v;
        std::memcpy(&v, &bits, sizeof v);
        push(PyValue::floating(v));
        break;
      }
      case FLOAT: {
        const std::string s = line();
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end) fail("bad FLOAT '" + s + "'");
        push(PyValue::floating(v));
        break;
      }

      // ---- strings and bytes ----
      case SHORT_BINUNICODE: push(PyValue::string(text(u8()))); break;
      case BINUNICODE: push(PyValue::string(text(uint_le(4)))); break;
      case BINUNICODE8: push(PyValue::string(text(uint_le(8)))); break;
      case SHORT_BINBYTES: push(PyValue::bytes(text(u8()))); break;
      case BINBYTES: push(PyValue::bytes(text(uint_le(4)))); break;
      case BINBYTES8:
      case BYTEARRAY8: push(PyValue::bytes(text(uint_le(8)))); break;
      case SHORT_BINSTRING:
      case BINSTRING: {
        // Python 2 str: text when ASCII, else bytes.
        std::string s = text(op == SHORT_BINSTRING ? u8() : uint_le(4));
        bool ascii = true;
        for (unsigned char c : s) ascii = ascii && c < 0x80;
        push(ascii ? PyValue::string(std::move(s)) : PyValue::bytes(std::move(s)));
        break;
      }
      case STRING: {
        std::string s = line();
        if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front())
          fail("bad STRING");
        push(PyValue::string(s.substr(1, s.size() - 2)));  // escapes kept as written
        break;
      }
      case UNICODE: push(PyValue::string(line())); break;  // raw-unicode-escape kept as written

      // ---- containers ----
      case EMPTY_TUPLE: push(PyValue::tuple()); break;
      case TUPLE: push(PyValue::tuple(pop_mark())); break;
      case TUPLE1: push(PyValue::tuple(pop_n(1))); break;
      case TUPLE2: push(PyValue::tuple(pop_n(2))); break;
      case TUPLE3: push(PyValue::tuple(pop_n(3))); break;
      case EMPTY_LIST: push(PyValue::list()); break;
      case LIST: push(PyValue::list(pop_mark())); break;
      case APPEND: {
        PyValue item = pop();
        PyValue& list = top();
        if (!list.is_list()) fail("APPEND to " + list.describe());
        remember_filled(list);
        list.append(std::move(item));
        break;
      }
      case APPENDS: {
        std::vector<PyValue> items = pop_mark();
        PyValue& list = top();
        if (!list.is_list()) fail("APPENDS to " + list.describe());
        remember_filled(list);
        for (auto& item : items) list.append(std::move(item));
        break;
      }
      case EMPTY_DICT: push(PyValue::dict()); break;
      case DICT: {
        std::vector<PyValue> kv = pop_mark();
        PyValue dict = PyValue::dict();
        set_items(dict, kv);
        push(std::move(dict));
        break;
      }
      case SETITEM: {
        std::vector<PyValue> kv = pop_n(2);
        set_items(top(), kv);
        break;
      }
      case SETITEMS: {
        std::vector<PyValue> kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case EMPTY_SET: push(PyValue::object("builtins.set", PyValue::tuple({PyValue::list()}))); break;
      case ADDITEMS: {
        std::vector<PyValue> items = pop_mark();
        add_to_set(top(), items);
        break;
      }
      case FROZENSET:
        push(PyValue::object("builtins.frozenset", PyValue::tuple({PyValue::list(pop_mark())})));
        break;

      // ---- memo ----
      case BINPUT: memo_put(u8()); break;
      case LONG_BINPUT: memo_put(uint_le(4)); break;
      case MEMOIZE: memo_put(memo_.size()); break;
      case BINGET: memo_get(u8()); break;
      case LONG_BINGET: memo_get(uint_le(4)); break;
      case PUT:
      case GET: {
        const std::string s = line();
        char* end = nullptr;
        const unsigned long long index = std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || *end) fail("bad memo index '" + s + "'");
        if (op == PUT) memo_put(index); else memo_get(index);
        break;
      }

      // ---- classes and objects ----
      case GLOBAL: {
        const std::string module = line();
        const std::string name = line();
        push(class_ref(module, name));
        break;
      }
      case STACK_GLOBAL: {
        PyValue name = pop();
        PyValue module = pop();
        if (!name.is_string() || !module.is_string()) fail("STACK_GLOBAL without strings");
        push(class_ref(module.as_string(), name.as_string()));
        break;
      }
      case REDUCE: {
        PyValue args = pop();
        PyValue callable = pop();
        push(call(callable, args));
        break;
      }
      case NEWOBJ: {
        PyValue args = pop();
        PyValue cls = pop();
        push(call(cls, args));
        break;
      }
      case NEWOBJ_EX: {
        PyValue kwargs = pop();  // keyword arguments of __new__: not kept
        PyValue args = pop();
        PyValue cls = pop();
        push(call(cls, args));
        break;
      }
      case INST: {
        const std::string module = line();
        const std::string name = line();
        push(call(class_ref(module, name), PyValue::tuple(pop_mark())));
        break;
      }
      case OBJ: {
        std::vector<PyValue> items = pop_mark();
        if (items.empty()) fail("OBJ without a class");
        PyValue cls = items.front();
        items.erase(items.begin());
        push(call(cls, PyValue::tuple(std::move(items))));
        break;
      }
      case BUILD: {
        PyValue state = pop();
        build(top(), std::move(state));
        break;
      }
      case BINPERSID: {
        PyValue pid = pop();
        push(persistent_load(pid));
        break;
      }
      case PERSID: fail("text persistent ids are not used by torch.save");
      case EXT1:
      case EXT2:
      case EXT4: fail("extension registry codes are not supported");
      case NEXT_BUFFER: fail("out-of-band buffers are not supported");
      case READONLY_BUFFER: break;
      default: {
        static const char* hex = "0123456789abcdef";
        fail(std::string("unknown opcode 0x") + hex[op >> 4] + hex[op & 15]);
      }
    }
  }
}

}  // namespace

int64_t StorageRef::nbytes() const {
  return numel * static_cast<int64_t>(c10::elementSize(dtype));
}

bool allowed_global(const std::string& qualified) {
  // What Machine::call turns into data, and the classes checkpoints carry as plain objects.
  static const std::unordered_set<std::string> names{
      "collections.OrderedDict", "builtins.dict", "builtins.set", "builtins.frozenset", "builtins.bytes",
      "builtins.bytearray", "builtins.object", "_codecs.encode", "copyreg._reconstructor", "argparse.Namespace",
      "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
      "torch._tensor._rebuild_from_type", "torch._tensor._rebuild_from_type_v2", "torch.Tensor",
      "torch.nn.parameter.Parameter", "torch.Size", "torch.device", "torch.jit._pickle.restore_type_tag",
      "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
      "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.build_genericlist"};
  if (names.count(qualified)) return true;
  // Storage classes (torch.FloatStorage, torch.cuda.HalfStorage, torch.storage.UntypedStorage)
  // and dtypes (torch.float32, an argument of _rebuild_tensor_v3).
  try {
    storage_dtype(qualified);
    return true;
  } catch (const InputError&) {
  }
  try {
    dtype_from_name(qualified);
    return true;
  } catch (const InputError&) {
  }
  return false;
}

at::ScalarType storage_dtype(const std::string& storage_type) {
  const size_t dot = storage_type.rfind('.');
  const std::string name = dot == std::string::npos ? storage_type : storage_type.substr(dot + 1);
  static const std::unordered_map<std::string, at::ScalarType> types = {
      {"FloatStorage", at::kFloat},   {"DoubleStorage", at::kDouble},
      {"HalfStorage", at::kHalf},     {"BFloat16Storage", at::kBFloat16},
      {"LongStorage", at::kLong},     {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},   {"CharStorage", at::kChar},
      {"ByteStorage", at::kByte},     {"BoolStorage", at::kBool},
      {"ComplexFloatStorage", at::kComplexFloat}, {"ComplexDoubleStorage", at::kComplexDouble},
      {"UntypedStorage", at::kByte},  {"_UntypedStorage", at::kByte},
  };
  auto it = types.find(name);
  if (it == types.end() || storage_type.rfind("torch.", 0) != 0)
    throw InputError("unknown storage type " + storage_type);
  return it->second;
}

Unpickler::Unpickler(const void* data, size_t size, StorageResolver resolver, ExtraGlobals extra)
    : data_(static_cast<const uint8_t*>(data)), size_(size), resolver_(std::move(resolver)), extra_(extra) {}

PyValue Unpickler::load() {
  Machine machine(data_, size_, &pos_, resolver_, extra_);
  try {
    return machine.run();
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    throw InputError("corrupt pickle near byte " + std::to_string(pos_) + ": " +
                     e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw InputError("corrupt pickle near byte " + std::to_string(pos_) + ": out of memory");
  }
}

PyValue unpickle(const void* data, size_t size, StorageResolver resolver, size_t* consumed, ExtraGlobals extra) {
  Unpickler unpickler(data, size, std::move(resolver), extra);
  PyValue value = unpickler.load();
  if (consumed) *consumed = unpickler.position();
  return value;
}

}  // namespace styleseg::io
