// policyLoss(args, async?): see NativePolicyLossArgs in src/native/addon.ts.
#include "../kernels/policy_loss.h"

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

struct PolicyLossJob {
  PolicyLossParams params;
  PolicyLossInputs in;
  float* grad;
  int device;
  PolicyLossResult result;

  Status Run() {
    return device == 1 ? policy_loss_cuda(params, in, grad, &result) : policy_loss_cpu(params, in, grad, &result);
  }
  Napi::Value Result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", Napi::Number::New(env, result.loss));
    o.Set("clipFracLow", Napi::Number::New(env, result.clip_frac_low));
    o.Set("clipFracHigh", Napi::Number::New(env, result.clip_frac_high));
    o.Set("dualClipFrac", Napi::Number::New(env, result.dual_clip_frac));
    o.Set("meanRatio", Napi::Number::New(env, result.mean_ratio));
    o.Set("meanKl", Napi::Number::New(env, result.mean_kl));
    o.Set("validTokens", Napi::Number::New(env, static_cast<double>(result.valid_tokens)));
    o.Set("nonFinite", Napi::Number::New(env, static_cast<double>(result.non_finite)));
    return o;
  }
};

Napi::Value PolicyLoss(const Napi::CallbackInfo& info) {
  Args a(info, "policyLoss");
  PolicyLossJob job{};
  constexpr int64_t kMax = int64_t{1} << 40;
  PolicyLossParams& p = job.params;
  p.sequences = a.Int("sequences", 1, kMax);
  p.tokens = a.Int("tokens", 1, kMax);
  if (p.sequences > kMax / p.tokens) {
    throw Napi::RangeError::New(a.env(), "gprl: invalid policyLoss args: sequences·tokens is too large");
  }
  const auto N = static_cast<std::size_t>(p.sequences), NT = N * static_cast<std::size_t>(p.tokens);
  job.in.logp = a.Array<float>("logp", NT);
  job.in.logp_old = a.Array<float>("logpOld", NT);
  job.in.logp_ref = a.Array<float>("logpRef", NT, /*nullable=*/true);
  job.in.advantages = a.Array<float>("advantages", N);
  job.in.mask = a.Array<uint8_t>("mask", NT);
  job.in.policy_mask = a.Array<uint8_t>("policyMask", NT, /*nullable=*/true);
  job.grad = a.Array<float>("grad", NT);
  p.epsilon_low = a.Number("epsilonLow", 0.0);
  p.epsilon_high = a.Number("epsilonHigh", 0.0);
  p.dual_clip = a.Number("dualClip", 0.0);
  p.beta = a.Number("beta", 0.0);
  p.kl = static_cast<int>(a.Int("kl", kKlK1, kKlK3));
  p.aggregation = static_cast<int>(a.Int("aggregation", kAggTokenMean, kAggConstant));
  p.max_length = a.Int("maxLength", 1, kMax);
  p.importance_sampling = static_cast<int>(a.Int("importanceSampling", kIsToken, kIsSequence));
  p.surrogate = static_cast<int>(a.Int("surrogate", kSurClip, kSurSapo));
  p.sapo_tau_pos = a.Number("sapoTemperaturePos", 0.0);
  p.sapo_tau_neg = a.Number("sapoTemperatureNeg", 0.0);
  p.token_count = a.Number("numTokens", 0.0);
  p.sequence_count = a.Number("numSequences", 0.0);
  job.device = a.Device();
  // Option ranges the generic readers do not cover (the kernel re-checks everything as well).
  const Status st = check_policy_loss(p, job.in);
  if (!st.ok) throw Napi::RangeError::New(a.env(), st.message);
  return RunJob(info, a, job);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("policyLoss", Napi::Function::New(env, PolicyLoss, "policyLoss"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(policy_loss, gprl::binding::Init);
