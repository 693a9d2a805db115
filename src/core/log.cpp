#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.h"

namespace styleseg::log {
namespace {
int g_rank = 0;
}

void configure(int rank, bool all_ranks, Level level) {
  g_rank = rank;
  // Configured again by each command `styleseg run` starts in the same process.
  auto logger = spdlog::get("styleseg");
  if (!logger) logger = spdlog::stderr_color_mt("styleseg");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  spdlog::level::level_enum spd = spdlog::level::info;
  switch (level) {
    case Level::debug: spd = spdlog::level::debug; break;
    case Level::info: spd = spdlog::level::info; break;
    case Level::warn: spd = spdlog::level::warn; break;
    case Level::error: spd = spdlog::level::err; break;
  }
  // Non-zero ranks stay quiet below warnings unless asked.
  if (rank != 0 && !all_ranks && spd < spdlog::level::warn) spd = spdlog::level::warn;
  spdlog::set_level(spd);
}

Level parse_level(const std::string& text, const std::string& option) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn") return Level::warn;
  if (text == "error") return Level::error;
  throw ConfigError(option + ": '" + text + "' is not a log level (debug, info, warn, error)");
}

bool is_rank0() { return g_rank == 0; }

}  // namespace styleseg::log
