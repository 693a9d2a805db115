// Saying how two job descriptions differ, for refusing to resume another job's output.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace styleseg {

// The first place two JSON values differ, as "options.truncation: 0.7 now, 0.8 before"
// (objects compared key by key, recursively); empty when they are equal. `before_word` says
// where the earlier value lives.
std::string first_difference(const nlohmann::json& now, const nlohmann::json& before,
                             const std::string& before_word = "in that file");

// What a refused file is: a partial run's state (--force starts afresh) or a finished
// output (--force replaces it).
enum class SavedRun { Partial, Complete };

// Every command's refusal to resume, or to take as done, a file that another job made:
// unless `identity` (this job's, JSON text) equals `saved` (the one stored in `path`; "" when
// it has none), throws ConfigError "--resume: PATH was made by a different job
// (options.seed: 6 now, 5 in that file); --force starts afresh".
void require_same_job(const std::string& path, const std::string& identity, const std::string& saved,
                      SavedRun run = SavedRun::Partial);

}  // namespace styleseg
