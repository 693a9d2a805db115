#include "io/h5.h"

#include <exception>

#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <type_traits>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"

static_assert(std::is_same_v<hid_t, std::int64_t>,
              "io/h5.h stores hid_t as int64_t (HDF5 1.10 and later)");

namespace styleseg::h5 {
namespace {

// ---- handles ----------------------------------------------------------------------------

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// ---- HDF5 error stack -------------------------------------------------------------------

// HDF5 prints its whole error stack to stderr by default; styleseg reports errors itself.
void silence_hdf5() {
  H5open();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

struct StackEntry {
  std::string description;
  std::string minor;
};

herr_t collect_entry(unsigned, const H5E_error2_t* error, void* client) {
  auto* entries = static_cast<std::vector<StackEntry>*>(client);
  StackEntry entry;
  if (error->desc) entry.description = error->desc;
  char minor[256] = {0};
  H5E_type_t type;
  if (H5Eget_msg(error->min_num, &type, minor, sizeof(minor)) > 0) entry.minor = minor;
  entries->push_back(std::move(entry));
  return 0;
}

// HDF5's reason for the last failure, from the innermost entry of its error stack (the
// outer entries repeat "unable to open file" at each level). Clears the stack.
std::string hdf5_reason() {
  std::vector<StackEntry> entries;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, &collect_entry, &entries);
  H5Eclear2(H5E_DEFAULT);
  if (entries.empty()) return "HDF5 reported no reason";
  const StackEntry& innermost = entries.back();
  std::string reason = innermost.description.empty() ? innermost.minor : innermost.description;
  if (!innermost.minor.empty() && innermost.minor != reason &&
      reason.find(innermost.minor) == std::string::npos) {
    reason = innermost.minor + ": " + reason;
  }
  if (entries.size() > 1 && !entries.front().description.empty() &&
      entries.front().description != innermost.description) {
    reason = entries.front().description + " (" + reason + ")";
  }
  if (reason.find("unable to lock") != std::string::npos ||
      reason.find("file locking") != std::string::npos) {
    reason += " [on file systems without file locking, set HDF5_USE_FILE_LOCKING=FALSE]";
  }
  return "HDF5: " + reason;
}

// ---- types ------------------------------------------------------------------------------

hid_t memory_type(DType dtype) {
  switch (dtype) {
    case DType::U8: return H5T_NATIVE_UINT8;
    case DType::U16: return H5T_NATIVE_UINT16;
    case DType::I32: return H5T_NATIVE_INT32;
    case DType::I64: return H5T_NATIVE_INT64;
    case DType::F32: return H5T_NATIVE_FLOAT;
    case DType::F64: return H5T_NATIVE_DOUBLE;
  }
  throw std::logic_error("unknown h5::DType");
}

// Little-endian standard types, so a file reads the same on any machine (numpy u1 i4 i8 f4 f8).
hid_t file_type(DType dtype) {
  switch (dtype) {
    case DType::U8: return H5T_STD_U8LE;
    case DType::U16: return H5T_STD_U16LE;
    case DType::I32: return H5T_STD_I32LE;
    case DType::I64: return H5T_STD_I64LE;
    case DType::F32: return H5T_IEEE_F32LE;
    case DType::F64: return H5T_IEEE_F64LE;
  }
  throw std::logic_error("unknown h5::DType");
}

// What matters about a stored numeric type to decide whether a conversion loses values.
struct NumericType {
  bool is_float = false;
  bool is_signed = false;
  std::size_t bytes = 0;
  int mantissa_bits = 0;  // floats: significand bits including the implicit one
};

NumericType numeric_type_of(DType dtype) {
  switch (dtype) {
    case DType::U8: return {false, false, 1, 0};
    case DType::U16: return {false, false, 2, 0};
    case DType::I32: return {false, true, 4, 0};
    case DType::I64: return {false, true, 8, 0};
    case DType::F32: return {true, true, 4, 24};
    case DType::F64: return {true, true, 8, 53};
  }
  throw std::logic_error("unknown h5::DType");
}

// Whether every value of `from` is exactly representable in `to`.
bool converts_exactly(const NumericType& from, DType to_dtype) {
  const NumericType to = numeric_type_of(to_dtype);
  if (from.is_float) return to.is_float && to.mantissa_bits >= from.mantissa_bits;
  const int value_bits = static_cast<int>(from.bytes * 8) - (from.is_signed ? 1 : 0);
  if (to.is_float) return to.mantissa_bits >= value_bits;
  const int to_value_bits = static_cast<int>(to.bytes * 8) - (to.is_signed ? 1 : 0);
  if (from.is_signed && !to.is_signed) return false;
  return to_value_bits >= value_bits;
}

std::string describe(const NumericType& type) {
  if (type.is_float) return "float" + std::to_string(type.bytes * 8);
  return std::string(type.is_signed ? "int" : "uint") + std::to_string(type.bytes * 8);
}

// The stored type of a dataset or attribute, or why it is not numeric.
bool numeric_type_of_stored(hid_t type, NumericType* out) {
  const H5T_class_t type_class = H5Tget_class(type);
  const std::size_t bytes = H5Tget_size(type);
  if (type_class == H5T_INTEGER) {
    *out = {false, H5Tget_sign(type) == H5T_SGN_2, bytes, 0};
    return true;
  }
  if (type_class == H5T_FLOAT) {
    std::size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
    *out = {true, true, bytes, static_cast<int>(msize) + 1};
    return true;
  }
  return false;
}

std::string class_name(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    default: return "non-numeric";
  }
}

// ---- paths ------------------------------------------------------------------------------

std::string object_path(const std::string& object) { return object.empty() ? "/" : object; }

// Components of "a/b/c" or "/a/b/c".
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (begin <= path.size()) {
    const std::size_t end = std::min(path.find('/', begin), path.size());
    if (end > begin) parts.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

// Whether a link exists at `path`, checking each component (H5Lexists fails, rather than
// answering no, when a group on the way is missing).
bool link_exists(hid_t file, const std::string& path) {
  std::string prefix;
  for (const std::string& part : split_path(path)) {
    prefix += "/" + part;
    const htri_t found = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (found <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

// The type of the object at `path` (which must exist); false when it cannot be told.
bool object_type(hid_t file, const std::string& path, H5O_type_t* type) {
  Handle object(H5Oopen(file, path.c_str(), H5P_DEFAULT), &H5Oclose);
  if (!object.valid()) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  const H5I_type_t id_type = H5Iget_type(object.get());
  *type = id_type == H5I_GROUP ? H5O_TYPE_GROUP
          : id_type == H5I_DATASET ? H5O_TYPE_DATASET
          : id_type == H5I_DATATYPE ? H5O_TYPE_NAMED_DATATYPE
                                    : H5O_TYPE_UNKNOWN;
  return true;
}

bool has_hdf5_signature(const std::string& path) {
  // HDF5 format spec, "Format Signature": at byte 0, 512, 1024, 2048, ... (after a user block).
  static const char kSignature[8] = {'\211', 'H', 'D', 'F', '\r', '\n', '\032', '\n'};
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  for (std::streamoff offset = 0; offset + 8 <= size; offset = offset == 0 ? 512 : offset * 2) {
    char head[8];
    in.seekg(offset);
    if (!in.read(head, 8)) return false;
    if (std::memcmp(head, kSignature, 8) == 0) return true;
  }
  return false;
}

// Why `path` could not be opened, in the user's terms when the cause is plain.
std::string why_open_failed(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? "no such file" : std::string("cannot access: ") + std::strerror(errno);
  }
  if (S_ISDIR(st.st_mode)) return "is a folder, not an HDF5 file";
  std::ifstream probe(path, std::ios::binary);
  if (!probe) return std::string("cannot read: ") + std::strerror(errno);
  if (!has_hdf5_signature(path)) return "not an HDF5 file (no HDF5 signature)";
  return "";
}

std::string why_create_failed(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "";
  const std::string folder = path.substr(0, slash);
  struct stat st;
  if (::stat(folder.c_str(), &st) != 0) return "folder " + folder + " does not exist";
  if (!S_ISDIR(st.st_mode)) return folder + " is not a folder";
  return "";
}

void require_mpi(const std::string& path) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    throw std::logic_error("h5::File for " + path +
                           ": a communicator was given but MPI is not initialised "
                           "(use MPI_COMM_NULL for a serial file)");
  }
}

std::int64_t product(const std::vector<std::int64_t>& values, std::size_t from) {
  std::int64_t result = 1;
  for (std::size_t i = from; i < values.size(); ++i) result *= values[i];
  return result;
}

}  // namespace

// ---- DType, DatasetInfo -----------------------------------------------------------------

std::size_t size_of(DType dtype) { return numeric_type_of(dtype).bytes; }

const char* name_of(DType dtype) {
  switch (dtype) {
    case DType::U8: return "uint8";
    case DType::U16: return "uint16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::F32: return "float32";
    case DType::F64: return "float64";
  }
  return "unknown";
}

std::int64_t DatasetInfo::row_elements() const { return product(shape, 1); }
std::int64_t DatasetInfo::elements() const { return product(shape, 0); }

// ---- opening and closing ----------------------------------------------------------------

namespace {

ParallelIo parallel_io_settings;

// The file-access list of a file opened through MPI-IO over `comm` with the process's
// parallel I/O settings (serial: HDF5's default driver).
Handle access_list(const std::string& path, MPI_Comm comm) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), &H5Pclose);
  if (comm == MPI_COMM_NULL) return fapl;
  require_mpi(path);
  MPI_Info info = MPI_INFO_NULL;
  if (!parallel_io_settings.hints.empty()) {
    MPI_Info_create(&info);
    for (const auto& [key, value] : parallel_io_settings.hints) MPI_Info_set(info, key.c_str(), value.c_str());
  }
  H5Pset_fapl_mpio(fapl.get(), comm, info);  // HDF5 keeps its own copy
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  if (parallel_io_settings.alignment > 0) H5Pset_alignment(fapl.get(), 64 * 1024, static_cast<hsize_t>(parallel_io_settings.alignment));
  return fapl;
}

}  // namespace

void set_parallel_io(ParallelIo settings) {
  STYLESEG_CHECK(settings.alignment >= 0, ConfigError, "--h5-alignment must be >= 0 bytes");
  parallel_io_settings = std::move(settings);
}

const ParallelIo& parallel_io() { return parallel_io_settings; }

std::vector<std::pair<std::string, std::string>> parse_mpi_io_hints(const std::string& text, const std::string& option) {
  std::vector<std::pair<std::string, std::string>> hints;
  for (const std::string& part : split(text, ',')) {
    const std::string item = trim(part);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    STYLESEG_CHECK(eq != std::string::npos && eq > 0, ConfigError,
                   option + " '" + text + "': expected KEY=VALUE items separated by commas, e.g. romio_cb_write=enable,striping_factor=8");
    hints.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
  }
  return hints;
}

std::vector<std::pair<std::string, std::string>> File::mpi_io_hints() const {
  require_open("mpi_io_hints");
  std::vector<std::pair<std::string, std::string>> hints;
  if (!parallel_) return hints;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(id_, H5P_DEFAULT, &handle) < 0 || !handle) return hints;
  MPI_Info info = MPI_INFO_NULL;
  if (MPI_File_get_info(*static_cast<MPI_File*>(handle), &info) != MPI_SUCCESS || info == MPI_INFO_NULL) return hints;
  int count = 0;
  MPI_Info_get_nkeys(info, &count);
  for (int i = 0; i < count; ++i) {
    char key[MPI_MAX_INFO_KEY + 1] = {};
    MPI_Info_get_nthkey(info, i, key);
    int length = 0, found = 0;
    MPI_Info_get_valuelen(info, key, &length, &found);
    std::string value(static_cast<size_t>(length), '\0');
    MPI_Info_get(info, key, length, value.data(), &found);
    hints.emplace_back(key, value);
  }
  MPI_Info_free(&info);
  return hints;
}

namespace {
int ranks_of(MPI_Comm comm) {
  int size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &size);
  return size;
}
}  // namespace

File File::create(const std::string& path, MPI_Comm comm) {
  silence_hdf5();
  const bool parallel = comm != MPI_COMM_NULL;
  Handle fapl = access_list(path, comm);
  // The file-creation list is also the root group's creation list: no timestamps there.
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), &H5Pclose);
  H5Pset_obj_track_times(fcpl.get(), 0);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (id < 0) {
    const std::string reason = hdf5_reason();
    const std::string plain = why_create_failed(path);
    throw OutputError("cannot create HDF5 file " + path + ": " + (plain.empty() ? reason : plain));
  }
  File file(path, id, parallel, ranks_of(comm) > 1, true);
  if (parallel && spdlog::should_log(spdlog::level::debug)) {
    std::string hints;
    for (const auto& [key, value] : file.mpi_io_hints()) hints += " " + key + "=" + value;
    log::debug("{}: MPI-IO hints in effect:{}", path, hints.empty() ? " (none reported)" : hints);
  }
  return file;
}

File File::open(const std::string& path, Mode mode, MPI_Comm comm) {
  silence_hdf5();
  const bool parallel = comm != MPI_COMM_NULL;
  Handle fapl = access_list(path, comm);
  const unsigned flags = mode == Mode::ReadWrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  const hid_t id = H5Fopen(path.c_str(), flags, fapl.get());
  if (id < 0) {
    const std::string reason = hdf5_reason();
    const std::string plain = why_open_failed(path);
    throw InputError("cannot open HDF5 file " + path + ": " + (plain.empty() ? reason : plain));
  }
  return File(path, id, parallel, ranks_of(comm) > 1, mode == Mode::ReadWrite);
}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)),
      id_(std::exchange(other.id_, -1)),
      parallel_(other.parallel_),
      shared_(other.shared_),
      writable_(other.writable_) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (is_open()) H5Fclose(id_);
    path_ = std::move(other.path_);
    id_ = std::exchange(other.id_, -1);
    parallel_ = other.parallel_;
    shared_ = other.shared_;
    writable_ = other.writable_;
  }
  return *this;
}

File::~File() {
  if (!is_open()) return;
  // A file shared by several ranks, destroyed while an exception unwinds, is left open: its
  // close is collective, and ranks that failed at different points would wait in different
  // collectives forever. The job is ending anyway (run_guarded aborts every rank). A file of
  // one rank is closed here: left open, HDF5 would close it inside MPI_Finalize, which
  // crashes after a failed write (a full disk).
  if (shared_ && std::uncaught_exceptions() > 0) return;
  H5Fclose(id_);
  H5Eclear2(H5E_DEFAULT);
}

void File::close() {
  if (!is_open()) return;
  const hid_t id = std::exchange(id_, -1);
  if (H5Fclose(id) < 0) {
    throw OutputError("cannot close HDF5 file " + path_ + " (data may not be on disk): " +
                      hdf5_reason());
  }
}

void File::flush() {
  require_open("flush");
  if (H5Fflush(id_, H5F_SCOPE_GLOBAL) < 0)
    throw OutputError("cannot flush HDF5 file " + path_ + " (disk full?): " + hdf5_reason());
}

void File::require_open(const char* operation) const {
  if (!is_open()) {
    throw std::logic_error(std::string("h5::File::") + operation + " on closed file " + path_);
  }
}

// ---- datasets ---------------------------------------------------------------------------

namespace {

// Context for messages: "file.h5: dataset 'features'".
std::string where(const std::string& file, const char* kind, const std::string& name) {
  return file + ": " + kind + " '" + name + "'";
}

Handle open_dataset(hid_t file, const std::string& path, const std::string& name) {
  if (!link_exists(file, name)) {
    throw InputError(where(path, "dataset", name) + " does not exist");
  }
  const hid_t id = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (id < 0) {
    throw InputError(where(path, "dataset", name) + " cannot be opened: " + hdf5_reason());
  }
  return Handle(id, &H5Dclose);
}

Handle open_object(hid_t file, const std::string& path, const std::string& object) {
  const std::string name = object_path(object);
  if (name != "/" && !link_exists(file, name)) {
    throw InputError(where(path, "object", name) + " does not exist");
  }
  const hid_t id = H5Oopen(file, name.c_str(), H5P_DEFAULT);
  if (id < 0) {
    throw InputError(where(path, "object", name) + " cannot be opened: " + hdf5_reason());
  }
  return Handle(id, &H5Oclose);
}

struct StoredDataset {
  DatasetInfo info;
  NumericType stored;
};

StoredDataset describe_dataset(hid_t dataset, const std::string& path, const std::string& name) {
  Handle type(H5Dget_type(dataset), &H5Tclose);
  Handle space(H5Dget_space(dataset), &H5Sclose);
  if (!type.valid() || !space.valid()) {
    throw InputError(where(path, "dataset", name) + " cannot be read: " + hdf5_reason());
  }
  StoredDataset result;
  if (!numeric_type_of_stored(type.get(), &result.stored)) {
    throw InputError(where(path, "dataset", name) + " holds " + class_name(type.get()) +
                     " values; expected numbers");
  }
  // The narrowest DType that holds every stored value.
  bool found = false;
  for (DType candidate : {DType::U8, DType::U16, DType::I32, DType::I64, DType::F32, DType::F64}) {
    if (converts_exactly(result.stored, candidate)) {
      result.info.dtype = candidate;
      found = true;
      break;
    }
  }
  if (!found) {
    throw InputError(where(path, "dataset", name) + " holds " + describe(result.stored) +
                     " values, which no supported type (uint8, uint16, int32, int64, float32, float64) "
                     "holds without loss");
  }
  result.info.exact = H5Tequal(type.get(), memory_type(result.info.dtype)) > 0;
  result.info.stored = describe(result.stored);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank < 0 || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
    throw InputError(where(path, "dataset", name) + " has no simple shape: " + hdf5_reason());
  }
  result.info.shape.assign(dims.begin(), dims.end());
  return result;
}

void check_row_range(const std::string& context, const DatasetInfo& info, std::int64_t row0,
                     std::int64_t nrows) {
  if (info.shape.empty()) throw OutputError(context + " is a scalar; it has no rows");
  if (row0 < 0 || nrows < 0 || row0 + nrows > info.shape[0]) {
    throw OutputError(context + ": rows [" + std::to_string(row0) + ", " +
                            std::to_string(row0 + nrows) + ") are outside its " +
                            std::to_string(info.shape[0]) + " rows");
  }
}

// The file-space selection of rows [row0, row0 + nrows).
Handle select_rows(hid_t dataset, const DatasetInfo& info, std::int64_t row0, std::int64_t nrows) {
  Handle space(H5Dget_space(dataset), &H5Sclose);
  if (nrows == 0) {
    H5Sselect_none(space.get());
    return space;
  }
  std::vector<hsize_t> start(info.shape.size(), 0), count(info.shape.begin(), info.shape.end());
  start[0] = static_cast<hsize_t>(row0);
  count[0] = static_cast<hsize_t>(nrows);
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  return space;
}

Handle memory_space_for(const DatasetInfo& info, std::int64_t nrows) {
  std::vector<hsize_t> dims(info.shape.begin(), info.shape.end());
  dims[0] = static_cast<hsize_t>(std::max<std::int64_t>(nrows, 1));
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), &H5Sclose);
  if (nrows == 0) H5Sselect_none(space.get());
  return space;
}

}  // namespace

void File::create_dataset(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
                          const std::vector<std::int64_t>& chunk_shape, int deflate_level, Allocation allocation,
                          Extent extent) {
  require_open("create_dataset");
  const std::string context = where(path_, "dataset", name);
  if (!writable_) throw OutputError(context + " cannot be created: the file is open read-only");
  if (shape.empty()) throw OutputError(context + ": a dataset needs at least one dimension");
  for (std::int64_t extent : shape) {
    if (extent < 0) throw OutputError(context + ": negative extent in its shape");
  }
  if (!chunk_shape.empty() && chunk_shape.size() != shape.size()) {
    throw OutputError(context + ": chunk shape has " + std::to_string(chunk_shape.size()) +
                      " dimensions, the dataset " + std::to_string(shape.size()));
  }
  if (deflate_level < 0 || deflate_level > 9) {
    throw OutputError(context + ": deflate level must be 0-9, got " + std::to_string(deflate_level));
  }
  if (deflate_level > 0 && chunk_shape.empty()) {
    throw OutputError(context + ": deflate compression needs a chunk shape");
  }
  if (deflate_level > 0 && allocation != Allocation::Incremental) {
    throw OutputError(context + ": early allocation needs an uncompressed dataset");
  }
  if (extent == Extent::Grows && chunk_shape.empty()) throw OutputError(context + ": a growing dataset needs a chunk shape");
  if (link_exists(id_, name)) throw OutputError(context + " exists already");

  // Groups on the way, created here (not through H5Pset_create_intermediate_group) so
  // that they too carry no timestamps.
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), &H5Pclose);
  H5Pset_obj_track_times(gcpl.get(), 0);
  const std::vector<std::string> parts = split_path(name);
  std::string prefix;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += "/" + parts[i];
    if (link_exists(id_, prefix)) {
      H5O_type_t type = H5O_TYPE_UNKNOWN;
      if (!object_type(id_, prefix, &type) || type != H5O_TYPE_GROUP) {
        throw OutputError(context + " cannot be created: '" + prefix.substr(1) + "' is not a group");
      }
      continue;
    }
    Handle group(H5Gcreate2(id_, prefix.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), &H5Gclose);
    if (!group.valid()) {
      throw OutputError(where(path_, "group", prefix) + " cannot be created: " + hdf5_reason());
    }
  }

  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), &H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), 0);
  if (!chunk_shape.empty()) {
    std::vector<hsize_t> chunk(shape.size());
    for (std::size_t i = 0; i < shape.size(); ++i) {
      std::int64_t extent = chunk_shape[i] <= 0 ? shape[i] : std::min(chunk_shape[i], shape[i]);
      chunk[i] = static_cast<hsize_t>(std::max<std::int64_t>(extent, 1));
    }
    if (H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0) {
      throw OutputError(context + ": invalid chunk shape: " + hdf5_reason());
    }
  }
  if (deflate_level > 0) {
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
      throw OutputError(context + ": this HDF5 library has no deflate filter");
    }
    H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate_level));
  }
  if (allocation != Allocation::Incremental) {
    H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl.get(), allocation == Allocation::EarlyZeroed ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER);
  }
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  const std::vector<hsize_t> max_dims = dims;
  if (extent == Extent::Grows) dims[0] = 0;
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()), &H5Sclose);
  Handle dataset(H5Dcreate2(id_, name.c_str(), file_type(dtype), space.get(), H5P_DEFAULT,
                            dcpl.get(), H5P_DEFAULT),
                 &H5Dclose);
  if (!dataset.valid()) throw OutputError(context + " cannot be created: " + hdf5_reason());
}

void File::grow_rows(const std::string& name, std::int64_t rows) {
  require_open("grow_rows");
  const std::string context = where(path_, "dataset", name);
  if (!writable_) throw OutputError(context + " cannot grow: the file is open read-only");
  Handle dataset = open_dataset(id_, path_, name);
  Handle space(H5Dget_space(dataset.get()), &H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1) throw OutputError(context + " is a scalar; it has no rows");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), max_dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
  if (rows >= 0 && static_cast<hsize_t>(rows) <= dims[0]) return;
  if (rows < 0 || static_cast<hsize_t>(rows) > max_dims[0]) {
    throw OutputError(context + " cannot grow to " + std::to_string(rows) + " rows: it was created for at most " +
                      std::to_string(max_dims[0]));
  }
  dims[0] = static_cast<hsize_t>(rows);
  if (H5Dset_extent(dataset.get(), dims.data()) < 0) {
    throw OutputError(context + " cannot grow to " + std::to_string(rows) + " rows: " + hdf5_reason());
  }
}

void File::grow_ahead(const std::vector<std::string>& names, std::int64_t needed, std::int64_t rows_per_round) {
  constexpr std::int64_t kRoundsPerGrowth = 64;
  bool grew = false;
  for (const std::string& name : names) {
    if (!exists(name)) continue;
    Handle dataset = open_dataset(id_, path_, name);
    Handle space(H5Dget_space(dataset.get()), &H5Sclose);
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(1, H5Sget_simple_extent_ndims(space.get())))), max_dims(dims.size());
    H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
    if (static_cast<std::int64_t>(dims[0]) >= needed) continue;
    const std::int64_t most = static_cast<std::int64_t>(max_dims[0]);
    grow_rows(name, std::max(needed, std::min(most, needed + kRoundsPerGrowth * rows_per_round)));
    grew = true;
  }
  if (grew) flush();
}

bool File::exists(const std::string& name) const {
  require_open("exists");
  const std::string path = object_path(name);
  if (path == "/") return true;
  if (!link_exists(id_, path)) return false;
  const htri_t found = H5Oexists_by_name(id_, path.c_str(), H5P_DEFAULT);  // not a dangling link
  H5Eclear2(H5E_DEFAULT);
  return found > 0;
}

DatasetInfo File::info(const std::string& name) const {
  require_open("info");
  Handle dataset = open_dataset(id_, path_, name);
  return describe_dataset(dataset.get(), path_, name).info;
}

void File::write_rows(const std::string& name, std::int64_t row0, std::int64_t nrows,
                      const void* data, DType dtype) {
  require_open("write_rows");
  const std::string context = where(path_, "dataset", name);
  if (!writable_) throw OutputError(context + " cannot be written: the file is open read-only");
  Handle dataset = open_dataset(id_, path_, name);
  const DatasetInfo info = describe_dataset(dataset.get(), path_, name).info;
  // Same type in memory and file: a conversion would turn a collective write into an
  // independent one, which filtered datasets do not allow.
  if (dtype != info.dtype || !info.exact) {
    throw OutputError(context + " holds " + name_of(info.dtype) + " values; cannot write " +
                      name_of(dtype) + " data into it");
  }
  check_row_range(context, info, row0, nrows);
  if (nrows > 0 && data == nullptr) throw std::invalid_argument(context + ": no data to write");

  Handle file_space = select_rows(dataset.get(), info, row0, nrows);
  Handle memory_space = memory_space_for(info, nrows);
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), &H5Pclose);
  if (parallel_) H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
  static const std::uint8_t kNothing = 0;  // HDF5 wants a buffer even for an empty selection
  const void* buffer = data ? data : &kNothing;
  if (H5Dwrite(dataset.get(), memory_type(dtype), memory_space.get(), file_space.get(), dxpl.get(),
               buffer) < 0) {
    throw OutputError(context + ": cannot write rows [" + std::to_string(row0) + ", " +
                      std::to_string(row0 + nrows) + "): " + hdf5_reason());
  }
}

namespace {
// Reads convert only where no value can change (e.g. float32 to float64, never back).
void require_exact_conversion(const StoredDataset& stored, DType dtype, const std::string& context) {
  if (!converts_exactly(stored.stored, dtype)) {
    throw InputError(context + " holds " + describe(stored.stored) + " values; reading them as " +
                     name_of(dtype) + " would lose precision");
  }
}
}  // namespace

void File::read_rows(const std::string& name, std::int64_t row0, std::int64_t nrows, void* out,
                     DType dtype) const {
  require_open("read_rows");
  const std::string context = where(path_, "dataset", name);
  Handle dataset = open_dataset(id_, path_, name);
  const StoredDataset stored = describe_dataset(dataset.get(), path_, name);
  require_exact_conversion(stored, dtype, context);
  if (stored.info.shape.empty() || row0 < 0 || nrows < 0 || row0 + nrows > stored.info.shape[0]) {
    throw InputError(context + " has " +
                     (stored.info.shape.empty() ? std::string("no rows")
                                                : std::to_string(stored.info.shape[0]) + " rows") +
                     "; rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) +
                     ") were asked for");
  }
  if (nrows == 0) return;
  Handle file_space = select_rows(dataset.get(), stored.info, row0, nrows);
  Handle memory_space = memory_space_for(stored.info, nrows);
  if (H5Dread(dataset.get(), memory_type(dtype), memory_space.get(), file_space.get(), H5P_DEFAULT,
              out) < 0) {
    throw InputError(context + ": cannot read rows [" + std::to_string(row0) + ", " +
                     std::to_string(row0 + nrows) + "): " + hdf5_reason());
  }
}

void File::read_all(const std::string& name, void* out, DType dtype) const {
  require_open("read_all");
  const std::string context = where(path_, "dataset", name);
  Handle dataset = open_dataset(id_, path_, name);
  const StoredDataset stored = describe_dataset(dataset.get(), path_, name);
  require_exact_conversion(stored, dtype, context);
  if (stored.info.elements() == 0) return;
  if (H5Dread(dataset.get(), memory_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
    throw InputError(context + " cannot be read: " + hdf5_reason());
  }
}

// ---- attributes -------------------------------------------------------------------------

namespace {

// Creates (replacing) attribute `name` on `object` with the given file type and shape
// (empty dims: scalar), and writes `data` of `memory` type.
void write_attribute(hid_t file, const std::string& path, bool writable, const std::string& object,
                     const std::string& name, hid_t stored_type, hid_t memory,
                     const std::vector<hsize_t>& dims, const void* data) {
  const std::string context = where(path, "attribute", object_path(object) + "@" + name);
  if (!writable) throw OutputError(context + " cannot be written: the file is open read-only");
  Handle target = open_object(file, path, object);
  const htri_t present = H5Aexists(target.get(), name.c_str());
  if (present > 0 && H5Adelete(target.get(), name.c_str()) < 0) {
    throw OutputError(context + " cannot be replaced: " + hdf5_reason());
  }
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               &H5Sclose);
  Handle attribute(H5Acreate2(target.get(), name.c_str(), stored_type, space.get(), H5P_DEFAULT,
                              H5P_DEFAULT),
                   &H5Aclose);
  if (!attribute.valid()) throw OutputError(context + " cannot be created: " + hdf5_reason());
  if (H5Awrite(attribute.get(), memory, data) < 0) {
    throw OutputError(context + " cannot be written: " + hdf5_reason());
  }
}

struct OpenAttribute {
  Handle attribute;
  Handle type;
  hssize_t points = 0;
  std::string context;
};

OpenAttribute open_attribute(hid_t file, const std::string& path, const std::string& object,
                             const std::string& name) {
  OpenAttribute result;
  result.context = where(path, "attribute", object_path(object) + "@" + name);
  Handle target = open_object(file, path, object);
  if (H5Aexists(target.get(), name.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(result.context + " does not exist");
  }
  result.attribute = Handle(H5Aopen(target.get(), name.c_str(), H5P_DEFAULT), &H5Aclose);
  if (!result.attribute.valid()) {
    throw InputError(result.context + " cannot be opened: " + hdf5_reason());
  }
  result.type = Handle(H5Aget_type(result.attribute.get()), &H5Tclose);
  Handle space(H5Aget_space(result.attribute.get()), &H5Sclose);
  result.points = H5Sget_simple_extent_npoints(space.get());
  if (!result.type.valid() || result.points < 0) {
    throw InputError(result.context + " cannot be read: " + hdf5_reason());
  }
  return result;
}

// Reads a numeric attribute's values as `memory` type; `integers_only` refuses floats.
template <typename T>
std::vector<T> read_numbers(const OpenAttribute& attribute, bool integers_only) {
  const H5T_class_t type_class = H5Tget_class(attribute.type.get());
  const bool accepted = type_class == H5T_INTEGER || (!integers_only && type_class == H5T_FLOAT);
  if (!accepted) {
    throw InputError(attribute.context + " holds " + class_name(attribute.type.get()) +
                     " values; expected " + (integers_only ? "integers" : "numbers"));
  }
  std::vector<T> values(static_cast<std::size_t>(attribute.points));
  if (!values.empty() && H5Aread(attribute.attribute.get(), memory_type(dtype_for<T>()),
                                 values.data()) < 0) {
    throw InputError(attribute.context + " cannot be read: " + hdf5_reason());
  }
  return values;
}

template <typename T>
T single(const OpenAttribute& attribute, std::vector<T> values) {
  if (values.size() != 1) {
    throw InputError(attribute.context + " holds " + std::to_string(values.size()) +
                     " values; expected one");
  }
  return values[0];
}

herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* client) {
  static_cast<std::vector<std::string>*>(client)->emplace_back(name);
  return 0;
}

}  // namespace

void File::write_string_attribute(const std::string& object, const std::string& name,
                                  const std::string& value) {
  require_open("write_string_attribute");
  // Variable-length UTF-8: h5py reads it as str.
  Handle type(H5Tcopy(H5T_C_S1), &H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const char* text = value.c_str();
  write_attribute(id_, path_, writable_, object, name, type.get(), type.get(), {}, &text);
}

void File::write_int_attribute(const std::string& object, const std::string& name, std::int64_t value) {
  require_open("write_int_attribute");
  write_attribute(id_, path_, writable_, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &value);
}

void File::write_double_attribute(const std::string& object, const std::string& name, double value) {
  require_open("write_double_attribute");
  write_attribute(id_, path_, writable_, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &value);
}

void File::write_doubles_attribute(const std::string& object, const std::string& name,
                                   const std::vector<double>& values) {
  require_open("write_doubles_attribute");
  static const double kNone = 0;
  write_attribute(id_, path_, writable_, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                  {static_cast<hsize_t>(values.size())}, values.empty() ? &kNone : values.data());
}

void File::write_ints_attribute(const std::string& object, const std::string& name,
                                const std::vector<std::int64_t>& values) {
  require_open("write_ints_attribute");
  static const std::int64_t kNone = 0;
  write_attribute(id_, path_, writable_, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64,
                  {static_cast<hsize_t>(values.size())}, values.empty() ? &kNone : values.data());
}

std::string File::read_string_attribute(const std::string& object, const std::string& name) const {
  require_open("read_string_attribute");
  OpenAttribute attribute = open_attribute(id_, path_, object, name);
  const hid_t stored = attribute.type.get();
  if (H5Tget_class(stored) != H5T_STRING) {
    throw InputError(attribute.context + " holds " + class_name(stored) + " values; expected a string");
  }
  if (attribute.points != 1) {
    throw InputError(attribute.context + " holds " + std::to_string(attribute.points) +
                     " strings; expected one");
  }
  Handle memory(H5Tcopy(H5T_C_S1), &H5Tclose);
  H5Tset_cset(memory.get(), H5Tget_cset(stored));
  if (H5Tis_variable_str(stored) > 0) {
    H5Tset_size(memory.get(), H5T_VARIABLE);
    char* text = nullptr;
    if (H5Aread(attribute.attribute.get(), memory.get(), &text) < 0) {
      throw InputError(attribute.context + " cannot be read: " + hdf5_reason());
    }
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  const std::size_t size = H5Tget_size(stored);
  H5Tset_size(memory.get(), size);
  H5Tset_strpad(memory.get(), H5T_STR_NULLPAD);
  std::string value(size, '\0');
  if (H5Aread(attribute.attribute.get(), memory.get(), value.data()) < 0) {
    throw InputError(attribute.context + " cannot be read: " + hdf5_reason());
  }
  value.resize(std::strlen(value.c_str()));  // fixed-length strings are padded with NULs
  return value;
}

std::int64_t File::read_int_attribute(const std::string& object, const std::string& name) const {
  require_open("read_int_attribute");
  OpenAttribute attribute = open_attribute(id_, path_, object, name);
  return single(attribute, read_numbers<std::int64_t>(attribute, true));
}

double File::read_double_attribute(const std::string& object, const std::string& name) const {
  require_open("read_double_attribute");
  OpenAttribute attribute = open_attribute(id_, path_, object, name);
  return single(attribute, read_numbers<double>(attribute, false));
}

std::vector<double> File::read_doubles_attribute(const std::string& object,
                                                 const std::string& name) const {
  require_open("read_doubles_attribute");
  return read_numbers<double>(open_attribute(id_, path_, object, name), false);
}

std::vector<std::int64_t> File::read_ints_attribute(const std::string& object,
                                                    const std::string& name) const {
  require_open("read_ints_attribute");
  return read_numbers<std::int64_t>(open_attribute(id_, path_, object, name), true);
}

bool File::has_attribute(const std::string& object, const std::string& name) const {
  require_open("has_attribute");
  if (!exists(object)) return false;
  const htri_t found =
      H5Aexists_by_name(id_, object_path(object).c_str(), name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return found > 0;
}

std::vector<std::string> File::attribute_names(const std::string& object) const {
  require_open("attribute_names");
  Handle target = open_object(id_, path_, object);
  std::vector<std::string> names;
  hsize_t index = 0;
  if (H5Aiterate2(target.get(), H5_INDEX_NAME, H5_ITER_INC, &index, &collect_attribute_name,
                  &names) < 0) {
    throw InputError(where(path_, "object", object_path(object)) +
                     ": cannot list attributes: " + hdf5_reason());
  }
  return names;
}

std::vector<std::string> File::members(const std::string& group) const {
  require_open("members");
  const std::string name = object_path(group);
  const std::string context = where(path_, "group", name);
  if (name != "/" && !link_exists(id_, name)) throw InputError(context + " does not exist");
  H5G_info_t group_info;
  if (H5Gget_info_by_name(id_, name.c_str(), &group_info, H5P_DEFAULT) < 0) {
    throw InputError(context + ": not a group: " + hdf5_reason());
  }
  std::vector<std::string> names;
  for (hsize_t i = 0; i < group_info.nlinks; ++i) {
    const ssize_t length = H5Lget_name_by_idx(id_, name.c_str(), H5_INDEX_NAME, H5_ITER_INC, i,
                                              nullptr, 0, H5P_DEFAULT);
    if (length < 0) throw InputError(context + ": cannot list members: " + hdf5_reason());
    std::string member(static_cast<std::size_t>(length) + 1, '\0');
    H5Lget_name_by_idx(id_, name.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, member.data(),
                       member.size(), H5P_DEFAULT);
    member.resize(static_cast<std::size_t>(length));
    names.push_back(std::move(member));
  }
  return names;
}

}  // namespace styleseg::h5
