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
//   8BGk (scores, dimAdvantages) + 4BG + 8Bk; the scores are re-read from the block's workspace.
//   gdpo adds 8BG written and read three times (float64 A'). An output the caller did not request
//   (null pointer) is neither written on the device nor copied back.
// Design: one team per group (grid-stride over groups). A team is one warp for small groups
//   (G <= 64 and G*k <= 2048: blockDim/32 groups per block, warp-synchronous, __syncwarp and shuffle
//   reductions only, no block barrier) or the whole block otherwise. Block size a multiple of 32
//   (default: 256 with warp teams, else G*k rounded up to a warp, clamped to [32, 256]; tests sweep
//   32..1024 and both team kinds; clamped to the kernel's maximum for its register use on the
//   device). Validity: one thread per response. Per-dimension reductions (means, sums of squared
//   deviations): one warp per dimension, lanes stride over the responses, float64 warp shuffles
//   (fixed order, deterministic for a block size and team kind).
//   Scores and A_hat: one thread per (response, dimension), or per response for the aggregate, which
//   sums over l in order 0..k-1 as the C++ path does. Weights: summed serially by thread 0, same order
//   as the C++ path. Counts: integer atomics.
//   Workspace per team: 5k + G doubles, plus the group's G*k scores in float64 in the fused path
//   (kept in float64 between the two halves, like the C++ and TypeScript paths), plus G validity
//   bytes. It lives in dynamic shared memory when it fits the device's opt-in maximum (above 48 KiB
//   the kernel is opted in once per device, cuda_util.cuh), otherwise in global memory (L2-resident
//   for typical sizes), one slice per team, with the grid capped so that the slices stay within
//   kGlobalWorkspaceBytes: no group-size limit.
//   The scores / advantage stages are template flags, so group_scores (scores only), group_advantages
//   (scores given) and gprl_advantages (both, fused: ONE launch) share this code. gdpo needs a
//   batch-level statistic: the main kernel stores A' in float64, then the batch mean and the sum of
//   squared deviations are each reduced across many blocks (per-block partials, then one small block
//   combines them in a fixed order), and an elementwise kernel writes A.
//   Host memory in, host memory out: per call, stream-ordered pool allocations on the call's own
//   stream, asynchronous copies, one stream synchronization (cuda_util.cuh).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_info.h"
#include "cuda_util.cuh"
#include "group_core.h"

namespace gprl {
namespace detail {
namespace {

/** Global-memory workspace budget when a group's workspace does not fit in shared memory. */
constexpr std::size_t kGlobalWorkspaceBytes = std::size_t{256} << 20;
constexpr int kStatThreads = 256;

struct DeviceJob {
  int64_t B, G, k;
  const uint8_t* mask;
  const float* emb;
  int mode;
  double tau;
  float* scores;  // output of the scores stage (may be null in the fused path), or the input scores
  const float* lambdas;
  const float* dim_weights;
  double eps, std_floor;
  bool unbiased;
  int normalize;
  float* adv;       // null: not requested
  float* dim_adv;   // null: not requested
  float* dim_mean;  // null: not requested
  float* dim_std;   // null: not requested
  double* prime;                 // gdpo only: [B][G] A' (NaN for invalid)
  unsigned long long* counters;  // [0] degenerate, [1] masked
  double* scratch;               // global workspace, ws_stride doubles per block; null: shared memory
  int64_t ws_stride;
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
  __syncthreads();  // `red` may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  double t = lane < nw ? red[lane] : 0.0;
  __syncthreads();  // every thread has read red[] before thread 0 overwrites red[0]
  if (warp == 0) t = warp_sum(t);
  if (threadIdx.x == 0) red[0] = t;
  __syncthreads();
  t = red[0];
  __syncthreads();
  return t;
}

/** Doubles of one block's workspace (layout in group_kernel). */
__host__ __device__ __forceinline__ int64_t workspace_doubles(int64_t G, int64_t k, bool fused) {
  return 5 * k + G + (fused ? G * k : 0) + (G + 7) / 8;
}

/** Synchronizes the threads that share a group: its warp (kWarp) or the whole block. */
template <bool kWarp>
__device__ __forceinline__ void team_sync() {
  if (kWarp) {
    __syncwarp();
  } else {
    __syncthreads();
  }
}

/**
 * One group per team: the whole block (kWarp = false) or one warp (kWarp = true, blockDim/32 groups
 * per block, warp-synchronous: no block barrier, reductions by shuffles only).
 */
template <bool kScores, bool kAdvantage, bool kWarp>
__global__ void group_kernel(DeviceJob j) {
  extern __shared__ double smem[];
  __shared__ double red[32];
  __shared__ int n_valid_s[32];
  __shared__ int n_degenerate_s[32];
  constexpr bool kFused = kScores && kAdvantage;
  const int64_t G = j.G, k = j.k;
  const int team = kWarp ? static_cast<int>(threadIdx.x >> 5) : 0;
  const int teams = kWarp ? static_cast<int>(blockDim.x >> 5) : 1;
  int& n_valid = n_valid_s[team];
  int& n_degenerate = n_degenerate_s[team];
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * teams + team;
  double* ws = (j.scratch ? j.scratch + slot * j.ws_stride : smem + team * j.ws_stride);
  double* abar = ws;
  double* bbar = abar + k;
  double* mu = bbar + k;
  double* inv = mu + k;
  double* w = inv + k;
  double* agg = w + k;     // G
  double* sdbl = agg + G;  // G*k float64 scores (fused path only)
  uint8_t* valid = reinterpret_cast<uint8_t*>(sdbl + (kFused ? G * k : 0));  // G

  // Thread index and count within the team; warps within the team (one in warp mode).
  const int lane = threadIdx.x & 31;
  const int tid = kWarp ? lane : static_cast<int>(threadIdx.x);
  const int bs = kWarp ? 32 : static_cast<int>(blockDim.x);
  const int warp = kWarp ? 0 : static_cast<int>(threadIdx.x >> 5);
  const int nw = kWarp ? 1 : static_cast<int>(blockDim.x >> 5);
  const float nanf_ = __int_as_float(0x7fc00000);

  for (int64_t b = slot; b < j.B; b += static_cast<int64_t>(gridDim.x) * teams) {
    const uint8_t* mask = j.mask ? j.mask + b * G : nullptr;
    float* s = j.scores ? j.scores + b * G * k : nullptr;
    const float* e = kScores ? j.emb + b * G * 2 * k : nullptr;
    if (tid == 0) {
      n_valid = 0;
      n_degenerate = 0;
    }
    team_sync<kWarp>();

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
    team_sync<kWarp>();
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
        team_sync<kWarp>();
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
        if (s) s[t] = static_cast<float>(out);
        if (kFused) sdbl[t] = out;
      }
      team_sync<kWarp>();  // scores visible to the whole block
    }
    // Scores for the statistics: float64 in the fused path, the float32 input otherwise.
    const auto S = [&](int64_t t) -> double { return kFused ? sdbl[t] : static_cast<double>(s[t]); };

    if (kAdvantage) {
      // 3. Per-dimension mean and std (two-pass, one warp per dimension).
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
          if (j.dim_mean) j.dim_mean[b * k + l] = static_cast<float>(m);
          if (j.dim_std) j.dim_std[b * k + l] = static_cast<float>(sd);
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
      team_sync<kWarp>();

      // 5. A_hat and the per-response aggregate.
      const bool scalar = j.normalize == 1;
      if (j.dim_adv) {
        float* da = j.dim_adv + b * G * k;
        for (int64_t t = tid; t < G * k; t += bs) {
          const int64_t i = t / k, l = t - i * k;
          da[t] = valid[i] ? static_cast<float>((S(t) - mu[l]) * inv[l]) : 0.0f;
        }
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
      team_sync<kWarp>();

      float* adv = j.adv ? j.adv + b * G : nullptr;
      if (j.normalize == 0) {
        if (adv) {
          for (int64_t i = tid; i < G; i += bs) adv[i] = valid[i] ? static_cast<float>(agg[i]) : 0.0f;
        }
      } else if (scalar) {
        double part = 0.0;
        for (int64_t i = tid; i < G; i += bs) part += valid[i] ? agg[i] : 0.0;
        const double total = kWarp ? warp_sum(part) : block_sum(part, red);  // every thread of the team calls it
        const double m = n > 0 ? total / static_cast<double>(n) : 0.0;
        double sq = 0.0;
        for (int64_t i = tid; i < G; i += bs) {
          if (valid[i]) {
            const double d = agg[i] - m;
            sq += d * d;
          }
        }
        const double sd = std_from_ss(kWarp ? warp_sum(sq) : block_sum(sq, red), n, j.unbiased);
        const bool degenerate = n >= 1 && sd <= j.std_floor;
        const double r = degenerate ? 0.0 : 1.0 / (sd + j.eps);
        if (adv) {
          for (int64_t i = tid; i < G; i += bs) adv[i] = valid[i] ? static_cast<float>((agg[i] - m) * r) : 0.0f;
        }
        if (tid == 0 && degenerate) atomicAdd(&n_degenerate, 1);
      } else {
        for (int64_t i = tid; i < G; i += bs) j.prime[b * G + i] = valid[i] ? agg[i] : nan("");
      }
    }
    team_sync<kWarp>();
    if (tid == 0) {
      if (kAdvantage && n_degenerate) atomicAdd(&j.counters[0], static_cast<unsigned long long>(n_degenerate));
      if (G - n) atomicAdd(&j.counters[1], static_cast<unsigned long long>(G - n));
    }
    team_sync<kWarp>();  // the workspace and n_valid are reused by the next group of this block
  }
}

/**
 * gdpo, batch statistics across blocks. Pass 1 (stats == null): per-block (sum, count) of the valid
 * A'. Pass 2: per-block sum of squared deviations from stats[0]. One partial per block.
 */
__global__ void __launch_bounds__(kStatThreads) gdpo_partial_kernel(const double* prime, int64_t total,
                                                                    const double* stats, double2* partials) {
  __shared__ double red[32];
  const double mean = stats ? stats[0] : 0.0;
  double a = 0.0, c = 0.0;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double p = prime[t];
    if (isnan(p)) continue;
    if (stats) {
      const double d = p - mean;
      a += d * d;
    } else {
      a += p;
      c += 1.0;
    }
  }
  a = block_sum(a, red);
  c = block_sum(c, red);
  if (threadIdx.x == 0) partials[blockIdx.x] = make_double2(a, c);
}

/** gdpo: combines the partials in a fixed order. Pass 1: stats[0] mean, stats[2] n; pass 2: stats[1] 1/(std+eps). */
__global__ void __launch_bounds__(kStatThreads) gdpo_finish_kernel(const double2* partials, int nparts, bool second,
                                                                   bool unbiased, double eps, double std_floor,
                                                                   double* stats, unsigned long long* counters) {
  __shared__ double red[32];
  double a = 0.0, c = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) {
    a += partials[i].x;
    c += partials[i].y;
  }
  a = block_sum(a, red);
  c = block_sum(c, red);
  if (threadIdx.x != 0) return;
  if (!second) {
    stats[0] = c > 0 ? a / c : 0.0;
    stats[2] = c;
  } else {
    const int64_t n = static_cast<int64_t>(stats[2]);
    const double sd = std_from_ss(a, n, unbiased);
    const bool degenerate = n >= 1 && sd <= std_floor;
    stats[1] = degenerate ? 0.0 : 1.0 / (sd + eps);
    if (degenerate) atomicAdd(&counters[0], 1ULL);
  }
}

/** gdpo, elementwise: A = (A' - mean) / (std + eps), 0 for invalid responses. */
__global__ void gdpo_apply_kernel(const double* prime, int64_t total, const double* stats, float* adv) {
  const double mean = stats[0], r = stats[1];
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double p = prime[t];
    adv[t] = isnan(p) ? 0.0f : static_cast<float>((p - mean) * r);
  }
}

using Kernel = void (*)(DeviceJob);

/** Groups of at most this size (and G·k at most kWarpTeamMaxGk) run one per warp by default. */
constexpr int64_t kWarpTeamMaxG = 64;
constexpr int64_t kWarpTeamMaxGk = 2048;

Kernel pick_kernel(bool scores, bool advantage, bool warp) {
  if (warp) {
    return scores && advantage ? group_kernel<true, true, true>
           : scores            ? group_kernel<true, false, true>
                               : group_kernel<false, true, true>;
  }
  return scores && advantage ? group_kernel<true, true, false>
         : scores            ? group_kernel<true, false, false>
                             : group_kernel<false, true, false>;
}

/** Host bytes staged per chunk of the host-array pipeline (inputs + outputs). */
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;

/** The second stream and the events of the chunked pipeline; synchronized and destroyed first. */
struct PipelineStreams {
  cudaStream_t stream = nullptr;
  cudaEvent_t ready = nullptr, end = nullptr, slot[2] = {nullptr, nullptr};
  PipelineStreams() = default;
  PipelineStreams(const PipelineStreams&) = delete;
  PipelineStreams& operator=(const PipelineStreams&) = delete;
  ~PipelineStreams() {
    if (stream) {
      cudaStreamSynchronize(stream);
      cudaStreamDestroy(stream);
    }
    for (cudaEvent_t e : {ready, end, slot[0], slot[1]}) {
      if (e) cudaEventDestroy(e);
    }
  }
  Status begin(const char* K) {
    GPRL_CUDA_CHECK(K, cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    GPRL_CUDA_CHECK(K, cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    GPRL_CUDA_CHECK(K, cudaEventCreateWithFlags(&end, cudaEventDisableTiming));
    GPRL_CUDA_CHECK(K, cudaEventCreateWithFlags(&slot[0], cudaEventDisableTiming));
    GPRL_CUDA_CHECK(K, cudaEventCreateWithFlags(&slot[1], cudaEventDisableTiming));
    return Status::Ok();
  }
};

/** Pinned staging held by a call: released only once the call's main stream is idle. */
struct Staging {
  const cuda::Call& call;
  cuda::PinnedBlock block;
  explicit Staging(const cuda::Call& c) : call(c) {}
  ~Staging() {
    if (block.get()) cudaStreamSynchronize(call.stream());
  }
};

/** One array moved per chunk: host base, device base, elements per group, element size, direction. */
struct ChunkArray {
  uint8_t* host;
  uint8_t* dev;
  std::size_t per_group_bytes;
  bool input;
  std::size_t offset = 0;  // in a staging slot
};

/**
 * Everything one call puts on the device, and how it launches. Host arrays larger than two chunks
 * (kChunkBytes) go through a pipeline: the batch is split into chunks of whole groups; for each
 * chunk the inputs are copied into a pinned staging slot (two slots, double-buffered), copied to the
 * device, the kernel runs on that chunk and the outputs come back into the slot, alternating between
 * two streams, so the copies of one chunk overlap the kernel of the other; the host copies the
 * previous chunk's outputs out of its slot meanwhile. gdpo's batch statistics run once after the
 * last chunk. Without pinned memory, or for smaller calls, one upload, one launch, one download.
 */
class GroupRun {
 public:
  GroupRun(cuda::Call& call, const GroupJob& job)
      : call_(call), job_(job), emb_(call), scores_(call), lambdas_(call), weights_(call), adv_(call), da_(call),
        mean_(call), std_(call), mask_(call), prime_(call), stats_(call), parts_(call), counters_(call),
        scratch_(call), extra_(call), staging_(call) {}

  /** Allocates and uploads (queued on the call's stream) and plans the launch. */
  Status prepare(bool allow_chunks) {
    const char* K = call_.kernel();
    const CudaLaunch& launch = call_.launch();
    const int64_t B = job_.shape.groups, G = job_.shape.group_size, k = job_.shape.dims;
    const size_t BG = static_cast<size_t>(B * G), BGk = BG * static_cast<size_t>(k);
    scores_stage_ = job_.embeddings != nullptr;
    gdpo_ = job_.advantage && job_.options.normalize == kNormalizeGdpo;
    const bool fused = scores_stage_ && job_.advantage;
    if (launch.test_alloc_bytes) GPRL_TRY(extra_.alloc(launch.test_alloc_bytes));

    // Chunk plan (groups per chunk) from the host bytes per group.
    const size_t f = sizeof(float), Gk = static_cast<size_t>(G * k);
    size_t per_group = (scores_stage_ ? 2 * Gk * f : Gk * f) + (job_.mask ? static_cast<size_t>(G) : 0);
    if (scores_stage_ && job_.scores) per_group += Gk * f;
    if (job_.advantage) {
      per_group += (job_.lambdas ? k * f : 0) + (job_.out.advantages ? G * f : 0) +
                   (job_.out.dim_advantages ? Gk * f : 0) + (job_.out.dim_mean ? k * f : 0) +
                   (job_.out.dim_std ? k * f : 0);
    }
    int64_t per_chunk = launch.chunk_groups > 0 ? launch.chunk_groups
                                                : static_cast<int64_t>(kChunkBytes / (per_group ? per_group : 1));
    if (per_chunk < 1) per_chunk = 1;
    chunk_groups_ = B;
    if (allow_chunks && launch.chunk_groups >= 0 && (B + per_chunk - 1) / per_chunk >= 2) chunk_groups_ = per_chunk;

    // Outputs the caller did not request are not allocated (the kernel skips their writes); in the
    // fused path the float32 scores are an output like the others. Inputs are uploaded here unless
    // the pipeline moves them chunk by chunk.
    const bool chunked = chunk_groups_ < B;
    auto input = [&](auto& buf, const auto* host, size_t n) { return chunked ? (host ? buf.alloc(n) : Status::Ok()) : buf.upload(host, n); };
    if (scores_stage_) {
      GPRL_TRY(input(emb_, job_.embeddings, BGk * 2));
      if (job_.scores) GPRL_TRY(scores_.output(BGk));
    } else {
      GPRL_TRY(input(scores_, static_cast<const float*>(job_.scores), BGk));
    }
    GPRL_TRY(input(mask_, job_.mask, BG));
    GPRL_TRY(counters_.alloc(2));
    if (job_.advantage) {
      GPRL_TRY(input(lambdas_, job_.lambdas, static_cast<size_t>(B * k)));
      GPRL_TRY(weights_.upload(job_.dim_weights, static_cast<size_t>(k)));
      if (job_.out.advantages) GPRL_TRY(adv_.output(BG));
      if (job_.out.dim_advantages) GPRL_TRY(da_.output(BGk));
      if (job_.out.dim_mean) GPRL_TRY(mean_.output(static_cast<size_t>(B * k)));
      if (job_.out.dim_std) GPRL_TRY(std_.output(static_cast<size_t>(B * k)));
      if (gdpo_) {
        GPRL_TRY(prime_.alloc(BG));
        GPRL_TRY(stats_.alloc(3));
        nparts_ = static_cast<int>(BG / 4096 + 1 < 1024 ? BG / 4096 + 1 : 1024);
        GPRL_TRY(parts_.alloc(static_cast<size_t>(nparts_)));
      }
    }
    if (chunked) {
      // The arrays the pipeline moves, and their places in a staging slot (256-byte aligned).
      auto add = [&](const void* host, void* dev, size_t bytes_per_group, bool in) {
        if (host && dev) {
          arrays_.push_back({static_cast<uint8_t*>(const_cast<void*>(host)), static_cast<uint8_t*>(dev), bytes_per_group, in});
        }
      };
      if (scores_stage_) {
        add(job_.embeddings, emb_.get(), 2 * Gk * f, true);
        add(job_.scores, scores_.get(), Gk * f, false);
      } else {
        add(job_.scores, scores_.get(), Gk * f, true);
      }
      add(job_.mask, mask_.get(), static_cast<size_t>(G), true);
      if (job_.advantage) {
        add(job_.lambdas, lambdas_.get(), k * f, true);
        if (!gdpo_) add(job_.out.advantages, adv_.get(), G * f, false);  // gdpo: after the batch statistics
        add(job_.out.dim_advantages, da_.get(), Gk * f, false);
        add(job_.out.dim_mean, mean_.get(), k * f, false);
        add(job_.out.dim_std, std_.get(), k * f, false);
      }
      slot_bytes_ = 0;
      for (ChunkArray& a : arrays_) {
        a.offset = slot_bytes_;
        slot_bytes_ += (a.per_group_bytes * static_cast<size_t>(chunk_groups_) + 255) / 256 * 256;
      }
      if (!staging_.block.acquire(2 * slot_bytes_)) {
        // No pinned memory: upload everything at once instead.
        chunk_groups_ = B;
        arrays_.clear();
        if (scores_stage_) {
          GPRL_CUDA_CHECK(K, cudaMemcpyAsync(emb_.get(), job_.embeddings, BGk * 2 * f, cudaMemcpyHostToDevice, call_.stream()));
        } else {
          GPRL_CUDA_CHECK(K, cudaMemcpyAsync(scores_.get(), job_.scores, BGk * f, cudaMemcpyHostToDevice, call_.stream()));
        }
        if (job_.mask) {
          GPRL_CUDA_CHECK(K, cudaMemcpyAsync(mask_.get(), job_.mask, BG, cudaMemcpyHostToDevice, call_.stream()));
        }
        if (job_.advantage && job_.lambdas) {
          GPRL_CUDA_CHECK(K, cudaMemcpyAsync(lambdas_.get(), job_.lambdas, static_cast<size_t>(B * k) * f,
                                             cudaMemcpyHostToDevice, call_.stream()));
        }
      }
    }

    // Launch plan: one group per warp (small groups) or per block, block size, workspace in shared
    // or global memory, grid (for one chunk; two workspaces when chunks run on two streams).
    const bool warp_team = launch.group_team == 2 || (launch.group_team == 0 && G <= kWarpTeamMaxG && G * k <= kWarpTeamMaxGk);
    fn_ = pick_kernel(scores_stage_, job_.advantage, warp_team);
    bs_ = cuda::block_size(launch.block_size, warp_team ? 256 : static_cast<int>(G * k < 256 ? G * k : 256));
    GPRL_TRY(cuda::fit_block_size(K, fn_, &bs_));
    teams_ = warp_team ? bs_ / 32 : 1;
    const int64_t wsd = workspace_doubles(G, k, fused);
    const double ws_bytes = static_cast<double>(wsd) * sizeof(double) * teams_;  // per block
    cudaFuncAttributes attr;
    GPRL_CUDA_CHECK(K, cudaFuncGetAttributes(&attr, fn_));
    const double smem_room = static_cast<double>(call_.max_shared_optin()) - static_cast<double>(attr.sharedSizeBytes);
    const bool fits = ws_bytes <= smem_room;
    if (launch.workspace == 1 && !fits) {
      return Status::Error(std::string("gprl: ") + K + ": the group workspace (" + std::to_string(wsd * 8 * teams_) +
                           " bytes per block) does not fit in shared memory (" +
                           std::to_string(call_.max_shared_optin()) + " bytes per block on this device)");
    }
    const int64_t blocks_needed = (chunk_groups_ + teams_ - 1) / teams_;
    if (fits && launch.workspace != 2) {
      smem_ = static_cast<size_t>(ws_bytes);
      grid_ = 0;  // per launch: one team per group
      // Static + dynamic shared memory above the 48 KiB default needs the (once per device) opt-in.
      if (smem_ + attr.sharedSizeBytes > 48 * 1024) GPRL_TRY(call_.allow_shared(reinterpret_cast<const void*>(fn_)));
    } else {
      const double per_block_cap = static_cast<double>(kGlobalWorkspaceBytes) / ws_bytes;
      int64_t g = 4 * static_cast<int64_t>(call_.multiprocessors());
      if (g > blocks_needed) g = blocks_needed;
      if (g > per_block_cap) g = static_cast<int64_t>(per_block_cap);
      if (g < 1) g = 1;
      grid_ = static_cast<unsigned>(g);
      smem_ = 0;
      slot_doubles_ = static_cast<size_t>(g) * static_cast<size_t>(teams_) * static_cast<size_t>(wsd);
      GPRL_TRY(scratch_.alloc(slot_doubles_ * (chunk_groups_ < B ? 2 : 1)));
    }

    dj_ = DeviceJob{B,           G,           k,          mask_.get(),  emb_.get(),      job_.mode,
                    job_.tau,    scores_.get(), lambdas_.get(), weights_.get(), job_.options.eps,
                    job_.options.std_floor,   job_.options.unbiased,  job_.options.normalize,
                    adv_.get(),  da_.get(),   mean_.get(), std_.get(),  prime_.get(),    counters_.get(),
                    scratch_.get(), wsd};
    return Status::Ok();
  }

  bool chunked() const { return chunk_groups_ < job_.shape.groups; }

  /** Queues the kernels for the whole batch, data resident (the counters are reset first). */
  Status enqueue() {
    const char* K = call_.kernel();
    cudaStream_t st = call_.stream();
    GPRL_CUDA_CHECK(K, cudaMemsetAsync(counters_.get(), 0, 2 * sizeof(unsigned long long), st));
    GPRL_TRY(launch_groups(st, 0, job_.shape.groups, 0));
    return enqueue_gdpo(st);
  }

  /** Queues the copies back, waits, and fills the counts. */
  Status collect(AdvantageCounts* counts) {
    if (scores_stage_) GPRL_TRY(scores_.download(job_.scores));
    if (job_.advantage) {
      GPRL_TRY(adv_.download(job_.out.advantages));
      GPRL_TRY(da_.download(job_.out.dim_advantages));
      GPRL_TRY(mean_.download(job_.out.dim_mean));
      GPRL_TRY(std_.download(job_.out.dim_std));
    }
    return finish_counts(counts);
  }

  /** The pipeline (see the class comment): every chunk, then gdpo, the counts, one final wait. */
  Status run_chunked(AdvantageCounts* counts) {
    const char* K = call_.kernel();
    cudaStream_t main = call_.stream();
    GPRL_CUDA_CHECK(K, cudaMemsetAsync(counters_.get(), 0, 2 * sizeof(unsigned long long), main));
    GPRL_TRY(aux_.begin(K));
    GPRL_CUDA_CHECK(K, cudaEventRecord(aux_.ready, main));  // allocations, poison, counters, weights
    GPRL_CUDA_CHECK(K, cudaStreamWaitEvent(aux_.stream, aux_.ready, 0));
    const cudaStream_t streams[2] = {main, aux_.stream};
    const int64_t B = job_.shape.groups, nc = (B + chunk_groups_ - 1) / chunk_groups_;
    for (int64_t c = 0; c < nc; ++c) {
      const int slot = static_cast<int>(c & 1);
      if (c >= 2) {
        GPRL_CUDA_CHECK(K, cudaEventSynchronize(aux_.slot[slot]));
        unstage(c - 2, slot);
      }
      const int64_t b0 = c * chunk_groups_, nb = b0 + chunk_groups_ <= B ? chunk_groups_ : B - b0;
      uint8_t* base = staging_.block.get() + static_cast<size_t>(slot) * slot_bytes_;
      for (const ChunkArray& a : arrays_) {
        if (!a.input) continue;
        const size_t bytes = a.per_group_bytes * static_cast<size_t>(nb);
        std::memcpy(base + a.offset, a.host + a.per_group_bytes * static_cast<size_t>(b0), bytes);
        GPRL_CUDA_CHECK(K, cudaMemcpyAsync(a.dev + a.per_group_bytes * static_cast<size_t>(b0), base + a.offset, bytes,
                                           cudaMemcpyHostToDevice, streams[slot]));
      }
      GPRL_TRY(launch_groups(streams[slot], b0, nb, slot));
      for (const ChunkArray& a : arrays_) {
        if (a.input) continue;
        GPRL_CUDA_CHECK(K, cudaMemcpyAsync(base + a.offset, a.dev + a.per_group_bytes * static_cast<size_t>(b0),
                                           a.per_group_bytes * static_cast<size_t>(nb), cudaMemcpyDeviceToHost,
                                           streams[slot]));
      }
      GPRL_CUDA_CHECK(K, cudaEventRecord(aux_.slot[slot], streams[slot]));
    }
    for (int64_t c = nc >= 2 ? nc - 2 : 0; c < nc; ++c) {
      const int slot = static_cast<int>(c & 1);
      GPRL_CUDA_CHECK(K, cudaEventSynchronize(aux_.slot[slot]));
      unstage(c, slot);
    }
    GPRL_CUDA_CHECK(K, cudaEventRecord(aux_.end, aux_.stream));
    GPRL_CUDA_CHECK(K, cudaStreamWaitEvent(main, aux_.end, 0));
    GPRL_TRY(enqueue_gdpo(main));
    if (gdpo_) GPRL_TRY(adv_.download(job_.out.advantages));
    return finish_counts(counts);
  }

 private:
  /** The group kernel on groups [b0, b0 + nb) on stream st, with workspace slot `slot`. */
  Status launch_groups(cudaStream_t st, int64_t b0, int64_t nb, int slot) {
    const int64_t G = job_.shape.group_size, k = job_.shape.dims;
    DeviceJob d = dj_;
    d.B = nb;
    if (d.mask) d.mask += b0 * G;
    if (d.emb) d.emb += b0 * G * 2 * k;
    if (d.scores) d.scores += b0 * G * k;
    if (d.lambdas) d.lambdas += b0 * k;
    if (d.adv) d.adv += b0 * G;
    if (d.dim_adv) d.dim_adv += b0 * G * k;
    if (d.dim_mean) d.dim_mean += b0 * k;
    if (d.dim_std) d.dim_std += b0 * k;
    if (d.prime) d.prime += b0 * G;
    if (d.scratch) d.scratch += static_cast<size_t>(slot) * slot_doubles_;
    unsigned grid = smem_ || !d.scratch ? cuda::grid_size(nb, teams_) : grid_;
    const unsigned needed = cuda::grid_size(nb, teams_);
    if (grid > needed) grid = needed;
    fn_<<<grid, bs_, smem_, st>>>(d);
    GPRL_CUDA_CHECK(call_.kernel(), cudaGetLastError());
    return Status::Ok();
  }

  /** gdpo: the batch statistics across blocks and the elementwise pass, on stream st. */
  Status enqueue_gdpo(cudaStream_t st) {
    if (!gdpo_) return Status::Ok();
    const int64_t total = job_.shape.groups * job_.shape.group_size;
    const AdvantageOptions& o = job_.options;
    gdpo_partial_kernel<<<nparts_, kStatThreads, 0, st>>>(prime_.get(), total, nullptr, parts_.get());
    gdpo_finish_kernel<<<1, kStatThreads, 0, st>>>(parts_.get(), nparts_, false, o.unbiased, o.eps, o.std_floor,
                                                   stats_.get(), counters_.get());
    gdpo_partial_kernel<<<nparts_, kStatThreads, 0, st>>>(prime_.get(), total, stats_.get(), parts_.get());
    gdpo_finish_kernel<<<1, kStatThreads, 0, st>>>(parts_.get(), nparts_, true, o.unbiased, o.eps, o.std_floor,
                                                   stats_.get(), counters_.get());
    if (adv_.get()) {
      gdpo_apply_kernel<<<cuda::grid_size(total, 256), 256, 0, st>>>(prime_.get(), total, stats_.get(), adv_.get());
    }
    GPRL_CUDA_CHECK(call_.kernel(), cudaGetLastError());
    return Status::Ok();
  }

  /** Copies chunk c's outputs out of staging slot `slot` into the caller's arrays. */
  void unstage(int64_t c, int slot) {
    const int64_t B = job_.shape.groups, b0 = c * chunk_groups_;
    const int64_t nb = b0 + chunk_groups_ <= B ? chunk_groups_ : B - b0;
    const uint8_t* base = staging_.block.get() + static_cast<size_t>(slot) * slot_bytes_;
    for (const ChunkArray& a : arrays_) {
      if (a.input) continue;
      std::memcpy(a.host + a.per_group_bytes * static_cast<size_t>(b0), base + a.offset,
                  a.per_group_bytes * static_cast<size_t>(nb));
    }
  }

  Status finish_counts(AdvantageCounts* counts) {
    unsigned long long c[2] = {0, 0};
    GPRL_CUDA_CHECK(call_.kernel(),
                    cudaMemcpyAsync(c, counters_.get(), sizeof c, cudaMemcpyDeviceToHost, call_.stream()));
    GPRL_TRY(call_.finish());
    if (counts && job_.advantage) {
      counts->degenerate = static_cast<int64_t>(c[0]);
      counts->masked = static_cast<int64_t>(c[1]);
    }
    return Status::Ok();
  }

  cuda::Call& call_;
  const GroupJob& job_;
  cuda::Buffer<float> emb_, scores_, lambdas_, weights_, adv_, da_, mean_, std_;
  cuda::Buffer<uint8_t> mask_;
  cuda::Buffer<double> prime_, stats_;
  cuda::Buffer<double2> parts_;
  cuda::Buffer<unsigned long long> counters_;
  cuda::Buffer<double> scratch_;
  cuda::Buffer<uint8_t> extra_;  // test hook: forced allocation
  // Destroyed before the buffers, in this order: the second stream (synchronized), then the staging
  // (after the main stream is idle).
  Staging staging_;
  PipelineStreams aux_;
  std::vector<ChunkArray> arrays_;
  int64_t chunk_groups_ = 0;
  size_t slot_bytes_ = 0, slot_doubles_ = 0;
  bool scores_stage_ = false, gdpo_ = false;
  Kernel fn_ = nullptr;
  int bs_ = 32, teams_ = 1;
  unsigned grid_ = 1;
  size_t smem_ = 0;
  int nparts_ = 1;
  DeviceJob dj_{};
};

}  // namespace

Status run_groups_cuda(const char* kernel, const GroupJob& job, AdvantageCounts* counts, const CudaLaunch& launch) {
  cuda::Call call(kernel, launch);
  GPRL_TRY(call.begin());
  GroupRun run(call, job);  // destroyed (buffers freed in stream order) before the call's stream
  GPRL_TRY(run.prepare(true));
  if (run.chunked()) return run.run_chunked(counts);
  GPRL_TRY(run.enqueue());
  return run.collect(counts);
}

}  // namespace detail

Status cuda_time_gprl_advantages(const Shape& shape, int reps, const CudaLaunch& launch, CudaTiming* out) {
  const char* K = "gprl_advantages";
  GPRL_TRY(detail::check_shape(K, shape));
  const int64_t B = shape.groups, G = shape.group_size, k = shape.dims;
  const size_t BG = static_cast<size_t>(B * G), BGk = BG * static_cast<size_t>(k);
  std::vector<float> emb(BGk * 2), scores(BGk), adv(BG), da(BGk), mean(static_cast<size_t>(B * k)), sd(mean.size());
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (float& v : emb) {  // xorshift64, uniform in [-1, 1)
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = static_cast<float>(static_cast<double>(x >> 11) * (2.0 / 9007199254740992.0) - 1.0);
  }
  detail::GroupJob job;
  job.shape = shape;
  job.embeddings = emb.data();
  job.scores = scores.data();
  job.advantage = true;
  job.out = {adv.data(), da.data(), mean.data(), sd.data()};
  cuda::Call call(K, launch);
  GPRL_TRY(call.begin());
  detail::GroupRun run(call, job);
  GPRL_TRY(run.prepare(false));
  GPRL_TRY(run.enqueue());  // warm-up, and the data is resident from here on
  GPRL_TRY(call.finish());
  cudaEvent_t t0, t1;
  GPRL_CUDA_CHECK(K, cudaEventCreate(&t0));
  GPRL_CUDA_CHECK(K, cudaEventCreate(&t1));
  float best = 1e30f;
  Status st;
  for (int r = 0; r < reps && st.ok; ++r) {
    cudaEventRecord(t0, call.stream());
    st = run.enqueue();
    cudaEventRecord(t1, call.stream());
    if (st.ok) st = call.finish();
    float ms = 0;
    if (st.ok && cudaEventElapsedTime(&ms, t0, t1) == cudaSuccess && ms < best) best = ms;
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  GPRL_TRY(st);
  GPRL_TRY(run.collect(nullptr));
  out->ms = best;
  out->bytes = 8.0 * BGk + 8.0 * BGk + 4.0 * BG + 8.0 * B * k;
  out->gbs = out->bytes / (best * 1e-3) / 1e9;
  return Status::Ok();
}

}  // namespace gprl
