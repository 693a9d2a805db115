// Logging: one line per message, each tagged with the rank. By default only rank 0 prints
// (a run on 64 ranks stays readable); warnings and errors print on every rank.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace styleseg::log {

enum class Level { debug, info, warn, error };

// Called once the communicator exists. all_ranks=true prints info/debug on every rank too.
void configure(int rank, bool all_ranks, Level level = Level::info);

// Parses "debug" | "info" | "warn" | "error"; throws ConfigError naming `option` otherwise.
Level parse_level(const std::string& text, const std::string& option = "--log-level");

bool is_rank0();

template <typename... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::debug(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::info(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::warn(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::error(fmt, std::forward<Args>(args)...); }

}  // namespace styleseg::log
