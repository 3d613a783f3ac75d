// The per-group CUDA engine behind group_scores, group_advantages and gprl_advantages.
//
// Math (docs/kernels.md): for group b with n = G'_b valid responses (mask and finite inputs),
//   logit:   s_l(i) = n/(n-1) (a_l(i) mean(b_l) - b_l(i) mean(a_l))
//   winrate: s_l(i) = 1/(n-1) sum_{j valid, j != i} sigmoid((a_l(i) b_l(j) - b_l(i) a_l(j)) / tau) - 1/2
//   (n < 2: 0; invalid: NaN), then per dimension mu_l, sigma_l (two-pass, float64), A_hat_l =
//   (s_l - mu_l)/(sigma_l + eps) or 0 when sigma_l <= stdFloor, w_l = m_l lambda_l / sum m lambda and
//   A = sum_l w_l A_hat_l (per-dimension), a group z-score of sum_l w_l s_l (scalar), or a batch z-score
//   of the per-dimension aggregate (gdpo).
// Shapes: embeddings [B][G][2k], scores [B][G][k], dimAdvantages [B][G][k], advantages [B][G],
//   dimMean/dimStd [B][k], lambdas [B][k], dimWeights [k], mask [B][G].
// Bytes moved (fused, per call): reads 8BGk (embeddings) + BG (mask) + 4Bk (lambdas), writes
//   8BGk (scores, dimAdvantages) + 4BG + 8Bk; the scores are re-read from L1/L2 by the same block.
//   gdpo adds 8BG written and read twice (float64 A').
// Design: one thread block per group (grid-stride over groups), block size a multiple of 32
//   (default: G*k rounded up to a warp, clamped to [32, 256]; tests sweep 32..1024; clamped to the
//   kernel's maximum for its register use on the device). Validity: one
//   thread per response. Per-dimension reductions (means, sums of squared deviations): one warp per
//   dimension, lanes stride over the responses, float64 warp shuffles (fixed order, deterministic).
//   Scores and A_hat: one thread per (response, dimension), or per response for the aggregate, which
//   sums over l in order 0..k-1 as the C++ path does. Weights: summed serially by thread 0, same order as
//   the C++ path. Counts: integer atomics. Shared memory per block: 5k + G + 32 doubles + G bytes, plus
//   the group's G*k scores in float64 in the fused path (kept in float64 between the two halves, like
//   the C++ and TypeScript paths). Above 48 KiB the kernel opts in to the larger dynamic shared memory;
//   a group that still does not fit returns an error.
//   The scores / advantage stages are template flags, so group_scores (scores only), group_advantages
//   (scores given) and gprl_advantages (both, fused: ONE launch) share this code. gdpo needs a
//   batch-level statistic: the main kernel stores A' in float64, then a second, single-block reduction
//   kernel computes the batch mean and std (two-pass) and a third elementwise kernel writes A.
//   Host memory in, host memory out: each call allocates device buffers, copies, launches, copies back.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_util.cuh"
#include "group_core.h"

namespace gprl {
namespace detail {
namespace {

struct DeviceJob {
  int64_t B, G, k;
  const uint8_t* mask;
  const float* emb;
  int mode;
  double tau;
  float* scores;
  const float* lambdas;
  const float* dim_weights;
  double eps, std_floor;
  bool unbiased;
  int normalize;
  float* adv;
  float* dim_adv;
  float* dim_mean;
  float* dim_std;
  double* prime;                 // gdpo only: [B][G] A' (NaN for invalid)
  unsigned long long* counters;  // [0] degenerate, [1] masked
};

__device__ __forceinline__ bool finite_f(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

__device__ __forceinline__ double sigmoid_d(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

__device__ __forceinline__ double std_from_ss(double ss, int64_t n, bool unbiased) {
  if (n < 2) return 0.0;
  return sqrt(ss / static_cast<double>(unbiased ? n - 1 : n));
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return __shfl_sync(0xffffffffu, v, 0);
}

/** Block-wide sum (all threads get the result). `red` holds 32 doubles. */
__device__ double block_sum(double v, double* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  double t = lane < nw ? red[lane] : 0.0;
  if (warp == 0) t = warp_sum(t);
  if (threadIdx.x == 0) red[0] = t;
  __syncthreads();
  t = red[0];
  __syncthreads();
  return t;
}

template <bool kScores, bool kAdvantage>
__global__ void group_kernel(DeviceJob j) {
  extern __shared__ double smem[];
  const int64_t G = j.G, k = j.k;
  double* abar = smem;
  double* bbar = abar + k;
  double* mu = bbar + k;
  double* inv = mu + k;
  double* w = inv + k;
  double* agg = w + k;     // G
  double* red = agg + G;   // 32
  double* sdbl = red + 32;  // G*k float64 scores (fused path only)
  uint8_t* valid = reinterpret_cast<uint8_t*>(sdbl + (kScores && kAdvantage ? G * k : 0));  // G
  __shared__ int n_valid;
  __shared__ int n_degenerate;

  const int tid = threadIdx.x, bs = blockDim.x;
  const int lane = tid & 31, warp = tid >> 5, nw = bs >> 5;
  const float nanf_ = __int_as_float(0x7fc00000);

  for (int64_t b = blockIdx.x; b < j.B; b += gridDim.x) {
    const uint8_t* mask = j.mask ? j.mask + b * G : nullptr;
    float* s = j.scores + b * G * k;
    const float* e = kScores ? j.emb + b * G * 2 * k : nullptr;
    if (tid == 0) {
      n_valid = 0;
      n_degenerate = 0;
    }
    __syncthreads();

    // 1. Validity.
    int local = 0;
    for (int64_t i = tid; i < G; i += bs) {
      bool ok = mask == nullptr || mask[i] != 0;
      if (kScores) {
        const float* ei = e + i * 2 * k;
        for (int64_t t = 0; t < 2 * k; ++t) ok = ok && finite_f(ei[t]);
      } else {
        const float* si = s + i * k;
        for (int64_t t = 0; t < k; ++t) ok = ok && finite_f(si[t]);
      }
      valid[i] = ok ? 1 : 0;
      local += ok ? 1 : 0;
    }
    if (local) atomicAdd(&n_valid, local);
    __syncthreads();
    const int64_t n = n_valid;

    // 2. Scores.
    if (kScores) {
      if (n >= 2 && j.mode == 0) {
        for (int64_t l = warp; l < k; l += nw) {
          double sa = 0.0, sb = 0.0;
          for (int64_t i = lane; i < G; i += 32) {
            if (valid[i]) {
              sa += e[i * 2 * k + 2 * l];
              sb += e[i * 2 * k + 2 * l + 1];
            }
          }
          sa = warp_sum(sa);
          sb = warp_sum(sb);
          if (lane == 0) {
            abar[l] = sa / static_cast<double>(n);
            bbar[l] = sb / static_cast<double>(n);
          }
        }
        __syncthreads();
      }
      const double c = n >= 2 ? static_cast<double>(n) / static_cast<double>(n - 1) : 0.0;
      for (int64_t t = tid; t < G * k; t += bs) {
        const int64_t i = t / k, l = t - i * k;
        double out;
        if (!valid[i]) {
          out = nanf_;
        } else if (n < 2) {
          out = 0.0;
        } else if (j.mode == 0) {
          const double a = e[i * 2 * k + 2 * l], bb = e[i * 2 * k + 2 * l + 1];
          out = c * (a * bbar[l] - bb * abar[l]);
        } else {
          const double ai = e[i * 2 * k + 2 * l], bi = e[i * 2 * k + 2 * l + 1];
          double acc = 0.0;
          for (int64_t jj = 0; jj < G; ++jj) {
            if (jj == i || !valid[jj]) continue;
            const double sij = ai * static_cast<double>(e[jj * 2 * k + 2 * l + 1]) -
                               bi * static_cast<double>(e[jj * 2 * k + 2 * l]);
            acc += sigmoid_d(sij / j.tau);
          }
          out = acc / static_cast<double>(n - 1) - 0.5;
        }
        s[t] = static_cast<float>(out);
        if (kAdvantage) sdbl[t] = out;
      }
      __syncthreads();  // scores visible to the whole block
    }
    // Scores for the statistics: float64 in the fused path, the float32 input otherwise.
    const auto S = [&](int64_t t) -> double { return kScores ? sdbl[t] : static_cast<double>(s[t]); };

    if (kAdvantage) {
      // 3. Per-dimension mean and std over the stored float32 scores (two-pass, one warp per dim).
      for (int64_t l = warp; l < k; l += nw) {
        double sm = 0.0;
        for (int64_t i = lane; i < G; i += 32) sm += valid[i] ? S(i * k + l) : 0.0;
        sm = warp_sum(sm);
        const double m = n > 0 ? sm / static_cast<double>(n) : 0.0;
        double sq = 0.0;
        for (int64_t i = lane; i < G; i += 32) {
          if (valid[i]) {
            const double d = S(i * k + l) - m;
            sq += d * d;
          }
        }
        sq = warp_sum(sq);
        if (lane == 0) {
          const double sd = std_from_ss(sq, n, j.unbiased);
          mu[l] = m;
          j.dim_mean[b * k + l] = static_cast<float>(m);
          j.dim_std[b * k + l] = static_cast<float>(sd);
          const bool degenerate = n >= 1 && sd <= j.std_floor;
          inv[l] = degenerate ? 0.0 : 1.0 / (sd + j.eps);
          if (degenerate && j.normalize != 1) atomicAdd(&n_degenerate, 1);
        }
      }
      // 4. Weights (serial sum, same order as the C++ path).
      if (tid == 0) {
        double wsum = 0.0;
        for (int64_t l = 0; l < k; ++l) {
          const double m = j.dim_weights ? static_cast<double>(j.dim_weights[l]) : 1.0;
          const double lam = j.lambdas ? static_cast<double>(j.lambdas[b * k + l]) : 1.0;
          w[l] = m * lam;
          wsum += w[l];
        }
        for (int64_t l = 0; l < k; ++l) w[l] /= wsum;
      }
      __syncthreads();

      // 5. A_hat and the per-response aggregate.
      const bool scalar = j.normalize == 1;
      float* da = j.dim_adv + b * G * k;
      for (int64_t t = tid; t < G * k; t += bs) {
        const int64_t i = t / k, l = t - i * k;
        da[t] = valid[i] ? static_cast<float>((S(t) - mu[l]) * inv[l]) : 0.0f;
      }
      for (int64_t i = tid; i < G; i += bs) {
        double acc = 0.0;
        if (valid[i]) {
          for (int64_t l = 0; l < k; ++l) {
            const double sv = S(i * k + l);
            acc += scalar ? w[l] * sv : w[l] * ((sv - mu[l]) * inv[l]);
          }
        }
        agg[i] = acc;
      }
      __syncthreads();

      float* adv = j.adv + b * G;
      if (j.normalize == 0) {
        for (int64_t i = tid; i < G; i += bs) adv[i] = valid[i] ? static_cast<float>(agg[i]) : 0.0f;
      } else if (scalar) {
        double part = 0.0;
        for (int64_t i = tid; i < G; i += bs) part += valid[i] ? agg[i] : 0.0;
        const double total = block_sum(part, red);  // every thread calls it (n is block-uniform)
        const double m = n > 0 ? total / static_cast<double>(n) : 0.0;
        double sq = 0.0;
        for (int64_t i = tid; i < G; i += bs) {
          if (valid[i]) {
            const double d = agg[i] - m;
            sq += d * d;
          }
        }
        const double sd = std_from_ss(block_sum(sq, red), n, j.unbiased);
        const bool degenerate = n >= 1 && sd <= j.std_floor;
        const double r = degenerate ? 0.0 : 1.0 / (sd + j.eps);
        for (int64_t i = tid; i < G; i += bs) adv[i] = valid[i] ? static_cast<float>((agg[i] - m) * r) : 0.0f;
        if (tid == 0 && degenerate) atomicAdd(&n_degenerate, 1);
      } else {
        for (int64_t i = tid; i < G; i += bs) j.prime[b * G + i] = valid[i] ? agg[i] : nan("");
      }
    }
    __syncthreads();
    if (tid == 0) {
      if (kAdvantage && n_degenerate) atomicAdd(&j.counters[0], static_cast<unsigned long long>(n_degenerate));
      if (G - n) atomicAdd(&j.counters[1], static_cast<unsigned long long>(G - n));
    }
  }
}

/** gdpo pass 2 (one block): batch mean and std of A' over valid responses, two-pass, float64. */
__global__ void gdpo_stats_kernel(const double* prime, int64_t total, bool unbiased, double eps, double std_floor,
                                  double* stats, unsigned long long* counters) {
  __shared__ double red[32];
  double sum = 0.0, cnt = 0.0;
  for (int64_t t = threadIdx.x; t < total; t += blockDim.x) {
    const double p = prime[t];
    if (!isnan(p)) {
      sum += p;
      cnt += 1.0;
    }
  }
  sum = block_sum(sum, red);
  const int64_t n = static_cast<int64_t>(block_sum(cnt, red));
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0.0;
  for (int64_t t = threadIdx.x; t < total; t += blockDim.x) {
    const double p = prime[t];
    if (!isnan(p)) sq += (p - mean) * (p - mean);
  }
  sq = block_sum(sq, red);
  if (threadIdx.x == 0) {
    const double sd = std_from_ss(sq, n, unbiased);
    const bool degenerate = n >= 1 && sd <= std_floor;
    stats[0] = mean;
    stats[1] = degenerate ? 0.0 : 1.0 / (sd + eps);
    if (degenerate) atomicAdd(&counters[0], 1ULL);
  }
}

/** gdpo pass 3 (elementwise): A = (A' - mean) / (std + eps), 0 for invalid responses. */
__global__ void gdpo_apply_kernel(const double* prime, int64_t total, const double* stats, float* adv) {
  const double mean = stats[0], r = stats[1];
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double p = prime[t];
    adv[t] = isnan(p) ? 0.0f : static_cast<float>((p - mean) * r);
  }
}

}  // namespace

Status run_groups_cuda(const char* kernel, const GroupJob& job, AdvantageCounts* counts, const CudaLaunch& launch) {
  Status st = cuda::require_device(kernel);
  if (!st.ok) return st;
  const int64_t B = job.shape.groups, G = job.shape.group_size, k = job.shape.dims;
  const size_t BG = static_cast<size_t>(B * G), BGk = BG * static_cast<size_t>(k);
  const bool scores_stage = job.embeddings != nullptr;
  const bool gdpo = job.advantage && job.options.normalize == kNormalizeGdpo;

  int bs = cuda::block_size(launch.block_size, static_cast<int>(G * k < 256 ? G * k : 256));
  const size_t fused_scores = scores_stage && job.advantage ? static_cast<size_t>(G * k) : 0;
  const size_t smem = (static_cast<size_t>(5 * k + G + 32) + fused_scores) * sizeof(double) + static_cast<size_t>(G);

  cuda::Buffer<float> d_emb, d_scores, d_lambdas, d_weights, d_adv, d_da, d_mean, d_std;
  cuda::Buffer<uint8_t> d_mask;
  cuda::Buffer<double> d_prime, d_stats;
  cuda::Buffer<unsigned long long> d_counters;
#define GPRL_TRY(expr)     \
  do {                     \
    Status s_ = (expr);    \
    if (!s_.ok) return s_; \
  } while (0)
  if (scores_stage) {
    GPRL_TRY(d_emb.upload(kernel, job.embeddings, BGk * 2));
    GPRL_TRY(d_scores.alloc(kernel, BGk));
  } else {
    GPRL_TRY(d_scores.upload(kernel, job.scores, BGk));
  }
  GPRL_TRY(d_mask.upload(kernel, job.mask, BG));
  GPRL_TRY(d_counters.alloc(kernel, 2));
  GPRL_CUDA_CHECK(kernel, cudaMemset(d_counters.get(), 0, 2 * sizeof(unsigned long long)));
  if (job.advantage) {
    GPRL_TRY(d_lambdas.upload(kernel, job.lambdas, static_cast<size_t>(B * k)));
    GPRL_TRY(d_weights.upload(kernel, job.dim_weights, static_cast<size_t>(k)));
    GPRL_TRY(d_adv.alloc(kernel, BG));
    GPRL_TRY(d_da.alloc(kernel, BGk));
    GPRL_TRY(d_mean.alloc(kernel, static_cast<size_t>(B * k)));
    GPRL_TRY(d_std.alloc(kernel, static_cast<size_t>(B * k)));
    if (gdpo) {
      GPRL_TRY(d_prime.alloc(kernel, BG));
      GPRL_TRY(d_stats.alloc(kernel, 2));
    }
  }

  DeviceJob dj{B, G, k, d_mask.get(), d_emb.get(), job.mode, job.tau, d_scores.get(), d_lambdas.get(),
               d_weights.get(), job.options.eps, job.options.std_floor, job.options.unbiased, job.options.normalize,
               d_adv.get(), d_da.get(), d_mean.get(), d_std.get(), d_prime.get(), d_counters.get()};
  const unsigned grid = cuda::grid_size(B, 1);
  void (*fn)(DeviceJob) = scores_stage && job.advantage ? group_kernel<true, true>
                          : scores_stage                ? group_kernel<true, false>
                                                        : group_kernel<false, true>;
  GPRL_TRY(cuda::fit_block_size(kernel, fn, &bs));
  if (smem > 48 * 1024) {
    // Above the default limit, opt in to the device's larger dynamic shared memory (fails cleanly if absent).
    const cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(std::string("gprl: ") + kernel + ": group too large for the CUDA path (needs " +
                           std::to_string(smem) + " bytes of shared memory per group): " + cudaGetErrorString(e));
    }
  }
  fn<<<grid, bs, smem>>>(dj);
  GPRL_CUDA_CHECK(kernel, cudaGetLastError());
  if (gdpo) {
    gdpo_stats_kernel<<<1, 1024>>>(d_prime.get(), static_cast<int64_t>(BG), job.options.unbiased, job.options.eps,
                                   job.options.std_floor, d_stats.get(), d_counters.get());
    GPRL_CUDA_CHECK(kernel, cudaGetLastError());
    gdpo_apply_kernel<<<cuda::grid_size(static_cast<long long>(BG), 256), 256>>>(d_prime.get(),
                                                                                  static_cast<int64_t>(BG),
                                                                                  d_stats.get(), d_adv.get());
    GPRL_CUDA_CHECK(kernel, cudaGetLastError());
  }
  GPRL_CUDA_CHECK(kernel, cudaDeviceSynchronize());

  if (scores_stage) GPRL_TRY(d_scores.download(kernel, job.scores));
  if (job.advantage) {
    GPRL_TRY(d_adv.download(kernel, job.out.advantages));
    GPRL_TRY(d_da.download(kernel, job.out.dim_advantages));
    GPRL_TRY(d_mean.download(kernel, job.out.dim_mean));
    GPRL_TRY(d_std.download(kernel, job.out.dim_std));
  }
  unsigned long long c[2] = {0, 0};
  GPRL_CUDA_CHECK(kernel, cudaMemcpy(c, d_counters.get(), sizeof c, cudaMemcpyDeviceToHost));
  if (counts && job.advantage) {
    counts->degenerate = static_cast<int64_t>(c[0]);
    counts->masked = static_cast<int64_t>(c[1]);
  }
#undef GPRL_TRY
  return Status::Ok();
}

}  // namespace detail
}  // namespace gprl
