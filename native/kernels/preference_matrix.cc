#include "preference_matrix.h"

#include <limits>
#include <vector>

#include "group_core.h"
#include "group_scores.h"
#include "math_util.h"
#include "parallel.h"

namespace gprl {

Status preference_matrix_cpu(const PreferenceMatrixParams& p, const float* embeddings, const float* lambdas,
                             float* out) {
  Status st = detail::check_shape("preference_matrix", p.shape);
  if (st.ok) st = check_score_params("preference_matrix", kModeLogit, p.tau);
  if (!st.ok) return st;
  const int64_t B = p.shape.groups, G = p.shape.group_size, k = p.shape.dims;
  const double tau = p.tau;
  try {
    // Chunks claimed dynamically (each group's entries do not depend on the chunking): a thread slowed by
    // other work on the machine does less of the call instead of holding it up.
    const size_t per_group = static_cast<size_t>(G * G * k);
    const size_t grain = per_group >= (size_t{1} << 16) ? 1 : (size_t{1} << 16) / per_group;
    parallel_for_dynamic(static_cast<size_t>(B), per_group, grain, [&](size_t b0, size_t b1) {
      std::vector<uint8_t> finite(static_cast<size_t>(G));  // per chunk, not per group
      const float nan = std::numeric_limits<float>::quiet_NaN();
      for (int64_t b = static_cast<int64_t>(b0); b < static_cast<int64_t>(b1); ++b) {
        const float* e = embeddings + b * G * 2 * k;
        const float* lam = lambdas ? lambdas + b * k : nullptr;
        float* P = out + b * G * G;
        for (int64_t i = 0; i < G; ++i) {
          bool f = true;
          for (int64_t t = 0; t < 2 * k; ++t) f &= detail::is_finite(e[i * 2 * k + t]);
          finite[static_cast<size_t>(i)] = f ? 1 : 0;
        }
        for (int64_t i = 0; i < G; ++i) {
          const float* ei = e + i * 2 * k;
          for (int64_t j = 0; j < G; ++j) {
            if (!finite[static_cast<size_t>(i)] || !finite[static_cast<size_t>(j)]) {
              P[i * G + j] = nan;  // a non-finite response: NaN in its row and column
              continue;
            }
            const float* ej = e + j * 2 * k;
            double s = 0.0;
            for (int64_t l = 0; l < k; ++l) {
              const double sl = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] -
                                static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
              s += (lam ? static_cast<double>(lam[l]) : 1.0) * sl;
            }
            P[i * G + j] = static_cast<float>(detail::sigmoid(s / tau));
          }
        }
      }
    });
  } catch (const std::exception& e) {
    return Status::Error(std::string("gprl: preference_matrix: ") + e.what());
  }
  return Status::Ok();
}

#ifndef GPRL_WITH_CUDA
Status preference_matrix_cuda(const PreferenceMatrixParams&, const float*, const float*, float*, const CudaLaunch&) {
  return cuda_not_compiled("preference_matrix");
}
#endif

}  // namespace gprl
