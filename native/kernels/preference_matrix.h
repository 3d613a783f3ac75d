// preference_matrix: P[b][i][j] = sigma(sum_l lambda[b][l] * s_l(i, j) / tau) for every pair of a group.
// Semantics: docs/kernels.md, "preference_matrix".
#pragma once

#include "common.h"

namespace gprl {

struct PreferenceMatrixParams {
  Shape shape;
  double tau = 0.1;  // > 0
};

/** C++ path. `embeddings` [B][G][2k]; `lambdas` [B][k] or null (all 1); `out` [B][G][G]. */
Status preference_matrix_cpu(const PreferenceMatrixParams& p, const float* embeddings, const float* lambdas,
                             float* out);

/** CUDA path (host pointers; copies to and from the device). */
Status preference_matrix_cuda(const PreferenceMatrixParams& p, const float* embeddings, const float* lambdas,
                              float* out, const CudaLaunch& launch = {});

}  // namespace gprl
