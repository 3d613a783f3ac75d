#include "parallel.h"

#include <atomic>
#include <cstdlib>

namespace gprl {
namespace {

int default_threads() {
  if (const char* env = std::getenv("GPRL_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) return static_cast<int>(v);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> n{default_threads()};
  return n;
}

}  // namespace

int get_num_threads() { return thread_setting().load(std::memory_order_relaxed); }

void set_num_threads(int n) { thread_setting().store(n >= 1 ? n : default_threads(), std::memory_order_relaxed); }

int threads_for(std::size_t n, std::size_t work_per_item) {
  const std::size_t work = n * (work_per_item == 0 ? 1 : work_per_item);
  std::size_t t = work / kMinWorkPerThread;
  const std::size_t max_t = static_cast<std::size_t>(get_num_threads());
  if (t > max_t) t = max_t;
  if (t > n) t = n;
  return t < 1 ? 1 : static_cast<int>(t);
}

}  // namespace gprl
