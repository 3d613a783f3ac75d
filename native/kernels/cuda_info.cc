// Fallback for binaries built without CUDA (the .cu build defines cuda_status() in cuda_info.cu).
#include "cuda_info.h"

#ifndef GPRL_WITH_CUDA
namespace gprl {

CudaStatus cuda_status() {
  CudaStatus s;
  s.error = "this binary was built without CUDA";
  return s;
}

}  // namespace gprl
#endif
