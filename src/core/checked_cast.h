// Numbers read from files as doubles (HDF5 attributes, JSON) becoming integers. A plain
// static_cast of a value out of the integer's range is undefined behaviour, and a file can
// hold any double (found by tests/fuzz/h5_files).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace styleseg {

// `value` as an integer when it is a whole number in [lowest, highest]; else InputError
// "<what> must be a whole number from <lowest> to <highest>, not <value>".
inline std::int64_t whole_number(double value, std::int64_t lowest, std::int64_t highest, const std::string& what) {
  if (!(value >= static_cast<double>(lowest) && value <= static_cast<double>(highest) && value == std::floor(value)))
    throw InputError(what + " must be a whole number from " + std::to_string(lowest) + " to " + std::to_string(highest) +
                     ", not " + std::to_string(value));
  return static_cast<std::int64_t>(value);
}

}  // namespace styleseg
