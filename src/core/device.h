// Device and thread selection shared by every stage.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace styleseg {

// "auto" (cuda:local_rank when a GPU is visible, else cpu), "cpu", "cuda", "cuda:N".
// Throws ConfigError naming `option` for bad values or a GPU that is not there.
c10::Device resolve_device(const std::string& spec, int local_rank, const std::string& option = "--device");

// "float32" | "bfloat16" | "float16"; ConfigError otherwise.
c10::ScalarType parse_precision(const std::string& text, const std::string& option = "--precision");

// Intra-op threads for LibTorch: `requested` > 0, else OMP_NUM_THREADS, else the cores of
// the node divided among its ranks.
int configure_threads(int requested, int ranks_on_node);

}  // namespace styleseg
