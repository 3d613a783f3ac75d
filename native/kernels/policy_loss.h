// policy_loss: the policy-gradient objective of GRPO/GPRL (design §2.4) — clipped (PPO/GRPO, optional
// dual clip), CISPO or SAPO surrogate, token- or sequence-level (GSPO) importance ratio, optional
// per-token policy mask (entropy masking) and KL penalty — its exact gradient with respect to logp,
// and its metrics. Semantics: docs/policy-loss.md. Layout: per-token arrays [N][T] row-major,
// advantages [N].
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

/** Importance ratio: per token ρ_t = e^{logp − logp_old}, or per sequence s = e^{mean_t(logp − logp_old)} (GSPO). */
enum ImportanceSampling : int { kIsToken = 0, kIsSequence = 1 };

/**
 * Surrogate of the policy term (x = the ratio, token or sequence):
 *   clip:  −min(x·A, clip(x, 1−ε_low, 1+ε_high)·A), optional dual clip;
 *   cispo: −sg(min(x, ε_high))·A·logp  (sg = no gradient through it; ε_high is the cap itself);
 *   sapo:  −A·σ(τ(x − 1))·4/τ, τ = τ_pos for A > 0, τ_neg otherwise.
 */
enum Surrogate : int { kSurClip = 0, kSurCispo = 1, kSurSapo = 2 };

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
  int importance_sampling = kIsToken;
  int surrogate = kSurClip;
  double sapo_tau_pos = 1.0;   // > 0
  double sapo_tau_neg = 1.05;  // > 0
  double token_count = 0.0;     // 'token-mean' denominator; 0 = the number of valid tokens
  double sequence_count = 0.0;  // 'sequence-mean' denominator; 0 = sequences with a valid token
};

struct PolicyLossInputs {
  const float* logp = nullptr;        // [N][T]
  const float* logp_old = nullptr;    // [N][T]
  const float* logp_ref = nullptr;    // [N][T] or nullptr
  const float* advantages = nullptr;  // [N]
  const uint8_t* mask = nullptr;      // [N][T], nonzero = valid
  const uint8_t* policy_mask = nullptr;  // [N][T] or nullptr: nonzero = the policy term counts (KL always does)
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

/** Per-call constants of policy_token. */
struct TokenConfig {
  double lo;        // 1 − ε_low
  double hi;        // 1 + ε_high
  double cap;       // CISPO cap: ε_high
  double dual;      // c > 1, or 0 = off
  double beta;
  double tau_pos;   // SAPO temperatures
  double tau_neg;
  int kl;
  int surrogate;
};

GPRL_HD TokenConfig token_config(const PolicyLossParams& p) {
  return TokenConfig{1.0 - p.epsilon_low, 1.0 + p.epsilon_high, p.epsilon_high, p.dual_clip, p.beta,
                     p.sapo_tau_pos,      p.sapo_tau_neg,        p.kl,           p.surrogate};
}

/**
 * One valid token. `x` is the importance ratio (the token's ρ, or its sequence's s); `pw` (0 or 1, the
 * policy mask) switches the policy term in the loss and `gw` in the gradient (token level: pw;
 * sequence level: m/c, the share of the sequence's valid tokens whose policy term counts, because
 * ∂s/∂logp_t = s/c spreads the sequence's surrogate over its c valid tokens).
 * Clip decisions use strict inequalities: at x = 1 − ε_low, x = 1 + ε_high or x = c exactly the clip
 * is not active and the gradient is the unclipped −x·A.
 */
GPRL_HD TokenTerms policy_token(double lp, double lr, bool has_ref, double a, double x, double pw, double gw,
                                const TokenConfig& c) {
  TokenTerms r{0.0, 0.0, x, 0.0, 0};
  double loss = 0.0, d = 0.0;  // policy term and its derivative (w.r.t. log x, or logp for CISPO)
  if (c.surrogate == kSurCispo) {
    const double cr = x < c.cap ? x : c.cap;
    loss = -cr * a * lp;
    d = -cr * a;
    if (x > c.cap && a > 0.0) r.flags = kTokClipHigh;
    gw = pw;  // logp enters directly; the clipped ratio carries no gradient
  } else if (c.surrogate == kSurSapo) {
    const double tau = a > 0.0 ? c.tau_pos : c.tau_neg;
    const double z = tau * (x - 1.0);
    // σ(z) and σ(z)(1 − σ(z)) from e = e^{−|z|} (no overflow); x = ∞ gives g = 0, not 0·∞.
    const double e = exp(-(z < 0.0 ? -z : z));
    const double sg = z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    const double g = e / ((1.0 + e) * (1.0 + e));
    loss = -a * sg * 4.0 / tau;
    d = g == 0.0 ? 0.0 : -a * 4.0 * g * x;
  } else if (a > 0.0) {
    if (x > c.hi) {
      loss = -c.hi * a;
      r.flags = kTokClipHigh;
    } else {
      loss = -x * a;
      d = loss;
    }
  } else if (a < 0.0) {
    if (x < c.lo) {
      // Lower clip active; 1 − ε_low <= 1 < c, so the dual clip cannot be.
      loss = -c.lo * a;
      r.flags = kTokClipLow;
    } else if (c.dual > 0.0 && x > c.dual) {
      loss = -c.dual * a;
      r.flags = kTokDual;
    } else {
      loss = -x * a;
      d = loss;
    }
  }
  // A masked policy term is 0 even where it is infinite (0·∞ would be NaN).
  r.loss = pw == 0.0 ? 0.0 : loss;
  r.dloss = gw == 0.0 ? 0.0 : gw == 1.0 ? d : gw * d;
  if (has_ref) {
    const double delta = lr - lp;
    double k, dk;
    if (c.kl == kKlK1) {
      k = -delta;
      dk = 1.0;
    } else if (c.kl == kKlK2) {
      k = 0.5 * delta * delta;
      dk = -delta;
    } else {
      const double e = exp(delta);
      k = e - delta - 1.0;
      dk = 1.0 - e;
    }
    r.kl = k;
    if (c.beta > 0.0) {
      r.loss += c.beta * k;
      r.dloss += c.beta * dk;
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
