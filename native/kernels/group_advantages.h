// group_advantages: per-dimension normalization of group scores and their weighted aggregation.
// Semantics: docs/kernels.md, "group_advantages".
#pragma once

#include "common.h"

namespace gprl {

/** Checks the advantage options (eps, std floor, normalize code). */
Status check_advantage_options(const char* kernel, const AdvantageOptions& o);

/** C++ path. `scores` [B][G][k]; optional inputs may be null; counts may be null. */
namespace detail {
struct GroupJob;
/** Checks the arguments and describes the call as a per-group job (shared by the C++ and CUDA paths). */
Status group_advantages_job(const Shape& shape, const AdvantageOptions& options, const float* scores,
                            const AdvantageInputs& in, const AdvantageOutputs& out, GroupJob* job);
}  // namespace detail

Status group_advantages_cpu(const Shape& shape, const AdvantageOptions& options, const float* scores,
                            const AdvantageInputs& in, const AdvantageOutputs& out, AdvantageCounts* counts);

/** CUDA path (host pointers; copies to and from the device). */
Status group_advantages_cuda(const Shape& shape, const AdvantageOptions& options, const float* scores,
                             const AdvantageInputs& in, const AdvantageOutputs& out, AdvantageCounts* counts,
                             const CudaLaunch& launch = {});

}  // namespace gprl
