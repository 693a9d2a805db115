#include "pipeline/stage_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "io/atomic_output.h"

namespace fs = std::filesystem;

namespace styleseg::pipeline {
namespace {

int64_t mtime_ns(const fs::path& path) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(fs::last_write_time(path).time_since_epoch()).count();
}

// The regular files under a folder, by relative path (sorted: a folder's hash must not
// depend on the order the file system lists it in).
std::vector<std::pair<std::string, fs::path>> files_under(const fs::path& folder) {
  std::vector<std::pair<std::string, fs::path>> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    if (entry.is_regular_file()) files.emplace_back(fs::relative(entry.path(), folder).generic_string(), entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string content_hash(const std::string& path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return sha256_file(path);
  STYLESEG_CHECK(fs::is_directory(path, error), InputError, path + ": no such file or folder");
  Sha256 hash;
  for (const auto& [relative, file] : files_under(path)) {
    const std::string line = relative + '\0' + sha256_file(file.string()) + '\n';
    hash.update(line.data(), line.size());
  }
  return Sha256::to_hex(hash.finish());
}

namespace {

// Size and modification time of a file, or of a folder's files (sizes summed, times summed:
// a change to any file moves the sum).
void measure(const std::string& path, OutputStamp& stamp) {
  stamp.size = 0;
  stamp.mtime_ns = 0;
  if (!fs::is_directory(path)) {
    stamp.size = fs::file_size(path);
    stamp.mtime_ns = mtime_ns(path);
    return;
  }
  for (const auto& [relative, file] : files_under(path)) {
    stamp.size += fs::file_size(file);
    stamp.mtime_ns = static_cast<int64_t>(static_cast<uint64_t>(stamp.mtime_ns) + static_cast<uint64_t>(mtime_ns(file)));
  }
}

}  // namespace

OutputStamp stamp_output(const std::string& path) {
  OutputStamp stamp;
  stamp.path = path;
  stamp.hash = content_hash(path);
  measure(path, stamp);
  return stamp;
}

bool output_unchanged(const OutputStamp& stamp) {
  std::error_code error;
  if (!fs::exists(stamp.path, error)) return false;
  try {
    OutputStamp now;
    measure(stamp.path, now);
    if (now.size != stamp.size) return false;
    if (now.mtime_ns == stamp.mtime_ns) return true;
    return content_hash(stamp.path) == stamp.hash;  // touched, perhaps not changed
  } catch (const std::exception&) {
    return false;  // unreadable now: make it again
  }
}

std::optional<StageRecord> read_stage_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    StageRecord r;
    r.stage = j.at("stage").get<std::string>();
    r.command = j.at("command").get<std::string>();
    r.args = j.at("args").get<std::vector<std::string>>();
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.inputs = j.at("inputs").get<std::map<std::string, std::string>>();
    for (const auto& o : j.at("outputs"))
      r.outputs.push_back({o.at("path").get<std::string>(), o.at("hash").get<std::string>(), o.at("size").get<uint64_t>(),
                           o.at("mtime_ns").get<int64_t>()});
    r.seconds = j.at("seconds").get<double>();
    r.finished = j.value("finished", "");
    return r;
  } catch (const std::exception& e) {
    log::warn("{}: damaged stage record ({}); the stage will be redone", path, e.what());
    return std::nullopt;
  }
}

void write_stage_record(const std::string& path, const StageRecord& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : r.outputs)
    outputs.push_back({{"path", o.path}, {"hash", o.hash}, {"size", o.size}, {"mtime_ns", o.mtime_ns}});
  const nlohmann::json j = {{"stage", r.stage},     {"command", r.command},   {"args", r.args},
                            {"fingerprint", r.fingerprint}, {"inputs", r.inputs}, {"outputs", outputs},
                            {"seconds", r.seconds}, {"finished", r.finished}};
  write_text_file(path, j.dump(2) + "\n");
}

std::string command_line(const std::string& command, const std::vector<std::string>& args) {
  std::string text = "styleseg " + command;
  for (const auto& a : args) text += " " + a;
  return text;
}

std::string stage_fingerprint(const std::string& command, const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& input_hashes) {
  const nlohmann::json j = {{"command", command}, {"args", args}, {"inputs", input_hashes}};
  const std::string text = j.dump();
  return sha256_hex(text.data(), text.size());
}

}  // namespace styleseg::pipeline
