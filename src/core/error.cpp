#include "core/error.h"

namespace styleseg {

int exit_code_for(const std::exception& e) {
  if (dynamic_cast<const ConfigError*>(&e)) return 2;
  if (dynamic_cast<const InputError*>(&e)) return 3;
  if (dynamic_cast<const OutputError*>(&e)) return 4;
  if (dynamic_cast<const CommError*>(&e)) return 5;
  return 1;
}

std::string internal_error_text(const char* file, int line, const char* condition, const std::string& message) {
  std::string where(file);
  size_t cut = std::string::npos;  // the last top folder in the path: the repository's
  for (const char* top : {"/src/", "/mpi/", "/tests/", "/tools/"}) {
    const size_t at = where.rfind(top);
    if (at != std::string::npos && (cut == std::string::npos || at > cut)) cut = at;
  }
  if (cut != std::string::npos) where = where.substr(cut + 1);
  return "internal error at " + where + ":" + std::to_string(line) + " (" + condition + "): " + message +
         " (a styleseg bug: please report it)";
}

}  // namespace styleseg
