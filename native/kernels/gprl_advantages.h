// gprl_advantages: group_scores followed by group_advantages, fused (one pass over the embeddings on
// the CPU, one kernel launch on the GPU; gdpo adds a batch-level second pass).
// Semantics: docs/kernels.md, "gprl_advantages".
#pragma once

#include "common.h"

namespace gprl {

struct GprlAdvantagesParams {
  Shape shape;
  int mode = kModeLogit;
  double tau = 0.1;
  AdvantageOptions options;
};

namespace detail {
struct GroupJob;
/** Checks the arguments and describes the call as a per-group job (shared by the C++ and CUDA paths). */
Status gprl_advantages_job(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                           float* scores, const AdvantageOutputs& out, GroupJob* job);
}  // namespace detail

/** C++ path. `embeddings` [B][G][2k]; `scores` [B][G][k] is an output; counts may be null. */
Status gprl_advantages_cpu(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                           float* scores, const AdvantageOutputs& out, AdvantageCounts* counts);

/** CUDA path (host pointers; copies to and from the device). */
Status gprl_advantages_cuda(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                            float* scores, const AdvantageOutputs& out, AdvantageCounts* counts,
                            const CudaLaunch& launch = {});

}  // namespace gprl
