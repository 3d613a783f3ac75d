// gprl_advantages, CUDA path: group_scores and group_advantages fused into ONE kernel launch.
// Math: scores s_hat (logit closed form or win rate, docs/kernels.md "group_scores"), then the
//   per-dimension normalization and aggregation of "group_advantages", on the same block while the
//   group's scores are in L1/L2.
// Shapes: embeddings [B][G][2k], lambdas [B][k], dimWeights [k], mask [B][G]; outputs scores and
//   dimAdvantages [B][G][k], advantages [B][G], dimMean/dimStd [B][k].
// Bytes moved: 8BGk + BG + 4Bk read, 8BGk + 4BG + 8Bk written (the scores are written once and
//   re-read from cache by the block that wrote them); gdpo adds 8BG float64 A' written and read twice.
// Design: group_core.cu's per-group kernel with both stages: one block per group, warp-per-dimension
//   float64 reductions, thread-per-(response, dimension) elementwise work. gdpo needs a batch-level
//   statistic, so it adds a second small single-block reduction kernel and an elementwise kernel.
#include "gprl_advantages.h"

#include "group_advantages.h"
#include "group_core.h"
#include "group_scores.h"

namespace gprl {

Status gprl_advantages_cuda(const GprlAdvantagesParams& p, const float* embeddings, const AdvantageInputs& in,
                            float* scores, const AdvantageOutputs& out, AdvantageCounts* counts,
                            const CudaLaunch& launch) {
  detail::GroupJob job;
  Status st = detail::gprl_advantages_job(p, embeddings, in, scores, out, &job);
  return st.ok ? detail::run_groups_cuda("gprl_advantages", job, counts, launch) : st;
}

}  // namespace gprl
