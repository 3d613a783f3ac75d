// Small numeric helpers shared by the C++ kernels (host only).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace gprl {
namespace detail {

/** True when x is neither NaN nor ±Inf (bit test: exponent not all ones). */
inline bool is_finite(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return (u & 0x7f800000u) != 0x7f800000u;
}

/**
 * Logistic function without overflow for large |x|; NaN in, NaN out. 1/(1+e^-x) for x >= 0, e^x/(1+e^x)
 * below, written with one exp of -|x| and a select instead of a branch on the sign (random signs
 * mispredict), same values.
 */
inline double sigmoid(double x) {
  const double e = std::exp(-std::fabs(x));
  return (x >= 0 ? 1.0 : e) / (1.0 + e);
}

/** Standard deviation from a sum of squared deviations over n values (n = 0 or 1 gives 0). */
inline double std_from_ss(double ss, int64_t n, bool unbiased) {
  if (n < 2) return 0.0;
  return std::sqrt(ss / static_cast<double>(unbiased ? n - 1 : n));
}

}  // namespace detail
}  // namespace gprl
