// Freed memory kept in the process for the next allocation of its size.
//
// By default glibc maps every block of 32 MiB or more afresh (mmap) and unmaps it when freed,
// so each such tensor costs a page fault and a zeroing per 4 KiB page, every time. The
// generator's and the segmenter's activations at batch 8 are 50-270 MB each, allocated and
// freed once a layer: at config-f 256x256 on 2 CPU threads that was 25 % of the generator's
// time at batch 8 (tools/bench/bench_generator, README "Benchmarks"). Served from the heap
// instead, a freed block is reused by the next layer or batch, as PyTorch's CUDA caching
// allocator does on the GPU.
//
// The cost: the process keeps up to 2 GiB of freed memory at the top of its heap instead
// of returning it to the system at once (the peak is unchanged). STYLESEG_RETURN_FREED_MEMORY=1
// in the environment keeps glibc's defaults.
#pragma once

namespace styleseg {

// Called once, first thing in main(), before threads start. No effect outside glibc.
void keep_freed_memory_for_reuse();

}  // namespace styleseg
