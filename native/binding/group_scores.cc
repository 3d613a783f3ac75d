// groupScores(args, async?): see NativeGroupScoresArgs in src/native/addon.ts.
#include "../kernels/group_scores.h"

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

struct GroupScoresJob {
  GroupScoresParams params;
  const float* embeddings;
  const uint8_t* mask;
  float* out;
  int device;

  Status Run() {
    return device == 1 ? group_scores_cuda(params, embeddings, mask, out)
                       : group_scores_cpu(params, embeddings, mask, out);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

Napi::Value GroupScores(const Napi::CallbackInfo& info) {
  Args a(info, "groupScores");
  GroupScoresJob job{};
  job.params.shape = a.ReadShape();
  const auto B = static_cast<std::size_t>(job.params.shape.groups),
             G = static_cast<std::size_t>(job.params.shape.group_size),
             k = static_cast<std::size_t>(job.params.shape.dims);
  job.params.mode = static_cast<int>(a.Int("mode", 0, 1));
  job.params.tau = a.Number("tau", 0.0);
  job.embeddings = a.Array<float>("embeddings", B * G * 2 * k);
  job.mask = a.Array<uint8_t>("mask", B * G, true);
  job.out = a.Array<float>("out", B * G * k);
  job.device = a.Device();
  return RunJob(info, a, job);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("groupScores", Napi::Function::New(env, GroupScores, "groupScores"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(group_scores, gprl::binding::Init);
