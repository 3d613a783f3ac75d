// group_advantages, CUDA path.
// Math: per group and dimension over the n valid responses (mask and finite scores): mu_l, sigma_l
//   (two-pass, float64, unbiased or biased), A_hat_l = (s_l - mu_l)/(sigma_l + eps), 0 when
//   sigma_l <= stdFloor (degenerate); w_l = m_l lambda_l / sum m lambda; A = sum_l w_l A_hat_l
//   (per-dimension), a group z-score of sum_l w_l s_l (scalar) or a batch z-score of the
//   per-dimension aggregate (gdpo). Invalid responses get 0 (docs/kernels.md).
// Shapes: scores [B][G][k], lambdas [B][k], dimWeights [k], mask [B][G]; outputs advantages [B][G],
//   dimAdvantages [B][G][k], dimMean/dimStd [B][k].
// Bytes moved: 4BGk + BG + 4Bk + 4k read, 4BGk + 4BG + 8Bk written (gdpo: + 8BG float64 A' written
//   and read twice).
// Design: the shared per-group kernel (group_core.cu) with the scores stage compiled out; gdpo adds a
//   second, single-block reduction kernel for the batch statistics and an elementwise kernel.
#include "group_advantages.h"
#include "group_core.h"

namespace gprl {

Status group_advantages_cuda(const Shape& shape, const AdvantageOptions& options, const float* scores,
                             const AdvantageInputs& in, const AdvantageOutputs& out, AdvantageCounts* counts,
                             const CudaLaunch& launch) {
  detail::GroupJob job;  // the scores are uploaded, never written back
  Status st = detail::group_advantages_job(shape, options, scores, in, out, &job);
  return st.ok ? detail::run_groups_cuda("group_advantages", job, counts, launch) : st;
}

}  // namespace gprl
