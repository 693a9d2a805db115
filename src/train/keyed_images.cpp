#include "train/keyed_images.h"

#include <ATen/ATen.h>

#include "core/seeding.h"
#include "sampling/sampler.h"

namespace styleseg::train {

KeyedImages keyed_images(const stylegan2::Generator& g, uint64_t key, const std::vector<int64_t>& samples, double mixing,
                         c10::Device device, bool ws_require_grad) {
  const auto& arch = g.architecture();
  at::Tensor ws = g.broadcast(g.map(sampling::random_latents(arch.z_dim, key, samples, Stream::Latent).to(device)));
  SampleRng decide(key, 0, Stream::Generic);
  if (decide.next_uniform() < mixing) {
    const int crossover = 1 + static_cast<int>(decide.next_u64() % static_cast<uint64_t>(arch.num_ws() - 1));
    ws = g.mix(ws, g.broadcast(g.map(sampling::random_latents(arch.z_dim, key, samples, Stream::MixingLatent).to(device))), crossover);
  }
  if (ws_require_grad) ws = ws.detach().requires_grad_(true);
  return {g.synthesize(ws, stylegan2::Noise::explicit_tensors(sampling::random_noise(arch, key, samples, device, g.dtype()))).image, ws};
}

}  // namespace styleseg::train
