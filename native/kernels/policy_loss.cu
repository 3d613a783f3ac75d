// policy_loss, CUDA path.
//
// Math (per valid token of sequence n, A = advantages[n], docs/policy-loss.md):
//   x = ρ = exp(logp − logp_old) (token level), or x = exp(mean over the sequence's valid tokens of
//   logp − logp_old) (sequence level, GSPO; the same x for every token of the sequence)
//   s = −min(xA, clip(x, 1−ε_low, 1+ε_high)·A); for A < 0 with a dual clip c > 1: s = min(s, −cA)
//   (CISPO: s = −sg(min(x, ε_high))·A·logp; SAPO: s = −A·σ(τ(x−1))·4/τ); s is 0 where the policy mask is 0
//   KL (δ = logp_ref − logp): k1 = −δ, k2 = ½δ², k3 = e^δ − δ − 1;  ℓ = s + β·KL
//   loss = Σ w_n ℓ,  w_n = 1/#valid (token-mean), 1/(S·#valid_n) (sequence-mean, S = sequences with a
//   valid token), 1/(N·max_length) (constant);  grad = w_n · ∂ℓ/∂logp (0 where clipped / excluded).
// A token is valid when mask ≠ 0 and logp, logp_old, (logp_ref) and A are finite; excluded tokens with
// mask ≠ 0 are counted in non_finite.
//
// Shapes: logp, logp_old, logp_ref [N][T] float32; advantages [N] float32; mask [N][T] uint8;
// grad [N][T] float32 (output).
// Bytes moved on the device: 13 (or 9 without logp_ref) read + 4 written per token in launch 1, then
// 4 read + 4 written per token in launch 3: 25 bytes/token with a reference. Host↔device copies of the
// inputs (13 bytes/token) and the gradient (4 bytes/token) dominate for one call over PCIe.
//
// Design (host side as every CUDA entry point, cuda_util.cuh: the call's own stream, stream-ordered
// pool allocations, asynchronous copies, one synchronization, errors cleared on every path):
//   0. (sequence level only) policy_seq_kernel, one block per sequence: the float64 sum of the log-ratio
//      over its valid tokens, their count c and the count m of those whose policy term counts; x = e^{sum/c}
//      and the gradient share m/c per sequence (the block sum's order differs from the C++ path's token
//      order: x agrees to ~1e-15 relative).
//   1. policy_rows_kernel, grid (chunks, min(N, 65535)), one block per (sequence, chunk of T): each
//      thread evaluates its tokens with policy_token (policy_loss.h: the same float64 function as the
//      C++ path, so clip decisions agree exactly), stores the unscaled ∂ℓ/∂logp as float32 in grad and
//      accumulates float64 sums and int64 counts; a warp-shuffle + shared-memory block reduction writes
//      one partial per (sequence, chunk). No atomics: the result is deterministic for a given block size.
//   2. policy_finalize_kernel, one block: combines the partials of each sequence in chunk order, then the
//      sequences (block reduction, fixed order), computes the loss, the metrics and the per-sequence
//      weights w_n. The normalizer depends on every sequence (#valid, S), so it cannot be known during
//      launch 1; this tiny launch is what makes the scaling exact.
//   3. policy_scale_kernel, same grid as 1: grad *= w_n in float64, rounded to float32 (the same two
//      roundings as the C++ and TypeScript paths).
// All per-token math and all reductions are float64: exact agreement with the C++ path up to summation
// order (~1e-15 relative). On GPUs with slow float64 (consumer parts, 1/64 rate) the two exp per token
// are the cost; the kernel stays memory-bound on data-center parts (sm_80/sm_90).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_util.cuh"
#include "policy_loss.h"

namespace gprl {
namespace {

using detail::PolicyRowStats;

constexpr int kTokensPerThread = 8;
constexpr int kMaxGridY = 65535;
constexpr int kFinalizeThreads = 256;

struct PolicyDeviceArgs {
  const float* logp;
  const float* logp_old;
  const float* logp_ref;  // or nullptr
  const float* adv;
  const uint8_t* mask;
  const uint8_t* policy_mask;  // or nullptr
  const double* x_seq;         // [N] sequence ratios (sequence level), else nullptr
  const double* gw_seq;        // [N] gradient shares m/c (sequence level), else nullptr
  float* grad;
  int64_t N, T, chunk_len, chunks;
  detail::TokenConfig cfg;
};

__device__ __forceinline__ void add_stats(PolicyRowStats& a, const PolicyRowStats& b) {
  a.loss += b.loss;
  a.ratio += b.ratio;
  a.kl += b.kl;
  a.count += b.count;
  a.clip_low += b.clip_low;
  a.clip_high += b.clip_high;
  a.dual += b.dual;
  a.non_finite += b.non_finite;
}

__device__ __forceinline__ PolicyRowStats shfl_down_stats(const PolicyRowStats& s, int off) {
  PolicyRowStats r;
  r.loss = __shfl_down_sync(0xffffffffu, s.loss, off);
  r.ratio = __shfl_down_sync(0xffffffffu, s.ratio, off);
  r.kl = __shfl_down_sync(0xffffffffu, s.kl, off);
  r.count = __shfl_down_sync(0xffffffffu, static_cast<long long>(s.count), off);
  r.clip_low = __shfl_down_sync(0xffffffffu, static_cast<long long>(s.clip_low), off);
  r.clip_high = __shfl_down_sync(0xffffffffu, static_cast<long long>(s.clip_high), off);
  r.dual = __shfl_down_sync(0xffffffffu, static_cast<long long>(s.dual), off);
  r.non_finite = __shfl_down_sync(0xffffffffu, static_cast<long long>(s.non_finite), off);
  return r;
}

/** Block-wide sum of the stats; the result is valid in thread 0. `red` holds 32 entries. */
__device__ PolicyRowStats block_reduce(PolicyRowStats s, PolicyRowStats* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  for (int off = 16; off > 0; off >>= 1) add_stats(s, shfl_down_stats(s, off));
  __syncthreads();  // `red` may still be read by a previous reduction
  if (lane == 0) red[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < nw ? red[lane] : PolicyRowStats{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
    for (int off = 16; off > 0; off >>= 1) add_stats(s, shfl_down_stats(s, off));
  }
  return s;
}

/** Sequence level: per sequence, x = e^{mean log-ratio over its valid tokens} and the gradient share m/c. */
__global__ void __launch_bounds__(1024) policy_seq_kernel(PolicyDeviceArgs a, double* x_seq, double* gw_seq) {
  __shared__ PolicyRowStats red[32];
  const bool has_ref = a.logp_ref != nullptr;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    // Reuses the stats reduction: loss = Σ log-ratio, count = c, clip_low = m.
    PolicyRowStats s{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
    const bool adv_ok = detail::finite_value(a.adv[n]);
    for (int64_t t = threadIdx.x; t < a.T; t += blockDim.x) {
      const int64_t i = n * a.T + t;
      if (a.mask[i] == 0 || !adv_ok) continue;
      const float lp = a.logp[i], lq = a.logp_old[i];
      if (!detail::finite_value(lp) || !detail::finite_value(lq) || (has_ref && !detail::finite_value(a.logp_ref[i]))) continue;
      s.loss += static_cast<double>(lp) - static_cast<double>(lq);
      ++s.count;
      s.clip_low += (a.policy_mask == nullptr || a.policy_mask[i] != 0) ? 1 : 0;
    }
    s = block_reduce(s, red);
    if (threadIdx.x == 0) {
      const double c = static_cast<double>(s.count);
      x_seq[n] = s.count > 0 ? exp(s.loss / c) : 1.0;
      gw_seq[n] = s.count > 0 ? static_cast<double>(s.clip_low) / c : 0.0;
    }
  }
}

// Any block size up to 1024 must launch: keep registers <= 64 per thread.
__global__ void __launch_bounds__(1024) policy_rows_kernel(PolicyDeviceArgs a, PolicyRowStats* partials) {
  __shared__ PolicyRowStats red[32];
  const bool has_ref = a.logp_ref != nullptr;
  const int64_t c = blockIdx.x;
  const int64_t t0 = c * a.chunk_len;
  const int64_t t1 = t0 + a.chunk_len < a.T ? t0 + a.chunk_len : a.T;
  for (int64_t n = blockIdx.y; n < a.N; n += gridDim.y) {
    PolicyRowStats s{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
    const float adv = a.adv[n];
    const bool adv_ok = detail::finite_value(adv);
    const bool seq = a.x_seq != nullptr;
    const double xs = seq ? a.x_seq[n] : 1.0, gws = seq ? a.gw_seq[n] : 0.0;
    for (int64_t t = t0 + threadIdx.x; t < t1; t += blockDim.x) {
      const int64_t i = n * a.T + t;
      float g = 0.0f;
      if (a.mask[i] != 0) {
        const float lp = a.logp[i], lq = a.logp_old[i];
        const float lr = has_ref ? a.logp_ref[i] : 0.0f;
        if (!adv_ok || !detail::finite_value(lp) || !detail::finite_value(lq) || !detail::finite_value(lr)) {
          ++s.non_finite;
        } else {
          const double pw = (a.policy_mask == nullptr || a.policy_mask[i] != 0) ? 1.0 : 0.0;
          const double x = seq ? xs : exp(static_cast<double>(lp) - static_cast<double>(lq));
          const detail::TokenTerms tt = detail::policy_token(lp, lr, has_ref, adv, x, pw, seq ? gws : pw, a.cfg);
          s.loss += tt.loss;
          s.ratio += tt.ratio;
          s.kl += tt.kl;
          ++s.count;
          s.clip_low += (tt.flags & detail::kTokClipLow) ? 1 : 0;
          s.clip_high += (tt.flags & detail::kTokClipHigh) ? 1 : 0;
          s.dual += (tt.flags & detail::kTokDual) ? 1 : 0;
          g = static_cast<float>(tt.dloss);
        }
      }
      a.grad[i] = g;
    }
    s = block_reduce(s, red);
    if (threadIdx.x == 0) partials[n * a.chunks + c] = s;
  }
}

/** Totals over sequences, plus the two sequence-mean quantities. */
struct Totals {
  PolicyRowStats s;
  double seq_mean_sum;
  long long non_empty;
};

__global__ void __launch_bounds__(kFinalizeThreads) policy_finalize_kernel(const PolicyRowStats* partials, int64_t N, int64_t chunks, int aggregation,
                                       double max_length, double token_count, double sequence_count, bool has_ref,
                                       int64_t* row_count, double* w, PolicyLossResult* result) {
  __shared__ PolicyRowStats red[32];
  __shared__ double sh_seq[32];
  __shared__ long long sh_ne[32];
  __shared__ double denom;  // token-mean: V; sequence-mean: S; constant: N·L
  PolicyRowStats tot{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
  double seq_mean_sum = 0.0;
  long long non_empty = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    PolicyRowStats r{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
    for (int64_t c = 0; c < chunks; ++c) add_stats(r, partials[n * chunks + c]);
    row_count[n] = r.count;
    if (r.count > 0) {
      ++non_empty;
      seq_mean_sum += r.loss / static_cast<double>(r.count);
    }
    add_stats(tot, r);
  }
  tot = block_reduce(tot, red);
  // The two extra sums, reduced the same way (fixed order).
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  for (int off = 16; off > 0; off >>= 1) {
    seq_mean_sum += __shfl_down_sync(0xffffffffu, seq_mean_sum, off);
    non_empty += __shfl_down_sync(0xffffffffu, non_empty, off);
  }
  if (lane == 0) {
    sh_seq[warp] = seq_mean_sum;
    sh_ne[warp] = non_empty;
  }
  __syncthreads();
  if (warp == 0) {
    seq_mean_sum = lane < nw ? sh_seq[lane] : 0.0;
    non_empty = lane < nw ? sh_ne[lane] : 0;
    for (int off = 16; off > 0; off >>= 1) {
      seq_mean_sum += __shfl_down_sync(0xffffffffu, seq_mean_sum, off);
      non_empty += __shfl_down_sync(0xffffffffu, non_empty, off);
    }
  }
  if (threadIdx.x == 0) {
    PolicyLossResult res;
    res.valid_tokens = tot.count;
    res.non_finite = tot.non_finite;
    const double V = static_cast<double>(tot.count);
    double d = 0.0;
    if (tot.count > 0) {
      if (aggregation == kAggTokenMean) {
        d = token_count > 0.0 ? token_count : V;
        res.loss = tot.loss / d;
      } else if (aggregation == kAggSequenceMean) {
        d = sequence_count > 0.0 ? sequence_count : static_cast<double>(non_empty);
        res.loss = seq_mean_sum / d;
      } else {
        d = static_cast<double>(N) * max_length;
        res.loss = tot.loss / d;
      }
      res.clip_frac_low = static_cast<double>(tot.clip_low) / V;
      res.clip_frac_high = static_cast<double>(tot.clip_high) / V;
      res.dual_clip_frac = static_cast<double>(tot.dual) / V;
      res.mean_ratio = tot.ratio / V;
      res.mean_kl = has_ref ? tot.kl / V : 0.0;
    }
    *result = res;
    denom = d;
  }
  __syncthreads();
  const double dn = denom;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    const int64_t c = row_count[n];
    // Same expressions as the C++ path, so the weights are bitwise equal.
    w[n] = c == 0 ? 0.0 : aggregation == kAggSequenceMean ? 1.0 / (dn * static_cast<double>(c)) : 1.0 / dn;
  }
}

__global__ void __launch_bounds__(1024) policy_scale_kernel(float* grad, const double* w, int64_t N, int64_t T, int64_t chunk_len) {
  const int64_t t0 = static_cast<int64_t>(blockIdx.x) * chunk_len;
  const int64_t t1 = t0 + chunk_len < T ? t0 + chunk_len : T;
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const double wn = w[n];
    if (wn == 0.0) continue;  // excluded sequence: grad already 0
    for (int64_t t = t0 + threadIdx.x; t < t1; t += blockDim.x) {
      const int64_t i = n * T + t;
      grad[i] = static_cast<float>(static_cast<double>(grad[i]) * wn);
    }
  }
}

}  // namespace

Status policy_loss_cuda(const PolicyLossParams& p, const PolicyLossInputs& in, float* grad, PolicyLossResult* out,
                        const CudaLaunch& launch) {
  const char* K = "policy_loss";
  Status st = check_policy_loss(p, in);
  if (!st.ok) return st;
  if (!grad || !out) return Status::Error("gprl: policy_loss: grad and the result are required");
  cuda::Call call(K, launch);
  GPRL_TRY(call.begin());
  const int64_t N = p.sequences, T = p.tokens;
  const auto NT = static_cast<std::size_t>(N * T);
  const int block = cuda::block_size(launch.block_size, 256);
  const int64_t chunk_len = static_cast<int64_t>(block) * kTokensPerThread;
  const int64_t chunks = (T + chunk_len - 1) / chunk_len;
  if (chunks > 0x7fffffff) return Status::Error("gprl: policy_loss: tokens is too large for one launch");
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(N < kMaxGridY ? N : kMaxGridY));

  cuda::Buffer<uint8_t> d_extra(call);  // test hook: forced allocation
  cuda::Buffer<float> d_logp(call), d_old(call), d_ref(call), d_adv(call), d_grad(call);
  cuda::Buffer<uint8_t> d_mask(call), d_pmask(call);
  cuda::Buffer<double> d_xseq(call), d_gwseq(call);
  cuda::Buffer<PolicyRowStats> d_part(call);
  cuda::Buffer<int64_t> d_count(call);
  cuda::Buffer<double> d_w(call);
  cuda::Buffer<PolicyLossResult> d_res(call);
  if (launch.test_alloc_bytes) GPRL_TRY(d_extra.alloc(launch.test_alloc_bytes));
  GPRL_TRY(d_logp.upload(in.logp, NT));
  GPRL_TRY(d_old.upload(in.logp_old, NT));
  GPRL_TRY(d_ref.upload(in.logp_ref, NT));  // no-op without a reference
  GPRL_TRY(d_adv.upload(in.advantages, static_cast<std::size_t>(N)));
  GPRL_TRY(d_mask.upload(in.mask, NT));
  GPRL_TRY(d_pmask.upload(in.policy_mask, NT));  // no-op without a policy mask
  const bool seq = p.importance_sampling == kIsSequence;
  if (seq) {
    GPRL_TRY(d_xseq.alloc(static_cast<std::size_t>(N)));
    GPRL_TRY(d_gwseq.alloc(static_cast<std::size_t>(N)));
  }
  GPRL_TRY(d_grad.output(NT));
  GPRL_TRY(d_part.alloc(static_cast<std::size_t>(N * chunks)));
  GPRL_TRY(d_count.alloc(static_cast<std::size_t>(N)));
  GPRL_TRY(d_w.alloc(static_cast<std::size_t>(N)));
  GPRL_TRY(d_res.alloc(1));

  PolicyDeviceArgs a{};
  a.logp = d_logp.get();
  a.logp_old = d_old.get();
  a.logp_ref = in.logp_ref ? d_ref.get() : nullptr;
  a.adv = d_adv.get();
  a.mask = d_mask.get();
  a.policy_mask = in.policy_mask ? d_pmask.get() : nullptr;
  a.x_seq = seq ? d_xseq.get() : nullptr;
  a.gw_seq = seq ? d_gwseq.get() : nullptr;
  a.grad = d_grad.get();
  a.N = N;
  a.T = T;
  a.chunk_len = chunk_len;
  a.chunks = chunks;
  a.cfg = detail::token_config(p);
  if (seq) {
    policy_seq_kernel<<<static_cast<unsigned>(N < kMaxGridY ? N : kMaxGridY), block, 0, call.stream()>>>(a, d_xseq.get(),
                                                                                                      d_gwseq.get());
    GPRL_CUDA_CHECK(K, cudaGetLastError());
  }
  policy_rows_kernel<<<grid, block, 0, call.stream()>>>(a, d_part.get());
  GPRL_CUDA_CHECK(K, cudaGetLastError());
  const double L = static_cast<double>(p.max_length > 0 ? p.max_length : T);
  policy_finalize_kernel<<<1, kFinalizeThreads, 0, call.stream()>>>(d_part.get(), N, chunks, p.aggregation, L,
                                                                    p.token_count, p.sequence_count,
                                                                    in.logp_ref != nullptr, d_count.get(), d_w.get(),
                                                                    d_res.get());
  GPRL_CUDA_CHECK(K, cudaGetLastError());
  policy_scale_kernel<<<grid, block, 0, call.stream()>>>(d_grad.get(), d_w.get(), N, T, chunk_len);
  GPRL_CUDA_CHECK(K, cudaGetLastError());
  GPRL_TRY(d_grad.download(grad));
  GPRL_CUDA_CHECK(K, cudaMemcpyAsync(out, d_res.get(), sizeof(PolicyLossResult), cudaMemcpyDeviceToHost, call.stream()));
  return call.finish();
}

}  // namespace gprl
