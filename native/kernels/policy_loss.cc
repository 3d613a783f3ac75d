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
  parallel_for_dynamic(static_cast<std::size_t>(N), static_cast<std::size_t>(T) * 4, grain, [&](std::size_t b, std::size_t e) {
    for (std::size_t n = b; n < e; ++n) {
      detail::PolicyRowStats r{0.0, 0.0, 0.0, 0, 0, 0, 0, 0};
      const float a = in.advantages[n];
      const bool adv_ok = detail::finite_value(a);
      const int64_t base = static_cast<int64_t>(n) * T;
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
        r.loss += tt.loss;
        r.ratio += tt.ratio;
        r.kl += tt.kl;
        ++r.count;
        r.clip_low += (tt.flags & detail::kTokClipLow) ? 1 : 0;
        r.clip_high += (tt.flags & detail::kTokClipHigh) ? 1 : 0;
        r.dual += (tt.flags & detail::kTokDual) ? 1 : 0;
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
