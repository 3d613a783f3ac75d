// cudaStatus(): host-only CUDA runtime queries (no device code in this file).
// Math: none. Shapes: none. Bytes moved: none. Design: cudaGetDeviceCount is the probe; with the
// static runtime and no driver it returns cudaErrorInsufficientDriver (35), reported as text; the
// error is cleared so that later calls start clean.
#include <cuda_runtime.h>

#include <string>

#include "cuda_info.h"

namespace gprl {

CudaStatus cuda_status() {
  CudaStatus s;
  s.compiled = true;
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
  cudaDeviceProp prop;
  const cudaError_t pe = cudaGetDeviceProperties(&prop, 0);
  if (pe != cudaSuccess) {
    cudaGetLastError();
    s.error = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(pe);
    return s;
  }
  s.available = true;
  s.device = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  return s;
}

}  // namespace gprl
