// Device and thread selection shared by every stage.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace styleseg {

// "auto" (cuda:local_rank when a GPU is visible, else cpu), "cpu", "cuda", "cuda:N".
// Throws ConfigError naming `option` for bad values or a GPU that is not there. A CUDA device
// comes with TF32 turned off: float32 is IEEE float32 on every device.
c10::Device resolve_device(const std::string& spec, int local_rank, const std::string& option = "--device");

// "float32" | "bfloat16" | "float16"; ConfigError otherwise.
c10::ScalarType parse_precision(const std::string& text, const std::string& option = "--precision");

// A training stage's --precision: the dtype its weights, activations and optimiser state
// are kept in, and the dtype its forward passes autocast to.
//   float32            float32, no autocast
//   bfloat16           float32 weights, forward passes autocast to bfloat16 (GPUs)
//   float64            everything in double: several times slower, a reference for checks
//                      whose claim is "the same up to summation order" (N ranks against
//                      one), which float32 rounding amplified by Adam would blur
// float16 is refused (no loss scaling), naming `option`.
struct TrainingPrecision {
  c10::ScalarType weights = c10::ScalarType::Float;
  c10::ScalarType autocast = c10::ScalarType::Float;  // Float: autocast off
};
TrainingPrecision parse_training_precision(const std::string& text, const std::string& option = "--precision");

// Intra-op threads for LibTorch: `requested` > 0, else OMP_NUM_THREADS, else the cores of
// the node divided among its ranks.
int configure_threads(int requested, int ranks_on_node);

// Intra-op threads of LibTorch ops run by the calling thread only (OpenMP's per-thread
// setting): a helper thread such as the data loader uses 1, so that its small ops do not
// start a second team of threads competing with the compute threads for the cores.
// No effect where LibTorch brings its own OpenMP runtime.
void set_threads_of_this_thread(int threads);

}  // namespace styleseg

namespace styleseg {

// Automatic mixed precision for a scope (a forward pass and its loss): matrix products and
// convolutions run in `dtype` (bfloat16 on GPUs; on CPUs too, where it is mostly a test of
// the same code path), precision-sensitive ops in float32. float32 makes it a no-op. The
// previous state is restored on exit; nesting works.
class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

}  // namespace styleseg
