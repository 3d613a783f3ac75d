// policy_loss, C++ path. Semantics: docs/policy-loss.md; per-token math: policy_token (policy_loss.h).
//
// Pass 1 (parallel over sequences, parallel_for_dynamic from parallel.h): per token validity, loss terms and
// the unscaled derivative (stored in grad as float32), per sequence float64 partial sums. With the
// sequence-level ratio (GSPO) each row is read twice: first the mean log-ratio over its valid tokens
// (s = e^mean, in token order), then the token terms with s (the row is still in cache).
// Combine (serial, sequence order, so results do not depend on the thread count): totals, the loss
// and the per-sequence aggregation weight w_n.
// Pass 2 (parallel over sequences): grad *= w_n in float64, rounded to float32.
#include "policy_loss.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "parallel.h"

namespace gprl {

namespace {

Status err(const std::string& what) { return Status::Error("gprl: policy_loss: " + what); }

}  // namespace

Status check_policy_loss(const PolicyLossParams& p, const PolicyLossInputs& in) {
  if (p.sequences < 1 || p.tokens < 1) return err("sequences and tokens must be >= 1");
  if (p.sequences > (int64_t{1} << 53) / p.tokens) return err("sequences*tokens is too large");
  if (!in.logp || !in.logp_old || !in.advantages || !in.mask) return err("logp, logpOld, advantages and mask are required");
  if (!(p.epsilon_low >= 0.0 && p.epsilon_low <= 1.0)) return err("epsilonLow must be in [0, 1]");
  if (!(p.epsilon_high >= 0.0) || !std::isfinite(p.epsilon_high)) return err("epsilonHigh must be finite and >= 0");
  if (!(p.dual_clip == 0.0 || (p.dual_clip > 1.0 && std::isfinite(p.dual_clip)))) return err("dualClip must be 0 (off) or > 1");
  if (!(p.beta >= 0.0) || !std::isfinite(p.beta)) return err("beta must be finite and >= 0");
  if (p.beta > 0.0 && !in.logp_ref) return err("beta > 0 requires logpRef");
  if (p.kl < kKlK1 || p.kl > kKlK3) return err("unknown kl estimator");
  if (p.aggregation < kAggTokenMean || p.aggregation > kAggConstant) return err("unknown aggregation");
  if (p.max_length < 0) return err("maxLength must be >= 1 (or 0 = tokens)");
  if (p.importance_sampling < kIsToken || p.importance_sampling > kIsSequence) return err("unknown importance sampling level");
  if (p.surrogate < kSurClip || p.surrogate > kSurSapo) return err("unknown surrogate");
  if (!(p.sapo_tau_pos > 0.0) || !std::isfinite(p.sapo_tau_pos)) return err("sapoTemperaturePos must be finite and > 0");
  if (!(p.sapo_tau_neg > 0.0) || !std::isfinite(p.sapo_tau_neg)) return err("sapoTemperatureNeg must be finite and > 0");
  if (!(p.token_count >= 0.0) || !std::isfinite(p.token_count)) return err("numTokens must be finite and > 0 (or 0 = valid tokens)");
  if (!(p.sequence_count >= 0.0) || !std::isfinite(p.sequence_count)) {
    return err("numSequences must be finite and > 0 (or 0 = sequences with a valid token)");
  }
  return Status::Ok();
}

namespace {

/** Adds one valid token's terms to its row's statistics. */
inline void add_token(detail::PolicyRowStats& r, const detail::TokenTerms& tt) {
  r.loss += tt.loss;
  r.ratio += tt.ratio;
  r.kl += tt.kl;
  ++r.count;
  r.clip_low += (tt.flags & detail::kTokClipLow) ? 1 : 0;
  r.clip_high += (tt.flags & detail::kTokClipHigh) ? 1 : 0;
  r.dual += (tt.flags & detail::kTokDual) ? 1 : 0;
}

/** Combine per-sequence partials (in order) into the result; fills the weights w[n] of every sequence. */
void combine_policy_rows(const PolicyLossParams& p, bool has_ref, const detail::PolicyRowStats* rows, double* w,
                         PolicyLossResult* out) {
  const int64_t N = p.sequences;
  int64_t valid = 0, non_empty = 0, clip_low = 0, clip_high = 0, dual = 0, non_finite = 0;
  double total = 0.0, seq_mean_sum = 0.0, ratio = 0.0, kl = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const detail::PolicyRowStats& r = rows[n];
    valid += r.count;
    total += r.loss;
    ratio += r.ratio;
    kl += r.kl;
    clip_low += r.clip_low;
    clip_high += r.clip_high;
    dual += r.dual;
    non_finite += r.non_finite;
    if (r.count > 0) {
      ++non_empty;
      seq_mean_sum += r.loss / static_cast<double>(r.count);
    }
  }
  const double L = static_cast<double>(p.max_length > 0 ? p.max_length : p.tokens);
  const double V = static_cast<double>(valid);
  const double D = p.token_count > 0.0 ? p.token_count : V;  // token-mean denominator
  const double S = p.sequence_count > 0.0 ? p.sequence_count : static_cast<double>(non_empty);
  PolicyLossResult res;
  res.valid_tokens = valid;
  res.non_finite = non_finite;
  if (valid > 0) {
    if (p.aggregation == kAggTokenMean) res.loss = total / D;
    else if (p.aggregation == kAggSequenceMean) res.loss = seq_mean_sum / S;
    else res.loss = total / (static_cast<double>(N) * L);
    res.clip_frac_low = static_cast<double>(clip_low) / V;
    res.clip_frac_high = static_cast<double>(clip_high) / V;
    res.dual_clip_frac = static_cast<double>(dual) / V;
    res.mean_ratio = ratio / V;
    res.mean_kl = has_ref ? kl / V : 0.0;
  }
  for (int64_t n = 0; n < N; ++n) {
    const int64_t c = rows[n].count;
    if (c == 0) w[n] = 0.0;
    else if (p.aggregation == kAggTokenMean) w[n] = 1.0 / D;
    else if (p.aggregation == kAggSequenceMean) w[n] = 1.0 / (S * static_cast<double>(c));
    else w[n] = 1.0 / (static_cast<double>(N) * L);
  }
  *out = res;
}

}  // namespace


#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GPRL_NO_AVX2)
#define GPRL_POLICY_AVX2 1
#include <immintrin.h>

namespace {

#define GPRL_AVX2 __attribute__((target("avx2,fma")))

/**
 * e^x for 4 doubles: x = k·ln2 + r, |r| ≤ ln2/2 (Cody–Waite, two-part ln2), e^r by its Taylor
 * polynomial to r¹³ (remainder < 5e-18 relative, Horner with FMA), times 2^(k−1)·2 from the exponent
 * bits. Within 2 ulp of e^x for x ≥ −708 (exactly 1 at x = 0); +∞ above 709.78; e^−708 = 3.3e-308 below
 * −708 (those ratios and KL terms are 0 to within 3.3e-308 anyway).
 */
GPRL_AVX2 inline __m256d exp4(__m256d x) {
  x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-708.0)), _mm256_set1_pd(710.0));
  const __m256d shift = _mm256_set1_pd(6755399441055744.0);  // 1.5·2^52: rounds to an integer in the low bits
  const __m256d t = _mm256_fmadd_pd(x, _mm256_set1_pd(1.4426950408889634074), shift);
  const __m256d kd = _mm256_sub_pd(t, shift);
  __m256d r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(6.93147180369123816490e-01), x);
  r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(1.90821492927058770002e-10), r);
  static constexpr double kInvFact[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                        1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,
                                        1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,        0.5,
                                        1.0,                1.0};
  __m256d p = _mm256_set1_pd(kInvFact[0]);
  for (int j = 1; j < 14; ++j) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(kInvFact[j]));
  const __m256i sb = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1022)), 52);
  return _mm256_mul_pd(_mm256_mul_pd(p, _mm256_castsi256_pd(sb)), _mm256_set1_pd(2.0));
}

GPRL_AVX2 inline double hsum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

GPRL_AVX2 inline int64_t hsum_i(__m256i v) {
  alignas(32) int64_t x[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(x), v);
  return x[0] + x[1] + x[2] + x[3];
}

/**
 * Pass 1 for one row of the token-level clipped loss without a policy mask (the common case), 4 tokens
 * per step: the same per-token formulas as policy_token (float64; branch decisions become blends; the
 * advantage is constant in the row, so its sign picks the code), then the row's last T mod 4 tokens by
 * policy_token. Row sums are accumulated in 4 lanes (a different order than the scalar path: ~1e-16).
 */
GPRL_AVX2 void row_avx2(const PolicyLossInputs& in, const detail::TokenConfig& c, int64_t base, int64_t T, float a,
                        bool has_ref, float* grad, detail::PolicyRowStats& st) {
  const __m256d zero = _mm256_setzero_pd();
  const __m256d lo = _mm256_set1_pd(c.lo), hi = _mm256_set1_pd(c.hi);
  const __m256d dual = _mm256_set1_pd(c.dual), beta = _mm256_set1_pd(c.beta);
  const __m256d negA = _mm256_set1_pd(-static_cast<double>(a));
  const bool adv_ok = detail::finite_value(a);
  const int sign = a > 0.0f ? 1 : (a < 0.0f ? -1 : 0);
  __m256d s_loss = zero, s_ratio = zero, s_kl = zero;
  __m256i n_valid = _mm256_setzero_si256(), n_low = n_valid, n_high = n_valid, n_dual = n_valid, n_bad = n_valid;
  const int64_t T4 = adv_ok ? T - T % 4 : 0;
  for (int64_t t = 0; t < T4; t += 4) {
    const int64_t i = base + t;
    const __m256d lp = _mm256_cvtps_pd(_mm_loadu_ps(in.logp + i));
    const __m256d lq = _mm256_cvtps_pd(_mm_loadu_ps(in.logp_old + i));
    const __m256d lr = has_ref ? _mm256_cvtps_pd(_mm_loadu_ps(in.logp_ref + i)) : zero;
    int32_t m4;
    std::memcpy(&m4, in.mask + i, 4);
    const __m256d on = _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_cvtepu8_epi64(_mm_cvtsi32_si128(m4)), _mm256_setzero_si256()));
    // finite: x − x == 0 (NaN and ±∞ give NaN)
    const auto fin = [&](__m256d x) GPRL_AVX2 { return _mm256_cmp_pd(_mm256_sub_pd(x, x), zero, _CMP_EQ_OQ); };
    const __m256d ok = _mm256_and_pd(_mm256_and_pd(fin(lp), fin(lq)), fin(lr));
    const __m256d valid = _mm256_and_pd(on, ok);
    n_bad = _mm256_sub_epi64(n_bad, _mm256_castpd_si256(_mm256_andnot_pd(ok, on)));
    n_valid = _mm256_sub_epi64(n_valid, _mm256_castpd_si256(valid));
    const __m256d ratio = exp4(_mm256_blendv_pd(zero, _mm256_sub_pd(lp, lq), valid));
    __m256d loss = zero, d = zero;
    if (sign > 0) {
      const __m256d clip = _mm256_cmp_pd(ratio, hi, _CMP_GT_OQ);
      const __m256d un = _mm256_mul_pd(ratio, negA);  // −ρ·A
      loss = _mm256_blendv_pd(un, _mm256_mul_pd(hi, negA), clip);
      d = _mm256_andnot_pd(clip, un);
      n_high = _mm256_sub_epi64(n_high, _mm256_castpd_si256(_mm256_and_pd(clip, valid)));
    } else if (sign < 0) {
      const __m256d low = _mm256_cmp_pd(ratio, lo, _CMP_LT_OQ);
      const __m256d dl = c.dual > 0.0 ? _mm256_andnot_pd(low, _mm256_cmp_pd(ratio, dual, _CMP_GT_OQ)) : zero;
      const __m256d un = _mm256_mul_pd(ratio, negA);
      loss = _mm256_blendv_pd(_mm256_blendv_pd(un, _mm256_mul_pd(dual, negA), dl), _mm256_mul_pd(lo, negA), low);
      d = _mm256_andnot_pd(_mm256_or_pd(low, dl), un);
      n_low = _mm256_sub_epi64(n_low, _mm256_castpd_si256(_mm256_and_pd(low, valid)));
      n_dual = _mm256_sub_epi64(n_dual, _mm256_castpd_si256(_mm256_and_pd(dl, valid)));
    }
    if (has_ref) {
      const __m256d delta = _mm256_blendv_pd(zero, _mm256_sub_pd(lr, lp), valid);
      __m256d k, dk;
      if (c.kl == kKlK1) {
        k = _mm256_sub_pd(zero, delta);
        dk = _mm256_set1_pd(1.0);
      } else if (c.kl == kKlK2) {
        k = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), delta), delta);
        dk = _mm256_sub_pd(zero, delta);
      } else {
        const __m256d e = exp4(delta);
        k = _mm256_sub_pd(_mm256_sub_pd(e, delta), _mm256_set1_pd(1.0));
        dk = _mm256_sub_pd(_mm256_set1_pd(1.0), e);
      }
      s_kl = _mm256_add_pd(s_kl, _mm256_and_pd(k, valid));
      if (c.beta > 0.0) {
        loss = _mm256_add_pd(loss, _mm256_mul_pd(beta, k));
        d = _mm256_add_pd(d, _mm256_mul_pd(beta, dk));
      }
    }
    s_loss = _mm256_add_pd(s_loss, _mm256_and_pd(loss, valid));
    s_ratio = _mm256_add_pd(s_ratio, _mm256_and_pd(ratio, valid));
    _mm_storeu_ps(grad + i, _mm256_cvtpd_ps(_mm256_and_pd(d, valid)));
  }
  st.loss = hsum(s_loss);
  st.ratio = hsum(s_ratio);
  st.kl = hsum(s_kl);
  st.count = hsum_i(n_valid);
  st.clip_low = hsum_i(n_low);
  st.clip_high = hsum_i(n_high);
  st.dual = hsum_i(n_dual);
  st.non_finite = hsum_i(n_bad);
  for (int64_t t = T4; t < T; ++t) {
    const int64_t i = base + t;
    grad[i] = 0.0f;
    if (in.mask[i] == 0) continue;
    const float lp = in.logp[i], lq = in.logp_old[i];
    const float lr = has_ref ? in.logp_ref[i] : 0.0f;
    if (!adv_ok || !detail::finite_value(lp) || !detail::finite_value(lq) || !detail::finite_value(lr)) {
      ++st.non_finite;
      continue;
    }
    const detail::TokenTerms tt = detail::policy_token(lp, lr, has_ref, a, std::exp(static_cast<double>(lp) - static_cast<double>(lq)), 1.0, 1.0, c);
    add_token(st, tt);
    grad[i] = static_cast<float>(tt.dloss);
  }
}

bool have_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && std::getenv("GPRL_NO_AVX2") == nullptr;
  return ok;
}

}  // namespace
#endif

Status policy_loss_cpu(const PolicyLossParams& p, const PolicyLossInputs& in, float* grad, PolicyLossResult* out) {
  Status st = check_policy_loss(p, in);
  if (!st.ok) return st;
  if (!grad || !out) return err("grad and the result are required");
  const int64_t N = p.sequences, T = p.tokens;
  const bool has_ref = in.logp_ref != nullptr;
  const detail::TokenConfig cfg = detail::token_config(p);
  const bool seq = p.importance_sampling == kIsSequence;
  std::vector<detail::PolicyRowStats> rows(static_cast<std::size_t>(N));
  std::vector<double> w(static_cast<std::size_t>(N));
  // ~14 bytes read and 4 written per token, a few dozen flops (one or two exp). Rows are claimed in
  // chunks of ~8k tokens from a shared counter (parallel_for_dynamic): on a busy machine a descheduled
  // thread delays the call by one chunk, not by half the batch. Each row's partials land in rows[n] and
  // are combined in row order, so the result does not depend on which thread ran which row.
  const std::size_t grain = static_cast<std::size_t>(T >= 8192 ? 1 : 8192 / T);
#ifdef GPRL_POLICY_AVX2
  const bool simd = have_avx2() && !seq && p.surrogate == kSurClip && in.policy_mask == nullptr;
#else
  constexpr bool simd = false;
#endif
  // Work per row for the thread heuristic (values touched, threads above 64k per thread): the AVX2 rows
  // cost about a third of the scalar loop per token, so a second thread pays only from ~64k tokens
  // (measured: at 128 × 512 one thread is 15–25% faster than two on this 2-core machine).
  const std::size_t row_work = static_cast<std::size_t>(T) * (simd ? 1 : 4);
  parallel_for_dynamic(static_cast<std::size_t>(N), row_work, grain, [&](std::size_t b, std::size_t e) {
    for (std::size_t n = b; n < e; ++n) {
      detail::PolicyRowStats r{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
      const float a = in.advantages[n];
      const bool adv_ok = detail::finite_value(a);
      const int64_t base = static_cast<int64_t>(n) * T;
#ifdef GPRL_POLICY_AVX2
      if (simd) {
        row_avx2(in, cfg, base, T, a, has_ref, grad, r);
        rows[n] = r;
        continue;
      }
#endif
      const uint8_t* pm = in.policy_mask ? in.policy_mask + base : nullptr;
      const auto usable = [&](int64_t i) {
        return adv_ok && detail::finite_value(in.logp[i]) && detail::finite_value(in.logp_old[i]) &&
               (!has_ref || detail::finite_value(in.logp_ref[i]));
      };
      double x_seq = 1.0, gw_seq = 0.0;
      if (seq) {
        double sum = 0.0;
        int64_t c = 0, m = 0;
        for (int64_t t = 0; t < T; ++t) {
          const int64_t i = base + t;
          if (in.mask[i] == 0 || !usable(i)) continue;
          sum += static_cast<double>(in.logp[i]) - static_cast<double>(in.logp_old[i]);
          ++c;
          m += (!pm || pm[t] != 0) ? 1 : 0;
        }
        if (c > 0) {
          x_seq = std::exp(sum / static_cast<double>(c));
          gw_seq = static_cast<double>(m) / static_cast<double>(c);
        }
      }
      for (int64_t t = 0; t < T; ++t) {
        const int64_t i = base + t;
        grad[i] = 0.0f;
        if (in.mask[i] == 0) continue;
        if (!usable(i)) {
          ++r.non_finite;
          continue;
        }
        const double lp = in.logp[i], lq = in.logp_old[i];
        const double lr = has_ref ? in.logp_ref[i] : 0.0;
        const double pw = (!pm || pm[t] != 0) ? 1.0 : 0.0;
        const double x = seq ? x_seq : std::exp(lp - lq);
        const detail::TokenTerms tt = detail::policy_token(lp, lr, has_ref, a, x, pw, seq ? gw_seq : pw, cfg);
        add_token(r, tt);
        grad[i] = static_cast<float>(tt.dloss);
      }
      rows[n] = r;
    }
  });
  combine_policy_rows(p, has_ref, rows.data(), w.data(), out);
  parallel_for_dynamic(static_cast<std::size_t>(N), static_cast<std::size_t>(T), grain * 4, [&](std::size_t b, std::size_t e) {
    for (std::size_t n = b; n < e; ++n) {
      if (rows[n].count == 0) continue;
      const double wn = w[n];
      float* g = grad + static_cast<int64_t>(n) * T;
      for (int64_t t = 0; t < T; ++t) g[t] = static_cast<float>(static_cast<double>(g[t]) * wn);
    }
  });
  return Status::Ok();
}

#ifndef GPRL_WITH_CUDA
Status policy_loss_cuda(const PolicyLossParams&, const PolicyLossInputs&, float*, PolicyLossResult*, const CudaLaunch&) {
  return cuda_not_compiled("policy_loss");
}
#endif

}  // namespace gprl
