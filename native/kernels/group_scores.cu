// group_scores, CUDA path.
// Math: s_hat_l(i) = n/(n-1) (a_l(i) mean(b_l) - b_l(i) mean(a_l)) (logit) or
//   1/(n-1) sum_{j valid, j != i} sigmoid(s_l(i,j)/tau) - 1/2 (winrate), n = valid responses of the group;
//   NaN for invalid responses, 0 when n < 2 (docs/kernels.md).
// Shapes: embeddings [B][G][2k] float32, mask [B][G] uint8 (optional), out [B][G][k] float32.
// Bytes moved: 8BGk read + BG (mask) + 4BGk written; host<->device copies of the same sizes.
// Design: the shared per-group kernel (group_core.cu) with the advantage stage compiled out: one block
//   per group, one warp per dimension for the means, one thread per (response, dimension) for the
//   scores (win rate: an O(G) loop per thread over the group's other responses, float64 sums).
#include "group_core.h"
#include "group_scores.h"

namespace gprl {

Status group_scores_cuda(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out,
                         const CudaLaunch& launch) {
  detail::GroupJob job;
  Status st = detail::group_scores_job(p, embeddings, mask, out, &job);
  return st.ok ? detail::run_groups_cuda("group_scores", job, nullptr, launch) : st;
}

}  // namespace gprl
