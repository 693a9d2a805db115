#include "core/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <string>

namespace styleseg {

void fault_injection_point(const char* point, int rank, int64_t step) {
  static const char* const kill_at = std::getenv("STYLESEG_KILL_AT");
  static const char* const signal_at = std::getenv("STYLESEG_SIGNAL_AT");
  if (!kill_at && !signal_at) return;
  const std::string target = std::string(point) + ":" + std::to_string(rank) + ":" + std::to_string(step);
  if (kill_at && target == kill_at) std::raise(SIGKILL);
  if (signal_at && target == signal_at) std::raise(SIGUSR1);
}

}  // namespace styleseg
