#include "bandwidth.h"

#include "math_util.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace gprl {
namespace {

/** Runs fn(begin, end) over `threads` contiguous chunks of [0, n) and returns the wall time in seconds. */
template <class Fn>
double timed_split(std::size_t n, int threads, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t chunk = (n + static_cast<std::size_t>(threads) - 1) / static_cast<std::size_t>(threads);
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    const std::size_t b = chunk * static_cast<std::size_t>(t);
    if (b >= n) break;
    workers.emplace_back(fn, b, b + chunk < n ? b + chunk : n);
  }
  fn(std::size_t{0}, chunk < n ? chunk : n);
  for (auto& w : workers) w.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Status memory_bandwidth(std::size_t bytes, int reps, int threads, BandwidthResult* result) {
  if (bytes < 4096) return Status::Error("gprl: memoryBandwidth: bytes must be >= 4096");
  if (reps < 1) reps = 1;
  if (threads < 1) threads = 1;
  const std::size_t words = bytes / sizeof(uint64_t);
  try {
    std::unique_ptr<uint64_t[]> src(new uint64_t[words]);
    std::unique_ptr<uint64_t[]> dst(new uint64_t[words]);
    // First touch from the threads that later stream the data.
    timed_split(words, threads, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) src[i] = i;
      std::memset(dst.get() + b, 0, (e - b) * sizeof(uint64_t));
    });
    std::vector<uint64_t> sums(static_cast<std::size_t>(threads));
    double best_read = 1e300, best_copy = 1e300, best_write = 1e300;
    for (int r = 0; r < reps; ++r) {
      const double tr = timed_split(words, threads, [&](std::size_t b, std::size_t e) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        std::size_t i = b;
        for (; i + 4 <= e; i += 4) {
          s0 += src[i];
          s1 += src[i + 1];
          s2 += src[i + 2];
          s3 += src[i + 3];
        }
        for (; i < e; ++i) s0 += src[i];
        sums[b / ((words + static_cast<std::size_t>(threads) - 1) / static_cast<std::size_t>(threads))] =
            s0 + s1 + s2 + s3;
      });
      if (tr < best_read) best_read = tr;
      const double tc = timed_split(words, threads, [&](std::size_t b, std::size_t e) {
        std::memcpy(dst.get() + b, src.get() + b, (e - b) * sizeof(uint64_t));
      });
      if (tc < best_copy) best_copy = tc;
      const double tw = timed_split(words, threads, [&](std::size_t b, std::size_t e) {
        std::memset(dst.get() + b, static_cast<int>(r + 1), (e - b) * sizeof(uint64_t));
      });
      if (tw < best_write) best_write = tw;
    }
    // Keep the sums observable so the read loop is not optimized away.
    volatile uint64_t sink = 0;
    for (uint64_t s : sums) sink = sink + s;
    (void)sink;
    const double moved = static_cast<double>(words * sizeof(uint64_t));
    result->read_gbs = moved / best_read / 1e9;
    result->copy_gbs = 2.0 * moved / best_copy / 1e9;
    result->write_gbs = moved / best_write / 1e9;
  } catch (const std::bad_alloc&) {
    return Status::Error("gprl: memoryBandwidth: out of host memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("gprl: memoryBandwidth: ") + e.what());
  }
  return Status::Ok();
}

Status sigmoid_throughput(std::size_t count, int reps, int threads, double* ns_per_sigmoid) {
  if (count < 16) return Status::Error("gprl: sigmoidThroughput: count must be >= 16");
  if (reps < 1) reps = 1;
  if (threads < 1) threads = 1;
  try {
    std::vector<double> sinks(static_cast<std::size_t>(threads));
    double best = 1e300;
    for (int trial = 0; trial < 3; ++trial) {
      const double t = timed_split(static_cast<std::size_t>(threads), threads, [&](std::size_t b, std::size_t e) {
        for (std::size_t w = b; w < e; ++w) {
          // Inputs spread over [-8, 8] (both branches of the select, varied exponents), as pair scores / tau.
          std::vector<double> x(count);
          for (std::size_t i = 0; i < count; ++i) x[i] = -8.0 + 16.0 * static_cast<double>((i * 7919) % count) / count;
          double acc = 0.0;
          for (int r = 0; r < reps; ++r) {
            for (std::size_t i = 0; i < count; ++i) acc += detail::sigmoid(x[i]);
            x[static_cast<std::size_t>(r) % count] += 1e-9;  // keeps the loop from being hoisted
          }
          sinks[w] = acc;
        }
      });
      if (t < best) best = t;
    }
    volatile double sink = 0;
    for (double v : sinks) sink = sink + v;
    (void)sink;
    // `threads` threads each evaluated count * reps sigmoids in `best` seconds.
    *ns_per_sigmoid = best * 1e9 / (static_cast<double>(count) * reps * threads);
  } catch (const std::exception& e) {
    return Status::Error(std::string("gprl: sigmoidThroughput: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace gprl
