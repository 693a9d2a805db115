// Reading StyleGAN2 generators from checkpoint files, and writing styleseg's own.
//
// Recognised layouts (from key names; sizes come from tensor shapes, never hard-coded):
//  - rosinality/stylegan2-pytorch: a dict with "g_ema" (the EMA generator; "g" is never
//    used) and optionally "latent_avg" [w_dim] (convert_weight.py, train.py, styleseg);
//    also a bare g_ema state dict.
//  - NVlabs/stylegan2-ada-pytorch: G_ema.state_dict() (keys "mapping.*", "synthesis.*",
//    truncation centre "mapping.w_avg"), bare or under a "G_ema" key. `.pkl` network
//    pickles need tools/convert_nvlabs_pkl.py first.
// styleseg writes the rosinality layout (readable by rosinality's own code with torch.load)
// plus a "styleseg" entry holding what that layout does not store (lr_mlp).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/stylegan2/generator.h"

namespace styleseg::io {
class PyValue;
}

namespace styleseg::stylegan2 {

struct LoadOptions {
  // Mapping learning-rate multiplier; not stored by either reference layout (both default
  // to 0.01). Unset: the file's own value (styleseg files) or 0.01.
  std::optional<double> lr_mapping;
  // NVlabs conv_clamp (not stored; the official configs use 256). Unset: 256 for NVlabs
  // files, none for rosinality. A value <= 0 turns clamping off.
  std::optional<double> conv_clamp;
  // Read the non-EMA generator "g" of a rosinality training checkpoint instead of "g_ema"
  // (to resume training it).
  bool training_generator = false;
};

// Loads a generator (float32, CPU). Throws InputError naming the file and what is wrong.
Generator load_generator(const std::string& path, const LoadOptions& options = {});

// The same from an already-read file (`source` names it in error messages).
Generator generator_from_checkpoint(const io::PyValue& root, const std::string& source,
                                    const LoadOptions& options = {});

// The generator's weights as rosinality's state dict (names, stored values with
// rosinality's gains undone, buffers), float32 on the CPU: a checkpoint's "g_ema" or "g".
std::vector<std::pair<std::string, at::Tensor>> rosinality_state_dict(const Generator& generator);

// Writes `generator` in the rosinality layout ({"g_ema", "latent_avg", "styleseg"}) as a
// torch.save-compatible zip archive, atomically (temporary name, then rename). `storage`
// kFloat, or kHalf for a file half the size (every reader widens to float32 on load).
void save_generator(const Generator& generator, const std::string& path, at::ScalarType storage = at::kFloat);

// A freshly initialised generator, as rosinality's Generator.__init__ initialises one
// (unit-normal weights, affine biases 1, other biases and noise strengths 0), seeded.
Generator init_generator(const Architecture& arch, uint64_t seed, double lr_mapping = 0.01);

// Default channel table of StyleGAN2 config-f: 512 up to 64x64, then 256*m, 128*m, ...
std::map<int, int> default_channels(int resolution, int channel_multiplier, int channel_max = 512);

}  // namespace styleseg::stylegan2
