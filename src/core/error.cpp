#include "core/error.h"

namespace styleseg {

int exit_code_for(const std::exception& e) {
  if (dynamic_cast<const ConfigError*>(&e)) return 2;
  if (dynamic_cast<const InputError*>(&e)) return 3;
  if (dynamic_cast<const OutputError*>(&e)) return 4;
  if (dynamic_cast<const CommError*>(&e)) return 5;
  return 1;
}

}  // namespace styleseg
