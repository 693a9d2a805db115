// Per-sample random streams: sample i of a run with seed S draws its latent, its noise and
// its mixing latent from streams keyed by (S, i, purpose) alone, so sample i is the same
// whatever the batch size, the number of ranks or the device. The generator is our own
// (SplitMix64 keying a xoshiro256** stream, Box-Muller normals in double precision), so the
// numbers do not change with the LibTorch version either.
#pragma once

#include <cstddef>
#include <cstdint>

namespace styleseg {

enum class Stream : uint64_t {
  Latent = 1,         // z of a sample
  Noise = 2,          // per-layer noise of a sample
  MixingLatent = 3,   // second z for style mixing
  AverageLatent = 4,  // z used to estimate the average w
  Generic = 5,
  Augment = 6,        // training augmentation of a sample at a step
};

class SampleRng {
 public:
  SampleRng(uint64_t seed, uint64_t index, Stream stream);

  uint64_t next_u64();
  double next_uniform();                   // [0, 1), 53 random bits
  void fill_normal(float* out, size_t n);  // standard normal
  void fill_normal(double* out, size_t n);

 private:
  double next_normal();
  uint64_t state_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
uint64_t mix64(uint64_t x);

}  // namespace styleseg
