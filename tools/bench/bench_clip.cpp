// CLIP image embeddings per second: encode_image (pooled) and the dense path at output
// stride 16 and 8, for a released shape with random weights (RN50 by default), on CPU and,
// where one is visible, on GPU in float32 and bfloat16; text embeddings per second.
//
// Side by side with the reference: when the fixtures are there (STYLESEG_FIXTURES or
// ../shared/fixtures), the same images go through openai/CLIP's own traced graph (the
// TorchScript archive clip/model.pt, cast to float32, its encode_image method) and through
// styleseg's port of the same weights, in one run; the ratio is reported.
//
//   build/bench_clip [--model RN50] [--batches 1,8] [--iterations 3] [--threads N] [--devices cpu,cuda]
#include <torch/script.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/device.h"
#include "models/clip/model.h"
#include "models/clip/random_model.h"
#include "core/memory_reuse.h"

using namespace styleseg;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

void sync(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.flatten()[0].item<float>();
}

// Items per second of `step` (which handles `items` items), best of `iterations` after a warm-up.
double rate(int iterations, int64_t items, const std::function<at::Tensor()>& step) {
  sync(step());
  double best = 1e30;
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    sync(step());
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return static_cast<double>(items) / best;
}

void bench_shape(const std::string& name, const std::vector<int64_t>& batches, int iterations, const std::string& device_spec) {
  const clip::Architecture arch = clip::released_architecture(name);
  const models::StateDict state = clip::random_state_dict(arch, 1);
  for (const char* precision : {"float32", "bfloat16"}) {
    const c10::Device device = resolve_device(device_spec, 0);
    if (device.is_cpu() && std::string(precision) == "bfloat16") continue;  // CPUs: float32 (bf16 is a GPU setting)
    const clip::Model model(arch, state, {device, parse_precision(precision)});
    at::NoGradGuard no_grad;
    for (int64_t batch : batches) {
      const at::Tensor images = at::randn({batch, 3, arch.image_resolution, arch.image_resolution}).to(device);
      const double pooled = rate(iterations, batch, [&] { return model.encode_image(images); });
      std::printf("%-8s %-5s %-8s batch %3lld  encode_image      %8.2f images/s\n", name.c_str(), device.str().c_str(), precision,
                  static_cast<long long>(batch), pooled);
      for (int64_t stride : model.output_strides()) {
        if (stride == 32) continue;
        const double dense = rate(iterations, batch, [&] { return model.dense_embeddings(images, stride); });
        std::printf("%-8s %-5s %-8s batch %3lld  dense stride %-4lld %8.2f images/s  (%.2fx the pooled cost)\n", name.c_str(),
                    device.str().c_str(), precision, static_cast<long long>(batch), static_cast<long long>(stride), dense,
                    pooled / dense);
      }
    }
    const at::Tensor tokens = at::randint(1, 49000, {64, arch.context_length}, at::kLong);
    std::printf("%-8s %-5s %-8s            encode_text       %8.2f prompts/s\n", name.c_str(), device.str().c_str(), precision,
                rate(iterations, 64, [&] { return model.encode_text(tokens); }));
  }
}

// styleseg against openai/CLIP's traced graph on the fixture weights.
void bench_against_reference(int iterations) {
  const char* env = std::getenv("STYLESEG_FIXTURES");
  const std::string fixtures = env ? env : "../shared/fixtures";
  const std::string path = fixtures + "/clip/model.pt";
  if (!std::filesystem::exists(path)) {
    std::printf("(no %s: set STYLESEG_FIXTURES for the side-by-side run against openai/CLIP's TorchScript graph)\n", path.c_str());
    return;
  }
  torch::jit::Module reference = torch::jit::load(path, torch::kCPU);
  reference.to(at::kFloat);
  reference.eval();
  const clip::Model ours = clip::load_model(path);
  const int64_t r = ours.architecture().image_resolution;
  at::NoGradGuard no_grad;
  for (int64_t batch : {1, 16}) {
    const at::Tensor images = at::randn({batch, 3, r, r});
    const at::Tensor a = reference.get_method("encode_image")({images}).toTensor();
    const at::Tensor b = ours.encode_image(images);
    const double difference = ((a - b).norm() / a.norm()).item<double>();
    const double theirs = rate(iterations * 3, batch, [&] { return reference.get_method("encode_image")({images}).toTensor(); });
    const double mine = rate(iterations * 3, batch, [&] { return ours.encode_image(images); });
    std::printf("fixture clip/model.pt (%s) batch %2lld: openai/CLIP TorchScript %8.1f images/s, styleseg %8.1f images/s, "
                "ratio %.2f (outputs differ by %.1e)\n",
                ours.architecture().describe().c_str(), static_cast<long long>(batch), theirs, mine, mine / theirs, difference);
  }
}

}  // namespace

int main(int argc, char** argv) {
  styleseg::keep_freed_memory_for_reuse();  // as the styleseg CLI does
  std::string model = "RN50", devices = "cpu", batches_text = "1,8";
  int iterations = 3, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") model = value;
    else if (key == "--batches") batches_text = value;
    else if (key == "--iterations") iterations = std::stoi(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--devices") devices = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  configure_threads(threads, 1);
  std::printf("threads: %d\n", at::get_num_threads());
  std::vector<int64_t> batches;
  for (const std::string& b : split(batches_text)) batches.push_back(std::stoll(b));
  try {
    bench_against_reference(iterations);
    for (const std::string& device : split(devices)) bench_shape(model, batches, iterations, device);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_clip: %s\n", e.what());
    return 1;
  }
  return 0;
}
