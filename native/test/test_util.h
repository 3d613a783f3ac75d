// Shared by the Node-free kernel test programs: failure/check counters, the host canary NaN and the
// device poison used to prove every output element was written, GPRL_TEST_REQUIRE_CUDA, and a seeded
// generator (splitmix64 + Box-Muller).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace gprl_test {

inline int g_failures = 0;
inline int g_checks = 0;
constexpr uint32_t kCanaryBits = 0x7fc0dead;  // a NaN no kernel produces

inline float canary() {
  float f;
  std::memcpy(&f, &kCanaryBits, 4);
  return f;
}
inline bool is_canary(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u == kCanaryBits;
}

/**
 * The device-side poison (CudaLaunch::poison_outputs fills device outputs with 0xFF bytes before the
 * kernels run): an element with these bits after the copy back was never written by the kernel. No
 * kernel produces it (generated NaNs are 0x7fc00000; the x86 default NaN is 0xffc00000).
 */
inline bool is_device_poison(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u == 0xffffffffu;
}

/** GPRL_TEST_REQUIRE_CUDA=1: the program fails when CUDA is not available (GPU machines). */
inline bool cuda_required() {
  const char* v = std::getenv("GPRL_TEST_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

/** splitmix64: seeded uniform and normal draws. */
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    double u1 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * uniform());
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

}  // namespace gprl_test
