#include "core/seeding.h"

#include <cmath>

namespace styleseg {

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

SampleRng::SampleRng(uint64_t seed, uint64_t index, Stream stream) {
  uint64_t key = mix64(mix64(mix64(seed) ^ index) ^ static_cast<uint64_t>(stream));
  for (auto& word : state_) {
    key += 0x9e3779b97f4a7c15ULL;
    word = mix64(key);
  }
}

uint64_t SampleRng::next_u64() {  // xoshiro256** (Blackman & Vigna)
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double SampleRng::next_uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double SampleRng::next_normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller; 1 - u keeps the logarithm finite.
  const double u1 = 1.0 - next_uniform();
  const double u2 = next_uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

void SampleRng::fill_normal(float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(next_normal());
}

void SampleRng::fill_normal(double* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = next_normal();
}

}  // namespace styleseg
