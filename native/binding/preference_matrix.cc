// preferenceMatrix(args, async?): see NativePreferenceMatrixArgs in src/native/addon.ts.
#include "../kernels/preference_matrix.h"

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

struct PreferenceMatrixJob {
  PreferenceMatrixParams params;
  const float* embeddings;
  const float* lambdas;
  float* out;
  int device;

  Status Run() {
    return device == 1 ? preference_matrix_cuda(params, embeddings, lambdas, out)
                       : preference_matrix_cpu(params, embeddings, lambdas, out);
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

Napi::Value PreferenceMatrix(const Napi::CallbackInfo& info) {
  Args a(info, "preferenceMatrix");
  PreferenceMatrixJob job{};
  job.params.shape = a.ReadShape();
  const auto B = static_cast<std::size_t>(job.params.shape.groups),
             G = static_cast<std::size_t>(job.params.shape.group_size),
             k = static_cast<std::size_t>(job.params.shape.dims);
  job.embeddings = a.Array<float>("embeddings", B * G * 2 * k);
  job.lambdas = a.Array<float>("lambdas", B * k, true);
  job.params.tau = a.Number("tau", 0.0);
  job.out = a.Array<float>("out", B * G * G);
  job.device = a.Device();
  return RunJob(info, a, job);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("preferenceMatrix", Napi::Function::New(env, PreferenceMatrix, "preferenceMatrix"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(preference_matrix, gprl::binding::Init);
