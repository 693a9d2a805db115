// Generator throughput: images/s and ms per image at batch 1 and 8 for a 256x256
// config-f-shaped StyleGAN2 (random weights), on CPU and, where one is visible, on GPU in
// float32 and bfloat16, with the share of time per layer type.
//
//   build/bench_generator [--resolution 256] [--iterations 5] [--threads N] [--devices cpu,cuda]
//
// The per-layer split comes from a second, instrumented pass: the activation sink marks
// the end of each step (after a device sync on GPU), and the time since the previous mark
// is charged to that step's layer type. The plain timing pass has no instrumentation.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "models/stylegan2/checkpoint.h"

using namespace styleseg;
using namespace styleseg::stylegan2;
using Clock = std::chrono::steady_clock;

namespace {

std::string layer_type(const std::string& name) {
  auto ends = [&](const char* s) { return name.size() >= std::strlen(s) && name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0; };
  if (name.rfind("style.", 0) == 0) return "mapping network";
  if (ends(".conv.modulation")) return "style affines";
  if (ends(".upsample")) return "skip up-sampling (FIR)";
  if (name.rfind("to_rgb", 0) == 0 && ends(".conv")) return "ToRGB 1x1 modulated conv";
  if (ends(".conv")) {
    // conv layers: odd convs.J index upsample
    if (name == "conv1.conv") return "modulated conv 3x3";
    const int j = std::stoi(name.substr(6));
    return j % 2 == 0 ? "modulated conv 3x3 up (transposed + FIR blur)" : "modulated conv 3x3";
  }
  if (name.rfind("to_rgb", 0) == 0) return "ToRGB bias + skip add";
  if (name == "input") return "constant input";
  return "noise + bias + leaky ReLU";
}

void sync(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.flatten()[0].item<float>();
}

struct Result {
  double images_per_s, ms_per_image;
  std::map<std::string, double> share;
};

Result run(const Generator& g, int batch, int iterations) {
  at::NoGradGuard no_grad;
  const auto dev = at::TensorOptions().device(g.device());
  at::Tensor z = at::randn({batch, g.architecture().z_dim}).to(g.device());
  auto forward = [&](const ActivationSink* sink) {
    at::Tensor ws = g.broadcast(g.map(z, sink));
    at::Tensor img = g.synthesize(ws, Noise::constant(), -1, sink).image;
    sync(img);
  };
  forward(nullptr);  // warm-up (allocator, oneDNN/cuDNN plans)
  forward(nullptr);
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) forward(nullptr);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  std::map<std::string, double> per_type;
  Clock::time_point last;
  ActivationSink sink = [&](const std::string& name, const at::Tensor& value) {
    sync(value);
    const auto now = Clock::now();
    per_type[layer_type(name)] += std::chrono::duration<double>(now - last).count();
    last = now;
  };
  for (int i = 0; i < iterations; ++i) {
    last = Clock::now();
    forward(&sink);
  }
  double total = 0;
  for (auto& [k, v] : per_type) total += v;
  Result r{iterations * batch / seconds, seconds * 1e3 / (iterations * batch), {}};
  for (auto& [k, v] : per_type) r.share[k] = v / total;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int resolution = 256, iterations = 5, threads = 0;
  std::string devices = "cpu,cuda";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--resolution") resolution = std::atoi(argv[i + 1]);
    else if (a == "--iterations") iterations = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--devices") devices = argv[i + 1];
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  threads = configure_threads(threads, 1);
  Architecture arch;
  arch.resolution = resolution;
  arch.z_dim = arch.w_dim = 512;
  arch.mapping_layers = 8;
  arch.channels = default_channels(resolution, 2);
  std::printf("StyleGAN2 generator benchmark: config-f %dx%d (%s), random weights, %d timed iterations, %d CPU threads\n\n",
              resolution, resolution, arch.describe().c_str(), iterations, threads);
  struct Setup { std::string device; c10::ScalarType dtype; };
  std::vector<Setup> setups;
  if (devices.find("cpu") != std::string::npos) setups.push_back({"cpu", at::kFloat});
  if (devices.find("cuda") != std::string::npos) {
    if (at::hasCUDA()) {
      setups.push_back({"cuda", at::kFloat});
      setups.push_back({"cuda", at::kBFloat16});
    } else {
      std::printf("(no GPU visible: GPU rows skipped)\n\n");
    }
  }
  std::printf("| device | dtype | batch | images/s | ms/image |\n|---|---|---|---|---|\n");
  std::vector<std::pair<std::string, Result>> shares;
  for (const auto& s : setups) {
    Generator g = init_generator(arch, 0);
    g.to(resolve_device(s.device, 0), s.dtype);
    for (int batch : {1, 8}) {
      Result r = run(g, batch, iterations);
      std::printf("| %s | %s | %d | %.2f | %.1f |\n", s.device.c_str(), c10::toString(s.dtype), batch, r.images_per_s, r.ms_per_image);
      std::fflush(stdout);
      shares.push_back({s.device + " " + c10::toString(s.dtype) + " batch " + std::to_string(batch), r});
    }
  }
  std::printf("\nShare of time per layer type (instrumented pass):\n");
  for (auto& [label, r] : shares) {
    std::printf("\n%s\n", label.c_str());
    std::vector<std::pair<double, std::string>> sorted;
    for (auto& [k, v] : r.share) sorted.push_back({v, k});
    std::sort(sorted.rbegin(), sorted.rend());
    for (auto& [v, k] : sorted) std::printf("  %5.1f%%  %s\n", v * 100, k.c_str());
  }
  return 0;
}
