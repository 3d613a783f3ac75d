// CUDA availability probe. Never aborts: without a driver cudaGetDeviceCount reports
// cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100), which is returned as text.
#pragma once

#include <string>

namespace gprl {

struct CudaStatus {
  bool compiled = false;   // CUDA code is compiled into this binary
  bool available = false;  // a driver and at least one device work
  int device_count = 0;
  std::string device;      // name of device 0 when available
  std::string error;       // why CUDA is not available
};

CudaStatus cuda_status();

}  // namespace gprl
