// Module entry point: build information, CUDA status, thread control and the bandwidth probe, then
// every kernel binding registered through GPRL_REGISTER_BINDING (registry.h).
#include <napi.h>

#include <algorithm>

#include "../kernels/bandwidth.h"
#include "../kernels/cuda_info.h"
#include "../kernels/parallel.h"
#include "registry.h"
#include "util.h"

#ifndef GPRL_VERSION
#define GPRL_VERSION "0.0.0"
#endif
#ifndef GPRL_BUILDER
#define GPRL_BUILDER "cmake"
#endif
#ifndef GPRL_CUDA_ARCHITECTURES
#define GPRL_CUDA_ARCHITECTURES ""
#endif

namespace gprl {
namespace binding {
namespace {

Napi::Value CudaStatusFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaStatus s = cuda_status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", Napi::Boolean::New(env, s.compiled));
  o.Set("available", Napi::Boolean::New(env, s.available));
  o.Set("deviceCount", Napi::Number::New(env, s.device_count));
  if (!s.device.empty()) o.Set("device", Napi::String::New(env, s.device));
  if (!s.error.empty()) o.Set("error", Napi::String::New(env, s.error));
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value v = info.Length() > 0 ? info[0] : env.Undefined();
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!v.IsNumber()) ThrowType(env, "setNumThreads n", "an integer in [1, 4096]", v);
  if (!(d >= 1 && d <= 4096) || static_cast<double>(static_cast<int>(d)) != d) {
    ThrowRange(env, "setNumThreads n", "an integer in [1, 4096]", v);
  }
  set_num_threads(static_cast<int>(d));
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), get_num_threads());
}

Napi::Value MemoryBandwidth(const Napi::CallbackInfo& info) {
  Args a(info, "memoryBandwidth");
  const int64_t bytes = a.Int("bytes", 4096, int64_t{1} << 40);
  const int reps = static_cast<int>(a.Int("reps", 1, 1000));
  const int threads = static_cast<int>(a.Int("threads", 1, 4096));
  BandwidthResult r;
  const Status s = memory_bandwidth(static_cast<std::size_t>(bytes), reps, threads, &r);
  if (!s.ok) throw Napi::Error::New(info.Env(), s.message);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("readGBs", Napi::Number::New(info.Env(), r.read_gbs));
  o.Set("copyGBs", Napi::Number::New(info.Env(), r.copy_gbs));
  o.Set("writeGBs", Napi::Number::New(info.Env(), r.write_gbs));
  return o;
}

Napi::Value SigmoidThroughput(const Napi::CallbackInfo& info) {
  Args a(info, "sigmoidThroughput");
  const int64_t count = a.Int("count", 16, int64_t{1} << 24);
  const int reps = static_cast<int>(a.Int("reps", 1, 1000000));
  const int threads = static_cast<int>(a.Int("threads", 1, 4096));
  double ns = 0;
  const Status s = sigmoid_throughput(static_cast<std::size_t>(count), reps, threads, &ns);
  if (!s.ok) throw Napi::Error::New(info.Env(), s.message);
  return Napi::Number::New(info.Env(), ns);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object bi = Napi::Object::New(env);
  bi.Set("builder", Napi::String::New(env, GPRL_BUILDER));
#ifdef GPRL_WITH_CUDA
  bi.Set("cuda", Napi::Boolean::New(env, true));
#else
  bi.Set("cuda", Napi::Boolean::New(env, false));
#endif
  bi.Set("cudaArchitectures", Napi::String::New(env, GPRL_CUDA_ARCHITECTURES));
  bi.Set("version", Napi::String::New(env, GPRL_VERSION));
  bi.Freeze();
  exports.Set("buildInfo", bi);
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatusFn, "cudaStatus"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("memoryBandwidth", Napi::Function::New(env, MemoryBandwidth, "memoryBandwidth"));
  exports.Set("sigmoidThroughput", Napi::Function::New(env, SigmoidThroughput, "sigmoidThroughput"));

  std::vector<Registration> regs = registry();
  std::sort(regs.begin(), regs.end(), [](const Registration& x, const Registration& y) { return x.name < y.name; });
  for (const Registration& r : regs) r.init(env, exports);
  return exports;
}

}  // namespace
}  // namespace binding
}  // namespace gprl

static Napi::Object InitGprl(Napi::Env env, Napi::Object exports) { return gprl::binding::Init(env, exports); }

NODE_API_MODULE(gprl, InitGprl)
