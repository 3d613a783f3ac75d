// Kernel test program, no Node.js needed:
//   cmake -S native/test -B build-test && cmake --build build-test && ctest --test-dir build-test
//
// 1. C++ path against an independent float64 reference written here (naive pairwise sums, two-pass
//    statistics), on seeded random inputs over G = 1,2,3,7,16,64 and k = 1,3,8, with masks, NaN/Inf
//    responses, degenerate dimensions and groups, both score modes, all normalize modes and both std
//    conventions. Tolerance |got - want| <= atol + rtol*|want| with atol = rtol = 1e-5: the kernels
//    accumulate in float64 and round once to float32 (relative error ~6e-8), and advantages are O(1).
// 2. Thread-count determinism: 1 thread and several threads give bit-identical outputs.
// 3. CUDA path (when a device works) against the C++ path for every case and every block size of the
//    sweep, atol = 1e-6, rtol = 1e-5 (the two differ only by float64 summation order and FMA).
//    Every output is prefilled with a canary NaN bit pattern to prove that each element was written.
// 4. Timing of both paths at B = 65536, G = 16, k = 8 (fused gprl_advantages), and the machine's read
//    bandwidth from the same probe the benchmarks use.
// Without a CUDA device, step 3 reports "CUDA: not available (<reason>)" and the program still passes;
// it checks that the CUDA entry points fail with an error message rather than crashing.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "bandwidth.h"
#include "common.h"
#include "cuda_info.h"
#include "test_util.h"
#include "gprl_advantages.h"
#include "group_advantages.h"
#include "group_scores.h"
#include "parallel.h"
#include "preference_matrix.h"

using namespace gprl;
using namespace gprl_test;

namespace {

/** Compare float32 outputs with wanted values; prints the first mismatches (index, got, want). */
bool compare(const std::string& what, const float* got, const std::vector<double>& want, double atol, double rtol) {
  ++g_checks;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (is_canary(got[i])) ok = false;
    else if (std::isnan(w)) ok = std::isnan(g);
    else ok = std::isfinite(g) && std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok) {
      if (bad < 5) {
        std::printf("  MISMATCH %s [%zu]: got %.9g%s, want %.9g\n", what.c_str(), i, g,
                    is_canary(got[i]) ? " (never written)" : "", w);
      }
      ++bad;
    }
  }
  if (bad) {
    std::printf("  FAIL %s: %d of %zu elements outside atol=%g rtol=%g\n", what.c_str(), bad, want.size(), atol, rtol);
    ++g_failures;
  }
  return bad == 0;
}

bool compare_f(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double atol,
               double rtol) {
  std::vector<double> w(want.begin(), want.end());
  return compare(what, got.data(), w, atol, rtol);
}

void expect(bool cond, const std::string& what) {
  ++g_checks;
  if (!cond) {
    std::printf("  FAIL %s\n", what.c_str());
    ++g_failures;
  }
}

void expect_ok(const Status& s, const std::string& what) {
  ++g_checks;
  if (!s.ok) {
    std::printf("  FAIL %s: %s\n", what.c_str(), s.message.c_str());
    ++g_failures;
  }
}

// ---------------------------------------------------------------------------------------------
// Independent float64 reference.

struct RefAdv {
  std::vector<double> adv, dim_adv, mean, sd;
  int64_t degenerate = 0, masked = 0;
};

double ref_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

double ref_mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double ref_std(const std::vector<double>& v, bool unbiased) {
  if (v.size() < 2) return 0.0;
  const double m = ref_mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(unbiased ? v.size() - 1 : v.size()));
}

bool ref_response_valid(const float* vals, int64_t n, const uint8_t* mask, int64_t idx) {
  if (mask && mask[idx] == 0) return false;
  for (int64_t t = 0; t < n; ++t) {
    if (!std::isfinite(vals[t])) return false;
  }
  return true;
}

std::vector<double> ref_scores(const Shape& sh, const float* emb, const uint8_t* mask, int mode, double tau) {
  const int64_t B = sh.groups, G = sh.group_size, k = sh.dims;
  std::vector<double> out(static_cast<size_t>(B * G * k));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<bool> valid(static_cast<size_t>(G));
    int64_t n = 0;
    for (int64_t i = 0; i < G; ++i) {
      valid[i] = ref_response_valid(emb + (b * G + i) * 2 * k, 2 * k, mask, b * G + i);
      n += valid[i];
    }
    for (int64_t i = 0; i < G; ++i) {
      for (int64_t l = 0; l < k; ++l) {
        double v;
        if (!valid[i]) {
          v = std::nan("");
        } else if (n < 2) {
          v = 0;
        } else {
          double t = 0;
          for (int64_t j = 0; j < G; ++j) {
            if (j == i || !valid[j]) continue;
            const float* ei = emb + (b * G + i) * 2 * k;
            const float* ej = emb + (b * G + j) * 2 * k;
            const double s = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] - static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
            t += mode == kModeLogit ? s : ref_sigmoid(s / tau);
          }
          v = t / static_cast<double>(n - 1) - (mode == kModeWinrate ? 0.5 : 0.0);
        }
        out[static_cast<size_t>((b * G + i) * k + l)] = v;
      }
    }
  }
  return out;
}

RefAdv ref_advantages(const Shape& sh, const std::vector<double>& scores, const AdvantageInputs& in,
                      const AdvantageOptions& o) {
  const int64_t B = sh.groups, G = sh.group_size, k = sh.dims;
  RefAdv r;
  r.adv.assign(static_cast<size_t>(B * G), 0.0);
  r.dim_adv.assign(static_cast<size_t>(B * G * k), 0.0);
  r.mean.assign(static_cast<size_t>(B * k), 0.0);
  r.sd.assign(static_cast<size_t>(B * k), 0.0);
  std::vector<std::pair<int64_t, double>> batch;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < G; ++i) {
      bool ok = !(in.mask && in.mask[b * G + i] == 0);
      for (int64_t l = 0; l < k; ++l) ok = ok && std::isfinite(scores[static_cast<size_t>((b * G + i) * k + l)]);
      if (ok) idx.push_back(i);
      else ++r.masked;
    }
    const int64_t n = static_cast<int64_t>(idx.size());
    std::vector<double> w(static_cast<size_t>(k));
    double wt = 0;
    for (int64_t l = 0; l < k; ++l) {
      w[l] = (in.dim_weights ? in.dim_weights[l] : 1.0) * (in.lambdas ? in.lambdas[b * k + l] : 1.0);
      wt += w[l];
    }
    for (auto& x : w) x /= wt;
    auto S = [&](int64_t i, int64_t l) { return scores[static_cast<size_t>((b * G + i) * k + l)]; };
    for (int64_t l = 0; l < k; ++l) {
      std::vector<double> vals;
      for (int64_t i : idx) vals.push_back(S(i, l));
      const double mu = ref_mean(vals), sd = ref_std(vals, o.unbiased);
      r.mean[b * k + l] = mu;
      r.sd[b * k + l] = sd;
      const bool degen = n >= 1 && sd <= o.std_floor;
      if (degen && o.normalize != kNormalizeScalar) ++r.degenerate;
      for (int64_t i : idx) r.dim_adv[(b * G + i) * k + l] = degen ? 0.0 : (S(i, l) - mu) / (sd + o.eps);
    }
    if (o.normalize == kNormalizeScalar) {
      std::vector<double> agg;
      for (int64_t i : idx) {
        double t = 0;
        for (int64_t l = 0; l < k; ++l) t += w[l] * S(i, l);
        agg.push_back(t);
      }
      const double mu = ref_mean(agg), sd = ref_std(agg, o.unbiased);
      const bool degen = n >= 1 && sd <= o.std_floor;
      if (degen) ++r.degenerate;
      for (size_t t = 0; t < idx.size(); ++t) r.adv[b * G + idx[t]] = degen ? 0.0 : (agg[t] - mu) / (sd + o.eps);
    } else {
      for (int64_t i : idx) {
        double t = 0;
        for (int64_t l = 0; l < k; ++l) t += w[l] * r.dim_adv[(b * G + i) * k + l];
        if (o.normalize == kNormalizePerDimension) r.adv[b * G + i] = t;
        else batch.push_back({b * G + i, t});
      }
    }
  }
  if (o.normalize == kNormalizeGdpo) {
    std::vector<double> vals;
    for (auto& p : batch) vals.push_back(p.second);
    const double mu = ref_mean(vals), sd = ref_std(vals, o.unbiased);
    const bool degen = !vals.empty() && sd <= o.std_floor;
    if (degen) ++r.degenerate;
    for (auto& p : batch) r.adv[p.first] = degen ? 0.0 : (p.second - mu) / (sd + o.eps);
  }
  return r;
}

std::vector<double> ref_preference(const Shape& sh, const float* emb, const float* lambdas, double tau) {
  const int64_t B = sh.groups, G = sh.group_size, k = sh.dims;
  std::vector<double> out;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < G; ++i) {
      for (int64_t j = 0; j < G; ++j) {
        const float* ei = emb + (b * G + i) * 2 * k;
        const float* ej = emb + (b * G + j) * 2 * k;
        if (!ref_response_valid(ei, 2 * k, nullptr, 0) || !ref_response_valid(ej, 2 * k, nullptr, 0)) {
          out.push_back(std::nan(""));
          continue;
        }
        double s = 0;
        for (int64_t l = 0; l < k; ++l) {
          const double sl = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] - static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
          s += (lambdas ? lambdas[b * k + l] : 1.0) * sl;
        }
        out.push_back(ref_sigmoid(s / tau));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cases.

struct Case {
  Shape shape;
  int mode = kModeLogit;
  double tau = 0.1;
  bool use_mask = false, use_lambdas = false, use_weights = false;
  bool nonfinite = false, degenerate = false;
  AdvantageOptions opt;
  uint64_t seed = 1;

  std::string label() const {
    char buf[256];
    std::snprintf(buf, sizeof buf, "B=%lld G=%lld k=%lld %s norm=%d %s%s%s%s%s%s", static_cast<long long>(shape.groups),
                  static_cast<long long>(shape.group_size), static_cast<long long>(shape.dims),
                  mode == kModeLogit ? "logit" : "winrate", opt.normalize, opt.unbiased ? "unbiased" : "biased",
                  use_mask ? " mask" : "", nonfinite ? " nonfinite" : "", degenerate ? " degenerate" : "",
                  use_lambdas ? " lambdas" : "", use_weights ? " weights" : "");
    return buf;
  }
};

struct Data {
  std::vector<float> emb, lambdas, weights;
  std::vector<uint8_t> mask;
};

Data make_data(const Case& c) {
  Rng rng(c.seed);
  const int64_t B = c.shape.groups, G = c.shape.group_size, k = c.shape.dims;
  Data d;
  d.emb.resize(static_cast<size_t>(B * G * 2 * k));
  const double scale = c.mode == kModeWinrate ? 0.6 : 1.0;  // keep win rates away from saturation
  for (auto& x : d.emb) x = static_cast<float>(scale * rng.normal());
  if (c.degenerate) {
    // Group 0: identical responses (every dimension and the scalar aggregate degenerate).
    for (int64_t i = 1; i < G; ++i) {
      for (int64_t t = 0; t < 2 * k; ++t) d.emb[i * 2 * k + t] = d.emb[t];
    }
    // Dimension 0 constant within every group: s_0(i, j) = 0 exactly.
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 1; i < G; ++i) {
        d.emb[(b * G + i) * 2 * k] = d.emb[b * G * 2 * k];
        d.emb[(b * G + i) * 2 * k + 1] = d.emb[b * G * 2 * k + 1];
      }
    }
  }
  if (c.nonfinite) {
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity()};
    for (int64_t r = 0; r < B * G; ++r) {
      if (rng.uniform() < 0.12) d.emb[r * 2 * k + rng.below(2 * k)] = bad[rng.below(3)];
    }
  }
  if (c.use_mask) {
    d.mask.resize(static_cast<size_t>(B * G));
    for (auto& m : d.mask) m = rng.uniform() < 0.2 ? 0 : static_cast<uint8_t>(1 + rng.below(255));
  }
  if (c.use_lambdas) {
    d.lambdas.resize(static_cast<size_t>(B * k));
    for (auto& x : d.lambdas) x = static_cast<float>(0.05 + rng.uniform());
  }
  if (c.use_weights) {
    d.weights.resize(static_cast<size_t>(k));
    for (auto& x : d.weights) x = static_cast<float>(0.2 + 2.0 * rng.uniform());
  }
  return d;
}

struct AdvOut {
  std::vector<float> adv, dim_adv, mean, sd, scores;
  AdvantageCounts counts;
  explicit AdvOut(const Shape& s) {
    const size_t BG = static_cast<size_t>(s.groups * s.group_size);
    adv.assign(BG, canary());
    dim_adv.assign(BG * static_cast<size_t>(s.dims), canary());
    mean.assign(static_cast<size_t>(s.groups * s.dims), canary());
    sd.assign(mean.size(), canary());
    scores.assign(dim_adv.size(), canary());
    counts.degenerate = counts.masked = -1;
  }
  AdvantageOutputs outputs() { return {adv.data(), dim_adv.data(), mean.data(), sd.data()}; }
};

AdvantageInputs inputs_of(const Data& d) {
  AdvantageInputs in;
  in.lambdas = d.lambdas.empty() ? nullptr : d.lambdas.data();
  in.dim_weights = d.weights.empty() ? nullptr : d.weights.data();
  in.mask = d.mask.empty() ? nullptr : d.mask.data();
  return in;
}

void compare_adv(const std::string& tag, AdvOut& got, const RefAdv& want, double atol, double rtol) {
  compare(tag + " advantages", got.adv.data(), want.adv, atol, rtol);
  compare(tag + " dimAdvantages", got.dim_adv.data(), want.dim_adv, atol, rtol);
  compare(tag + " dimMean", got.mean.data(), want.mean, atol, rtol);
  compare(tag + " dimStd", got.sd.data(), want.sd, atol, rtol);
  expect(got.counts.degenerate == want.degenerate,
         tag + " degenerate count " + std::to_string(got.counts.degenerate) + " want " + std::to_string(want.degenerate));
  expect(got.counts.masked == want.masked,
         tag + " masked count " + std::to_string(got.counts.masked) + " want " + std::to_string(want.masked));
}

void compare_adv_paths(const std::string& tag, AdvOut& got, AdvOut& want, double atol, double rtol) {
  compare_f(tag + " advantages", got.adv, want.adv, atol, rtol);
  compare_f(tag + " dimAdvantages", got.dim_adv, want.dim_adv, atol, rtol);
  compare_f(tag + " dimMean", got.mean, want.mean, atol, rtol);
  compare_f(tag + " dimStd", got.sd, want.sd, atol, rtol);
  expect(got.counts.degenerate == want.counts.degenerate, tag + " degenerate count");
  expect(got.counts.masked == want.counts.masked, tag + " masked count");
}

constexpr double kRefAtol = 1e-5, kRefRtol = 1e-5;
constexpr double kCudaAtol = 1e-6, kCudaRtol = 1e-5;

/** C++ path against the float64 reference; returns the C++ outputs for the CUDA comparison. */
struct CpuResults {
  std::vector<float> scores, pm;
  AdvOut chained, fused;
  explicit CpuResults(const Shape& s) : chained(s), fused(s) {}
};

CpuResults check_cpu(const Case& c, const Data& d) {
  const Shape& sh = c.shape;
  const std::string tag = "[cpu " + c.label() + "]";
  const uint8_t* mask = d.mask.empty() ? nullptr : d.mask.data();
  const AdvantageInputs in = inputs_of(d);
  CpuResults r(sh);

  // group_scores
  r.scores.assign(static_cast<size_t>(sh.groups * sh.group_size * sh.dims), canary());
  GroupScoresParams sp{sh, c.mode, c.tau};
  expect_ok(group_scores_cpu(sp, d.emb.data(), mask, r.scores.data()), tag + " group_scores");
  const std::vector<double> ref_s = ref_scores(sh, d.emb.data(), mask, c.mode, c.tau);
  compare(tag + " scores", r.scores.data(), ref_s, kRefAtol, kRefRtol);

  // group_advantages on the float32 scores (the reference reads the same float32 values)
  expect_ok(group_advantages_cpu(sh, c.opt, r.scores.data(), in, r.chained.outputs(), &r.chained.counts),
            tag + " group_advantages");
  const std::vector<double> fs(r.scores.begin(), r.scores.end());
  compare_adv(tag + " group_advantages", r.chained, ref_advantages(sh, fs, in, c.opt), kRefAtol, kRefRtol);

  // gprl_advantages (fused) against the reference chained in float64
  GprlAdvantagesParams gp{sh, c.mode, c.tau, c.opt};
  expect_ok(gprl_advantages_cpu(gp, d.emb.data(), in, r.fused.scores.data(), r.fused.outputs(), &r.fused.counts),
            tag + " gprl_advantages");
  compare(tag + " gprl scores", r.fused.scores.data(), ref_s, kRefAtol, kRefRtol);
  compare_adv(tag + " gprl_advantages", r.fused, ref_advantages(sh, ref_s, in, c.opt), kRefAtol, kRefRtol);

  // preference_matrix
  r.pm.assign(static_cast<size_t>(sh.groups * sh.group_size * sh.group_size), canary());
  PreferenceMatrixParams pp{sh, c.tau};
  const float* lam = d.lambdas.empty() ? nullptr : d.lambdas.data();
  expect_ok(preference_matrix_cpu(pp, d.emb.data(), lam, r.pm.data()), tag + " preference_matrix");
  compare(tag + " preference", r.pm.data(), ref_preference(sh, d.emb.data(), lam, c.tau), kRefAtol, kRefRtol);
  return r;
}

void check_cuda(const Case& c, const Data& d, CpuResults& cpu, const std::vector<int>& block_sizes) {
  const Shape& sh = c.shape;
  const uint8_t* mask = d.mask.empty() ? nullptr : d.mask.data();
  const AdvantageInputs in = inputs_of(d);
  const float* lam = d.lambdas.empty() ? nullptr : d.lambdas.data();
  for (int bs : block_sizes) {
    const std::string tag = "[cuda bs=" + std::to_string(bs) + " " + c.label() + "]";
    CudaLaunch launch{bs};
    std::vector<float> scores(cpu.scores.size(), canary());
    expect_ok(group_scores_cuda({sh, c.mode, c.tau}, d.emb.data(), mask, scores.data(), launch), tag + " group_scores");
    compare_f(tag + " scores", scores, cpu.scores, kCudaAtol, kCudaRtol);

    AdvOut chained(sh);
    expect_ok(group_advantages_cuda(sh, c.opt, cpu.scores.data(), in, chained.outputs(), &chained.counts, launch),
              tag + " group_advantages");
    compare_adv_paths(tag + " group_advantages", chained, cpu.chained, kCudaAtol, kCudaRtol);

    AdvOut fused(sh);
    expect_ok(gprl_advantages_cuda({sh, c.mode, c.tau, c.opt}, d.emb.data(), in, fused.scores.data(), fused.outputs(),
                                   &fused.counts, launch),
              tag + " gprl_advantages");
    compare_f(tag + " gprl scores", fused.scores, cpu.fused.scores, kCudaAtol, kCudaRtol);
    compare_adv_paths(tag + " gprl_advantages", fused, cpu.fused, kCudaAtol, kCudaRtol);

    std::vector<float> pm(cpu.pm.size(), canary());
    expect_ok(preference_matrix_cuda({sh, c.tau}, d.emb.data(), lam, pm.data(), launch), tag + " preference_matrix");
    compare_f(tag + " preference", pm, cpu.pm, kCudaAtol, kCudaRtol);
  }
}

std::vector<Case> make_cases() {
  std::vector<Case> cases;
  Rng rng(20240601);
  const int64_t Gs[] = {1, 2, 3, 7, 16, 64};
  const int64_t ks[] = {1, 3, 8};
  uint64_t seed = 1;
  for (int64_t G : Gs) {
    for (int64_t k : ks) {
      for (int mode : {kModeLogit, kModeWinrate}) {
        for (int norm : {kNormalizePerDimension, kNormalizeScalar, kNormalizeGdpo}) {
          Case c;
          c.shape = {1 + rng.below(6), G, k};
          c.mode = mode;
          c.tau = mode == kModeWinrate && rng.uniform() < 0.5 ? 0.5 : 0.1;
          c.opt.normalize = norm;
          c.opt.unbiased = rng.uniform() < 0.7;
          c.opt.eps = rng.uniform() < 0.2 ? 0.0 : 1e-4;
          c.use_mask = rng.uniform() < 0.5;
          c.nonfinite = rng.uniform() < 0.4;
          c.degenerate = rng.uniform() < 0.3;
          c.use_lambdas = rng.uniform() < 0.6;
          c.use_weights = rng.uniform() < 0.4;
          c.seed = seed++;
          cases.push_back(c);
        }
      }
    }
  }
  // Wide k (beyond the C++ path's stack buffers) and a long group (more responses than CUDA threads).
  for (const Shape& sh : {Shape{3, 5, 70}, Shape{2, 300, 2}}) {
    for (int mode : {kModeLogit, kModeWinrate}) {
      Case c;
      c.shape = sh;
      c.mode = mode;
      c.use_mask = c.nonfinite = c.use_lambdas = c.use_weights = true;
      c.opt.normalize = kNormalizeGdpo;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Larger batches: the multi-threaded split and the specialized k.
  for (int64_t k : {int64_t{2}, int64_t{4}, int64_t{8}, int64_t{16}, int64_t{5}}) {
    Case c;
    c.shape = {700, 16, k};
    c.use_mask = c.nonfinite = c.use_lambdas = true;
    c.opt.normalize = static_cast<int>(k % 3);
    c.seed = seed++;
    cases.push_back(c);
  }
  return cases;
}

/** 1 thread and several threads give bit-identical results. */
void check_threads() {
  Case c;
  c.shape = {3000, 16, 8};
  c.use_mask = c.nonfinite = c.use_lambdas = c.use_weights = true;
  c.seed = 777;
  const Data d = make_data(c);
  const AdvantageInputs in = inputs_of(d);
  for (int norm : {kNormalizePerDimension, kNormalizeScalar, kNormalizeGdpo}) {
    for (int mode : {kModeLogit, kModeWinrate}) {
      c.opt.normalize = norm;
      c.mode = mode;
      AdvOut one(c.shape), many(c.shape);
      set_num_threads(1);
      expect_ok(gprl_advantages_cpu({c.shape, c.mode, c.tau, c.opt}, d.emb.data(), in, one.scores.data(), one.outputs(),
                                    &one.counts),
                "threads=1");
      set_num_threads(5);
      expect(threads_for(static_cast<size_t>(c.shape.groups), 16 * 8 * 6) > 1, "work large enough to use threads");
      expect_ok(gprl_advantages_cpu({c.shape, c.mode, c.tau, c.opt}, d.emb.data(), in, many.scores.data(),
                                    many.outputs(), &many.counts),
                "threads=5");
      set_num_threads(0);
      const bool same = one.adv == many.adv || std::memcmp(one.adv.data(), many.adv.data(), one.adv.size() * 4) == 0;
      expect(same && std::memcmp(one.dim_adv.data(), many.dim_adv.data(), one.dim_adv.size() * 4) == 0 &&
                 std::memcmp(one.scores.data(), many.scores.data(), one.scores.size() * 4) == 0 &&
                 one.counts.degenerate == many.counts.degenerate && one.counts.masked == many.counts.masked,
             "bit-identical results for 1 and 5 threads (normalize " + std::to_string(norm) + ", mode " +
                 std::to_string(mode) + ")");
    }
  }
}

/** Hand-derived values: k = 1, e = [r, c] with c constant reduces to the GRPO advantage. */
void check_hand_derived() {
  // Rewards 1, 2, 3, 6 with c = 1: s_hat(i) = n/(n-1) (r_i * 1 - 1 * mean r) -> z-score of r.
  const float emb[] = {1, 1, 2, 1, 3, 1, 6, 1};
  AdvantageOptions o;
  o.eps = 0;
  Shape sh{1, 4, 1};
  AdvOut out(sh);
  expect_ok(gprl_advantages_cpu({sh, kModeLogit, 0.1, o}, emb, {}, out.scores.data(), out.outputs(), &out.counts),
            "hand-derived");
  // mean r = 3, unbiased std = sqrt((4 + 1 + 0 + 9) / 3) = sqrt(14/3)
  const double sd = std::sqrt(14.0 / 3.0);
  compare("hand-derived GRPO advantages", out.adv.data(), {-2 / sd, -1 / sd, 0, 3 / sd}, 1e-6, 1e-6);
  compare("hand-derived scores", out.scores.data(), {4.0 / 3 * -2, 4.0 / 3 * -1, 0, 4.0 / 3 * 3}, 1e-6, 1e-6);
}

void check_errors() {
  Shape sh{1, 2, 1};
  float emb[4] = {1, 2, 3, 4}, out[2];
  expect(!group_scores_cpu({sh, kModeWinrate, 0.0, }, emb, nullptr, out).ok, "tau = 0 is rejected");
  expect(!group_scores_cpu({{0, 2, 1}, kModeLogit, 0.1}, emb, nullptr, out).ok, "groups = 0 is rejected");
  AdvantageOptions o;
  o.normalize = 7;
  float adv[2], da[2], m[1], s[1];
  expect(!group_advantages_cpu(sh, o, out, {}, {adv, da, m, s}, nullptr).ok, "unknown normalize is rejected");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void timing(bool cuda) {
  Case c;
  c.shape = {65536, 16, 8};
  c.seed = 99;
  const Data d = make_data(c);
  AdvOut out(c.shape);
  const GprlAdvantagesParams p{c.shape, kModeLogit, 0.1, c.opt};
  const double BGk = 65536.0 * 16 * 8;
  const double bytes = 8 * BGk + 8 * BGk + 4 * 65536.0 * 16 + 8 * 65536.0 * 8;  // read + written
  auto best = [&](const std::function<Status()>& fn) {
    double t = 1e300;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const Status s = fn();
      if (!s.ok) return -1.0;
      t = std::min(t, seconds_since(t0));
    }
    return t;
  };
  const double tc = best([&] { return gprl_advantages_cpu(p, d.emb.data(), {}, out.scores.data(), out.outputs(), &out.counts); });
  BandwidthResult bw;
  memory_bandwidth(size_t{256} << 20, 3, get_num_threads(), &bw);
  std::printf("timing gprl_advantages B=65536 G=16 k=8 logit: C++ %.2f ms (%.1f GB/s, %d threads; read bandwidth %.1f GB/s)\n",
              tc * 1e3, bytes / tc / 1e9, get_num_threads(), bw.read_gbs);
  if (cuda) {
    const double tg =
        best([&] { return gprl_advantages_cuda(p, d.emb.data(), {}, out.scores.data(), out.outputs(), &out.counts); });
    std::printf("timing gprl_advantages B=65536 G=16 k=8 logit: CUDA %.2f ms including host<->device copies\n", tg * 1e3);
  }
}

}  // namespace

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  const CudaStatus cs = cuda_status();
  std::vector<int> block_sizes = {0, 32, 64, 128, 256, 512, 1024};
  if (cs.available) {
    std::printf("CUDA: available (%s, %d device(s))\n", cs.device.c_str(), cs.device_count);
  } else {
    std::printf("CUDA: not available (%s)\n", cs.error.c_str());
  }

  check_hand_derived();
  check_errors();
  const std::vector<Case> cases = make_cases();
  for (const Case& c : cases) {
    const Data d = make_data(c);
    CpuResults cpu = check_cpu(c, d);
    if (cs.available) check_cuda(c, d, cpu, block_sizes);
  }
  check_threads();

  if (!cs.available) {
    // The CUDA entry points must fail cleanly with a message.
    const float emb[4] = {1, 2, 3, 4};
    float out[2];
    const Status s = group_scores_cuda({{1, 2, 1}, kModeLogit, 0.1}, emb, nullptr, out);
    expect(!s.ok && !s.message.empty(), "CUDA entry point without a device returns an error");
    std::printf("CUDA entry point without a device: \"%s\"\n", s.message.c_str());
  }
  timing(cs.available);

  std::printf("%zu cases, %d checks, %d failures, %.1f s\n", cases.size(), g_checks, g_failures, seconds_since(t0));
  if (g_failures) {
    std::printf("FAILED\n");
    return 1;
  }
  std::printf("PASSED\n");
  return 0;
}
