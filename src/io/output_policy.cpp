#include "io/output_policy.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "mpi/communicator.h"

namespace fs = std::filesystem;

namespace styleseg {
namespace {

bool exists_with_content(const std::string& path, bool folder) {
  std::error_code error;
  if (!fs::exists(path, error)) return false;
  if (!folder || !fs::is_directory(path, error)) return true;
  return fs::directory_iterator(path, error) != fs::directory_iterator();
}

// Temporary files AtomicOutput leaves beside `path` when a process dies before it can remove
// them (`PATH.tmp.TOKEN`; the partial file `PATH.tmp.partial` among them).
std::vector<fs::path> stale_temp_files(const std::string& path) {
  const fs::path final_path(path);
  const fs::path folder = final_path.parent_path().empty() ? fs::path(".") : final_path.parent_path();
  const std::string prefix = final_path.filename().string() + ".tmp.";
  std::vector<fs::path> found;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error))
    if (it->path().filename().string().rfind(prefix, 0) == 0) found.push_back(it->path());
  return found;
}

}  // namespace

bool same_path(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error) && fs::equivalent(a, b, error)) return true;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a), error);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b), error);
  return ca.lexically_normal() == cb.lexically_normal();
}

OutputPlan::OutputPlan(std::string command) : command_(std::move(command)) {}

OutputPlan& OutputPlan::output(const std::string& option, const std::string& path) {
  if (!path.empty()) outputs_.push_back({option, path, false});
  return *this;
}

OutputPlan& OutputPlan::output_folder(const std::string& option, const std::string& path) {
  if (!path.empty()) outputs_.push_back({option, path, true});
  return *this;
}

OutputPlan& OutputPlan::input(const std::string& option, const std::string& path) {
  if (!path.empty()) inputs_.push_back({option, path, false});
  return *this;
}

OutputPlan& OutputPlan::needs_bytes(double bytes) {
  bytes_needed_ = bytes;
  return *this;
}

OutputPlan& OutputPlan::partial(const std::string& path) {
  if (!path.empty()) partials_.push_back(path);
  return *this;
}

void OutputPlan::check_distinct() const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    for (const Path& in : inputs_)
      STYLESEG_CHECK(!same_path(outputs_[i].path, in.path), ConfigError,
                     command_ + ": " + outputs_[i].option + " " + outputs_[i].path + " is also its input " + in.option +
                         ": writing it would destroy what the command reads; choose another " + outputs_[i].option);
    for (size_t j = i + 1; j < outputs_.size(); ++j)
      STYLESEG_CHECK(!same_path(outputs_[i].path, outputs_[j].path), ConfigError,
                     command_ + ": " + outputs_[i].option + " and " + outputs_[j].option + " name the same file " +
                         outputs_[i].path + "; give each its own");
  }
}

std::string human_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 6) bytes /= 1000, ++unit;
  char text[48];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

void OutputPlan::check_space() const {
  if (bytes_needed_ <= 0 || outputs_.empty()) return;
  const Path& out = outputs_.front();
  fs::path folder = out.folder ? fs::path(out.path) : fs::path(out.path).parent_path();
  if (folder.empty()) folder = ".";
  std::error_code error;
  while (!fs::exists(folder, error) && folder.has_parent_path() && folder != folder.parent_path()) folder = folder.parent_path();
  const fs::space_info space = fs::space(folder, error);
  if (error) return;  // nothing known about the space: the write itself will say
  const double available = static_cast<double>(space.available);
  STYLESEG_CHECK(bytes_needed_ <= available, OutputError,
                 command_ + ": " + out.option + " " + out.path + " needs about " + human_bytes(bytes_needed_) +
                     ", and its file system has " + human_bytes(available) + " free: free some, choose another " +
                     out.option + ", or --no-space-check to try anyway");
}

void OutputPlan::remove_stale_files() const {
  for (const std::string& partial : partials_) {
    std::error_code error;
    if (fs::remove(partial, error)) log::info("--force: removed {}", partial);
  }
  for (const Path& out : outputs_) {
    if (out.folder) continue;
    for (const fs::path& stale : stale_temp_files(out.path)) {
      std::error_code error;
      if (fs::remove(stale, error)) log::info("--force: removed {}", stale.string());
    }
  }
}

OutputStart OutputPlan::decide(const OutputPolicy& policy) const {
  const OutputStart start = decide_start(policy);
  if (start == OutputStart::Fresh && policy.check_space) check_space();
  return start;
}

OutputStart OutputPlan::decide_start(const OutputPolicy& policy) const {
  const bool resumable = !partials_.empty();
  STYLESEG_CHECK(!(policy.resume && policy.force), ConfigError, command_ + ": --resume and --force exclude each other");
  STYLESEG_CHECK(!policy.resume || resumable, ConfigError,
                 command_ + ": --resume: this command has nothing to resume (it writes its outputs in one go); --force replaces them");
  check_distinct();
  if (policy.force) {
    remove_stale_files();
    return OutputStart::Fresh;
  }
  for (const std::string& partial : partials_) {
    if (!fs::exists(partial)) continue;
    if (policy.resume) return OutputStart::Resume;
    throw OutputError(command_ + ": " + partial + " holds a stopped run: --resume continues it, --force starts afresh");
  }
  if (policy.resume) {
    if (!outputs_.empty() && exists_with_content(outputs_.front().path, outputs_.front().folder)) return OutputStart::Complete;
    log::warn("{}: --resume: nothing to continue ({} is missing); starting afresh", command_, partials_.front());
    return OutputStart::Fresh;
  }
  for (const Path& out : outputs_)
    STYLESEG_CHECK(!exists_with_content(out.path, out.folder), OutputError,
                   command_ + ": " + out.option + " " + out.path + (out.folder ? " holds files" : " exists") +
                       ": --force replaces " + (out.folder ? "them" : "it") +
                       (resumable ? " (--resume checks it is complete)" : "") +
                       (out.option.rfind("--", 0) == 0 ? ", or choose another " + out.option : std::string()));
  return OutputStart::Fresh;
}

OutputStart OutputPlan::decide(const OutputPolicy& policy, comm::Communicator& comm) const {
  return comm::decide_on_root(comm, [&] { return decide(policy); });
}

}  // namespace styleseg
