// Same-process memory-bandwidth probe used by the benchmarks to express kernel throughput as a
// fraction of what this machine's memory delivers.
#pragma once

#include <cstddef>

#include "common.h"

namespace gprl {

struct BandwidthResult {
  double read_gbs = 0;  // streaming read (sum of 64-bit words), bytes read per second / 1e9
  double copy_gbs = 0;  // copy of the buffer into a second buffer, bytes read + written per second / 1e9
  double write_gbs = 0;  // memset of the buffer, bytes written per second / 1e9
};

/** Best of `reps` over a buffer of `bytes` (rounded down to a multiple of 64), on `threads` threads. */
Status memory_bandwidth(std::size_t bytes, int reps, int threads, BandwidthResult* result);

/**
 * Arithmetic probe of the sigmoid-bound kernels (win-rate scores, preference matrix): wall time per
 * sigmoid of detail::sigmoid (one float64 exp) over `count` inputs per thread, in L1, each thread
 * evaluating them `reps` times; best of 3. `threads` threads run concurrently, so the result is the
 * machine's time per sigmoid with that many threads (ns).
 */
Status sigmoid_throughput(std::size_t count, int reps, int threads, double* ns_per_sigmoid);

}  // namespace gprl
