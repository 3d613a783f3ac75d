// policy_loss test program, no Node.js needed (the GPU check of the CUDA path):
//   built with the kernel library of native/kernels/kernels.cmake, e.g.
//   cmake -S native/test -B build-test && cmake --build build-test && build-test/policy_loss_test
//
// 1. C++ path against an independent float64 reference written here from the formulas
//    (−min(ρA, clip(ρ)A), then the dual min, then the KL), on seeded inputs over shapes 1×1, 3×7,
//    5×123, 64×1000, every option combination (asymmetric ε, dual clip on/off, β = 0 / > 0 × k1/k2/k3,
//    three aggregations), masks with empty sequences, an all-masked batch, NaN/Inf inputs.
//    Tolerances: the loss and metrics are float64 end to end (1e-10 relative: summation order); the
//    gradient is stored as float32 after two roundings (2 ulp): 1e-6 relative.
// 2. Thread-count determinism: 1 thread and 5 threads give bit-identical results.
// 3. CUDA (when a device works) against the C++ path for every case and block size 32..1024, plus
//    shapes that exercise several chunks per sequence (T = 20000) and more sequences than the grid's
//    y limit (N = 70000). Gradient prefilled with a canary NaN on the host and an all-ones NaN on the
//    device (CudaLaunch::poison_outputs) to prove every element is written; a forced out-of-memory
//    error followed by a good call on the same thread.
//    Tolerances: same float64 per-token function, different summation order: loss 1e-12 relative,
//    gradient 1e-6 relative (the weights are bitwise equal; the unscaled values may differ by FMA).
//    Then the TRL modes (sequence-level ratio, CISPO, SAPO, a policy mask, explicit token and sequence
//    denominators) CUDA vs C++ (their reference is the TypeScript test of the same definitions): loss
//    1e-12 relative (the sequence ratio's sum is reduced in another order), gradient 1e-6, equal counts.
// Without a device, step 3 checks that policy_loss_cuda fails with a message and does not crash;
// with GPRL_TEST_REQUIRE_CUDA=1 the program fails at once with one line saying why.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cuda_info.h"
#include "test_util.h"
#include "parallel.h"
#include "policy_loss.h"

using namespace gprl;
using namespace gprl_test;

namespace {

struct Case {
  std::string name;
  int64_t N, T;
  std::vector<float> logp, logp_old, logp_ref, adv;
  std::vector<uint8_t> mask;
  bool use_ref = true;
  PolicyLossInputs inputs() const {
    PolicyLossInputs in;
    in.logp = logp.data();
    in.logp_old = logp_old.data();
    in.logp_ref = use_ref ? logp_ref.data() : nullptr;
    in.advantages = adv.data();
    in.mask = mask.data();
    return in;
  }
};

Case make_case(const std::string& name, int64_t N, int64_t T, uint64_t seed, bool with_nonfinite) {
  Rng r(seed);
  Case c;
  c.name = name;
  c.N = N;
  c.T = T;
  const auto NT = static_cast<size_t>(N * T);
  c.logp.resize(NT);
  c.logp_old.resize(NT);
  c.logp_ref.resize(NT);
  c.mask.resize(NT);
  c.adv.resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    c.adv[n] = n % 7 == 3 ? 0.0f : static_cast<float>(r.normal());
    const int64_t len = n == 1 ? 0 : r.below(T + 1);
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = static_cast<size_t>(n * T + t);
      c.logp[i] = static_cast<float>(-std::fabs(1.5 + r.normal()));
      c.logp_old[i] = c.logp[i] + static_cast<float>(0.4 * r.normal());
      c.logp_ref[i] = c.logp[i] + static_cast<float>(0.3 * r.normal());
      c.mask[i] = t < len ? 1 : 0;
    }
  }
  if (with_nonfinite && NT > 8) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < NT; ++i) c.mask[i] = 1;
    c.logp[1] = nan;
    c.logp_old[NT / 2] = inf;
    c.logp_ref[NT / 3] = -inf;
    c.adv[static_cast<size_t>(N - 1)] = nan;
  }
  return c;
}

struct Ref {
  double loss = 0, clip_low = 0, clip_high = 0, dual = 0, ratio = 0, kl = 0;
  int64_t valid = 0, non_finite = 0;
  std::vector<double> grad;
};

/** Independent float64 reference from the formulas (docs/policy-loss.md). */
Ref reference(const Case& c, const PolicyLossParams& p) {
  Ref R;
  R.grad.assign(static_cast<size_t>(c.N * c.T), 0.0);
  std::vector<std::vector<double>> loss(static_cast<size_t>(c.N)), grad(static_cast<size_t>(c.N));
  std::vector<std::vector<size_t>> idx(static_cast<size_t>(c.N));
  for (int64_t n = 0; n < c.N; ++n) {
    const double A = c.adv[n];
    for (int64_t t = 0; t < c.T; ++t) {
      const size_t i = static_cast<size_t>(n * c.T + t);
      if (!c.mask[i]) continue;
      const double lp = c.logp[i], lq = c.logp_old[i], lr = c.use_ref ? c.logp_ref[i] : 0.0;
      if (!std::isfinite(A) || !std::isfinite(lp) || !std::isfinite(lq) || !std::isfinite(lr)) {
        ++R.non_finite;
        continue;
      }
      const double r = std::exp(lp - lq);
      const double lo = 1 - p.epsilon_low, hi = 1 + p.epsilon_high;
      const double un = r * A, cl = std::fmin(std::fmax(r, lo), hi) * A;
      double s = -std::fmin(un, cl);
      double ds = un <= cl ? -r * A : (r >= lo && r <= hi ? -r * A : 0.0);
      if (un > cl) (A < 0 ? R.clip_low : R.clip_high) += 1;
      if (p.dual_clip > 0 && A < 0 && -p.dual_clip * A < s) {
        s = -p.dual_clip * A;
        ds = 0;
        R.dual += 1;
      }
      if (c.use_ref) {
        const double d = lr - lp;
        const double k = p.kl == kKlK1 ? -d : p.kl == kKlK2 ? 0.5 * d * d : std::exp(d) - d - 1;
        const double dk = p.kl == kKlK1 ? 1.0 : p.kl == kKlK2 ? -d : 1 - std::exp(d);
        R.kl += k;
        if (p.beta > 0) {
          s += p.beta * k;
          ds += p.beta * dk;
        }
      }
      R.ratio += r;
      loss[n].push_back(s);
      grad[n].push_back(ds);
      idx[n].push_back(i);
    }
  }
  int64_t S = 0;
  for (auto& l : loss) {
    R.valid += static_cast<int64_t>(l.size());
    S += l.empty() ? 0 : 1;
  }
  const double L = static_cast<double>(p.max_length > 0 ? p.max_length : c.T);
  for (int64_t n = 0; n < c.N; ++n) {
    const double len = static_cast<double>(loss[n].size());
    const double w = R.valid == 0 ? 0.0
                     : p.aggregation == kAggTokenMean ? 1.0 / static_cast<double>(R.valid)
                     : p.aggregation == kAggSequenceMean ? 1.0 / (static_cast<double>(S) * len)
                                                         : 1.0 / (static_cast<double>(c.N) * L);
    for (size_t j = 0; j < loss[n].size(); ++j) {
      R.loss += w * loss[n][j];
      R.grad[idx[n][j]] = w * grad[n][j];
    }
  }
  if (R.valid > 0) {
    const double V = static_cast<double>(R.valid);
    R.clip_low /= V;
    R.clip_high /= V;
    R.dual /= V;
    R.ratio /= V;
    R.kl = c.use_ref ? R.kl / V : 0.0;
  } else {
    R.kl = 0;
  }
  return R;
}

bool close(double got, double want, double rtol, double atol) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

/** Gradient comparison; prints the first mismatches (index, got, want). */
void check_grad(const std::string& what, const std::vector<float>& got, const std::vector<double>& want, double rtol) {
  ++g_checks;
  int bad = 0;
  double scale = 0;
  for (double w : want) scale = std::fmax(scale, std::fabs(w));
  for (size_t i = 0; i < want.size(); ++i) {
    if (!close(got[i], want[i], rtol, 1e-12 * scale) || std::isnan(got[i])) {
      if (bad < 3) std::printf("  %s [%zu] got %.9g want %.9g\n", what.c_str(), i, static_cast<double>(got[i]), want[i]);
      ++bad;
    }
  }
  if (bad) {
    ++g_failures;
    std::printf("FAIL %s: %d of %zu gradient values differ\n", what.c_str(), bad, want.size());
  }
}

void check_result(const std::string& what, const PolicyLossResult& r, const Ref& R, double loss_rtol) {
  check(close(r.loss, R.loss, loss_rtol, 1e-300), what + " loss");
  check(r.valid_tokens == R.valid && r.non_finite == R.non_finite, what + " counts");
  check(close(r.clip_frac_low, R.clip_low, 1e-12, 0) && close(r.clip_frac_high, R.clip_high, 1e-12, 0) &&
            close(r.dual_clip_frac, R.dual, 1e-12, 0),
        what + " clip fractions");
  check(close(r.mean_ratio, R.ratio, 1e-10, 0) && close(r.mean_kl, R.kl, 1e-10, 1e-14), what + " means");
}

std::vector<PolicyLossParams> option_sets(const Case& c) {
  std::vector<PolicyLossParams> out;
  const double eps[][2] = {{0.2, 0.2}, {0.2, 0.28}, {0.1, 0.05}};
  const double duals[] = {0.0, 3.0, 1.1};
  const struct {
    double beta;
    int kl;
  } kls[] = {{0.0, kKlK3}, {0.05, kKlK1}, {0.05, kKlK2}, {0.1, kKlK3}};
  for (auto& e : eps)
    for (double d : duals)
      for (auto& k : kls)
        for (int agg = 0; agg < 3; ++agg) {
          if (k.beta > 0 && !c.use_ref) continue;
          PolicyLossParams p;
          p.sequences = c.N;
          p.tokens = c.T;
          p.epsilon_low = e[0];
          p.epsilon_high = e[1];
          p.dual_clip = d;
          p.beta = k.beta;
          p.kl = k.kl;
          p.aggregation = agg;
          p.max_length = agg == kAggConstant && c.T > 3 ? c.T + 5 : 0;
          out.push_back(p);
        }
  return out;
}

std::string describe(const PolicyLossParams& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "eps=%.2f/%.2f dual=%.1f beta=%.2f kl=k%d agg=%d", p.epsilon_low, p.epsilon_high,
                p.dual_clip, p.beta, p.kl + 1, p.aggregation);
  return buf;
}

}  // namespace

int main() {
  const CudaStatus cs = cuda_status();
  if (!cs.available && cuda_required()) {
    std::printf("FAILED: GPRL_TEST_REQUIRE_CUDA=1 but CUDA is not available (%s)\n", cs.error.c_str());
    return 1;
  }
  std::vector<Case> cases;
  cases.push_back(make_case("1x1", 1, 1, 1, false));
  cases.push_back(make_case("3x7", 3, 7, 2, false));
  cases.push_back(make_case("5x123", 5, 123, 3, false));
  cases.push_back(make_case("64x1000", 64, 1000, 4, false));
  cases.push_back(make_case("6x20 non-finite", 6, 20, 5, true));
  {
    Case c = make_case("4x9 all masked", 4, 9, 6, false);
    for (auto& m : c.mask) m = 0;
    cases.push_back(c);
  }
  {
    Case c = make_case("5x123 no ref", 5, 123, 7, false);
    c.use_ref = false;
    cases.push_back(c);
  }

  // 1. C++ path vs the float64 reference.
  for (const Case& c : cases) {
    for (const PolicyLossParams& p : option_sets(c)) {
      const std::string what = "cpu " + c.name + " " + describe(p);
      std::vector<float> grad(static_cast<size_t>(c.N * c.T), canary());
      PolicyLossResult r;
      const Status st = policy_loss_cpu(p, c.inputs(), grad.data(), &r);
      check(st.ok, what + " status " + st.message);
      const Ref R = reference(c, p);
      check_result(what, r, R, 1e-10);
      check_grad(what, grad, R.grad, 1e-6);
    }
  }
  std::printf("C++ path: %d checks, %d failures\n", g_checks, g_failures);

  // 2. Thread-count determinism.
  {
    const Case c = make_case("64x1500", 64, 1500, 8, false);
    PolicyLossParams p;
    p.sequences = c.N;
    p.tokens = c.T;
    p.beta = 0.05;
    p.aggregation = kAggSequenceMean;
    std::vector<float> g1(static_cast<size_t>(c.N * c.T)), g5(g1.size());
    PolicyLossResult r1, r5;
    set_num_threads(1);
    policy_loss_cpu(p, c.inputs(), g1.data(), &r1);
    set_num_threads(5);
    policy_loss_cpu(p, c.inputs(), g5.data(), &r5);
    set_num_threads(0);
    check(std::memcmp(g1.data(), g5.data(), g1.size() * sizeof(float)) == 0 && r1.loss == r5.loss &&
              r1.mean_ratio == r5.mean_ratio && r1.mean_kl == r5.mean_kl,
          "1 thread vs 5 threads: bit-identical");
  }

  // 3. CUDA vs C++.
  if (!cs.available) {
    std::printf("CUDA: not available (%s); CUDA tests skipped\n", cs.error.c_str());
    const Case& c = cases[1];
    PolicyLossParams p;
    p.sequences = c.N;
    p.tokens = c.T;
    std::vector<float> grad(static_cast<size_t>(c.N * c.T));
    PolicyLossResult r;
    const Status st = policy_loss_cuda(p, c.inputs(), grad.data(), &r);
    check(!st.ok && !st.message.empty(), "policy_loss_cuda without a device fails with a message");
  } else {
    std::printf("CUDA: %s\n", cs.device.c_str());
    {
      // A forced out-of-memory error, then a good call on the same thread succeeds.
      const Case& c = cases[2];
      PolicyLossParams p;
      p.sequences = c.N;
      p.tokens = c.T;
      std::vector<float> g(static_cast<size_t>(c.N * c.T), canary()), gc(g.size());
      PolicyLossResult r, rc;
      CudaLaunch huge;
      huge.test_alloc_bytes = std::size_t{1} << 50;
      Status st = policy_loss_cuda(p, c.inputs(), g.data(), &r, huge);
      check(!st.ok && st.message.find("cudaErrorMemoryAllocation") != std::string::npos,
            "forced out-of-memory is reported (got: " + st.message + ")");
      policy_loss_cpu(p, c.inputs(), gc.data(), &rc);
      st = policy_loss_cuda(p, c.inputs(), g.data(), &r);
      check(st.ok, "policy_loss_cuda after out-of-memory: " + st.message);
      check(close(r.loss, rc.loss, 1e-12, 1e-300), "loss after out-of-memory vs C++");
      check_grad("after out-of-memory vs C++", g, std::vector<double>(gc.begin(), gc.end()), 1e-6);
    }
    cases.push_back(make_case("2x20000 (several chunks)", 2, 20000, 9, false));
    cases.push_back(make_case("70000x3 (grid y stride)", 70000, 3, 10, false));
    const int blocks[] = {32, 64, 128, 256, 512, 1024};
    for (const Case& c : cases) {
      for (const PolicyLossParams& p : option_sets(c)) {
        std::vector<float> gc(static_cast<size_t>(c.N * c.T));
        PolicyLossResult rc;
        policy_loss_cpu(p, c.inputs(), gc.data(), &rc);
        const Ref R = reference(c, p);
        for (int b : blocks) {
          const std::string what = "cuda b=" + std::to_string(b) + " " + c.name + " " + describe(p);
          std::vector<float> g(gc.size(), canary());
          PolicyLossResult r;
          CudaLaunch launch;
          launch.block_size = b;
          launch.poison_outputs = true;  // a gradient element never written stays NaN and fails
          const Status st = policy_loss_cuda(p, c.inputs(), g.data(), &r, launch);
          check(st.ok, what + " status " + st.message);
          check_result(what, r, R, 1e-10);
          check(close(r.loss, rc.loss, 1e-12, 1e-300), what + " loss vs C++");
          std::vector<double> want(gc.begin(), gc.end());
          check_grad(what + " vs C++", g, want, 1e-6);
        }
      }
    }
    // TRL modes: CUDA vs C++.
    for (size_t ci = 0; ci < 3 && ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      std::vector<uint8_t> pmask(static_cast<size_t>(c.N * c.T));
      Rng r(77 + ci);
      for (auto& m : pmask) m = r.uniform() < 0.6 ? 1 : 0;
      for (int level = 0; level <= 1; ++level) {
        for (int sur = 0; sur <= 2; ++sur) {
          for (int use_pm = 0; use_pm <= 1; ++use_pm) {
            for (int agg = 0; agg <= 2; ++agg) {
              PolicyLossParams p;
              p.sequences = c.N;
              p.tokens = c.T;
              p.epsilon_high = sur == kSurCispo ? 1.3 : 0.28;
              p.beta = 0.04;
              p.aggregation = agg;
              p.importance_sampling = level;
              p.surrogate = sur;
              if (agg == kAggTokenMean && use_pm) p.token_count = static_cast<double>(c.N * c.T);
              if (agg == kAggSequenceMean && use_pm) p.sequence_count = static_cast<double>(c.N);
              PolicyLossInputs in = c.inputs();
              if (use_pm) in.policy_mask = pmask.data();
              std::vector<float> gc(pmask.size());
              PolicyLossResult rc;
              policy_loss_cpu(p, in, gc.data(), &rc);
              for (int b : {64, 256, 1024}) {
                const std::string what = "cuda TRL b=" + std::to_string(b) + " " + c.name + " level=" + std::to_string(level) +
                                         " surrogate=" + std::to_string(sur) + " pmask=" + std::to_string(use_pm) +
                                         " agg=" + std::to_string(agg);
                std::vector<float> g(gc.size(), canary());
                PolicyLossResult rr;
                CudaLaunch launch;
                launch.block_size = b;
                const Status st = policy_loss_cuda(p, in, g.data(), &rr, launch);
                check(st.ok, what + " status " + st.message);
                check(close(rr.loss, rc.loss, 1e-12, 1e-300), what + " loss vs C++");
                check(rr.valid_tokens == rc.valid_tokens && rr.non_finite == rc.non_finite, what + " counts");
                check(close(rr.clip_frac_high, rc.clip_frac_high, 1e-12, 0) && close(rr.clip_frac_low, rc.clip_frac_low, 1e-12, 0),
                      what + " clip fractions");
                std::vector<double> want(gc.begin(), gc.end());
                check_grad(what + " vs C++", g, want, 1e-6);
              }
            }
          }
        }
      }
    }
  }
  std::printf("policy_loss_test: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
