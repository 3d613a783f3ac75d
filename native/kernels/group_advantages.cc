#include "group_advantages.h"

#include <cmath>

#include "group_core.h"

namespace gprl {

Status check_advantage_options(const char* kernel, const AdvantageOptions& o) {
  const std::string k = std::string("gprl: ") + kernel + ": ";
  if (!(o.eps >= 0.0) || !std::isfinite(o.eps)) return Status::Error(k + "eps must be finite and >= 0");
  if (!(o.std_floor >= 0.0) || !std::isfinite(o.std_floor)) return Status::Error(k + "stdFloor must be finite and >= 0");
  if (o.normalize != kNormalizePerDimension && o.normalize != kNormalizeScalar && o.normalize != kNormalizeGdpo) {
    return Status::Error(k + "unknown normalize mode");
  }
  return Status::Ok();
}

Status detail::group_advantages_job(const Shape& shape, const AdvantageOptions& options, const float* scores,
                                    const AdvantageInputs& in, const AdvantageOutputs& out, GroupJob* job) {
  Status st = check_shape("group_advantages", shape);
  if (st.ok) st = check_advantage_options("group_advantages", options);
  if (!st.ok) return st;
  job->shape = shape;
  job->mask = in.mask;
  job->scores = const_cast<float*>(scores);  // read-only: the scores stage is off (no embeddings)
  job->advantage = true;
  job->lambdas = in.lambdas;
  job->dim_weights = in.dim_weights;
  job->options = options;
  job->out = out;
  return st;
}

Status group_advantages_cpu(const Shape& shape, const AdvantageOptions& options, const float* scores,
                            const AdvantageInputs& in, const AdvantageOutputs& out, AdvantageCounts* counts) {
  detail::GroupJob job;
  Status st = detail::group_advantages_job(shape, options, scores, in, out, &job);
  return st.ok ? detail::run_groups_cpu(job, counts) : st;
}

#ifndef GPRL_WITH_CUDA
Status group_advantages_cuda(const Shape&, const AdvantageOptions&, const float*, const AdvantageInputs&,
                             const AdvantageOutputs&, AdvantageCounts*, const CudaLaunch&) {
  return cuda_not_compiled("group_advantages");
}
#endif

}  // namespace gprl
