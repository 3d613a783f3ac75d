// cudaStatus() and the cudaMemcpy device-to-device probe: host-only CUDA runtime calls.
// Math: none. Shapes: none. Bytes moved: the probe copies `bytes` device-to-device (2·bytes moved).
// Design: cudaGetDeviceCount is the probe; with the static runtime and no driver it returns
// cudaErrorInsufficientDriver (35), reported as text; the error is cleared so that later calls start
// clean. The device reported is the one the kernels use (GPRL_CUDA_DEVICE, default 0); an invalid
// GPRL_CUDA_DEVICE makes CUDA unavailable with the reason.
#include <cuda_runtime.h>

#include <string>

#include "cuda_info.h"
#include "cuda_util.cuh"

namespace gprl {

CudaStatus cuda_status() {
  CudaStatus s;
  s.compiled = true;
  cudaRuntimeGetVersion(&s.runtime_version);
  cudaDriverGetVersion(&s.driver_version);
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    s.error = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ", " +
              std::to_string(static_cast<int>(e)) + ")";
    return s;
  }
  s.device_count = n;
  if (n < 1) {
    s.error = "no CUDA device";
    return s;
  }
  int d = 0;
  const Status ds = cuda::resolve_device("cudaStatus", -1, &d);
  if (!ds.ok) {
    s.error = ds.message;
    return s;
  }
  s.device_index = d;
  cudaDeviceProp prop;
  const cudaError_t pe = cudaGetDeviceProperties(&prop, d);
  if (pe != cudaSuccess) {
    cudaGetLastError();
    s.error = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(pe);
    return s;
  }
  s.available = true;
  s.device = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  s.compute_capability = prop.major * 10 + prop.minor;
  s.multiprocessors = prop.multiProcessorCount;
  s.max_shared_per_block = static_cast<int>(prop.sharedMemPerBlockOptin);
  return s;
}

Status cuda_memcpy_probe(std::size_t bytes, int reps, CudaTiming* out) {
  const char* K = "cuda_memcpy_probe";
  cuda::Call call(K, CudaLaunch{});
  GPRL_TRY(call.begin());
  cuda::Buffer<uint8_t> a(call), b(call);
  GPRL_TRY(a.alloc(bytes));
  GPRL_TRY(b.alloc(bytes));
  GPRL_CUDA_CHECK(K, cudaMemsetAsync(a.get(), 1, bytes, call.stream()));
  cudaEvent_t t0, t1;
  GPRL_CUDA_CHECK(K, cudaEventCreate(&t0));
  GPRL_CUDA_CHECK(K, cudaEventCreate(&t1));
  float best = 1e30f;
  Status st;
  for (int r = 0; r < reps + 1 && st.ok; ++r) {  // the first run warms up
    cudaEventRecord(t0, call.stream());
    const cudaError_t e = cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, call.stream());
    cudaEventRecord(t1, call.stream());
    if (e != cudaSuccess || (st = call.finish()).ok == false) {
      if (e != cudaSuccess) st = cuda::error(K, "cudaMemcpyAsync", e);
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    if (r > 0 && ms < best) best = ms;
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  if (!st.ok) return st;
  out->ms = best;
  out->bytes = 2.0 * static_cast<double>(bytes);
  out->gbs = out->bytes / (best * 1e-3) / 1e9;
  return Status::Ok();
}

}  // namespace gprl
