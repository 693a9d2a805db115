// Outputs appear complete or not at all: a file is written under a temporary name in the
// same folder and renamed to its final name once complete (rename is atomic within one
// file system). A crashed or cancelled job leaves no half-written file under the final
// name, so "the output exists" can mean "that step is done".
//
// Serial use:
//   AtomicOutput out(path);
//   write_something(out.temp_path());
//   out.commit();                 // without it, the destructor removes the temp file
//
// Parallel use (one file written by every rank, e.g. an h5::File over a communicator):
// every rank must use the same temp name, so rank 0 makes a token and broadcasts it:
//   std::string token = rank == 0 ? AtomicOutput::make_token() : "";
//   (broadcast token)
//   AtomicOutput out(path, token);
//   auto file = h5::File::create(out.temp_path(), comm);  ... file.close();   // collective
//   barrier;  if (rank == 0) out.commit();  barrier;
// Only one rank commits. The second barrier keeps other ranks from going on (or from
// destroying their AtomicOutput, which would remove the temp file) before the rename.
#pragma once

#include <string>

#include "core/signal_cleanup.h"

namespace styleseg {

// Creates `folder` when missing and checks that files can be made in it; throws OutputError
// starting with `what` (e.g. "--out DIR", or "cannot write FILE") otherwise. Commands call it
// for their outputs before their work starts, so an unwritable folder fails in seconds.
void prepare_output_folder(const std::string& folder, const std::string& what);

class AtomicOutput {
 public:
  // Creates the final path's parent folder when missing. Throws OutputError naming the
  // folder when it cannot be created or is not writable. `token` names the temp file
  // (`<final>.tmp.<token>`); empty: a fresh one from make_token().
  explicit AtomicOutput(std::string final_path, std::string token = "");

  AtomicOutput(AtomicOutput&& other) noexcept;
  AtomicOutput& operator=(AtomicOutput&&) = delete;
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Removes the temp file unless committed (errors ignored). A terminating signal removes
  // it too (core/signal_cleanup.h), unless keep_on_failure() was called.
  ~AtomicOutput();

  const std::string& final_path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }
  // For resumable outputs: the destructor keeps the uncommitted temp file, so a stopped or
  // failed run leaves it for the next run to continue.
  void keep_on_failure();

  // Renames the temp file to the final path, replacing any file there. Throws OutputError
  // when the temp file is missing or the rename fails; std::logic_error when called twice.
  void commit();

  // A token unique to this process and moment (host, pid, time, counter, random bits),
  // usable in file names.
  static std::string make_token();

 private:
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
  bool keep_ = false;
  TemporaryFileGuard on_signal_;
};

// The temp name of a resumable output, the same for every run (`PATH.tmp.partial`): a run
// that stops keeps it (keep_on_failure) and the next one continues it.
constexpr const char* kPartialToken = "partial";
std::string partial_path_of(const std::string& final_path);

// `text` written to `path` atomically (a report, a record, a mapping). Throws OutputError
// naming the file.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace styleseg
