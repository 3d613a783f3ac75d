// A small fork-join helper for the C++ kernels.
//
// parallel_for(n, work_per_item, fn) splits [0, n) into contiguous chunks, one per thread, and calls
// fn(begin, end) for each (the calling thread takes the first chunk). Threads are spawned only when
// the total work (n * work_per_item, in "values touched") is large enough to pay for them
// (kMinWorkPerThread per thread). Chunks are deterministic for a given n and thread count, and the
// kernels never let results depend on the chunking (per-group partials are combined in order).
//
// parallel_for_dynamic(n, work_per_item, grain, fn) uses the same threads, but they claim chunks of
// `grain` items from a shared counter until none are left, so a thread that gets less CPU time (other
// processes on the machine) does less of the work instead of delaying the whole call. Which thread
// runs which chunk varies from call to call: use it only where each item's result does not depend on
// the chunking (the group kernels: per-group results, integer counts).
//
// The thread count defaults to std::thread::hardware_concurrency(), is overridden by the
// GPRL_NUM_THREADS environment variable at first use, and by set_num_threads() at run time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace gprl {

/** Work (values touched) below which one more thread does not pay for its spawn. */
constexpr std::size_t kMinWorkPerThread = std::size_t{1} << 16;

/** Threads the C++ path may use (>= 1). */
int get_num_threads();
/** Set the thread count; n < 1 restores the default (env or hardware concurrency). */
void set_num_threads(int n);

/** Number of threads parallel_for would use for this much work. */
int threads_for(std::size_t n, std::size_t work_per_item);

template <class Fn>
void parallel_for(std::size_t n, std::size_t work_per_item, Fn&& fn) {
  if (n == 0) return;
  const int t = threads_for(n, work_per_item);
  if (t <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  const std::size_t chunk = (n + static_cast<std::size_t>(t) - 1) / static_cast<std::size_t>(t);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(t) - 1);
  for (int w = 1; w < t; ++w) {
    const std::size_t begin = chunk * static_cast<std::size_t>(w);
    if (begin >= n) break;
    const std::size_t end = begin + chunk < n ? begin + chunk : n;
    workers.emplace_back([&fn, &errors, w, begin, end]() {
      try {
        fn(begin, end);
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  }
  try {
    fn(std::size_t{0}, chunk < n ? chunk : n);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& th : workers) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

template <class Fn>
void parallel_for_dynamic(std::size_t n, std::size_t work_per_item, std::size_t grain, Fn&& fn) {
  if (n == 0) return;
  const int t = threads_for(n, work_per_item);
  if (t <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  if (grain == 0) grain = 1;
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  auto work = [&fn, &errors, &next, n, grain](int w) {
    try {
      for (;;) {
        const std::size_t begin = next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= n) break;
        fn(begin, n - begin < grain ? n : begin + grain);
      }
    } catch (...) {
      errors[static_cast<std::size_t>(w)] = std::current_exception();
      next.store(n, std::memory_order_relaxed);  // the other threads stop at their next claim
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(t) - 1);
  for (int w = 1; w < t; ++w) workers.emplace_back(work, w);
  work(0);
  for (auto& th : workers) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace gprl
