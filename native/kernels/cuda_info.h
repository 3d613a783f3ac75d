// CUDA availability probe, device selection and the device-side timing probes of the GPU check.
// Never aborts: without a driver cudaGetDeviceCount reports cudaErrorInsufficientDriver (35) or
// cudaErrorNoDevice (100), which is returned as text.
#pragma once

#include <string>

#include "common.h"

namespace gprl {

struct CudaStatus {
  bool compiled = false;   // CUDA code is compiled into this binary
  bool available = false;  // a driver and at least one device work (and GPRL_CUDA_DEVICE is valid)
  int device_count = 0;
  int device_index = 0;    // the device the kernels use (GPRL_CUDA_DEVICE, default 0)
  std::string device;      // name and architecture of that device when available
  int compute_capability = 0;       // e.g. 90 for sm_90
  int multiprocessors = 0;
  int max_shared_per_block = 0;     // bytes, the opt-in maximum for dynamic shared memory
  int runtime_version = 0, driver_version = 0;
  std::string error;       // why CUDA is not available
};

CudaStatus cuda_status();

/**
 * The device index named by the environment variable GPRL_CUDA_DEVICE: -1 when unset or empty,
 * the index when it is a decimal integer in [0, 1023], else -2 with a message in *error.
 * The range against the actual device count is checked by the caller.
 */
int cuda_device_from_env(std::string* error);

/** Device-side timings (the GPU check). All times are the best of `reps` runs, CUDA events. */
struct CudaTiming {
  double ms = 0;        // kernel(s) only, data resident on the device
  double bytes = 0;     // bytes the timed work must move (documented per probe)
  double gbs = 0;       // bytes / ms
};

/** cudaMemcpy device-to-device of `bytes` (read + written = 2·bytes counted). */
Status cuda_memcpy_probe(std::size_t bytes, int reps, CudaTiming* out);

/**
 * gprl_advantages (fused, logit, per-dimension, no mask/lambdas) on device-resident random data of
 * shape B×G×k: the kernel launches only. bytes = 8BGk + 8BGk + 4BG + 8Bk (read + written).
 */
Status cuda_time_gprl_advantages(const Shape& shape, int reps, const CudaLaunch& launch, CudaTiming* out);

}  // namespace gprl
