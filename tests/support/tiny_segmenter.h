// A segmenter model file with random weights (for tests of code that applies one, where
// what matters is that the same network sees both sides, not what it has learnt).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::test {

// Writes `path` (styleseg-segmenter format) with input size `input_size` and one class per
// name, weights drawn with `seed`. Returns `path`.
std::string write_random_segmenter(const std::string& path, const std::vector<std::string>& classes, int64_t input_size,
                                   uint64_t seed);

}  // namespace styleseg::test
