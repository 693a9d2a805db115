// Generator throughput: images/s and ms per image at batch 1 and 8 for a 256x256
// config-f-shaped StyleGAN2 (random weights), on CPU and, where one is visible, on GPU in
// float32 and bfloat16, with the share of time per layer type; and, measured in the same
// run, the device's practical peak (a plain 3x3 convolution of the generator's dominant
// shape, 512 -> 512 channels at 64x64, batch 8) with the share of it each convolution type
// reaches (its multiply-adds x 2 over its time).
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
#include "core/memory_reuse.h"

using namespace styleseg;
using namespace styleseg::stylegan2;
using Clock = std::chrono::steady_clock;

namespace {

// The layer type a mark in the instrumented pass closes. A layer's output ("convs.J") closes
// its convolution with the layer's end (demodulation, noise, bias, activation): fused on the
// CPU, and on the ATen path after its ".conv" mark, so both paths count the same work.
const char* const kUpConv = "modulated conv 3x3 up (phase convs + FIR blur + end)";
const char* const kConv = "modulated conv 3x3 (+ end)";
const char* const kToRgb = "ToRGB (1x1 modulated conv + bias + skip add)";

std::string layer_type(const std::string& name) {
  auto ends = [&](const char* s) { return name.size() >= std::strlen(s) && name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0; };
  if (name.rfind("style.", 0) == 0) return "mapping network";
  if (ends(".conv.modulation")) return "style affines";
  if (ends(".upsample")) return "skip up-sampling (FIR)";
  if (name.rfind("to_rgb", 0) == 0) return kToRgb;
  if (name == "input") return "constant input";
  const std::string layer = ends(".conv") ? name.substr(0, name.size() - 5) : name;
  if (layer == "conv1") return kConv;
  // convs.J: the even J up-sample
  if (layer.rfind("convs.", 0) == 0) return std::stoi(layer.substr(6)) % 2 == 0 ? kUpConv : kConv;
  return "other";
}

void sync(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.flatten()[0].item<float>();
}

struct Result {
  double images_per_s, ms_per_image;
  std::map<std::string, double> share;
};

// Floating-point operations (2 per multiply-add) of one image's convolutions, per layer type
// (the names of layer_type). An up-sampling layer counts its transposed convolution only (a
// 3x3 kernel at each input pixel), not the FIR blur after it, which a cheaper form would save.
std::map<std::string, double> conv_flops_per_image(const Architecture& arch) {
  std::map<std::string, double> flops;
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const double r = arch.conv_layer_resolution(layer);
    const double in_pixels = arch.conv_layer_upsamples(layer) ? (r / 2) * (r / 2) : r * r;
    const double macs = 9.0 * arch.conv_layer_in_channels(layer) * arch.conv_layer_out_channels(layer) * in_pixels;
    flops[arch.conv_layer_upsamples(layer) ? kUpConv : kConv] += 2 * macs;
  }
  for (const auto& [r, c] : arch.channels) flops[kToRgb] += 2.0 * c * arch.image_channels * r * r;
  return flops;
}

// GFLOP/s of a plain 3x3 convolution, 512 -> 512 channels at 64x64, batch 8 (the shape of
// config-f's 64x64 block), on the generator's device and type: the practical peak the
// generator is measured against.
double conv_peak_gflops(c10::Device device, c10::ScalarType dtype, int iterations) {
  at::NoGradGuard no_grad;
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const at::Tensor x = at::randn({8, 512, 64, 64}, options), w = at::randn({512, 512, 3, 3}, options) * 0.01;
  for (int i = 0; i < 2; ++i) sync(at::conv2d(x, w, {}, 1, 1));  // warm-up (plans, allocator)
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) sync(at::conv2d(x, w, {}, 1, 1));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count() / iterations;
  return 2.0 * 9 * 512 * 512 * 8 * 64 * 64 / seconds / 1e9;
}

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
  styleseg::keep_freed_memory_for_reuse();  // as the styleseg CLI does
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
  struct Measured {
    std::string label;
    Result result;
    double peak_gflops;
  };
  std::vector<Measured> measured;
  const std::map<std::string, double> flops = conv_flops_per_image(arch);
  double conv_flops = 0;
  for (const auto& [type, f] : flops) conv_flops += f;
  for (const auto& s : setups) {
    Generator g = init_generator(arch, 0);
    g.to(resolve_device(s.device, 0), s.dtype);
    const double peak = conv_peak_gflops(g.device(), s.dtype, iterations);
    for (int batch : {1, 8}) {
      Result r = run(g, batch, iterations);
      std::printf("| %s | %s | %d | %.2f | %.1f |\n", s.device.c_str(), c10::toString(s.dtype), batch, r.images_per_s, r.ms_per_image);
      std::fflush(stdout);
      measured.push_back({s.device + " " + c10::toString(s.dtype) + " batch " + std::to_string(batch), r, peak});
    }
  }
  std::printf("\nConvolutions: %.1f GFLOP an image (multiply-adds x 2; up-sampling layers: the transposed convolution).\n",
              conv_flops / 1e9);
  std::printf("Share of time per layer type (instrumented pass), and the share of the practical peak each\n"
              "convolution type reaches (its GFLOP over its time, against a plain 3x3 convolution 512 -> 512\n"
              "at 64x64, batch 8, measured in this run):\n");
  for (const auto& m : measured) {
    const double seconds_per_image = m.result.ms_per_image / 1e3;
    std::printf("\n%s: peak %.1f GFLOP/s; the whole generator %.1f GFLOP/s = %.0f %% of it\n", m.label.c_str(), m.peak_gflops,
                conv_flops / 1e9 / seconds_per_image, 100 * conv_flops / 1e9 / seconds_per_image / m.peak_gflops);
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& [k, v] : m.result.share) sorted.push_back({v, k});
    std::sort(sorted.rbegin(), sorted.rend());
    for (const auto& [v, k] : sorted) {
      std::printf("  %5.1f%%  %s", v * 100, k.c_str());
      const auto f = flops.find(k);
      if (f != flops.end() && v > 0) {
        const double gflops = f->second / 1e9 / (v * seconds_per_image);
        std::printf(": %.1f GFLOP/s, %.0f %% of the peak", gflops, 100 * gflops / m.peak_gflops);
      }
      std::printf("\n");
    }
  }
  return 0;
}
