// preference_matrix, CUDA path.
// Math: P[b][i][j] = sigmoid(sum_l lambda[b][l] (a_l(i) b_l(j) - b_l(i) a_l(j)) / tau), lambda = 1 when
//   absent; no mask: a response with a non-finite embedding value gets NaN in its row and column
//   (checked explicitly: inf arithmetic alone could give a finite 0 or 1) (docs/kernels.md).
// Shapes: embeddings [B][G][2k], lambdas [B][k] (optional), out [B][G][G].
// Bytes moved: 8BGk + 4Bk read (each embedding row is re-read G times from L1/L2), 4BG^2 written.
// Design: one thread per output element (b, i, j), j fastest, so writes are coalesced; grid-stride
//   loop; the sum over l is float64 in order 0..k-1 as in the C++ path; sigmoid without overflow.
//   Host side as every CUDA entry point (cuda_util.cuh): own stream, pool allocations, async copies.
#include <cuda_runtime.h>

#include "cuda_util.cuh"
#include "group_core.h"
#include "group_scores.h"
#include "preference_matrix.h"

namespace gprl {
namespace {

__device__ __forceinline__ bool pm_finite(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

__device__ __forceinline__ double sigmoid_pm(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

__global__ void preference_matrix_kernel(const float* emb, const float* lambdas, int64_t B, int64_t G, int64_t k,
                                         double tau, float* out) {
  const int64_t total = B * G * G;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = t / (G * G);
    const int64_t r = t - b * G * G;
    const int64_t i = r / G, jj = r - i * G;
    const float* ei = emb + (b * G + i) * 2 * k;
    const float* ej = emb + (b * G + jj) * 2 * k;
    bool finite = true;  // a non-finite response gives NaN in its row and column
    for (int64_t q = 0; q < 2 * k; ++q) finite = finite && pm_finite(ei[q]) && pm_finite(ej[q]);
    if (!finite) {
      out[t] = __int_as_float(0x7fc00000);
      continue;
    }
    double s = 0.0;
    for (int64_t l = 0; l < k; ++l) {
      const double sl = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] - static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
      s += (lambdas ? static_cast<double>(lambdas[b * k + l]) : 1.0) * sl;
    }
    out[t] = static_cast<float>(sigmoid_pm(s / tau));
  }
}

}  // namespace

Status preference_matrix_cuda(const PreferenceMatrixParams& p, const float* embeddings, const float* lambdas,
                              float* out, const CudaLaunch& launch) {
  const char* kernel = "preference_matrix";
  Status st = detail::check_shape(kernel, p.shape);
  if (st.ok) st = check_score_params(kernel, kModeLogit, p.tau);
  if (!st.ok) return st;
  cuda::Call call(kernel, launch);
  GPRL_TRY(call.begin());
  const int64_t B = p.shape.groups, G = p.shape.group_size, k = p.shape.dims;
  cuda::Buffer<uint8_t> d_extra(call);  // test hook: forced allocation
  cuda::Buffer<float> d_emb(call), d_lam(call), d_out(call);
  if (launch.test_alloc_bytes) GPRL_TRY(d_extra.alloc(launch.test_alloc_bytes));
  GPRL_TRY(d_emb.upload(embeddings, static_cast<size_t>(B * G * 2 * k)));
  GPRL_TRY(d_lam.upload(lambdas, static_cast<size_t>(B * k)));
  GPRL_TRY(d_out.output(static_cast<size_t>(B * G * G)));
  int bs = cuda::block_size(launch.block_size, 256);
  GPRL_TRY(cuda::fit_block_size(kernel, preference_matrix_kernel, &bs));
  preference_matrix_kernel<<<cuda::grid_size(B * G * G, bs), bs, 0, call.stream()>>>(d_emb.get(), d_lam.get(), B, G,
                                                                                     k, p.tau, d_out.get());
  GPRL_CUDA_CHECK(kernel, cudaGetLastError());
  GPRL_TRY(d_out.download(out));
  return call.finish();
}

}  // namespace gprl
