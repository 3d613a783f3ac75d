// Shared definitions for the gprl kernels: status type, option codes and the parameter structs.
// Plain C++17, no Node.js and no CUDA types, so the same headers serve the addon, the standalone
// kernel test program and the CUDA translation units.
//
// Convention for every kernel `X` (files native/kernels/X.{h,cc,cu}):
//   Status X_cpu(...)   defined in X.cc (multi-threaded C++ path)
//   Status X_cuda(...)  defined in X.cu when built with CUDA (GPRL_WITH_CUDA); otherwise X.cc defines
//                       it as `return cuda_not_compiled("X");`, so callers never need an #ifdef.
// Inputs and outputs are host pointers; the CUDA path copies them to and from the device itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace gprl {

/** Result of a kernel call: ok, or an error message (CUDA failures, bad sizes). Never aborts. */
struct Status {
  bool ok = true;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(std::string msg) {
    Status s;
    s.ok = false;
    s.message = std::move(msg);
    return s;
  }
};

inline Status cuda_not_compiled(const char* kernel) {
  return Status::Error(std::string("gprl: ") + kernel + ": this binary was built without CUDA");
}

/** Group score modes (docs/kernels.md, group_scores). */
enum ScoreMode : int { kModeLogit = 0, kModeWinrate = 1 };

/** Aggregation modes (docs/kernels.md, group_advantages). */
enum NormalizeMode : int { kNormalizePerDimension = 0, kNormalizeScalar = 1, kNormalizeGdpo = 2 };

/** Batch shape: B groups of G responses with k preference dimensions. */
struct Shape {
  int64_t groups = 0;      // B
  int64_t group_size = 0;  // G
  int64_t dims = 0;        // k
};

/** Options of the advantage kernels (group_advantages, gprl_advantages). */
struct AdvantageOptions {
  double eps = 1e-4;        // added to the std
  double std_floor = 1e-6;  // std <= std_floor marks a normalization degenerate
  bool unbiased = true;     // Bessel (n - 1) or biased (n) standard deviation
  int normalize = kNormalizePerDimension;
};

/** Optional per-group / per-dimension inputs of the advantage kernels (nullptr = default 1). */
struct AdvantageInputs {
  const float* lambdas = nullptr;      // [B][k]
  const float* dim_weights = nullptr;  // [k]
  const uint8_t* mask = nullptr;       // [B][G], nonzero = valid
};

/** Outputs of the advantage kernels, all preallocated by the caller. */
struct AdvantageOutputs {
  float* advantages = nullptr;      // [B][G]
  float* dim_advantages = nullptr;  // [B][G][k]
  float* dim_mean = nullptr;        // [B][k]
  float* dim_std = nullptr;         // [B][k]
};

/** Counts reported by the advantage kernels. */
struct AdvantageCounts {
  int64_t degenerate = 0;  // degenerate normalizations (see docs/kernels.md per normalize mode)
  int64_t masked = 0;      // invalid responses (mask = 0 or a non-finite input)
};

/** CUDA launch configuration; 0 / -1 pick the defaults. Exposed so tests can sweep it. */
struct CudaLaunch {
  int block_size = 0;
  int device = -1;  // CUDA device index; -1: GPRL_CUDA_DEVICE if set, else 0
  // Test hooks (native/test): fill every device output with an all-ones NaN before the kernels run,
  // so an element never written is visible after the copy back; allocate this many extra device
  // bytes first (forces an out-of-memory error); group-kernel workspace 0 auto, 1 shared memory
  // only (error when it does not fit), 2 global memory; group team 0 auto, 1 a block per group,
  // 2 a warp per group. Tests also force small chunks (chunk_groups) to exercise the pipeline.
  bool poison_outputs = false;
  std::size_t test_alloc_bytes = 0;
  int workspace = 0;
  int group_team = 0;
  // Host-array pipelining of the group kernels: groups per chunk (0: chunks of ~8 MiB of host data,
  // used when there are at least two; -1: never chunk).
  long long chunk_groups = 0;
};

}  // namespace gprl
