#include "core/option_roles.h"

namespace styleseg {

const std::set<std::string>& process_options() {
  static const std::set<std::string> names{"threads", "backend", "log-level", "log-all-ranks", "mpi-io-hints", "h5-alignment"};
  return names;
}

const std::set<std::string>& speed_only_options() {
  static const std::set<std::string> names = [] {
    std::set<std::string> n = process_options();
    n.insert({"time-limit", "resume-interval", "checkpoint-interval", "cache-mb", "scratch", "phase-times", "gradient-overlap"});
    return n;
  }();
  return names;
}

const std::set<std::string>& non_result_options() {
  static const std::set<std::string> names = [] {
    std::set<std::string> n = speed_only_options();
    n.insert({"job", "out", "png-dir", "grid", "feature-grid", "grid-count", "preview", "preview-count", "png", "png-count",
              "batch", "resume", "force", "no-space-check"});
    return n;
  }();
  return names;
}

}  // namespace styleseg
