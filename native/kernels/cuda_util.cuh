// Host-side CUDA helpers shared by the .cu files: error checking that returns a Status (never
// aborts), and an owning device buffer. Inputs arrive in host memory; each call allocates device
// buffers, copies in, launches, copies out and frees (simple and stateless; a persistent device
// workspace is a later optimization).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "common.h"

namespace gprl {
namespace cuda {

inline Status error(const char* kernel, const char* what, cudaError_t e) {
  return Status::Error(std::string("gprl: ") + kernel + ": CUDA error in " + what + ": " + cudaGetErrorString(e) +
                       " (" + cudaGetErrorName(e) + ", " + std::to_string(static_cast<int>(e)) + ")");
}

#define GPRL_CUDA_CHECK(kernel, call)                                     \
  do {                                                                    \
    const cudaError_t gprl_err_ = (call);                                 \
    if (gprl_err_ != cudaSuccess) return ::gprl::cuda::error(kernel, #call, gprl_err_); \
  } while (0)

/** Fails with the runtime's message when no usable device is present. */
inline Status require_device(const char* kernel) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later probes start clean
    return error(kernel, "cudaGetDeviceCount", e);
  }
  if (n < 1) return Status::Error(std::string("gprl: ") + kernel + ": no CUDA device");
  return Status::Ok();
}

/** Device buffer of n elements of T, freed on scope exit. */
template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (ptr_) cudaFree(ptr_);
  }
  Status alloc(const char* kernel, std::size_t n) {
    n_ = n;
    if (n == 0) return Status::Ok();
    GPRL_CUDA_CHECK(kernel, cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(T)));
    return Status::Ok();
  }
  /** Allocate and copy n elements from host (no-op for a null host pointer). */
  Status upload(const char* kernel, const T* host, std::size_t n) {
    if (host == nullptr) return Status::Ok();
    Status s = alloc(kernel, n);
    if (!s.ok || n == 0) return s;
    GPRL_CUDA_CHECK(kernel, cudaMemcpy(ptr_, host, n * sizeof(T), cudaMemcpyHostToDevice));
    return Status::Ok();
  }
  Status download(const char* kernel, T* host) const {
    if (host == nullptr || n_ == 0) return Status::Ok();
    GPRL_CUDA_CHECK(kernel, cudaMemcpy(host, ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return Status::Ok();
  }
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

/** Block size: the requested one rounded up to a warp multiple, clamped to [32, 1024]. */
inline int block_size(int requested, int fallback) {
  int b = requested > 0 ? requested : fallback;
  b = (b + 31) / 32 * 32;
  return b < 32 ? 32 : (b > 1024 ? 1024 : b);
}

/** Clamp a block size to what the compiled kernel supports on this device (register pressure). */
template <class Kernel>
inline Status fit_block_size(const char* kernel, Kernel* fn, int* bs) {
  cudaFuncAttributes attr;
  GPRL_CUDA_CHECK(kernel, cudaFuncGetAttributes(&attr, fn));
  const int max_bs = attr.maxThreadsPerBlock / 32 * 32;
  if (max_bs >= 32 && *bs > max_bs) *bs = max_bs;
  return Status::Ok();
}

/** Grid size for a grid-stride loop over n items. */
inline unsigned grid_size(long long n, int per_block) {
  long long g = (n + per_block - 1) / per_block;
  if (g < 1) g = 1;
  return static_cast<unsigned>(g > (1LL << 30) ? (1LL << 30) : g);
}

}  // namespace cuda
}  // namespace gprl
