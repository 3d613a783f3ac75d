// Host-side CUDA helpers shared by the .cu files: error checking that returns a Status (never
// aborts), the per-call context (device, stream) and an owning device buffer.
//
// Every CUDA entry point runs as one `Call`:
//   - it selects its device on the calling thread (CudaLaunch::device, else GPRL_CUDA_DEVICE, else 0;
//     cudaSetDevice is per host thread, and async calls run on worker threads);
//   - it clears an error left by an earlier failed call on this thread (cudaGetLastError) before it
//     starts, and every error path clears it again, so one failure never fails the next good call;
//   - it works on its own non-blocking stream (no legacy-stream or device-wide synchronization, so
//     concurrent calls from several threads overlap);
//   - its buffers come from the device's stream-ordered memory pool (cudaMallocAsync / cudaFreeAsync;
//     the pool keeps up to kPoolKeepBytes cached between calls instead of returning them to the
//     driver), or cudaMalloc on devices without memory pools;
//   - RAII frees every buffer and the stream on every path, success or error.
// One-time per-device setup (pool threshold, device attributes, the dynamic shared memory opt-in of
// each kernel) runs under a mutex, once; the opt-in is set to the device maximum once and never
// changed again, so concurrent launches never race with a cudaFuncSetAttribute.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "cuda_info.h"

namespace gprl {
namespace cuda {

/** Memory the stream-ordered pool keeps cached between calls (bytes). */
constexpr uint64_t kPoolKeepBytes = uint64_t{1} << 30;

/** A CUDA error as a Status; clears the thread's last error so later calls start clean. */
inline Status error(const char* kernel, const char* what, cudaError_t e) {
  cudaGetLastError();
  return Status::Error(std::string("gprl: ") + kernel + ": CUDA error in " + what + ": " + cudaGetErrorString(e) +
                       " (" + cudaGetErrorName(e) + ", " + std::to_string(static_cast<int>(e)) + ")");
}

#define GPRL_CUDA_CHECK(kernel, call)                                                   \
  do {                                                                                  \
    const cudaError_t gprl_err_ = (call);                                               \
    if (gprl_err_ != cudaSuccess) return ::gprl::cuda::error(kernel, #call, gprl_err_); \
  } while (0)

#define GPRL_TRY(expr)     \
  do {                     \
    ::gprl::Status s_ = (expr); \
    if (!s_.ok) return s_; \
  } while (0)

/** Attributes of one device, queried once. */
struct DeviceInfo {
  bool ready = false;
  Status setup;              // error of the one-time setup, returned by every later call
  bool pools = false;        // stream-ordered allocation supported
  int multiprocessors = 1;
  int max_shared_optin = 48 * 1024;  // bytes of dynamic shared memory a kernel may opt in to
  std::vector<const void*> smem_opted;  // kernels whose opt-in is set on this device
};

inline std::mutex& device_mutex() {
  static std::mutex m;
  return m;
}

inline DeviceInfo& device_info(int device) {
  static DeviceInfo infos[64];
  return infos[device];
}

/** Resolves and validates the device index of a call (see the file comment). */
inline Status resolve_device(const char* kernel, int requested, int* device) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return error(kernel, "cudaGetDeviceCount", e);
  if (n < 1) return Status::Error(std::string("gprl: ") + kernel + ": no CUDA device");
  int d = requested;
  if (d < 0) {
    std::string why;
    d = cuda_device_from_env(&why);
    if (d == -2) return Status::Error(why);
    if (d == -1) d = 0;
    if (d >= n) {
      return Status::Error("gprl: invalid GPRL_CUDA_DEVICE: expected a CUDA device index in [0, " + std::to_string(n) +
                           "), got " + std::to_string(d));
    }
  } else if (d >= n) {
    return Status::Error(std::string("gprl: ") + kernel + ": invalid CUDA device " + std::to_string(d) +
                         ": expected an index in [0, " + std::to_string(n) + ")");
  }
  if (d >= 64) return Status::Error(std::string("gprl: ") + kernel + ": CUDA device index above 63 is not supported");
  *device = d;
  return Status::Ok();
}

/** One CUDA entry-point call: device, stream, and the cleanup of both (see the file comment). */
class Call {
 public:
  Call(const char* kernel, const CudaLaunch& launch) : kernel_(kernel), launch_(launch) {}
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call() {
    if (stream_) {
      cudaStreamSynchronize(stream_);  // buffers were freed in stream order; wait before the stream goes
      cudaStreamDestroy(stream_);
    }
    cudaGetLastError();
  }

  Status begin() {
    cudaGetLastError();  // an error left by an earlier failed call on this thread
    GPRL_TRY(resolve_device(kernel_, launch_.device, &device_));
    GPRL_CUDA_CHECK(kernel_, cudaSetDevice(device_));
    {
      std::lock_guard<std::mutex> lock(device_mutex());
      DeviceInfo& info = device_info(device_);
      if (!info.ready) {
        info.setup = setup(&info);
        info.ready = true;
      }
      if (!info.setup.ok) return info.setup;
      info_ = info;  // copy of the attributes (smem_opted is only read under the mutex)
    }
    GPRL_CUDA_CHECK(kernel_, cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    return Status::Ok();
  }

  /** Waits for the call's work and reports an asynchronous error. */
  Status finish() {
    GPRL_CUDA_CHECK(kernel_, cudaStreamSynchronize(stream_));
    GPRL_CUDA_CHECK(kernel_, cudaGetLastError());
    return Status::Ok();
  }

  /**
   * Lets `fn` use up to the device maximum of dynamic shared memory (the opt-in maximum less the
   * kernel's static shared memory), set once per device and kernel, under the device mutex.
   */
  Status allow_shared(const void* fn) {
    std::lock_guard<std::mutex> lock(device_mutex());
    DeviceInfo& info = device_info(device_);
    for (const void* f : info.smem_opted) {
      if (f == fn) return Status::Ok();
    }
    cudaFuncAttributes attr;
    GPRL_CUDA_CHECK(kernel_, cudaFuncGetAttributes(&attr, fn));
    const int dynamic_max = info.max_shared_optin - static_cast<int>(attr.sharedSizeBytes);
    const cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, dynamic_max);
    if (e != cudaSuccess) return error(kernel_, "cudaFuncSetAttribute", e);
    info.smem_opted.push_back(fn);
    return Status::Ok();
  }

  const char* kernel() const { return kernel_; }
  const CudaLaunch& launch() const { return launch_; }
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  bool pools() const { return info_.pools; }
  int multiprocessors() const { return info_.multiprocessors; }
  int max_shared_optin() const { return info_.max_shared_optin; }

 private:
  Status setup(DeviceInfo* info) const {
    int v = 0;
    GPRL_CUDA_CHECK(kernel_, cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, device_));
    info->multiprocessors = v > 0 ? v : 1;
    GPRL_CUDA_CHECK(kernel_, cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_));
    info->max_shared_optin = v > 0 ? v : 48 * 1024;
    GPRL_CUDA_CHECK(kernel_, cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, device_));
    info->pools = v != 0;
    if (info->pools) {
      cudaMemPool_t pool;
      GPRL_CUDA_CHECK(kernel_, cudaDeviceGetDefaultMemPool(&pool, device_));
      uint64_t keep = kPoolKeepBytes;
      GPRL_CUDA_CHECK(kernel_, cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    return Status::Ok();
  }

  const char* kernel_;
  CudaLaunch launch_;
  int device_ = 0;
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
};

/** Device buffer of n elements of T in the call's stream order, freed on scope exit. */
template <class T>
class Buffer {
 public:
  explicit Buffer(const Call& call) : call_(call) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (!ptr_) return;
    if (call_.pools()) {
      cudaFreeAsync(ptr_, call_.stream());
    } else {
      cudaStreamSynchronize(call_.stream());  // no kernel of this call may still use it
      cudaFree(ptr_);
    }
  }
  Status alloc(std::size_t n) {
    n_ = n;
    if (n == 0) return Status::Ok();
    const char* kernel = call_.kernel();
    if (n > SIZE_MAX / sizeof(T)) return Status::Error(std::string("gprl: ") + kernel + ": device buffer size overflows");
    void* p = nullptr;
    if (call_.pools()) {
      GPRL_CUDA_CHECK(kernel, cudaMallocAsync(&p, n * sizeof(T), call_.stream()));
    } else {
      GPRL_CUDA_CHECK(kernel, cudaMalloc(&p, n * sizeof(T)));
    }
    ptr_ = static_cast<T*>(p);
    return Status::Ok();
  }
  /** Allocates and copies n elements from host (no-op for a null host pointer). */
  Status upload(const T* host, std::size_t n) {
    if (host == nullptr) return Status::Ok();
    GPRL_TRY(alloc(n));
    if (n == 0) return Status::Ok();
    GPRL_CUDA_CHECK(call_.kernel(), cudaMemcpyAsync(ptr_, host, n * sizeof(T), cudaMemcpyHostToDevice, call_.stream()));
    return Status::Ok();
  }
  /** Allocates an output; with the test hook poison_outputs, fills it with all-ones bytes (a NaN). */
  Status output(std::size_t n) {
    GPRL_TRY(alloc(n));
    if (n && call_.launch().poison_outputs) {
      GPRL_CUDA_CHECK(call_.kernel(), cudaMemsetAsync(ptr_, 0xFF, n * sizeof(T), call_.stream()));
    }
    return Status::Ok();
  }
  /** Queues the copy of the whole buffer to host (no-op for a null host pointer); finish() waits. */
  Status download(T* host) const {
    if (host == nullptr || n_ == 0) return Status::Ok();
    GPRL_CUDA_CHECK(call_.kernel(),
                    cudaMemcpyAsync(host, ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost, call_.stream()));
    return Status::Ok();
  }
  T* get() const { return ptr_; }

 private:
  const Call& call_;
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

/**
 * Pinned (page-locked) host staging memory, cached across calls: cudaMallocHost costs far more than
 * a call, so released blocks go back to a process-wide free list (at most kPinnedKeep blocks kept).
 * The owner frees nothing on the device; it releases the block when its call's streams are idle.
 */
class PinnedBlock {
 public:
  static constexpr std::size_t kPinnedKeep = 8;
  PinnedBlock() = default;
  PinnedBlock(const PinnedBlock&) = delete;
  PinnedBlock& operator=(const PinnedBlock&) = delete;
  ~PinnedBlock() { release(); }

  /** A block of at least `bytes`; false (and no block) when pinned memory cannot be had. */
  bool acquire(std::size_t bytes) {
    release();
    {
      std::lock_guard<std::mutex> lock(pool_mutex());
      auto& pool = free_list();
      for (std::size_t i = 0; i < pool.size(); ++i) {
        if (pool[i].second >= bytes) {
          ptr_ = pool[i].first;
          size_ = pool[i].second;
          pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i));
          return true;
        }
      }
    }
    void* p = nullptr;
    if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    ptr_ = static_cast<uint8_t*>(p);
    size_ = bytes;
    return true;
  }
  void release() {
    if (!ptr_) return;
    std::pair<uint8_t*, std::size_t> evict{nullptr, 0};
    {
      std::lock_guard<std::mutex> lock(pool_mutex());
      auto& pool = free_list();
      pool.emplace_back(ptr_, size_);
      if (pool.size() > kPinnedKeep) {  // drop the smallest
        std::size_t smallest = 0;
        for (std::size_t i = 1; i < pool.size(); ++i) {
          if (pool[i].second < pool[smallest].second) smallest = i;
        }
        evict = pool[smallest];
        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(smallest));
      }
    }
    if (evict.first) cudaFreeHost(evict.first);
    ptr_ = nullptr;
    size_ = 0;
  }
  uint8_t* get() const { return ptr_; }

 private:
  static std::mutex& pool_mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::pair<uint8_t*, std::size_t>>& free_list() {
    static std::vector<std::pair<uint8_t*, std::size_t>> pool;
    return pool;
  }
  uint8_t* ptr_ = nullptr;
  std::size_t size_ = 0;
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
