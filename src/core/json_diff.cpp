#include "core/json_diff.h"

#include "core/error.h"

namespace styleseg {
namespace {

std::string difference_at(const nlohmann::json& now, const nlohmann::json& before, const std::string& where,
                          const std::string& before_word) {
  if (now.is_object() && before.is_object()) {
    for (const auto& [key, value] : now.items()) {
      const std::string path = where.empty() ? key : where + "." + key;
      if (!before.contains(key)) return path + " is new";
      const std::string d = difference_at(value, before.at(key), path, before_word);
      if (!d.empty()) return d;
    }
    for (const auto& [key, value] : before.items())
      if (!now.contains(key)) return (where.empty() ? key : where + "." + key) + " is gone";
    return "";
  }
  if (now == before) return "";
  return (where.empty() ? "value" : where) + ": " + now.dump() + " now, " + before.dump() + " " + before_word;
}

}  // namespace

std::string first_difference(const nlohmann::json& now, const nlohmann::json& before, const std::string& before_word) {
  return difference_at(now, before, "", before_word);
}

void require_same_job(const std::string& path, const std::string& identity, const std::string& saved, SavedRun run) {
  if (saved == identity) return;
  std::string difference;
  try {
    difference = first_difference(nlohmann::json::parse(identity), nlohmann::json::parse(saved.empty() ? "{}" : saved));
  } catch (const nlohmann::json::exception&) {
    difference = "its saved identity cannot be read";
  }
  throw ConfigError("--resume: " + path + (run == SavedRun::Complete ? " is complete but" : "") + " was made by a different job (" +
                    difference + "); --force " + (run == SavedRun::Complete ? "replaces it" : "starts afresh"));
}

}  // namespace styleseg
