#include "gprl_advantages.h"

#include "group_advantages.h"
#include "group_core.h"
#include "group_scores.h"

namespace gprl {

Status detail::gprl_advantages_job(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                                   float* scores, const AdvantageOutputs& out, GroupJob* job) {
  Status st = check_shape("gprl_advantages", p.shape);
  if (st.ok) st = check_score_params("gprl_advantages", p.mode, p.tau);
  if (st.ok) st = check_advantage_options("gprl_advantages", p.options);
  if (!st.ok) return st;
  job->shape = p.shape;
  job->mask = in.mask;
  job->embeddings = embeddings;
  job->mode = p.mode;
  job->tau = p.tau;
  job->scores = scores;
  job->advantage = true;
  job->lambdas = in.lambdas;
  job->dim_weights = in.dim_weights;
  job->options = p.options;
  job->out = out;
  return st;
}

Status gprl_advantages_cpu(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                           float* scores, const AdvantageOutputs& out, AdvantageCounts* counts) {
  detail::GroupJob job;
  Status st = detail::gprl_advantages_job(p, embeddings, in, scores, out, &job);
  return st.ok ? detail::run_groups_cpu(job, counts) : st;
}

#ifndef GPRL_WITH_CUDA
Status gprl_advantages_cuda(const GprlAdvantagesParams&, const float*, const AdvantageInputs&, float*,
                            const AdvantageOutputs&, AdvantageCounts*, const CudaLaunch&) {
  return cuda_not_compiled("gprl_advantages");
}
#endif

}  // namespace gprl
