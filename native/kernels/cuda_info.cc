// GPRL_CUDA_DEVICE parsing (every build), and the fallbacks for binaries built without CUDA (the .cu
// build defines cuda_status() and the timing probes in cuda_info.cu and group_core.cu).
#include "cuda_info.h"

#include <cstdlib>

namespace gprl {

int cuda_device_from_env(std::string* error) {
  const char* text = std::getenv("GPRL_CUDA_DEVICE");
  if (text == nullptr || *text == '\0') return -1;
  int v = 0;
  const char* c = text;
  for (; *c >= '0' && *c <= '9' && v <= 1023; ++c) v = v * 10 + (*c - '0');
  if (*c != '\0' || v > 1023) {
    if (error) *error = std::string("gprl: invalid GPRL_CUDA_DEVICE: expected a CUDA device index (a decimal integer >= 0), got \"") + text + "\"";
    return -2;
  }
  return v;
}

#ifndef GPRL_WITH_CUDA
CudaStatus cuda_status() {
  CudaStatus s;
  s.error = "this binary was built without CUDA";
  return s;
}

Status cuda_memcpy_probe(std::size_t, int, CudaTiming*) { return cuda_not_compiled("cuda_memcpy_probe"); }

Status cuda_time_gprl_advantages(const Shape&, int, const CudaLaunch&, CudaTiming*) {
  return cuda_not_compiled("gprl_advantages");
}
#endif

}  // namespace gprl
