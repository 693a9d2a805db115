#include "io/torch_file.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "io/unpickler.h"
#include "io/zip_archive.h"

namespace styleseg::io {

namespace {

namespace fs = std::filesystem;

// The legacy format's first pickle: protocol 2, LONG1 of 10 bytes, STOP.
// 0x1950a86a20f9469cfc6c little-endian.
constexpr unsigned char kLegacyMagic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                            0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocolVersion = 1001;

const char* const kNvlabsHint =
    "it looks like an NVlabs network pickle (it refers to NVlabs' torch_utils/dnnlib "
    "code), which needs NVlabs' own Python code to load. Convert it once, inside a "
    "checkout of NVlabs/stylegan2-ada-pytorch: "
    "python tools/convert_nvlabs_pkl.py NETWORK.pkl OUT.pt  (saves G_ema's state dict "
    "with torch.save), then use OUT.pt";

// Read-only view of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY);
    if (fd_ < 0) throw InputError(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw InputError(std::string("cannot stat: ") + std::strerror(errno));
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) throw InputError(std::string("cannot map: ") + std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

bool contains_bytes(const uint8_t* data, size_t size, const std::string& needle) {
  if (needle.empty() || size < needle.size()) return false;
  const uint8_t* end = data + size;
  for (const uint8_t* p = data; p + needle.size() <= end;) {
    p = static_cast<const uint8_t*>(std::memchr(p, needle[0], end - p - needle.size() + 1));
    if (!p) return false;
    if (std::memcmp(p, needle.data(), needle.size()) == 0) return true;
    ++p;
  }
  return false;
}

bool looks_like_nvlabs(const uint8_t* data, size_t size) {
  return contains_bytes(data, size, "torch_utils.persistence") ||
         contains_bytes(data, size, "dnnlib");
}

bool is_legacy_magic(const PyValue& v) {
  if (!v.is_object() || v.class_name() != "builtins.int") return false;
  const PyValue& args = v.object_args();
  if (!args.is_tuple() || args.items().size() != 1 || !args.items()[0].is_bytes()) return false;
  const std::string& raw = args.items()[0].as_bytes();
  return raw.size() == sizeof kLegacyMagic && std::memcmp(raw.data(), kLegacyMagic, raw.size()) == 0;
}

std::string join_head(const std::vector<std::string>& names, size_t max_shown) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max_shown) out += ", ...";
  return out;
}

// ---- zip archives ---------------------------------------------------------------------

// Is `name` a TorchScript archive's (torch.jit.save) own record?
bool is_torchscript_record(const std::string& name) {
  return name == "constants.pkl" || name.find("/constants.pkl") != std::string::npos || name.rfind("code/", 0) == 0 ||
         name.find("/code/") != std::string::npos;
}

// The folder of an archive's data.pkl ("" or "name/"): torch.save and torch.jit.save put every
// record in one folder named after the file when it was saved ("archive" for a buffer). The
// top folder's data.pkl wins; any other still opens archives rewritten by other tools.
std::string data_folder(const ZipArchive& zip) {
  std::string prefix;
  bool found = false;
  for (const auto& name : zip.names()) {
    if (name == "data.pkl" || (name.size() > 9 && name.compare(name.size() - 9, 9, "/data.pkl") == 0)) {
      prefix = name.substr(0, name.size() - 8);
      found = true;
      if (name.find('/') == name.size() - 9) break;
    }
  }
  if (!found)
    throw InputError("zip archive without data.pkl, not a torch.save file (records: " + join_head(zip.names(), 8) + ")");
  return prefix;
}

// The object of `prefix`data.pkl, its storages read from `prefix`data/<key>.
PyValue unpickle_zip(const ZipArchive& zip, const std::string& prefix, ExtraGlobals extra) {
  if (zip.has(prefix + "byteorder")) {
    const std::string order = zip.read_string(prefix + "byteorder");
    if (order != "little")
      throw InputError("saved on a " + order + "-endian machine; only little-endian files are supported");
  }
  const std::string pickle = zip.read_string(prefix + "data.pkl");
  StorageResolver resolver = [&](const StorageRef& ref) -> c10::Storage {
    const std::string record = prefix + "data/" + ref.key;
    if (!zip.has(record))
      throw InputError("storage record '" + record + "' is missing (truncated or corrupt archive)");
    const uint64_t n = zip.size_of(record);
    if (ref.nbytes() < 0 || static_cast<uint64_t>(ref.nbytes()) > n)
      throw InputError("storage record '" + record + "' has " + std::to_string(n) +
                       " bytes, expected " + std::to_string(ref.nbytes()) + " (truncated or corrupt)");
    c10::Storage storage(c10::Storage::use_byte_size_t(), static_cast<int64_t>(n), c10::GetCPUAllocator(),
                         /*resizable=*/false);
    zip.read(record, storage.data_ptr().get());
    return storage;
  };
  try {
    return unpickle(pickle.data(), pickle.size(), resolver, nullptr, extra);
  } catch (const RefusedGlobal&) {
    throw;  // not corruption: said as it is
  } catch (const InputError& e) {
    throw InputError(std::string("truncated or corrupt data.pkl in zip archive: ") + e.what());
  }
}

PyValue load_zip(const std::string& path) {
  const MappedFile file(path);
  const ZipArchive zip(file.data(), file.size());
  for (const auto& name : zip.names())
    if (is_torchscript_record(name))
      throw InputError("is a TorchScript archive (torch.jit.save), not a torch.save file");
  return unpickle_zip(zip, data_folder(zip), ExtraGlobals::None);
}

// A module object's tensors by attribute path, as named_parameters and named_buffers name
// them: its state is a dict of attributes, submodules are objects with states of their own.
void collect_module_tensors(const PyValue& module, const std::string& prefix, std::map<std::string, at::Tensor>& out,
                            int depth) {
  if (depth > 64) throw InputError("TorchScript modules nested more than 64 deep");
  const PyValue& state = module.object_state();
  if (!state.is_dict()) return;
  for (const auto& [key, value] : state.dict_items()) {
    if (!key.is_string()) continue;
    const std::string name = prefix + key.as_string();
    if (value.is_tensor()) out[name] = value.as_tensor();
    else if (value.is_object() && value.class_name().rfind("__torch__.", 0) == 0)
      collect_module_tensors(value, name + ".", out, depth + 1);
  }
}

std::map<std::string, at::Tensor> load_torchscript(const std::string& path) {
  const MappedFile file(path);
  const ZipArchive zip(file.data(), file.size());
  const std::string prefix = data_folder(zip);
  if (!zip.has(prefix + "constants.pkl"))
    throw InputError("not a TorchScript archive (no constants.pkl beside data.pkl)");
  const PyValue root = unpickle_zip(zip, prefix, ExtraGlobals::TorchScriptModules);
  if (!root.is_object() || root.class_name().rfind("__torch__.", 0) != 0)
    throw InputError("a TorchScript archive whose data.pkl holds " + root.describe() + ", not a module");
  std::map<std::string, at::Tensor> tensors;
  collect_module_tensors(root, "", tensors, 0);
  return tensors;
}

// ---- legacy format ------------------------------------------------------------------

struct PendingStorage {
  StorageRef ref;
  c10::Storage storage;
  void* bytes = nullptr;  // the storage's memory, filled after the pickles
  bool filled = false;
};

PyValue load_legacy(const MappedFile& file, size_t after_magic) {
  const uint8_t* data = file.data();
  const size_t size = file.size();
  size_t pos = after_magic;
  auto next_pickle = [&](const StorageResolver& resolver, const char* what) {
    size_t used = 0;
    try {
      PyValue v = unpickle(data + pos, size - pos, resolver, &used);
      pos += used;
      return v;
    } catch (const RefusedGlobal&) {
      throw;
    } catch (const InputError& e) {
      throw InputError(std::string("truncated or corrupt legacy torch.save file (") + what +
                       " at byte " + std::to_string(pos) + "): " + e.what());
    }
  };

  const PyValue version = next_pickle({}, "protocol version");
  if (!version.is_int() || version.as_int() != kLegacyProtocolVersion)
    throw InputError("legacy torch.save file with protocol version " + version.describe() +
                     ", expected " + std::to_string(kLegacyProtocolVersion) + " (truncated or corrupt?)");
  const PyValue sys_info = next_pickle({}, "sys info");
  if (sys_info.is_dict() && sys_info.contains("little_endian") &&
      sys_info.at("little_endian").is_bool() && !sys_info.at("little_endian").as_bool())
    throw InputError("saved on a big-endian machine; only little-endian files are supported");

  // Storages are allocated while the object pickle is read and filled from the bytes that
  // follow it; the tensors already point at them.
  std::map<std::string, PendingStorage> pending;
  StorageResolver resolver = [&](const StorageRef& ref) -> c10::Storage {
    auto it = pending.find(ref.key);
    if (it != pending.end()) return it->second.storage;
    // Every storage's bytes follow the pickles: more than the file holds is corruption,
    // and must not become a huge allocation.
    if (static_cast<uint64_t>(ref.nbytes()) > size - pos)
      throw InputError("storage '" + ref.key + "' claims " + std::to_string(ref.nbytes()) +
                       " bytes, more than the " + std::to_string(size - pos) + " bytes left");
    at::DataPtr ptr = c10::GetDefaultCPUAllocator()->allocate(static_cast<size_t>(ref.nbytes()));
    void* bytes = ptr.get();
    c10::Storage storage(c10::Storage::use_byte_size_t(), ref.nbytes(), std::move(ptr), nullptr,
                         false);
    pending.emplace(ref.key, PendingStorage{ref, storage, bytes, false});
    return storage;
  };
  PyValue result = next_pickle(resolver, "object");
  const PyValue keys = next_pickle({}, "storage keys");
  if (!keys.is_list())
    throw InputError("legacy torch.save file: storage key list is " + keys.describe() +
                     " (truncated or corrupt)");

  for (const PyValue& key_value : keys.items()) {
    const std::string key = key_value.is_string() ? key_value.as_string() : key_value.describe();
    auto it = pending.find(key);
    if (it == pending.end())
      throw InputError("legacy torch.save file lists storage '" + key +
                       "' that no tensor uses (truncated or corrupt)");
    PendingStorage& p = it->second;
    if (size - pos < 8)
      throw InputError("truncated or corrupt legacy torch.save file: storage '" + key +
                       "' missing at byte " + std::to_string(pos));
    int64_t count = 0;
    std::memcpy(&count, data + pos, 8);  // little-endian, as written on x86/ARM
    pos += 8;
    if (count != p.ref.numel)
      throw InputError("truncated or corrupt legacy torch.save file: storage '" + key + "' has " +
                       std::to_string(count) + " elements, the pickle says " +
                       std::to_string(p.ref.numel));
    const auto nbytes = static_cast<size_t>(p.ref.nbytes());
    if (size - pos < nbytes)
      throw InputError("truncated or corrupt legacy torch.save file: storage '" + key + "' needs " +
                       std::to_string(nbytes) + " bytes, " + std::to_string(size - pos) + " left");
    if (nbytes) std::memcpy(p.bytes, data + pos, nbytes);
    pos += nbytes;
    p.filled = true;
  }
  for (const auto& [key, p] : pending)
    if (!p.filled)
      throw InputError("truncated or corrupt legacy torch.save file: bytes of storage '" + key +
                       "' are missing");
  return result;
}

PyValue load_pickle_file(const std::string& path) {
  MappedFile file(path);
  size_t used = 0;
  PyValue first;
  std::string first_error;
  try {
    first = unpickle(file.data(), file.size(), {}, &used);
  } catch (const RefusedGlobal&) {
    // An NVlabs network pickle names its own classes: say how to convert it instead.
    if (looks_like_nvlabs(file.data(), file.size())) throw InputError(std::string("not a torch.save file: ") + kNvlabsHint);
    throw;
  } catch (const InputError& e) {
    first_error = e.what();
  }
  if (first_error.empty() && is_legacy_magic(first)) return load_legacy(file, used);
  if (looks_like_nvlabs(file.data(), file.size()))
    throw InputError(std::string("not a torch.save file: ") + kNvlabsHint);
  if (!first_error.empty())
    throw InputError("truncated or corrupt pickle, not a readable torch.save file: " + first_error);
  throw InputError("a plain Python pickle (holding " + first.describe() +
                   "), not a torch.save file: save the object with torch.save");
}

PyValue load_any(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw InputError("file not found");
  if (fs::is_directory(status)) throw InputError("is a directory, expected a torch.save file");
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw InputError("cannot read the file size: " + ec.message());
  if (size == 0) throw InputError("empty file (0 bytes), expected a torch.save file");

  unsigned char head[512] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open for reading");
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<size_t>(in.gcount());

  // A zip archive starts with a local file header "PK\3\4" (a file cut inside those four
  // bytes is a truncated archive too).
  static const unsigned char kZipMagic[4] = {'P', 'K', 3, 4};
  if (std::memcmp(head, kZipMagic, std::min<size_t>(got, 4)) == 0) return load_zip(path);
  if (head[0] == 0x80) return load_pickle_file(path);
  if (got >= 262 && std::memcmp(head + 257, "ustar", 5) == 0)
    throw InputError("a tar archive (the torch.save layout of torch < 0.4), which is not "
                     "supported: load and re-save it with a recent torch");
  std::ostringstream hex;
  for (size_t i = 0; i < got && i < 8; ++i)
    hex << (i ? " " : "") << std::hex << std::setw(2) << std::setfill('0')
        << static_cast<int>(head[i]);
  throw InputError("not a torch.save file (neither a zip archive nor a pickle; starts with " +
                   hex.str() + ")");
}

// ---- describe_tree --------------------------------------------------------------------

std::string key_text(const PyValue& key) {
  if (key.is_string()) return key.as_string();
  if (key.is_int()) return std::to_string(key.as_int());
  return key.describe();
}

void describe_into(std::ostringstream& out, const PyValue& v, int depth, int max_depth,
                   const std::string& indent) {
  constexpr size_t kMaxSequenceItems = 16;
  out << v.describe() << "\n";
  if (depth >= max_depth) return;
  const std::string inner = indent + "  ";
  if (v.is_dict()) {
    for (const auto& [key, value] : v.dict_items()) {
      out << inner << key_text(key) << ": ";
      describe_into(out, value, depth + 1, max_depth, inner);
    }
  } else if (v.is_sequence()) {
    const auto& items = v.items();
    for (size_t i = 0; i < items.size() && i < kMaxSequenceItems; ++i) {
      out << inner << "[" << i << "]: ";
      describe_into(out, items[i], depth + 1, max_depth, inner);
    }
    if (items.size() > kMaxSequenceItems)
      out << inner << "... (" << items.size() - kMaxSequenceItems << " more)\n";
  } else if (v.is_object()) {
    if (v.object_args().is_tuple() && !v.object_args().items().empty()) {
      out << inner << "args: ";
      describe_into(out, v.object_args(), depth + 1, max_depth, inner);
    }
    if (!v.object_state().is_none()) {
      out << inner << "state: ";
      describe_into(out, v.object_state(), depth + 1, max_depth, inner);
    }
  }
}

// Runs a reader, giving its errors the file's name.
template <typename Read>
auto with_file_context(const std::string& path, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const RefusedGlobal& e) {
    throw RefusedGlobal(path + ": " + e.what());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  } catch (const c10::Error& e) {
    throw InputError(path + ": truncated or corrupt file (" + e.what_without_backtrace() + ")");
  } catch (const std::bad_alloc&) {
    throw InputError(path + ": truncated or corrupt file (a size in it asks for more memory "
                     "than there is)");
  }
}

}  // namespace

PyValue load_torch_file(const std::string& path) {
  return with_file_context(path, [&] { return load_any(path); });
}

std::map<std::string, at::Tensor> load_torchscript_tensors(const std::string& path) {
  return with_file_context(path, [&] {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw InputError("file not found");
    return load_torchscript(path);
  });
}

std::string describe_tree(const PyValue& value, int max_depth) {
  std::ostringstream out;
  describe_into(out, value, 0, max_depth, "");
  return out.str();
}

}  // namespace styleseg::io
