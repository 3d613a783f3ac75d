// policy_loss: the clipped policy-gradient objective (GRPO/GPRL, design §2.4) with optional dual
// clip and KL penalty, its exact gradient with respect to logp, and its metrics.
// Semantics: docs/policy-loss.md. Layout: per-token arrays [N][T] row-major, advantages [N].
//
// The per-token math (policy_token below) is one inline function compiled for both the host and the
// device, so the C++ and CUDA paths make the same clip decisions from the same float64 arithmetic.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

#if defined(__CUDACC__)
#define GPRL_HD __host__ __device__ __forceinline__
#else
#define GPRL_HD inline
#endif

namespace gprl {

/** KL estimators (δ = logp_ref − logp): k1 = −δ, k2 = ½δ², k3 = e^δ − δ − 1. */
enum KlEstimator : int { kKlK1 = 0, kKlK2 = 1, kKlK3 = 2 };

/** Loss aggregations: Σℓ/#valid, mean over sequences of their token mean, Σℓ/(N·max_length). */
enum LossAggregation : int { kAggTokenMean = 0, kAggSequenceMean = 1, kAggConstant = 2 };

struct PolicyLossParams {
  int64_t sequences = 0;  // N
  int64_t tokens = 0;     // T
  double epsilon_low = 0.2;
  double epsilon_high = 0.2;
  double dual_clip = 0.0;  // c > 1, or 0 = off
  double beta = 0.0;       // KL coefficient, >= 0 (needs logp_ref when > 0)
  int kl = kKlK3;
  int aggregation = kAggTokenMean;
  int64_t max_length = 0;  // 'constant' normalizer length; 0 = tokens
};

struct PolicyLossInputs {
  const float* logp = nullptr;        // [N][T]
  const float* logp_old = nullptr;    // [N][T]
  const float* logp_ref = nullptr;    // [N][T] or nullptr
  const float* advantages = nullptr;  // [N]
  const uint8_t* mask = nullptr;      // [N][T], nonzero = valid
};

/** Loss and metrics; fractions and means are over the valid tokens (0 when there are none). */
struct PolicyLossResult {
  double loss = 0.0;
  double clip_frac_low = 0.0;
  double clip_frac_high = 0.0;
  double dual_clip_frac = 0.0;
  double mean_ratio = 0.0;
  double mean_kl = 0.0;
  int64_t valid_tokens = 0;
  int64_t non_finite = 0;
};

/** C++ path (multi-threaded over sequences). `grad` has N*T entries. */
Status policy_loss_cpu(const PolicyLossParams& p, const PolicyLossInputs& in, float* grad, PolicyLossResult* out);

/** CUDA path (host pointers; copies to and from the device). */
Status policy_loss_cuda(const PolicyLossParams& p, const PolicyLossInputs& in, float* grad, PolicyLossResult* out,
                        const CudaLaunch& launch = {});

/** Checks shapes and options (shared by both paths). */
Status check_policy_loss(const PolicyLossParams& p, const PolicyLossInputs& in);

namespace detail {

/** Per-token outcome flags. */
enum TokenFlags : int { kTokClipLow = 1, kTokClipHigh = 2, kTokDual = 4 };

struct TokenTerms {
  double loss;   // surrogate + β·KL
  double dloss;  // ∂loss/∂logp (before aggregation weights)
  double ratio;  // exp(logp − logp_old)
  double kl;     // the KL estimator value (0 without a reference)
  int flags;     // TokenFlags
};

/** Finite test that works on host and device without <cmath> (x − x is NaN for NaN and ±Inf). */
GPRL_HD bool finite_value(float x) { return x - x == 0.0f; }

/**
 * One valid token. Clip decisions use strict inequalities: at ρ = 1 − ε_low, ρ = 1 + ε_high or
 * ρ = c exactly the clip is not active and the gradient is the unclipped −ρ·A.
 */
GPRL_HD TokenTerms policy_token(double lp, double lq, double lr, bool has_ref, double a, double lo, double hi,
                                double dual, double beta, int kl) {
  TokenTerms r{0.0, 0.0, exp(lp - lq), 0.0, 0};
  const double ratio = r.ratio;
  if (a > 0.0) {
    if (ratio > hi) {
      r.loss = -hi * a;
      r.flags = kTokClipHigh;
    } else {
      r.loss = -ratio * a;
      r.dloss = r.loss;
    }
  } else if (a < 0.0) {
    if (ratio < lo) {
      // Lower clip active; 1 − ε_low <= 1 < c, so the dual clip cannot be.
      r.loss = -lo * a;
      r.flags = kTokClipLow;
    } else if (dual > 0.0 && ratio > dual) {
      r.loss = -dual * a;
      r.flags = kTokDual;
    } else {
      r.loss = -ratio * a;
      r.dloss = r.loss;
    }
  }
  if (has_ref) {
    const double delta = lr - lp;
    double k, dk;
    if (kl == kKlK1) {
      k = -delta;
      dk = 1.0;
    } else if (kl == kKlK2) {
      k = 0.5 * delta * delta;
      dk = -delta;
    } else {
      const double e = exp(delta);
      k = e - delta - 1.0;
      dk = 1.0 - e;
    }
    r.kl = k;
    if (beta > 0.0) {
      r.loss += beta * k;
      r.dloss += beta * dk;
    }
  }
  return r;
}

/** Per-sequence (or per-chunk) partial sums; combined in sequence order. */
struct PolicyRowStats {
  double loss;
  double ratio;
  double kl;
  int64_t count;
  int64_t clip_low;
  int64_t clip_high;
  int64_t dual;
  int64_t non_finite;
};

}  // namespace detail
}  // namespace gprl
