#include "core/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/error.h"

namespace styleseg {

c10::Device resolve_device(const std::string& spec, int local_rank, const std::string& option) {
  const int gpus = at::hasCUDA() ? static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "auto") return gpus > 0 ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus)) : c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (gpus == 0) throw ConfigError(option + " " + spec + ": no CUDA device is visible (this LibTorch build " +
                                     (at::hasCUDA() ? "has CUDA but sees no GPU" : "has no CUDA support") + ")");
    int index = local_rank % gpus;
    if (spec.size() > 5) {
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        throw ConfigError(option + " '" + spec + "': expected cuda:N");
      }
    }
    if (index < 0 || index >= gpus)
      throw ConfigError(option + " " + spec + ": only " + std::to_string(gpus) + " CUDA device(s) visible");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError(option + " '" + spec + "': expected auto, cpu, cuda or cuda:N");
}

c10::ScalarType parse_precision(const std::string& text, const std::string& option) {
  if (text == "float32" || text == "fp32") return c10::kFloat;
  if (text == "bfloat16" || text == "bf16") return c10::kBFloat16;
  if (text == "float16" || text == "fp16") return c10::kHalf;
  throw ConfigError(option + " '" + text + "': expected float32, bfloat16 or float16");
}

int configure_threads(int requested, int ranks_on_node) {
  int threads = requested;
  if (threads <= 0) {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    if (omp && std::atoi(omp) > 0) threads = std::atoi(omp);
  }
  if (threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, ranks_on_node));
  }
  at::set_num_threads(threads);
  return threads;
}

}  // namespace styleseg
