// groupAdvantages(args, async?): see NativeGroupAdvantagesArgs in src/native/addon.ts.
#include "../kernels/group_advantages.h"

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

struct GroupAdvantagesJob {
  Shape shape;
  AdvantageArgs adv;
  const float* scores;
  int device;
  AdvantageCounts counts;

  Status Run() {
    return device == 1 ? group_advantages_cuda(shape, adv.options, scores, adv.in, adv.out, &counts)
                       : group_advantages_cpu(shape, adv.options, scores, adv.in, adv.out, &counts);
  }
  Napi::Value Result(Napi::Env env) { return CountsToObject(env, counts); }
};

Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  Args a(info, "groupAdvantages");
  GroupAdvantagesJob job{};
  job.shape = a.ReadShape();
  const auto B = static_cast<std::size_t>(job.shape.groups), G = static_cast<std::size_t>(job.shape.group_size),
             k = static_cast<std::size_t>(job.shape.dims);
  job.scores = a.Array<float>("scores", B * G * k);
  job.adv = ReadAdvantageArgs(a, job.shape);
  job.device = a.Device();
  return RunJob(info, a, job);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("groupAdvantages", Napi::Function::New(env, GroupAdvantages, "groupAdvantages"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(group_advantages, gprl::binding::Init);
