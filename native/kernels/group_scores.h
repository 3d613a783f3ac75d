// group_scores: per-dimension group-relative scores s_hat [B][G][k] from GPM embeddings [B][G][2k].
// Semantics: docs/kernels.md, "group_scores".
#pragma once

#include "common.h"

namespace gprl {

struct GroupScoresParams {
  Shape shape;
  int mode = kModeLogit;  // kModeLogit or kModeWinrate
  double tau = 0.1;       // win-rate temperature, > 0
};

/** Checks mode and tau (shared with gprl_advantages). */
Status check_score_params(const char* kernel, int mode, double tau);

/** C++ path. `mask` may be null (all valid); `out` has B*G*k entries. */
namespace detail {
struct GroupJob;
/** Checks the arguments and describes the call as a per-group job (shared by the C++ and CUDA paths). */
Status group_scores_job(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out,
                        GroupJob* job);
}  // namespace detail

Status group_scores_cpu(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out);

/** CUDA path (host pointers; copies to and from the device). */
Status group_scores_cuda(const GroupScoresParams& p, const float* embeddings, const uint8_t* mask, float* out,
                         const CudaLaunch& launch = {});

}  // namespace gprl
