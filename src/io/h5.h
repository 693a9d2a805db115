// HDF5 files: RAII over the HDF5 C API, serial (one process) or parallel (MPI-IO, every
// rank of a communicator writing into one shared file).
//
// Rules for parallel files (PLATFORM.md, "Parallel HDF5"):
//  * Collective calls (marked "collective" below) must be made by every rank of the
//    communicator, in the same order, with the same arguments (except the row range and
//    data of write_rows). A rank that skips one, or throws before it, hangs the others.
//  * Everything that changes the file's structure is collective: create, create_dataset,
//    the write_*_attribute calls, close (and the destructor).
//  * write_rows is collective. A rank with nothing to write passes nrows = 0 and still
//    takes part: deflate-compressed (chunked, filtered) datasets can only be written with
//    collective transfers in HDF5 1.10.
//  * Reads (exists, info, read_rows, read_all, the read_*_attribute calls, listings) are
//    independent: any rank may call them alone.
//
// Errors: a file that cannot be opened or read, or lacks what is asked for, throws
// InputError; a failed create or write throws OutputError. Messages name the file, the
// dataset or attribute, and HDF5's own reason (HDF5's automatic error printing is off).
//
// Files are reproducible: objects are created without timestamps, so two runs writing
// the same data in the same order give byte-identical files.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace styleseg::h5 {

// Element types a dataset can hold. Stored little-endian (uint8, uint16, int32, int64,
// IEEE float32, IEEE float64), as numpy's u1, u2, i4, i8, f4, f8.
enum class DType { U8, U16, I32, I64, F32, F64 };

std::size_t size_of(DType dtype);   // bytes per element
const char* name_of(DType dtype);   // "uint8", "uint16", "int32", "int64", "float32", "float64"

// The DType of a C++ element type: dtype_for<float>() == DType::F32.
template <typename T>
constexpr DType dtype_for();

enum class Mode { Read, ReadWrite };

// How parallel files meet a shared file system (Lustre, GPFS). Process-wide, set once by the
// CLI (--mpi-io-hints or STYLESEG_MPIIO_HINTS, --h5-alignment); serial files ignore it.
//  * hints: MPI_Info key/value pairs given to every MPI_File_open of a parallel file:
//    collective buffering (romio_cb_write=enable, cb_nodes=N, cb_buffer_size=BYTES),
//    striping of files being created (striping_factor=OSTs, striping_unit=BYTES on Lustre),
//    IBM_largeblock_io=true on GPFS. MPI-IO ignores keys it does not know.
//  * alignment: > 0 places every object of at least 64 KiB (dataset storage) at a multiple
//    of this many bytes (H5Pset_alignment), e.g. the Lustre stripe size or the GPFS block
//    size, so no rank's chunk straddles two stripes.
struct ParallelIo {
  std::vector<std::pair<std::string, std::string>> hints;
  std::int64_t alignment = 0;
};
void set_parallel_io(ParallelIo settings);
const ParallelIo& parallel_io();
// "key=value,key=value" (spaces around items ignored; empty: none). Throws ConfigError
// naming `option` for an item without '=' or with an empty key.
std::vector<std::pair<std::string, std::string>> parse_mpi_io_hints(const std::string& text, const std::string& option);

// When a dataset's storage is allocated. Incremental (HDF5's default): as chunks are first
// written, which changes the file's metadata with every new chunk. Early: all of it at
// creation, so later writes only fill raw data and a process killed mid-write leaves a
// file whose structure is intact (crash-safe resumable outputs); Unfilled leaves the bytes
// as the disk had them, Zeroed writes zeros first. Early needs an uncompressed dataset.
enum class Allocation { Incremental, EarlyUnfilled, EarlyZeroed };

// A dataset's number of rows. Fixed: its shape from creation. Grows: it starts with no rows
// and grow_rows() adds them up to the shape given at creation, so that allocating an
// output's storage follows the run that writes it (its progress, its time limit, its
// resume points) rather than taking minutes at creation: early allocation of 2 M one-sample
// chunks had not finished after 45 s. Needs chunks.
enum class Extent { Fixed, Grows };

struct DatasetInfo {
  // For a dataset written by another program, the DType that holds its values without
  // loss (int16 → I32, uint32 → I64, float16 → F32); `exact` is false then.
  DType dtype = DType::U8;
  bool exact = true;
  std::string stored = "uint8";  // the type as stored, for messages ("int8", "float16", ...)
  std::vector<std::int64_t> shape;

  std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  std::int64_t row_elements() const;  // product of shape[1:]
  std::int64_t elements() const;      // product of shape
};

class File {
 public:
  // Creates (truncating) `path`. With a communicator the file is opened through MPI-IO
  // and the call is collective over `comm`; with MPI_COMM_NULL it is a plain serial file
  // (no MPI needed).
  static File create(const std::string& path, MPI_Comm comm);

  // Opens an existing file. MPI_COMM_NULL: serial driver, for one process reading alone
  // (several processes may each open the same file for reading). A communicator: MPI-IO,
  // collective over `comm`; needed for writing into the file from several ranks.
  static File open(const std::string& path, Mode mode, MPI_Comm comm = MPI_COMM_NULL);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  // Closes the file if still open, swallowing errors (call close() to see them).
  // Collective for a parallel file, like close(); but a parallel file destroyed during
  // exception unwinding is not closed (ranks that failed apart would deadlock in it).
  ~File();

  // Flushes and closes. Collective. Throws OutputError when the flush fails.
  void close();
  // Writes everything so far to disk (a resume point). Collective.
  void flush();

  const std::string& path() const { return path_; }
  bool is_open() const { return id_ >= 0; }
  bool is_parallel() const { return parallel_; }
  // A parallel file: the hints MPI-IO reports for it (MPI_File_get_info), i.e. what the
  // MPI library took from parallel_io() and its own defaults. Empty for a serial file.
  std::vector<std::pair<std::string, std::string>> mpi_io_hints() const;

  // ---- datasets --------------------------------------------------------------------
  // Names are paths below the root ("features", "layers/4/features"); groups on the way
  // are created as needed.

  // Creates a dataset of `shape`. `chunk_shape` empty: contiguous; else chunked with that
  // chunk shape (same rank as `shape`; clipped to the shape; zeros mean "whole
  // dimension"). `deflate_level` 1-9 compresses (needs chunks), 0 does not. Collective.
  // Throws OutputError when the dataset exists already or the settings are invalid.
  void create_dataset(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
                      const std::vector<std::int64_t>& chunk_shape = {}, int deflate_level = 0,
                      Allocation allocation = Allocation::Incremental, Extent extent = Extent::Fixed);

  // A dataset created with Extent::Grows gets `rows` rows (allocated as its Allocation
  // says); nothing changes when it has as many already. Collective: every rank passes the
  // same value. Throws OutputError beyond the shape given at creation or for a dataset that
  // cannot grow.
  void grow_rows(const std::string& name, std::int64_t rows);
  // Collective: the datasets `names` that exist (created with Extent::Grows) hold at least
  // `needed` rows. When they hold fewer, they grow 64 rounds of `rows_per_round` beyond it
  // (at most to their created shape: this happens once a block, not once a write) and the
  // file is flushed before returning: the rows written next land in storage whose structure
  // is on disk, so a process killed while writing them leaves a file as intact as one
  // allocated whole at creation. Every rank passes the same values.
  void grow_ahead(const std::vector<std::string>& names, std::int64_t needed, std::int64_t rows_per_round);

  // Whether an object (dataset or group) exists at `name`.
  bool exists(const std::string& name) const;

  // Element type and shape. InputError when missing or of a type no DType holds.
  DatasetInfo info(const std::string& name) const;

  // Writes rows [row0, row0 + nrows) along dimension 0 from `data` (row-major, nrows *
  // row_elements values of `dtype`, which must be the dataset's own type). Collective on
  // a parallel file (H5FD_MPIO_COLLECTIVE); nrows = 0 writes nothing but takes part.
  void write_rows(const std::string& name, std::int64_t row0, std::int64_t nrows,
                  const void* data, DType dtype);

  // Reads rows [row0, row0 + nrows) into `out`, converted to `dtype`. The conversion must
  // be exact (uint8 → float32 is; float64 → float32 and float → int are not: InputError).
  // Independent.
  void read_rows(const std::string& name, std::int64_t row0, std::int64_t nrows, void* out,
                 DType dtype) const;

  // Reads the whole dataset into `out` (info(name).elements() values of `dtype`).
  void read_all(const std::string& name, void* out, DType dtype) const;

  // Convenience: the whole dataset as a flat vector.
  template <typename T>
  std::vector<T> read_all(const std::string& name) const {
    std::vector<T> values(static_cast<std::size_t>(info(name).elements()));
    read_all(name, values.data(), dtype_for<T>());
    return values;
  }

  // ---- attributes --------------------------------------------------------------------
  // `object` is the path of a group or dataset; "/" (or "") is the file's root. Writing
  // replaces an attribute of the same name. Writes are collective on a parallel file and
  // every rank must pass the same value.

  void write_string_attribute(const std::string& object, const std::string& name,
                              const std::string& value);  // variable-length UTF-8
  void write_int_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void write_double_attribute(const std::string& object, const std::string& name, double value);
  void write_doubles_attribute(const std::string& object, const std::string& name,
                               const std::vector<double>& values);
  void write_ints_attribute(const std::string& object, const std::string& name,
                            const std::vector<std::int64_t>& values);

  // Reading throws InputError when the attribute is missing or holds another kind of
  // value. Integers read as doubles; strings may be variable- or fixed-length.
  std::string read_string_attribute(const std::string& object, const std::string& name) const;
  std::int64_t read_int_attribute(const std::string& object, const std::string& name) const;
  double read_double_attribute(const std::string& object, const std::string& name) const;
  std::vector<double> read_doubles_attribute(const std::string& object, const std::string& name) const;
  std::vector<std::int64_t> read_ints_attribute(const std::string& object,
                                                const std::string& name) const;

  bool has_attribute(const std::string& object, const std::string& name) const;
  std::vector<std::string> attribute_names(const std::string& object) const;  // sorted by name

  // Names of the members (datasets, groups) of a group, sorted by name.
  std::vector<std::string> members(const std::string& group = "/") const;

 private:
  File(std::string path, std::int64_t id, bool parallel, bool shared, bool writable)
      : path_(std::move(path)), id_(id), parallel_(parallel), shared_(shared), writable_(writable) {}
  void require_open(const char* operation) const;

  std::string path_;
  std::int64_t id_ = -1;  // hid_t of the open file; -1 when closed
  bool parallel_ = false;
  bool shared_ = false;   // opened by more than one rank: closing it is a collective
  bool writable_ = false;
};

// ---- implementation details ----------------------------------------------------------

template <typename T>
constexpr DType dtype_for() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return DType::U8;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return DType::U16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::I32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::I64;
  else if constexpr (std::is_same_v<T, float>) return DType::F32;
  else if constexpr (std::is_same_v<T, double>) return DType::F64;
  else static_assert(sizeof(T) == 0, "no h5::DType for this element type");
}

}  // namespace styleseg::h5
