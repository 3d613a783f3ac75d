// gprlAdvantages(args, async?): see NativeGprlAdvantagesArgs in src/native/addon.ts.
#include "../kernels/gprl_advantages.h"

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

struct GprlAdvantagesJob {
  GprlAdvantagesParams params;
  AdvantageArgs adv;
  const float* embeddings;
  float* scores;
  int device;
  AdvantageCounts counts;

  Status Run() {
    return device == 1 ? gprl_advantages_cuda(params, embeddings, adv.in, scores, adv.out, &counts)
                       : gprl_advantages_cpu(params, embeddings, adv.in, scores, adv.out, &counts);
  }
  Napi::Value Result(Napi::Env env) { return CountsToObject(env, counts); }
};

Napi::Value GprlAdvantages(const Napi::CallbackInfo& info) {
  Args a(info, "gprlAdvantages");
  GprlAdvantagesJob job{};
  job.params.shape = a.ReadShape();
  const auto B = static_cast<std::size_t>(job.params.shape.groups),
             G = static_cast<std::size_t>(job.params.shape.group_size),
             k = static_cast<std::size_t>(job.params.shape.dims);
  job.embeddings = a.Array<float>("embeddings", B * G * 2 * k);
  job.params.mode = static_cast<int>(a.Int("mode", 0, 1));
  job.params.tau = a.Number("tau", 0.0);
  job.scores = a.Array<float>("scores", B * G * k, true);  // null = not requested
  job.adv = ReadAdvantageArgs(a, job.params.shape);
  job.params.options = job.adv.options;
  job.device = a.Device();
  return RunJob(info, a, job);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gprlAdvantages", Napi::Function::New(env, GprlAdvantages, "gprlAdvantages"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(gprl_advantages, gprl::binding::Init);
