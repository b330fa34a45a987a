#include "core/malloc_tuning.h"

#include <malloc.h>

#include <climits>

namespace trafficfm::core {

void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 256 << 20);
}

}  // namespace trafficfm::core
