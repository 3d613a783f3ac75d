// The per-group engine shared by group_scores, group_advantages and gprl_advantages (C++ path).
//
// One call processes whole groups: validity, scores (when embeddings are given) and the advantage
// statistics (when advantage outputs are given), all while the group's data is in cache. The three
// public kernels are thin wrappers that switch stages on or off, which keeps their semantics
// identical by construction (docs/kernels.md). The fused path keeps each group's scores in float64
// between the two halves (rounded to float32 only for the `scores` output), like the TypeScript path;
// chaining group_scores -> group_advantages normalizes the stored float32 scores instead, so the two
// agree to float32 rounding and always agree on validity (invalid scores are NaN).
//
// C++ path (group_core.cc): for k = 2, 4, 8 and 16 the per-group passes run on float64 vectors (SSE2,
// the x86-64 baseline; AVX2 for k = 4, 8, 16 when the CPU has it, chosen at run time, no FMA). They
// perform the same float64 operations in the same order as the scalar code (per-dimension sums over
// responses in order, the aggregate over l in order, as on the CUDA path), so every variant gives
// bit-identical results. Large fresh output arrays get a transparent-huge-page hint on Linux.
#pragma once

#include "common.h"

namespace gprl {
namespace detail {

struct GroupJob {
  Shape shape;
  const uint8_t* mask = nullptr;  // [B][G] or nullptr
  // Scores stage: enabled when `embeddings` is set; writes `scores`.
  const float* embeddings = nullptr;  // [B][G][2k]
  int mode = kModeLogit;
  double tau = 0.1;
  // Scores: output of the scores stage (nullptr: not requested), or the input of the advantage stage
  // when `embeddings` is null.
  float* scores = nullptr;  // [B][G][k]
  // Advantage stage: enabled when `advantage` is true.
  bool advantage = false;
  const float* lambdas = nullptr;      // [B][k] or nullptr
  const float* dim_weights = nullptr;  // [k] or nullptr
  AdvantageOptions options;
  AdvantageOutputs out;  // any pointer may be nullptr: that output is not requested and not written
  // C++ path only: write the large outputs with non-temporal stores (set by run_groups_cpu).
  bool stream = false;
};

/** Validates sizes and runs the job on the C++ path; counts are filled when advantage is true. */
Status run_groups_cpu(const GroupJob& job, AdvantageCounts* counts);

/** Runs the job on the CUDA path (group_core.cu; host pointers in the job). */
Status run_groups_cuda(const char* kernel, const GroupJob& job, AdvantageCounts* counts, const CudaLaunch& launch);

/** Sizes shared by the CPU and CUDA paths: returns an error for non-positive or overflowing shapes. */
Status check_shape(const char* kernel, const Shape& s);

}  // namespace detail
}  // namespace gprl
