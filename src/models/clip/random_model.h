// CLIP models of the released shapes with random weights, for benchmarks and tests that
// need a model of a real size (RN50, ViT-B/32, ...) where the released weights cannot be
// downloaded. The numbers are meaningless; sizes, key names and cost are the real ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/clip/architecture.h"
#include "models/state_dict.h"

namespace styleseg::clip {

// The configurations OpenAI released (clip.available_models()): "RN50", "RN101",
// "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16", "ViT-L/14". ConfigError for
// other names.
Architecture released_architecture(const std::string& name);
std::vector<std::string> released_architecture_names();

// A state dict with every tensor the architecture's model reads, in OpenAI's key names
// and shapes (so infer_architecture gives `arch` back): convolution and linear weights
// N(0, 1/fan_in), norms at weight 1 and bias 0, BatchNorm statistics 0 and 1, embeddings
// N(0, 0.02^2), logit_scale log(1/0.07) as CLIP's initialisation. float32, from `seed`.
models::StateDict random_state_dict(const Architecture& arch, uint64_t seed);

}  // namespace styleseg::clip
