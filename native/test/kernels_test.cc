// Kernel test program, no Node.js needed:
//   cmake -S native/test -B build-test && cmake --build build-test && ctest --test-dir build-test
// On a GPU machine: scripts/gpu-check.sh (builds for the present card, sets GPRL_TEST_REQUIRE_CUDA=1).
//
// 1. C++ path against an independent float64 reference written here (naive pairwise sums, two-pass
//    statistics), on seeded random inputs over G = 1,2,3,7,16,64 and k = 1,3,8, with masks, NaN/Inf
//    responses, degenerate dimensions and groups, both score modes, all normalize modes and both std
//    conventions. Tolerance |got - want| <= atol + rtol*|want| with atol = rtol = 1e-5: the kernels
//    accumulate in float64 and round once to float32 (relative error ~6e-8), and advantages are O(1).
// 2. Thread-count determinism: 1 thread and several threads give bit-identical outputs.
// 3. CUDA path (when a device works) against the C++ path for every case, every block size of the
//    sweep, both group teams (a warp or a block per group), the global-memory workspace and the
//    chunked host-array pipeline (forced to 1-3 groups per chunk), atol = 1e-6, rtol = 1e-5. The two are NOT bitwise equal:
//    float64 sums run in a different order (warp-shuffle trees vs sequential), nvcc contracts
//    multiply-adds into FMAs, and the device exp differs from glibc's by up to ~1 ulp; each changes
//    the float64 intermediates by ~1e-16..1e-15 relative, which after the float32 rounding of the
//    outputs and the normalization (division by sigma + eps) stays far below the tolerance.
//    Every host output is prefilled with a canary NaN and every device output with an all-ones NaN
//    (CudaLaunch::poison_outputs) before the kernels run, so an element never written fails.
//    Hazard tests: concurrent calls from 8 threads (including the > 48 KiB shared-memory kernel's
//    one-time opt-in), a forced out-of-memory error followed by good calls on the same thread, null
//    (not requested) outputs, groups too large for shared memory (k = 8, G = 4096) and a > 48 KiB
//    shared-memory workspace (G = 768, k = 8), device selection (CudaLaunch::device, GPRL_CUDA_DEVICE).
// 4. Timing: host-array calls on both paths (copies included; the data for backend 'auto'), the fused
//    kernel on the device alone at B = 65536, G = 16, k = 8 next to a cudaMemcpy device-to-device probe,
//    and the host's read bandwidth. GPRL_TEST_JSON=<file> writes the counts and timings as JSON.
// Without a CUDA device, step 3 reports "CUDA: not available (<reason>)" and the program still passes,
// checking that the CUDA entry points fail with an error message rather than crashing; with
// GPRL_TEST_REQUIRE_CUDA=1 it fails at once with one line saying why.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
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
    if (is_canary(got[i]) || is_device_poison(got[i])) ok = false;
    else if (std::isnan(w)) ok = std::isnan(g);
    else ok = std::isfinite(g) && std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok) {
      if (bad < 5) {
        std::printf("  MISMATCH %s [%zu]: got %.9g%s, want %.9g\n", what.c_str(), i, g,
                    is_canary(got[i])           ? " (never written)"
                    : is_device_poison(got[i]) ? " (never written on the device)"
                                               : "",
                    w);
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

void check_cuda(const Case& c, const Data& d, CpuResults& cpu, const std::vector<CudaLaunch>& launches) {
  const Shape& sh = c.shape;
  const uint8_t* mask = d.mask.empty() ? nullptr : d.mask.data();
  const AdvantageInputs in = inputs_of(d);
  const float* lam = d.lambdas.empty() ? nullptr : d.lambdas.data();
  for (CudaLaunch launch : launches) {
    const std::string tag = "[cuda bs=" + std::to_string(launch.block_size) +
                            (launch.chunk_groups > 0 ? " chunk=" + std::to_string(launch.chunk_groups) : std::string()) +
                            (launch.group_team == 1 ? " block-per-group" : launch.group_team == 2 ? " warp-per-group" : "") +
                            (launch.workspace == 2 ? " global-workspace " : " ") + c.label() + "]";
    launch.poison_outputs = true;
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

/** Timings of the host-array calls, C++ vs CUDA (copies included), for the 'auto' rule. */
struct HostTiming {
  std::string what;
  double pairs = 0;  // pairwise evaluations B·G²·k (0: memory-bound)
  double cpu_ms = -1, cuda_ms = -1;
};

double best_ms(const std::function<Status()>& fn, int reps) {
  double t = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!fn().ok) return -1.0;
    t = std::min(t, seconds_since(t0));
  }
  return t * 1e3;
}

std::vector<HostTiming> timing(bool cuda) {
  std::vector<HostTiming> rows;
  struct Spec {
    const char* kernel;
    Shape shape;
    int mode;
  };
  const Spec specs[] = {{"gprl_advantages", {65536, 16, 8}, kModeLogit},  {"gprl_advantages", {4096, 16, 8}, kModeWinrate},
                        {"gprl_advantages", {1024, 64, 8}, kModeWinrate}, {"gprl_advantages", {64, 256, 8}, kModeWinrate},
                        {"preference_matrix", {1024, 64, 8}, kModeLogit}};
  for (const Spec& sp : specs) {
    Case c;
    c.shape = sp.shape;
    c.mode = sp.mode;
    c.seed = 99;
    const Data d = make_data(c);
    AdvOut out(c.shape);
    std::vector<float> pm(static_cast<size_t>(sp.shape.groups * sp.shape.group_size * sp.shape.group_size));
    const GprlAdvantagesParams p{c.shape, c.mode, 0.1, c.opt};
    const bool is_pm = std::strcmp(sp.kernel, "preference_matrix") == 0;
    HostTiming row;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s B=%lld G=%lld k=%lld %s", sp.kernel, static_cast<long long>(sp.shape.groups),
                  static_cast<long long>(sp.shape.group_size), static_cast<long long>(sp.shape.dims),
                  is_pm ? "" : (sp.mode == kModeLogit ? "logit" : "winrate"));
    row.what = buf;
    row.pairs = is_pm || sp.mode == kModeWinrate
                    ? static_cast<double>(sp.shape.groups) * sp.shape.group_size * sp.shape.group_size * sp.shape.dims
                    : 0.0;
    auto run = [&](bool gpu) {
      return best_ms(
          [&] {
            if (is_pm) {
              return gpu ? preference_matrix_cuda({c.shape, 0.1}, d.emb.data(), nullptr, pm.data())
                         : preference_matrix_cpu({c.shape, 0.1}, d.emb.data(), nullptr, pm.data());
            }
            return gpu ? gprl_advantages_cuda(p, d.emb.data(), {}, out.scores.data(), out.outputs(), &out.counts)
                       : gprl_advantages_cpu(p, d.emb.data(), {}, out.scores.data(), out.outputs(), &out.counts);
          },
          3);
    };
    row.cpu_ms = run(false);
    if (cuda) row.cuda_ms = run(true);
    std::printf("timing %s: C++ %.2f ms (%d threads)", row.what.c_str(), row.cpu_ms, get_num_threads());
    if (cuda) std::printf(", CUDA %.2f ms including host<->device copies", row.cuda_ms);
    std::printf("\n");
    rows.push_back(row);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// CUDA hazards (run only where a device works).

/** The fused and chained CUDA paths against the C++ path for one case and one launch. */
void check_cuda_one(const std::string& name, const Case& c, const CudaLaunch& launch) {
  const Data d = make_data(c);
  const AdvantageInputs in = inputs_of(d);
  const Shape& sh = c.shape;
  AdvOut cpu(sh), gpu(sh);
  const GprlAdvantagesParams p{sh, c.mode, c.tau, c.opt};
  expect_ok(gprl_advantages_cpu(p, d.emb.data(), in, cpu.scores.data(), cpu.outputs(), &cpu.counts), name + " cpu");
  CudaLaunch l = launch;
  l.poison_outputs = true;
  const Status st = gprl_advantages_cuda(p, d.emb.data(), in, gpu.scores.data(), gpu.outputs(), &gpu.counts, l);
  expect_ok(st, name + " cuda");
  if (!st.ok) return;
  compare_f(name + " scores", gpu.scores, cpu.scores, kCudaAtol, kCudaRtol);
  compare_adv_paths(name, gpu, cpu, kCudaAtol, kCudaRtol);
  AdvOut chained_cpu(sh), chained_gpu(sh);
  expect_ok(group_advantages_cpu(sh, c.opt, cpu.scores.data(), in, chained_cpu.outputs(), &chained_cpu.counts),
            name + " chained cpu");
  expect_ok(group_advantages_cuda(sh, c.opt, cpu.scores.data(), in, chained_gpu.outputs(), &chained_gpu.counts, l),
            name + " chained cuda");
  compare_adv_paths(name + " chained", chained_gpu, chained_cpu, kCudaAtol, kCudaRtol);
}

/** Groups far beyond shared memory (k = 8, G = 4096: ~300 KiB of workspace per group) and a > 48 KiB one. */
void check_cuda_large_groups(const CudaStatus& cs, bool quick) {
  for (int mode : {kModeLogit, kModeWinrate}) {
    if (quick && mode == kModeWinrate) continue;
    for (int norm : {kNormalizePerDimension, kNormalizeScalar, kNormalizeGdpo}) {
      Case c;
      c.shape = {3, 4096, 8};
      c.mode = mode;
      c.opt.normalize = norm;
      c.use_mask = c.nonfinite = c.use_lambdas = c.use_weights = true;
      c.seed = 4096 + static_cast<uint64_t>(norm);
      check_cuda_one("[cuda large G=4096 k=8 " + c.label() + "]", c, CudaLaunch{});
    }
  }
  // G = 768, k = 8: workspace (5k + G + G·k + G/8) doubles = 56384 bytes, above the 48 KiB default and
  // below every supported card's opt-in maximum (64 KiB on sm_75); workspace = 1 fails unless the
  // kernel really runs with it in shared memory.
  const int64_t wsd = 5 * 8 + 768 + 768 * 8 + (768 + 7) / 8;
  expect(wsd * 8 > 48 * 1024 && wsd * 8 + 1024 <= cs.max_shared_per_block,
         "G=768 k=8 workspace " + std::to_string(wsd * 8) + " bytes is above 48 KiB and fits the device's " +
             std::to_string(cs.max_shared_per_block));
  for (int norm : {kNormalizePerDimension, kNormalizeScalar, kNormalizeGdpo}) {
    Case c;
    c.shape = {40, 768, 8};
    c.opt.normalize = norm;
    c.use_mask = c.nonfinite = c.use_lambdas = true;
    c.seed = 768 + static_cast<uint64_t>(norm);
    CudaLaunch shared_only;
    shared_only.workspace = 1;
    check_cuda_one("[cuda >48KiB shared G=768 k=8 " + c.label() + "]", c, shared_only);
  }
}

/**
 * Concurrent calls from several host threads (as the addon's async workers make them): the > 48 KiB
 * shared-memory kernel (its one-time opt-in races with the launches of other threads if it is not
 * set once), small groups and gdpo, each result compared with the C++ path. Runs first among the
 * CUDA tests so that the opt-in really happens under concurrency.
 */
void check_cuda_concurrent() {
  std::vector<Case> cases;
  for (const Shape& sh : {Shape{24, 768, 8}, Shape{200, 16, 8}, Shape{5, 3000, 4}}) {
    Case c;
    c.shape = sh;
    c.opt.normalize = static_cast<int>(cases.size());
    c.use_mask = c.use_lambdas = true;
    c.seed = 31 + cases.size();
    cases.push_back(c);
  }
  std::vector<Data> data;
  std::vector<AdvOut> want;
  for (const Case& c : cases) {
    data.push_back(make_data(c));
    want.emplace_back(c.shape);
    expect_ok(gprl_advantages_cpu({c.shape, c.mode, c.tau, c.opt}, data.back().emb.data(), inputs_of(data.back()),
                                  want.back().scores.data(), want.back().outputs(), &want.back().counts),
              "concurrent cpu reference");
  }
  constexpr int kThreads = 8, kIters = 12;
  std::vector<int> bad(kThreads, 0);
  std::vector<std::string> first_error(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < kIters; ++it) {
        const size_t ci = static_cast<size_t>(t + it) % cases.size();
        const Case& c = cases[ci];
        AdvOut got(c.shape);
        CudaLaunch l;
        l.poison_outputs = true;
        l.chunk_groups = it % 2 ? 7 : 0;  // every other call through the chunked pipeline
        const Status st = gprl_advantages_cuda({c.shape, c.mode, c.tau, c.opt}, data[ci].emb.data(),
                                               inputs_of(data[ci]), got.scores.data(), got.outputs(), &got.counts, l);
        bool ok = st.ok && got.counts.masked == want[ci].counts.masked &&
                  got.counts.degenerate == want[ci].counts.degenerate;
        for (size_t i = 0; ok && i < got.adv.size(); ++i) {
          const double w = want[ci].adv[i];
          ok = !is_device_poison(got.adv[i]) && std::fabs(got.adv[i] - w) <= kCudaAtol + kCudaRtol * std::fabs(w);
        }
        for (size_t i = 0; ok && i < got.dim_adv.size(); ++i) {
          const double w = want[ci].dim_adv[i];
          ok = !is_device_poison(got.dim_adv[i]) &&
               std::fabs(got.dim_adv[i] - w) <= kCudaAtol + kCudaRtol * std::fabs(w);
        }
        if (!ok) {
          if (bad[t]++ == 0) first_error[t] = st.ok ? "results differ from the C++ path" : st.message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    expect(bad[t] == 0, "concurrent calls, thread " + std::to_string(t) + ": " + std::to_string(bad[t]) + " of " +
                            std::to_string(kIters) + " calls failed (" + first_error[t] + ")");
  }
}

/** A forced out-of-memory error, then good calls on the same thread succeed (the error is cleared). */
void check_cuda_oom_recovery() {
  Case c;
  c.shape = {50, 16, 8};
  c.use_mask = true;
  c.seed = 5150;
  const Data d = make_data(c);
  CudaLaunch huge;
  huge.test_alloc_bytes = std::size_t{1} << 50;  // 1 PiB: no device has it
  AdvOut got(c.shape);
  const Status st = gprl_advantages_cuda({c.shape, c.mode, c.tau, c.opt}, d.emb.data(), inputs_of(d),
                                         got.scores.data(), got.outputs(), &got.counts, huge);
  expect(!st.ok && st.message.find("cudaErrorMemoryAllocation") != std::string::npos,
         "a 1 PiB device allocation fails with cudaErrorMemoryAllocation (got: " + st.message + ")");
  std::vector<float> pm(static_cast<size_t>(50 * 16 * 16));
  const Status pst = preference_matrix_cuda({c.shape, 0.1}, d.emb.data(), nullptr, pm.data(), huge);
  expect(!pst.ok && pst.message.find("cudaErrorMemoryAllocation") != std::string::npos,
         "preference_matrix: forced out-of-memory is reported (got: " + pst.message + ")");
  check_cuda_one("[cuda after out-of-memory " + c.label() + "]", c, CudaLaunch{});
  std::vector<float> pm_cpu(pm.size());
  expect_ok(preference_matrix_cpu({c.shape, 0.1}, d.emb.data(), nullptr, pm_cpu.data()), "pm cpu");
  expect_ok(preference_matrix_cuda({c.shape, 0.1}, d.emb.data(), nullptr, pm.data()), "preference_matrix after out-of-memory");
  compare_f("[cuda after out-of-memory] preference", pm, pm_cpu, kCudaAtol, kCudaRtol);
}

/** `out` with the outputs whose bit is set in `subset` left out (null): 1 advantages, 2 dimAdvantages, 4 dimMean, 8 dimStd. */
AdvantageOutputs without(AdvantageOutputs out, int subset) {
  if (subset & 1) out.advantages = nullptr;
  if (subset & 2) out.dim_advantages = nullptr;
  if (subset & 4) out.dim_mean = nullptr;
  if (subset & 8) out.dim_std = nullptr;
  return out;
}

/** Outputs the caller did not request (null pointers) are skipped; the requested ones are unchanged. */
void check_cuda_null_outputs() {
  Case c;
  c.shape = {37, 7, 3};
  c.use_mask = c.nonfinite = c.use_lambdas = true;
  c.seed = 404;
  const Data d = make_data(c);
  const AdvantageInputs in = inputs_of(d);
  for (int norm : {kNormalizePerDimension, kNormalizeScalar, kNormalizeGdpo}) {
    c.opt.normalize = norm;
    AdvOut want(c.shape);
    const GprlAdvantagesParams p{c.shape, c.mode, c.tau, c.opt};
    expect_ok(gprl_advantages_cpu(p, d.emb.data(), in, want.scores.data(), want.outputs(), &want.counts), "cpu");
    for (int subset = 0; subset < 32; ++subset) {
      const std::string tag = "[cuda null outputs subset=" + std::to_string(subset) + " norm=" + std::to_string(norm) + "]";
      AdvOut got(c.shape);
      const AdvantageOutputs o = without(got.outputs(), subset);
      float* scores = (subset & 16) ? nullptr : got.scores.data();
      CudaLaunch l;
      l.poison_outputs = true;
      l.chunk_groups = subset % 3 == 0 ? 5 : 0;  // a third of the subsets through the chunked pipeline
      expect_ok(gprl_advantages_cuda(p, d.emb.data(), in, scores, o, &got.counts, l), tag + " gprl_advantages");
      // Requested outputs match the C++ path; the others are untouched (still the host canary).
      auto check = [&](bool requested, const std::vector<float>& g, const std::vector<float>& w, const char* what) {
        if (requested) {
          compare_f(tag + " " + what, g, w, kCudaAtol, kCudaRtol);
        } else {
          bool untouched = true;
          for (float v : g) untouched = untouched && is_canary(v);
          expect(untouched, tag + " " + what + " not requested and left untouched");
        }
      };
      check(!(subset & 1), got.adv, want.adv, "advantages");
      check(!(subset & 2), got.dim_adv, want.dim_adv, "dimAdvantages");
      check(!(subset & 4), got.mean, want.mean, "dimMean");
      check(!(subset & 8), got.sd, want.sd, "dimStd");
      check(!(subset & 16), got.scores, want.scores, "scores");
      expect(got.counts.masked == want.counts.masked && got.counts.degenerate == want.counts.degenerate,
             tag + " counts");
      AdvOut chained(c.shape);
      const AdvantageOutputs oc = without(chained.outputs(), subset);
      AdvOut chained_want(c.shape);
      expect_ok(group_advantages_cpu(c.shape, c.opt, want.scores.data(), in, chained_want.outputs(), &chained_want.counts),
                "cpu chained");
      expect_ok(group_advantages_cuda(c.shape, c.opt, want.scores.data(), in, oc, &chained.counts, l),
                tag + " group_advantages");
      check(!(subset & 1), chained.adv, chained_want.adv, "chained advantages");
      check(!(subset & 2), chained.dim_adv, chained_want.dim_adv, "chained dimAdvantages");
      check(!(subset & 4), chained.mean, chained_want.mean, "chained dimMean");
      check(!(subset & 8), chained.sd, chained_want.sd, "chained dimStd");
    }
  }
}

/** Device selection: an index beyond the device count and a malformed GPRL_CUDA_DEVICE fail clearly. */
void check_cuda_device_selection(const CudaStatus& cs) {
  const float emb[4] = {1, 2, 3, 4};
  float out[2];
  CudaLaunch l;
  l.device = cs.device_count;
  Status st = group_scores_cuda({{1, 2, 1}, kModeLogit, 0.1}, emb, nullptr, out, l);
  expect(!st.ok && st.message.find("invalid CUDA device") != std::string::npos,
         "device index = device count is rejected (got: " + st.message + ")");
  const char* saved = std::getenv("GPRL_CUDA_DEVICE");
  const std::string saved_value = saved ? saved : "";
  setenv("GPRL_CUDA_DEVICE", std::to_string(cs.device_count).c_str(), 1);
  st = group_scores_cuda({{1, 2, 1}, kModeLogit, 0.1}, emb, nullptr, out);
  expect(!st.ok && st.message.find("invalid GPRL_CUDA_DEVICE") != std::string::npos,
         "GPRL_CUDA_DEVICE = device count is rejected (got: " + st.message + ")");
  setenv("GPRL_CUDA_DEVICE", std::to_string(cs.device_count - 1).c_str(), 1);
  st = group_scores_cuda({{1, 2, 1}, kModeLogit, 0.1}, emb, nullptr, out);
  expect_ok(st, "GPRL_CUDA_DEVICE = last device works");
  if (saved) setenv("GPRL_CUDA_DEVICE", saved_value.c_str(), 1);
  else unsetenv("GPRL_CUDA_DEVICE");
}

/** GPRL_CUDA_DEVICE parsing (every build, no device needed). */
void check_device_env_parsing() {
  const char* saved = std::getenv("GPRL_CUDA_DEVICE");
  const std::string saved_value = saved ? saved : "";
  struct {
    const char* text;
    int want;
  } cases[] = {{"", -1}, {"0", 0}, {"3", 3}, {"1023", 1023}, {"1024", -2}, {"-1", -2}, {"abc", -2}, {"1 ", -2},
               {"0x1", -2}, {"99999999999999", -2}};
  for (const auto& c : cases) {
    setenv("GPRL_CUDA_DEVICE", c.text, 1);
    std::string why;
    const int got = cuda_device_from_env(&why);
    expect(got == c.want && (got != -2 || why.find("gprl: invalid GPRL_CUDA_DEVICE") == 0),
           std::string("GPRL_CUDA_DEVICE=\"") + c.text + "\" parses to " + std::to_string(got) + ", want " +
               std::to_string(c.want));
  }
  unsetenv("GPRL_CUDA_DEVICE");
  expect(cuda_device_from_env(nullptr) == -1, "GPRL_CUDA_DEVICE unset parses to -1");
  if (saved) setenv("GPRL_CUDA_DEVICE", saved_value.c_str(), 1);
}

/** Device-side fused kernel vs a cudaMemcpy device-to-device probe, in the same run. */
struct DeviceTiming {
  bool ok = false;
  CudaTiming kernel, d2d;
};

DeviceTiming device_timing() {
  DeviceTiming r;
  const Status a = cuda_time_gprl_advantages({65536, 16, 8}, 20, CudaLaunch{}, &r.kernel);
  const Status b = cuda_memcpy_probe(std::size_t{256} << 20, 20, &r.d2d);
  expect_ok(a, "device timing of gprl_advantages");
  expect_ok(b, "cudaMemcpy device-to-device probe");
  r.ok = a.ok && b.ok;
  if (r.ok) {
    std::printf("device timing gprl_advantages B=65536 G=16 k=8 logit (kernels only): %.3f ms, %.1f GB/s = %.1f%% of "
                "cudaMemcpy device-to-device %.1f GB/s\n",
                r.kernel.ms, r.kernel.gbs, 100.0 * r.kernel.gbs / r.d2d.gbs, r.d2d.gbs);
  }
  return r;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    o += ch;
  }
  return o;
}

void write_json(const char* path, const CudaStatus& cs, size_t ncases, double secs, const std::vector<HostTiming>& host,
                const DeviceTiming& dev) {
  FILE* f = std::fopen(path, "w");
  if (!f) {
    std::printf("  FAIL cannot write %s\n", path);
    ++g_failures;
    return;
  }
  std::fprintf(f, "{\n  \"program\": \"kernels_test\",\n  \"passed\": %s,\n  \"cases\": %zu,\n  \"checks\": %d,\n"
               "  \"failures\": %d,\n  \"seconds\": %.2f,\n",
               g_failures ? "false" : "true", ncases, g_checks, g_failures, secs);
  std::fprintf(f, "  \"cuda\": {\"available\": %s, \"device\": \"%s\", \"deviceIndex\": %d, \"deviceCount\": %d, "
               "\"computeCapability\": %d, \"multiprocessors\": %d, \"maxSharedPerBlock\": %d, \"runtimeVersion\": %d, "
               "\"driverVersion\": %d, \"error\": \"%s\"},\n",
               cs.available ? "true" : "false", json_escape(cs.device).c_str(), cs.device_index, cs.device_count,
               cs.compute_capability, cs.multiprocessors, cs.max_shared_per_block, cs.runtime_version,
               cs.driver_version, json_escape(cs.error).c_str());
  if (dev.ok) {
    std::fprintf(f, "  \"deviceTiming\": {\"kernel\": \"gprl_advantages\", \"shape\": [65536, 16, 8], \"mode\": \"logit\", "
                 "\"ms\": %.4f, \"bytes\": %.0f, \"gbs\": %.2f, \"d2dProbeGbs\": %.2f, \"percentOfD2d\": %.1f},\n",
                 dev.kernel.ms, dev.kernel.bytes, dev.kernel.gbs, dev.d2d.gbs, 100.0 * dev.kernel.gbs / dev.d2d.gbs);
  }
  std::fprintf(f, "  \"hostCalls\": [\n");
  for (size_t i = 0; i < host.size(); ++i) {
    std::fprintf(f, "    {\"call\": \"%s\", \"pairs\": %.0f, \"cpuMs\": %.3f, \"cudaMs\": %.3f, \"threads\": %d}%s\n",
                 host[i].what.c_str(), host[i].pairs, host[i].cpu_ms, host[i].cuda_ms, get_num_threads(),
                 i + 1 < host.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

}  // namespace

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  const CudaStatus cs = cuda_status();
  if (cs.available) {
    std::printf("CUDA: available (%s, device %d of %d, %d SMs, %d bytes shared memory per block)\n", cs.device.c_str(),
                cs.device_index, cs.device_count, cs.multiprocessors, cs.max_shared_per_block);
  } else if (cuda_required()) {
    std::printf("FAILED: GPRL_TEST_REQUIRE_CUDA=1 but CUDA is not available (%s)\n", cs.error.c_str());
    return 1;
  } else {
    std::printf("CUDA: not available (%s); CUDA tests skipped\n", cs.error.c_str());
  }
  // GPRL_TEST_QUICK=1 (for compute-sanitizer runs): every 8th case, two block sizes, no winrate at
  // G = 4096, no timings.
  const char* quick_env = std::getenv("GPRL_TEST_QUICK");
  const bool quick = quick_env != nullptr && std::strcmp(quick_env, "1") == 0;
  std::vector<CudaLaunch> launches;
  for (int bs : {0, 32, 64, 128, 256, 512, 1024}) {
    if (!quick || bs == 0 || bs == 256) launches.push_back(CudaLaunch{bs});
  }
  // Both team kinds on every case (small groups default to a warp per group), and the global-memory
  // workspace of large groups with each.
  for (int team : {1, 2}) {
    for (int bs : {0, 64, 1024}) {
      if (quick && bs != 0) continue;
      CudaLaunch l{bs};
      l.group_team = team;
      launches.push_back(l);
    }
    CudaLaunch g{quick ? 0 : 64};
    g.group_team = team;
    g.workspace = 2;
    launches.push_back(g);
  }
  // The host-array pipeline (chunks of whole groups through pinned staging on two streams), forced
  // to small chunks so that every multi-group case runs through it.
  for (long long chunk : {1LL, 2LL, 3LL}) {
    if (quick && chunk != 2) continue;
    CudaLaunch l;
    l.chunk_groups = chunk;
    l.group_team = chunk == 3 ? 1 : 0;
    l.workspace = chunk == 1 ? 2 : 0;
    launches.push_back(l);
  }

  check_hand_derived();
  check_errors();
  check_device_env_parsing();
  if (cs.available) {
    check_cuda_concurrent();  // first: the one-time shared-memory opt-in happens under concurrency
    check_cuda_oom_recovery();
    check_cuda_null_outputs();
    check_cuda_large_groups(cs, quick);
    check_cuda_device_selection(cs);
  }
  std::vector<Case> cases = make_cases();
  if (quick) {
    std::vector<Case> every8;
    for (size_t i = 0; i < cases.size(); i += 8) every8.push_back(cases[i]);
    cases.swap(every8);
  }
  for (const Case& c : cases) {
    const Data d = make_data(c);
    CpuResults cpu = check_cpu(c, d);
    if (cs.available) check_cuda(c, d, cpu, launches);
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
  const std::vector<HostTiming> host = quick ? std::vector<HostTiming>{} : timing(cs.available);
  const DeviceTiming dev = cs.available && !quick ? device_timing() : DeviceTiming{};
  if (!quick) {
    BandwidthResult bw;
    memory_bandwidth(size_t{256} << 20, 3, get_num_threads(), &bw);
    std::printf("host read bandwidth %.1f GB/s (%d threads)\n", bw.read_gbs, get_num_threads());
  }

  const double secs = seconds_since(t0);
  if (const char* path = std::getenv("GPRL_TEST_JSON")) write_json(path, cs, cases.size(), secs, host, dev);
  std::printf("%zu cases, %d checks, %d failures, %.1f s\n", cases.size(), g_checks, g_failures, secs);
  if (g_failures) {
    std::printf("FAILED\n");
    return 1;
  }
  std::printf("PASSED\n");
  return 0;
}
