#include "group_scores.h"

#include <cmath>

#include "group_core.h"

namespace gprl {

Status check_score_params(const char* kernel, int mode, double tau) {
  if (mode != kModeLogit && mode != kModeWinrate) return Status::Error(std::string("gprl: ") + kernel + ": unknown mode");
  if (!(tau > 0.0) || !std::isfinite(tau)) return Status::Error(std::string("gprl: ") + kernel + ": tau must be > 0");
  return Status::Ok();
}

Status detail::group_scores_job(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out,
                                GroupJob* job) {
  Status st = check_shape("group_scores", p.shape);
  if (st.ok) st = check_score_params("group_scores", p.mode, p.tau);
  if (!st.ok) return st;
  job->shape = p.shape;
  job->mask = mask;
  job->embeddings = embeddings;
  job->mode = p.mode;
  job->tau = p.tau;
  job->scores = out;
  return st;
}

Status group_scores_cpu(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out) {
  detail::GroupJob job;
  Status st = detail::group_scores_job(p, embeddings, mask, out, &job);
  return st.ok ? detail::run_groups_cpu(job, nullptr) : st;
}

#ifndef GPRL_WITH_CUDA
Status group_scores_cuda(const GroupScoresParams&, const float*, const uint8_t*, float*, const CudaLaunch&) {
  return cuda_not_compiled("group_scores");
}
#endif

}  // namespace gprl
