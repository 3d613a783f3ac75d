#include "group_core.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "math_util.h"
#include "parallel.h"

namespace gprl {
namespace detail {

Status check_shape(const char* kernel, const Shape& s) {
  if (s.groups < 1 || s.group_size < 1 || s.dims < 1) {
    return Status::Error(std::string("gprl: ") + kernel + ": groups, groupSize and dims must be positive");
  }
  const double total = static_cast<double>(s.groups) * static_cast<double>(s.group_size) *
                       static_cast<double>(s.group_size > 2 * s.dims ? s.group_size : 2 * s.dims);
  if (total > 9.0e15) return Status::Error(std::string("gprl: ") + kernel + ": shape too large");
  return Status::Ok();
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/** Per-thread scratch, sized once per chunk of groups (no allocation per group). */
struct Scratch {
  std::vector<uint8_t> valid;  // G
  std::vector<double> acc;     // G*k (win-rate sums)
  std::vector<double> sdbl;    // G*k float64 scores of the group (fused path)
  std::vector<double> resp;    // G (aggregate per response)
  std::vector<double> dim;     // 5*k: a-mean, b-mean, mu, 1/(sigma+eps) or 0, weight

  Scratch(int64_t G, int64_t k, bool winrate)
      : valid(static_cast<size_t>(G)),
        acc(winrate ? static_cast<size_t>(G * k) : 0),
        sdbl(static_cast<size_t>(G * k)),
        resp(static_cast<size_t>(G)),
        dim(static_cast<size_t>(5 * k)) {}
};

/** Batch-level state of the gdpo second pass. */
struct GdpoState {
  std::vector<double> prime;   // [B][G] A' (NaN for invalid responses)
  std::vector<double> gsum;    // [B] sum of A' over valid responses
  std::vector<int64_t> gcount;  // [B] valid responses
};

/** Dimensions handled with stack buffers (larger k falls back to per-chunk scratch). */
constexpr int64_t kStackDims = 64;

/** w_l = m_l * lambda_{b,l} / sum_l' m_l' * lambda_{b,l'} (lambda row may be null: all 1). */
inline void compute_weights(const float* dim_weights, const float* lambda_row, int64_t k, double* w) {
  double wsum = 0.0;
  for (int64_t l = 0; l < k; ++l) {
    const double m = dim_weights ? static_cast<double>(dim_weights[l]) : 1.0;
    const double lam = lambda_row ? static_cast<double>(lambda_row[l]) : 1.0;
    w[l] = m * lam;
    wsum += w[l];
  }
  for (int64_t l = 0; l < k; ++l) w[l] /= wsum;
}

/**
 * Process groups [b0, b1). K > 0 fixes k at compile time (unrolled loops); K == 0 reads it at run time.
 * kEmb: scores are computed from embeddings (and kept in float64 for the statistics, rounded to
 * float32 only when stored), else read from job.scores. Adds (degenerate, masked) counts.
 * Per group, the embeddings are read twice (validity and means, then scores) and the float64 scores
 * twice (squared deviations, then advantages), all from L1.
 */
template <int K, bool kEmb>
void process_groups(const GroupJob& job, int64_t b0, int64_t b1, Scratch& sc, GdpoState* gdpo, int64_t* deg_out,
                    int64_t* masked_out) {
  const int64_t G = job.shape.group_size;
  const int64_t k = K > 0 ? K : job.shape.dims;
  const bool winrate = job.mode == kModeWinrate;
  const bool advantage = job.advantage;
  const AdvantageOptions& opt = job.options;
  uint8_t* valid = sc.valid.data();
  double* sdbl = sc.sdbl.data();
  double stack[5 * kStackDims] = {};
  double* abar = k <= kStackDims ? stack : sc.dim.data();
  double* bbar = abar + k;
  double* mu = bbar + k;
  double* inv = mu + k;
  double* w = inv + k;
  int64_t deg = 0, masked = 0;
  const bool group_weights = job.lambdas != nullptr;
  if (advantage && !group_weights) compute_weights(job.dim_weights, nullptr, k, w);

  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* mask = job.mask ? job.mask + b * G : nullptr;
    float* s = job.scores + b * G * k;
    const float* e = kEmb ? job.embeddings + b * G * 2 * k : nullptr;

    // 1. Validity (mask and every input value finite); logit: sums of a and b over valid responses.
    int64_t n = 0;
    if (kEmb) {
      for (int64_t l = 0; l < k; ++l) abar[l] = bbar[l] = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        const float* ei = e + i * 2 * k;
        bool fin = true;
        for (int64_t t = 0; t < 2 * k; ++t) fin &= is_finite(ei[t]);
        const bool ok = fin && (mask == nullptr || mask[i] != 0);
        valid[i] = ok ? 1 : 0;
        n += ok ? 1 : 0;
        if (ok && !winrate) {
          for (int64_t l = 0; l < k; ++l) {
            abar[l] += ei[2 * l];
            bbar[l] += ei[2 * l + 1];
          }
        }
      }
    } else {
      for (int64_t i = 0; i < G; ++i) {
        const float* si = s + i * k;
        bool fin = true;
        for (int64_t l = 0; l < k; ++l) fin &= is_finite(si[l]);
        const bool ok = fin && (mask == nullptr || mask[i] != 0);
        valid[i] = ok ? 1 : 0;
        n += ok ? 1 : 0;
      }
    }
    masked += G - n;

    // 2. Scores (group_scores semantics), kept in float64 in sdbl, stored as float32 in s.
    for (int64_t l = 0; l < k; ++l) mu[l] = 0.0;
    if (kEmb) {
      if (n < 2) {
        for (int64_t i = 0; i < G; ++i) {
          for (int64_t l = 0; l < k; ++l) {
            s[i * k + l] = valid[i] ? 0.0f : kNaN;
            sdbl[i * k + l] = 0.0;
          }
        }
      } else if (!winrate) {
        const double rn = 1.0 / static_cast<double>(n);
        for (int64_t l = 0; l < k; ++l) {
          abar[l] *= rn;
          bbar[l] *= rn;
        }
        const double c = static_cast<double>(n) / static_cast<double>(n - 1);
        for (int64_t i = 0; i < G; ++i) {
          const float* ei = e + i * 2 * k;
          float* si = s + i * k;
          double* di = sdbl + i * k;
          if (!valid[i]) {
            for (int64_t l = 0; l < k; ++l) si[l] = kNaN;
            continue;
          }
          for (int64_t l = 0; l < k; ++l) {
            const double v = c * (static_cast<double>(ei[2 * l]) * bbar[l] - static_cast<double>(ei[2 * l + 1]) * abar[l]);
            di[l] = v;
            si[l] = static_cast<float>(v);
            mu[l] += v;
          }
        }
      } else {
        // Win rate: each unordered pair once, sigma(s_ij) to i and 1 - sigma(s_ij) = sigma(s_ji) to j.
        double* acc = sc.acc.data();
        for (int64_t t = 0; t < G * k; ++t) acc[t] = 0.0;
        const double tau = job.tau;
        for (int64_t i = 0; i < G; ++i) {
          if (!valid[i]) continue;
          const float* ei = e + i * 2 * k;
          for (int64_t j = i + 1; j < G; ++j) {
            if (!valid[j]) continue;
            const float* ej = e + j * 2 * k;
            for (int64_t l = 0; l < k; ++l) {
              const double sij = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] -
                                 static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
              const double p = sigmoid(sij / tau);
              acc[i * k + l] += p;
              acc[j * k + l] += 1.0 - p;
            }
          }
        }
        const double r = 1.0 / static_cast<double>(n - 1);
        for (int64_t i = 0; i < G; ++i) {
          for (int64_t l = 0; l < k; ++l) {
            const double v = acc[i * k + l] * r - 0.5;
            sdbl[i * k + l] = v;
            s[i * k + l] = valid[i] ? static_cast<float>(v) : kNaN;
            if (valid[i]) mu[l] += v;
          }
        }
      }
    } else {
      for (int64_t i = 0; i < G; ++i) {
        if (!valid[i]) continue;
        for (int64_t l = 0; l < k; ++l) {
          const double v = s[i * k + l];
          sdbl[i * k + l] = v;
          mu[l] += v;
        }
      }
    }
    if (!advantage) continue;

    // 3. Per-dimension mean and two-pass std over the valid responses.
    const AdvantageOutputs& out = job.out;
    if (n > 0) {
      const double rn = 1.0 / static_cast<double>(n);
      for (int64_t l = 0; l < k; ++l) mu[l] *= rn;
    }
    double* ss = abar;  // reuse
    for (int64_t l = 0; l < k; ++l) ss[l] = 0.0;
    for (int64_t i = 0; i < G; ++i) {
      if (!valid[i]) continue;
      const double* di = sdbl + i * k;
      for (int64_t l = 0; l < k; ++l) {
        const double d = di[l] - mu[l];
        ss[l] += d * d;
      }
    }
    for (int64_t l = 0; l < k; ++l) {
      const double sd = std_from_ss(ss[l], n, opt.unbiased);
      out.dim_mean[b * k + l] = static_cast<float>(mu[l]);
      out.dim_std[b * k + l] = static_cast<float>(sd);
      const bool degenerate = n >= 1 && sd <= opt.std_floor;
      inv[l] = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
      deg += degenerate && opt.normalize != kNormalizeScalar ? 1 : 0;
    }
    if (group_weights) compute_weights(job.dim_weights, job.lambdas + b * k, k, w);

    // 4. Normalized per-dimension advantages and the per-response aggregate.
    float* da = out.dim_advantages + b * G * k;
    double* agg = sc.resp.data();
    const bool scalar = opt.normalize == kNormalizeScalar;
    for (int64_t i = 0; i < G; ++i) {
      float* dai = da + i * k;
      if (!valid[i]) {
        for (int64_t l = 0; l < k; ++l) dai[l] = 0.0f;
        agg[i] = 0.0;
        continue;
      }
      const double* di = sdbl + i * k;
      double acc_a = 0.0, acc_s = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        const double ahat = (di[l] - mu[l]) * inv[l];
        dai[l] = static_cast<float>(ahat);
        acc_a += w[l] * ahat;
        acc_s += w[l] * di[l];
      }
      agg[i] = scalar ? acc_s : acc_a;
    }

    float* adv = out.advantages + b * G;
    if (opt.normalize == kNormalizePerDimension) {
      for (int64_t i = 0; i < G; ++i) adv[i] = valid[i] ? static_cast<float>(agg[i]) : 0.0f;
    } else if (scalar) {
      double m = 0.0;
      for (int64_t i = 0; i < G; ++i) m += valid[i] ? agg[i] : 0.0;
      if (n > 0) m /= static_cast<double>(n);
      double sq = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        if (!valid[i]) continue;
        const double d = agg[i] - m;
        sq += d * d;
      }
      const double sd = std_from_ss(sq, n, opt.unbiased);
      const bool degenerate = n >= 1 && sd <= opt.std_floor;
      if (degenerate) ++deg;
      const double r = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
      for (int64_t i = 0; i < G; ++i) adv[i] = valid[i] ? static_cast<float>((agg[i] - m) * r) : 0.0f;
    } else {
      // gdpo: keep A' in float64 for the batch-level pass.
      double* prime = gdpo->prime.data() + b * G;
      double sum = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        prime[i] = valid[i] ? agg[i] : std::numeric_limits<double>::quiet_NaN();
        sum += valid[i] ? agg[i] : 0.0;
      }
      gdpo->gsum[static_cast<size_t>(b)] = sum;
      gdpo->gcount[static_cast<size_t>(b)] = n;
    }
  }
  *deg_out += deg;
  *masked_out += masked;
}

using GroupFn = void (*)(const GroupJob&, int64_t, int64_t, Scratch&, GdpoState*, int64_t*, int64_t*);

template <bool kEmb>
GroupFn pick(int64_t k) {
  switch (k) {
    case 1: return &process_groups<1, kEmb>;
    case 2: return &process_groups<2, kEmb>;
    case 3: return &process_groups<3, kEmb>;
    case 4: return &process_groups<4, kEmb>;
    case 8: return &process_groups<8, kEmb>;
    case 16: return &process_groups<16, kEmb>;
    default: return &process_groups<0, kEmb>;
  }
}

/** gdpo second pass: one z-score over all valid responses of the batch (deterministic order). */
int64_t gdpo_finish(const GroupJob& job, GdpoState& st) {
  const int64_t B = job.shape.groups, G = job.shape.group_size;
  const AdvantageOptions& opt = job.options;
  double sum = 0.0;
  int64_t n = 0;
  for (int64_t b = 0; b < B; ++b) {
    sum += st.gsum[static_cast<size_t>(b)];
    n += st.gcount[static_cast<size_t>(b)];
  }
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  // Reuse gsum for the per-group sums of squared deviations.
  parallel_for(static_cast<size_t>(B), static_cast<size_t>(G), [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      const double* p = st.prime.data() + b * static_cast<size_t>(G);
      double sq = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        if (std::isnan(p[i])) continue;
        const double d = p[i] - mean;
        sq += d * d;
      }
      st.gsum[b] = sq;
    }
  });
  double sq = 0.0;
  for (int64_t b = 0; b < B; ++b) sq += st.gsum[static_cast<size_t>(b)];
  const double sd = std_from_ss(sq, n, opt.unbiased);
  const bool degenerate = n >= 1 && sd <= opt.std_floor;
  const double r = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
  parallel_for(static_cast<size_t>(B), static_cast<size_t>(G), [&](size_t b0, size_t b1) {
    for (size_t t = b0 * static_cast<size_t>(G); t < b1 * static_cast<size_t>(G); ++t) {
      const double p = st.prime[t];
      job.out.advantages[t] = std::isnan(p) ? 0.0f : static_cast<float>((p - mean) * r);
    }
  });
  return degenerate ? 1 : 0;
}

}  // namespace

Status run_groups_cpu(const GroupJob& job, AdvantageCounts* counts) {
  const Shape& sh = job.shape;
  const int64_t B = sh.groups, G = sh.group_size, k = sh.dims;
  const bool winrate = job.embeddings != nullptr && job.mode == kModeWinrate;
  const bool gdpo = job.advantage && job.options.normalize == kNormalizeGdpo;
  try {
    GdpoState st;
    if (gdpo) {
      st.prime.resize(static_cast<size_t>(B * G));
      st.gsum.resize(static_cast<size_t>(B));
      st.gcount.resize(static_cast<size_t>(B));
    }
    const GroupFn fn = job.embeddings != nullptr ? pick<true>(k) : pick<false>(k);
    // Work per group, in values touched: embeddings and outputs, or G^2 k pairs for win rate.
    const size_t per_group = static_cast<size_t>(G * k * (winrate ? G : 6));
    std::atomic<int64_t> deg{0}, masked{0};
    parallel_for(static_cast<size_t>(B), per_group, [&](size_t b0, size_t b1) {
      Scratch sc(G, k, winrate);
      int64_t d = 0, m = 0;
      fn(job, static_cast<int64_t>(b0), static_cast<int64_t>(b1), sc, gdpo ? &st : nullptr, &d, &m);
      deg += d;
      masked += m;
    });
    int64_t d = deg.load();
    if (gdpo) d += gdpo_finish(job, st);
    if (counts) {
      counts->degenerate = d;
      counts->masked = masked.load();
    }
  } catch (const std::bad_alloc&) {
    return Status::Error("gprl: out of host memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("gprl: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace detail
}  // namespace gprl
