// pooledFloat32Array(length) and outputPoolStats(): fresh kernel outputs over recycled memory.
//
// Large fresh outputs cost page faults on first write (the OS zero-fills each new page), often more
// than the kernel itself. The pool keeps the memory of outputs that were garbage collected and hands
// it out again: a Float32Array over an external ArrayBuffer whose finalizer gives the block back.
// Ownership: a block belongs to exactly one live array; it returns to the pool only from that array's
// finalizer, i.e. when the array is garbage. V8 counts the bytes of external ArrayBuffers it holds
// (process.memoryUsage().arrayBuffers), so its GC heuristics see the live outputs; idle blocks are
// capped (kMaxIdleBytes, oldest freed first) and so are the bytes of live pooled arrays (kMaxLiveBytes:
// finalizers run on a later turn of the event loop, so a loop that never yields would otherwise keep
// taking new blocks; past the cap the pool declines and the caller allocates an ordinary array).
// Contents of a reused block are unspecified; the kernels overwrite every element of each output.
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "registry.h"
#include "util.h"

namespace gprl {
namespace binding {
namespace {

constexpr std::size_t kMaxIdleBytes = std::size_t{512} << 20;
constexpr std::size_t kMaxLiveBytes = std::size_t{2} << 30;
constexpr std::size_t kAlign = 64;

class OutputPool {
 public:
  /** A block of `bytes` (rounded up to 64), reused when one of that size is idle; nullptr to decline. */
  void* Take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_ + bytes > kMaxLiveBytes) {
      ++declined_;
      return nullptr;
    }
    auto it = idle_.find(bytes);
    void* p = nullptr;
    if (it != idle_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      idle_bytes_ -= bytes;
      ++hits_;
      for (auto o = order_.begin(); o != order_.end(); ++o) {
        if (o->first == p) {
          order_.erase(o);
          break;
        }
      }
    } else {
      p = std::aligned_alloc(kAlign, bytes);
      if (p == nullptr) {
        ++declined_;
        return nullptr;
      }
      ++misses_;
    }
    live_ += bytes;
    return p;
  }

  /** Gives a block back (from its array's finalizer); frees the oldest idle blocks past the cap. */
  void Give(void* p, std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    live_ -= bytes;
    if (bytes > kMaxIdleBytes) {
      std::free(p);
      return;
    }
    idle_[bytes].push_back(p);
    order_.emplace_back(p, bytes);
    idle_bytes_ += bytes;
    while (idle_bytes_ > kMaxIdleBytes && !order_.empty()) {
      const auto [q, n] = order_.front();
      order_.pop_front();
      auto& list = idle_[n];
      for (auto it = list.begin(); it != list.end(); ++it) {
        if (*it == q) {
          list.erase(it);
          break;
        }
      }
      idle_bytes_ -= n;
      std::free(q);
    }
  }

  Napi::Object Stats(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mu_);
    Napi::Object o = Napi::Object::New(env);
    o.Set("idleBytes", Napi::Number::New(env, static_cast<double>(idle_bytes_)));
    o.Set("liveBytes", Napi::Number::New(env, static_cast<double>(live_)));
    o.Set("hits", Napi::Number::New(env, static_cast<double>(hits_)));
    o.Set("misses", Napi::Number::New(env, static_cast<double>(misses_)));
    o.Set("declined", Napi::Number::New(env, static_cast<double>(declined_)));
    o.Set("maxIdleBytes", Napi::Number::New(env, static_cast<double>(kMaxIdleBytes)));
    o.Set("maxLiveBytes", Napi::Number::New(env, static_cast<double>(kMaxLiveBytes)));
    return o;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> idle_;  // by size
  std::deque<std::pair<void*, std::size_t>> order_;            // idle blocks, oldest first
  std::size_t idle_bytes_ = 0, live_ = 0;
  uint64_t hits_ = 0, misses_ = 0, declined_ = 0;
};

/** The process-wide pool (shared by every Node.js environment; never destroyed, blocks may outlive an env). */
OutputPool& pool() {
  static OutputPool* p = new OutputPool();
  return *p;
}

void GiveBack(napi_env /*env*/, void* data, void* hint) {
  pool().Give(data, reinterpret_cast<std::size_t>(hint));
}

Napi::Value PooledFloat32Array(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value v = info.Length() > 0 ? info[0] : env.Undefined();
  const std::string expected = "an integer in [1, 2^31 - 1]";
  if (!v.IsNumber()) ThrowType(env, "pooledFloat32Array length", expected, v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= 2147483647.0) || static_cast<double>(static_cast<int64_t>(d)) != d) {
    ThrowRange(env, "pooledFloat32Array length", expected, v);
  }
  const std::size_t length = static_cast<std::size_t>(d);
  const std::size_t bytes = (length * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  void* p = pool().Take(bytes);
  if (p == nullptr) return env.Null();
  napi_value ab;
  const napi_status st =
      napi_create_external_arraybuffer(env, p, bytes, GiveBack, reinterpret_cast<void*>(bytes), &ab);
  if (st != napi_ok) {
    // E.g. napi_no_external_buffers_allowed (runtimes with a V8 sandbox): the block was never handed out.
    pool().Give(p, bytes);
    return env.Null();
  }
  return Napi::Float32Array::New(env, length, Napi::ArrayBuffer(env, ab), 0);
}

Napi::Value OutputPoolStats(const Napi::CallbackInfo& info) { return pool().Stats(info.Env()); }

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pooledFloat32Array", Napi::Function::New(env, PooledFloat32Array, "pooledFloat32Array"));
  exports.Set("outputPoolStats", Napi::Function::New(env, OutputPoolStats, "outputPoolStats"));
}

}  // namespace
}  // namespace binding
}  // namespace gprl

GPRL_REGISTER_BINDING(output_pool, gprl::binding::Init);
