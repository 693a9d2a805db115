// Saying how two job descriptions differ, for refusing to resume another job's output.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace styleseg {

// The first place two JSON values differ, as "options.truncation: 0.7 now, 0.8 before"
// (objects compared key by key, recursively); empty when they are equal. `now_word` and
// `before_word` name the two sides.
std::string first_difference(const nlohmann::json& now, const nlohmann::json& before,
                             const std::string& before_word = "in the saved state");

}  // namespace styleseg
