// Training allocates and frees the same large tensors every step (attention scores of 400-token
// flows are ~80 MB a batch). glibc serves blocks over 32 MB with a fresh mmap and returns them
// on free, so every step page-faults all of that memory in again, zeroed by the kernel: on a
// 2-core VM that was 90% of an MMAE step (4.0 s -> 0.37 s per step with this, mmae-tiny
// without PMP/teacher/FlowMix, batch 32). Keeping freed memory in the heap makes the next
// step reuse it. The cost: the process's RSS stays at its peak, which is what a training
// process has anyway.
#pragma once

namespace trafficfm::core {

// mallopt: no mmap for large blocks, no trimming of the heap top, 256 MB top padding.
// Call once, early, in processes that train.
void keep_freed_memory_for_reuse();

}  // namespace trafficfm::core
