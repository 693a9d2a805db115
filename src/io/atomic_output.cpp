#include "io/atomic_output.h"

#include <fstream>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <stdexcept>

#include "core/error.h"

namespace fs = std::filesystem;

namespace styleseg {

std::string AtomicOutput::make_token() {
  static std::atomic<unsigned long> counter{0};
  char host[256] = "host";
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "host");
  host[sizeof(host) - 1] = '\0';
  std::string host_name(host);
  for (char& c : host_name) {
    if (c == '/' || c == ' ') c = '_';
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  std::random_device random;
  std::ostringstream token;
  token << host_name << "-" << getpid() << "-" << std::hex
        << std::chrono::duration_cast<std::chrono::microseconds>(now).count() << "-"
        << counter.fetch_add(1) << "-" << random();
  return token.str();
}

AtomicOutput::AtomicOutput(std::string final_path, std::string token)
    : final_path_(std::move(final_path)) {
  if (final_path_.empty()) throw OutputError("empty output path");
  if (token.empty()) token = make_token();
  temp_path_ = final_path_ + ".tmp." + token;

  const fs::path parent = fs::path(final_path_).parent_path();
  prepare_output_folder(parent.empty() ? "." : parent.string(), "cannot write " + final_path_);
  on_signal_ = TemporaryFileGuard(temp_path_);
}

void AtomicOutput::keep_on_failure() {
  keep_ = true;
  on_signal_.set_on_signal(TemporaryFileGuard::OnSignal::Keep);
}

std::string partial_path_of(const std::string& final_path) { return final_path + ".tmp." + kPartialToken; }

void prepare_output_folder(const std::string& folder, const std::string& what) {
  std::error_code error;
  fs::create_directories(folder, error);  // several ranks may race here; that is fine
  if (!fs::is_directory(folder)) {
    throw OutputError(what + ": cannot create folder " + folder + (error ? ": " + error.message() : std::string()));
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw OutputError(what + ": folder " + folder + " is not writable: " + std::strerror(errno));
  }
}

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      committed_(other.committed_),
      keep_(other.keep_),
      on_signal_(std::move(other.on_signal_)) {
  other.committed_ = true;  // the moved-from object owns nothing to clean up
}

AtomicOutput::~AtomicOutput() {
  if (!committed_ && !keep_ && !temp_path_.empty()) {
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }
}

void AtomicOutput::commit() {
  if (committed_) throw std::logic_error("AtomicOutput::commit called twice for " + final_path_);
  std::error_code error;
  if (!fs::exists(temp_path_, error)) {
    throw OutputError("cannot finish " + final_path_ + ": its temporary file " + temp_path_ +
                      " was not written");
  }
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    throw OutputError("cannot rename " + temp_path_ + " to " + final_path_ + ": " +
                      std::strerror(errno));
  }
  committed_ = true;
  on_signal_.release();
}

void write_text_file(const std::string& path, const std::string& text) {
  AtomicOutput output(path);
  {
    std::ofstream file(output.temp_path(), std::ios::binary);
    file << text;
    file.flush();
    STYLESEG_CHECK(file.good(), OutputError, "cannot write " + output.temp_path() + " (disk full?)");
  }
  output.commit();
}

}  // namespace styleseg
