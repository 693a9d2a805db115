#include "core/memory_reuse.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace styleseg {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  const char* opt_out = std::getenv("STYLESEG_RETURN_FREED_MEMORY");
  if (opt_out && std::strcmp(opt_out, "1") == 0) return;
  mallopt(M_MMAP_MAX, 0);                // every block from the heap, so it can be reused
  // Return the top of the heap to the system only past 2 GiB free (mallopt takes an int).
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

}  // namespace styleseg
