#include "group_core.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "math_util.h"
#include "parallel.h"

namespace gprl {
namespace detail {

Status check_shape(const char* kernel, const Shape& s) {
  if (s.groups < 1 || s.group_size < 1 || s.dims < 1) {
    return Status::Error(std::string("gprl: ") + kernel + ": groups, groupSize and dims must be positive");
  }
  const double total = static_cast<double>(s.groups) * static_cast<double>(s.group_size) *
                       static_cast<double>(s.group_size > 2 * s.dims ? s.group_size : 2 * s.dims);
  if (total > 9.0e15) return Status::Error(std::string("gprl: ") + kernel + ": shape too large");
  return Status::Ok();
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/** Per-thread scratch, sized once per chunk of groups (no allocation per group). */
struct Scratch {
  std::vector<uint8_t> valid;  // G
  std::vector<double> acc;     // G*k (win-rate sums)
  std::vector<double> sdbl;    // G*k float64 scores of the group (fused path)
  std::vector<double> resp;    // G (aggregate per response)
  std::vector<double> dim;     // 6*k when k > kStackDims: (a, b) sums, mu, ss, 1/(sigma+eps) or 0, weight
  // Staging of one group's float32 outputs (scores, dimAdvantages, advantages, dimMean, dimStd) for
  // outputs that are streamed (written here in L1, then copied out past the caches in one contiguous
  // run) or not requested (written here and dropped). Other outputs are written in place.
  std::vector<float> stage;    // 2*G*k + G + 2*k

  Scratch(int64_t G, int64_t k, bool winrate)
      : valid(static_cast<size_t>(G)),
        acc(winrate ? static_cast<size_t>(G * k) : 0),
        sdbl(static_cast<size_t>(G * k)),
        resp(static_cast<size_t>(G)),
        dim(static_cast<size_t>(6 * k)),
        stage(static_cast<size_t>(2 * G * k + G + 2 * k)) {}
};

/**
 * Copy n floats from L1 staging to an output. `stream`: non-temporal stores for the 16-byte aligned
 * interior (no read-for-ownership of the destination lines, which are written whole and not read back
 * by this call); the caller issues a store fence before the results are published.
 */
inline void copy_out(float* __restrict dst, const float* __restrict src, int64_t n, bool stream) {
#if defined(__SSE2__) || defined(_M_X64)
  if (stream) {
    int64_t i = 0;
    for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0; ++i) dst[i] = src[i];
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
    for (; i < n; ++i) dst[i] = src[i];
    return;
  }
#else
  (void)stream;
#endif
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

/** Batch-level state of the gdpo second pass. */
struct GdpoState {
  std::vector<double> prime;   // [B][G] A' (NaN for invalid responses)
  std::vector<double> gsum;    // [B] sum of A' over valid responses
  std::vector<int64_t> gcount;  // [B] valid responses
};

/** Work (values touched) per dynamically claimed chunk of groups: a few hundred microseconds. */
constexpr size_t kChunkWork = size_t{1} << 18;

/** Output size from which the per-response outputs are streamed (see stream_outputs). */
constexpr size_t kStreamBytes = size_t{8} << 20;

/** Dimensions handled with stack buffers (larger k falls back to per-chunk scratch). */
constexpr int64_t kStackDims = 64;

/** w_l = m_l * lambda_{b,l} / sum_l' m_l' * lambda_{b,l'} (lambda row may be null: all 1). */
inline void compute_weights(const float* dim_weights, const float* lambda_row, int64_t k, double* w) {
  double wsum = 0.0;
  for (int64_t l = 0; l < k; ++l) {
    const double m = dim_weights ? static_cast<double>(dim_weights[l]) : 1.0;
    const double lam = lambda_row ? static_cast<double>(lambda_row[l]) : 1.0;
    w[l] = m * lam;
    wsum += w[l];
  }
  for (int64_t l = 0; l < k; ++l) w[l] /= wsum;
}

#if defined(__SSE2__) || defined(_M_X64)
#define GPRL_SSE2 1
#else
#define GPRL_SSE2 0
#endif

#if GPRL_SSE2
// SSE2 (the x86-64 baseline) versions of the per-group passes for an even k known at compile time:
// two dimensions per float64 vector. They perform the same float64 operations in the same order as
// the scalar loops in process_groups (per-dimension sums over responses in order, the per-response
// aggregate over l in order), so both give bit-identical results.
namespace vec {

/** Validity of each response (mask, finite inputs); with `sum`, sums[t] += e[i][t] over valid i. */
template <int K>
inline int64_t embedding_validity(const float* __restrict e, int64_t G, const uint8_t* mask, bool sum,
                                  uint8_t* __restrict valid, double* __restrict sums) {
  constexpr int Q = K / 2;  // float vectors per response: (a, b) of two dimensions
  const __m128i exp_mask = _mm_set1_epi32(0x7f800000);
  __m128d acc[K];
  for (int t = 0; t < K; ++t) acc[t] = _mm_setzero_pd();
  int64_t n = 0;
  for (int64_t i = 0; i < G; ++i) {
    const float* ei = e + i * 2 * K;
    __m128i bad = _mm_setzero_si128();
    for (int q = 0; q < Q; ++q) {
      const __m128i x = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ei + 4 * q)), exp_mask);
      bad = _mm_or_si128(bad, _mm_cmpeq_epi32(x, exp_mask));
    }
    const bool ok = _mm_movemask_epi8(bad) == 0 && (mask == nullptr || mask[i] != 0);
    valid[i] = ok ? 1 : 0;
    n += ok ? 1 : 0;
    if (ok && sum) {
      for (int q = 0; q < Q; ++q) {
        const __m128 x = _mm_loadu_ps(ei + 4 * q);
        acc[2 * q] = _mm_add_pd(acc[2 * q], _mm_cvtps_pd(x));
        acc[2 * q + 1] = _mm_add_pd(acc[2 * q + 1], _mm_cvtps_pd(_mm_movehl_ps(x, x)));
      }
    }
  }
  for (int t = 0; t < K; ++t) _mm_storeu_pd(sums + 2 * t, acc[t]);
  return n;
}

/** Store two float64 vectors (4 values) as 4 floats. */
inline void store4(float* dst, __m128d lo, __m128d hi) {
  _mm_storeu_ps(dst, _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi)));
}

/** Logit scores of the valid responses: v = c (a_l mean(b_l) - b_l mean(a_l)); mu[l] = sum of v. */
template <int K>
inline void logit_scores(const float* __restrict e, int64_t G, const uint8_t* __restrict valid,
                         const double* __restrict means, double c, float* __restrict s, double* __restrict sdbl,
                         double* __restrict mu) {
  constexpr int Q = K / 2;
  __m128d sw[K], acc[Q];  // sw[t] = (mean b_l, mean a_l) of dimension l = t
  for (int t = 0; t < K; ++t) {
    const __m128d m = _mm_loadu_pd(means + 2 * t);
    sw[t] = _mm_shuffle_pd(m, m, 1);
  }
  for (int q = 0; q < Q; ++q) acc[q] = _mm_setzero_pd();
  const __m128d cv = _mm_set1_pd(c);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < G; ++i) {
    float* si = s + i * K;
    if (!valid[i]) {
      for (int l = 0; l < K; ++l) si[l] = nan;
      continue;
    }
    const float* ei = e + i * 2 * K;
    double* di = sdbl + i * K;
    __m128d v[Q];
    for (int q = 0; q < Q; ++q) {
      const __m128 x = _mm_loadu_ps(ei + 4 * q);  // a_l, b_l, a_l+1, b_l+1 (l = 2q)
      const __m128d p0 = _mm_mul_pd(_mm_cvtps_pd(x), sw[2 * q]);
      const __m128d p1 = _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(x, x)), sw[2 * q + 1]);
      v[q] = _mm_mul_pd(cv, _mm_sub_pd(_mm_unpacklo_pd(p0, p1), _mm_unpackhi_pd(p0, p1)));
      _mm_storeu_pd(di + 2 * q, v[q]);
      acc[q] = _mm_add_pd(acc[q], v[q]);
    }
    int q = 0;
    for (; q + 1 < Q; q += 2) store4(si + 2 * q, v[q], v[q + 1]);
    if (q < Q) _mm_storel_pi(reinterpret_cast<__m64*>(si + 2 * q), _mm_cvtpd_ps(v[q]));
  }
  for (int q = 0; q < Q; ++q) _mm_storeu_pd(mu + 2 * q, acc[q]);
}

/** ss[l] = sum over valid i of (sdbl[i][l] - mu[l])^2. */
template <int K>
inline void squared_deviations(const double* __restrict sdbl, int64_t G, const uint8_t* __restrict valid,
                               const double* __restrict mu, double* __restrict ss) {
  constexpr int Q = K / 2;
  __m128d m[Q], acc[Q];
  for (int q = 0; q < Q; ++q) {
    m[q] = _mm_loadu_pd(mu + 2 * q);
    acc[q] = _mm_setzero_pd();
  }
  for (int64_t i = 0; i < G; ++i) {
    if (!valid[i]) continue;
    const double* di = sdbl + i * K;
    for (int q = 0; q < Q; ++q) {
      const __m128d d = _mm_sub_pd(_mm_loadu_pd(di + 2 * q), m[q]);
      acc[q] = _mm_add_pd(acc[q], _mm_mul_pd(d, d));
    }
  }
  for (int q = 0; q < Q; ++q) _mm_storeu_pd(ss + 2 * q, acc[q]);
}

/**
 * Per-dimension statistics from mu and ss: dimMean, dimStd, inv[l] = 1/(sigma_l + eps) or 0 when the
 * dimension is degenerate (n >= 1 and sigma_l <= stdFloor); returns the number of degenerate dimensions.
 */
template <int K>
inline int64_t dimension_stats(const double* __restrict mu, const double* __restrict ss, int64_t n,
                               const AdvantageOptions& opt, float* __restrict dmean, float* __restrict dstd,
                               double* __restrict inv) {
  constexpr int Q = K / 2;
  const __m128d den = _mm_set1_pd(static_cast<double>(opt.unbiased ? n - 1 : n));
  const __m128d floor = _mm_set1_pd(opt.std_floor), eps = _mm_set1_pd(opt.eps), one = _mm_set1_pd(1.0);
  __m128d m[Q], sd[Q];
  int64_t deg = 0;
  for (int q = 0; q < Q; ++q) {
    m[q] = _mm_loadu_pd(mu + 2 * q);
    sd[q] = n < 2 ? _mm_setzero_pd() : _mm_sqrt_pd(_mm_div_pd(_mm_loadu_pd(ss + 2 * q), den));
    const __m128d degenerate = n >= 1 ? _mm_cmple_pd(sd[q], floor) : _mm_setzero_pd();
    _mm_storeu_pd(inv + 2 * q, _mm_andnot_pd(degenerate, _mm_div_pd(one, _mm_add_pd(sd[q], eps))));
    const int bits = _mm_movemask_pd(degenerate);
    deg += (bits & 1) + (bits >> 1);
  }
  int q = 0;
  for (; q + 1 < Q; q += 2) {
    store4(dmean + 2 * q, m[q], m[q + 1]);
    store4(dstd + 2 * q, sd[q], sd[q + 1]);
  }
  if (q < Q) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dmean + 2 * q), _mm_cvtpd_ps(m[q]));
    _mm_storel_pi(reinterpret_cast<__m64*>(dstd + 2 * q), _mm_cvtpd_ps(sd[q]));
  }
  return deg;
}

/**
 * dimAdvantages of the group (0 for invalid responses) and the per-response aggregate agg[i]:
 * sum_l w_l A_hat_l (or sum_l w_l s_l when `scalar`), summed over l in order; 0 for invalid i.
 * Responses go in pairs, one per vector lane of the aggregate, so its sums stay in order over l.
 */
template <int K>
inline void advantages(const double* __restrict sdbl, int64_t G, const uint8_t* __restrict valid,
                       const double* __restrict mu, const double* __restrict inv, const double* __restrict w,
                       bool scalar, float* __restrict da, double* __restrict agg) {
  constexpr int Q = K / 2;
  __m128d m[Q], r[Q], wv[Q];
  for (int q = 0; q < Q; ++q) {
    m[q] = _mm_loadu_pd(mu + 2 * q);
    r[q] = _mm_loadu_pd(inv + 2 * q);
    wv[q] = _mm_loadu_pd(w + 2 * q);
  }
  // One response: A_hat into `a` (stored as floats), w * (A_hat or s) into `x`.
  auto response = [&](int64_t i, __m128d* x) {
    float* dai = da + i * K;
    if (!valid[i]) {
      for (int l = 0; l < K; ++l) dai[l] = 0.0f;
      for (int q = 0; q < Q; ++q) x[q] = _mm_setzero_pd();
      return;
    }
    const double* di = sdbl + i * K;
    __m128d a[Q];
    for (int q = 0; q < Q; ++q) {
      const __m128d d = _mm_loadu_pd(di + 2 * q);
      a[q] = _mm_mul_pd(_mm_sub_pd(d, m[q]), r[q]);
      x[q] = _mm_mul_pd(wv[q], scalar ? d : a[q]);
    }
    int q = 0;
    for (; q + 1 < Q; q += 2) store4(dai + 2 * q, a[q], a[q + 1]);
    if (q < Q) _mm_storel_pi(reinterpret_cast<__m64*>(dai + 2 * q), _mm_cvtpd_ps(a[q]));
  };
  int64_t i = 0;
  for (; i + 1 < G; i += 2) {
    __m128d x0[Q], x1[Q];
    response(i, x0);
    response(i + 1, x1);
    __m128d acc = _mm_setzero_pd();  // (agg[i], agg[i + 1])
    for (int q = 0; q < Q; ++q) {
      acc = _mm_add_pd(acc, _mm_unpacklo_pd(x0[q], x1[q]));
      acc = _mm_add_pd(acc, _mm_unpackhi_pd(x0[q], x1[q]));
    }
    _mm_storeu_pd(agg + i, acc);
  }
  if (i < G) {
    __m128d x0[Q];
    response(i, x0);
    double acc = 0.0;
    for (int q = 0; q < Q; ++q) {
      acc += _mm_cvtsd_f64(x0[q]);
      acc += _mm_cvtsd_f64(_mm_unpackhi_pd(x0[q], x0[q]));
    }
    agg[i] = acc;
  }
}

}  // namespace vec
#endif

#if GPRL_SSE2 && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GPRL_AVX2_DISPATCH 1
#else
#define GPRL_AVX2_DISPATCH 0
#endif

#if GPRL_AVX2_DISPATCH
// AVX2 versions of the vec passes for k a multiple of 4 (four dimensions per float64 vector),
// compiled for AVX2 only (target attribute, no FMA: no contraction) and chosen at run time when the
// CPU has it. Same operations in the same order as the scalar and SSE2 code: bit-identical results.
namespace avx2 {

#define GPRL_AVX2_FN __attribute__((target("avx2"))) static

/** Validity and sums, as vec::embedding_validity. */
template <int K>
GPRL_AVX2_FN int64_t embedding_validity(const float* __restrict e, int64_t G, const uint8_t* mask, bool sum,
                                        uint8_t* __restrict valid, double* __restrict sums) {
  constexpr int Q = K / 2;  // 4-float chunks per response: (a, b) of two dimensions
  const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
  __m256d acc[Q];
  for (int q = 0; q < Q; ++q) acc[q] = _mm256_setzero_pd();
  int64_t n = 0;
  for (int64_t i = 0; i < G; ++i) {
    const float* ei = e + i * 2 * K;
    __m256i bad = _mm256_setzero_si256();
    for (int h = 0; h < K / 4; ++h) {
      const __m256i x =
          _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ei + 8 * h)), exp_mask);
      bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(x, exp_mask));
    }
    const bool ok = _mm256_testz_si256(bad, bad) != 0 && (mask == nullptr || mask[i] != 0);
    valid[i] = ok ? 1 : 0;
    n += ok ? 1 : 0;
    if (ok && sum) {
      for (int q = 0; q < Q; ++q) acc[q] = _mm256_add_pd(acc[q], _mm256_cvtps_pd(_mm_loadu_ps(ei + 4 * q)));
    }
  }
  for (int q = 0; q < Q; ++q) _mm256_storeu_pd(sums + 4 * q, acc[q]);
  return n;
}

/** Logit scores, as vec::logit_scores. */
template <int K>
GPRL_AVX2_FN void logit_scores(const float* __restrict e, int64_t G, const uint8_t* __restrict valid,
                               const double* __restrict means, double c, float* __restrict s,
                               double* __restrict sdbl, double* __restrict mu) {
  constexpr int Q = K / 2, H = K / 4;
  __m256d sw[Q], acc[H];  // sw[q] = (mean b, mean a) of dimensions 2q and 2q+1
  for (int q = 0; q < Q; ++q) sw[q] = _mm256_permute_pd(_mm256_loadu_pd(means + 4 * q), 0x5);
  for (int h = 0; h < H; ++h) acc[h] = _mm256_setzero_pd();
  const __m256d cv = _mm256_set1_pd(c);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < G; ++i) {
    float* si = s + i * K;
    if (!valid[i]) {
      for (int l = 0; l < K; ++l) si[l] = nan;
      continue;
    }
    const float* ei = e + i * 2 * K;
    double* di = sdbl + i * K;
    for (int h = 0; h < H; ++h) {
      // p0 = (a0 mb0, b0 ma0, a1 mb1, b1 ma1), p1 likewise for dimensions 2, 3 (relative to 4h).
      const __m256d p0 = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(ei + 8 * h)), sw[2 * h]);
      const __m256d p1 = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(ei + 8 * h + 4)), sw[2 * h + 1]);
      // unpack gives dimensions in order (0, 2, 1, 3); the permute restores (0, 1, 2, 3).
      const __m256d d = _mm256_sub_pd(_mm256_unpacklo_pd(p0, p1), _mm256_unpackhi_pd(p0, p1));
      const __m256d v = _mm256_mul_pd(cv, _mm256_permute4x64_pd(d, 0xD8));
      _mm256_storeu_pd(di + 4 * h, v);
      _mm_storeu_ps(si + 4 * h, _mm256_cvtpd_ps(v));
      acc[h] = _mm256_add_pd(acc[h], v);
    }
  }
  for (int h = 0; h < H; ++h) _mm256_storeu_pd(mu + 4 * h, acc[h]);
}

/** Squared deviations, as vec::squared_deviations. */
template <int K>
GPRL_AVX2_FN void squared_deviations(const double* __restrict sdbl, int64_t G, const uint8_t* __restrict valid,
                                     const double* __restrict mu, double* __restrict ss) {
  constexpr int H = K / 4;
  __m256d m[H], acc[H];
  for (int h = 0; h < H; ++h) {
    m[h] = _mm256_loadu_pd(mu + 4 * h);
    acc[h] = _mm256_setzero_pd();
  }
  for (int64_t i = 0; i < G; ++i) {
    if (!valid[i]) continue;
    const double* di = sdbl + i * K;
    for (int h = 0; h < H; ++h) {
      const __m256d d = _mm256_sub_pd(_mm256_loadu_pd(di + 4 * h), m[h]);
      acc[h] = _mm256_add_pd(acc[h], _mm256_mul_pd(d, d));
    }
  }
  for (int h = 0; h < H; ++h) _mm256_storeu_pd(ss + 4 * h, acc[h]);
}

/** Per-dimension statistics, as vec::dimension_stats. */
template <int K>
GPRL_AVX2_FN int64_t dimension_stats(const double* __restrict mu, const double* __restrict ss, int64_t n,
                                     const AdvantageOptions& opt, float* __restrict dmean, float* __restrict dstd,
                                     double* __restrict inv) {
  constexpr int H = K / 4;
  const __m256d den = _mm256_set1_pd(static_cast<double>(opt.unbiased ? n - 1 : n));
  const __m256d floor = _mm256_set1_pd(opt.std_floor), eps = _mm256_set1_pd(opt.eps), one = _mm256_set1_pd(1.0);
  int64_t deg = 0;
  for (int h = 0; h < H; ++h) {
    const __m256d sd = n < 2 ? _mm256_setzero_pd() : _mm256_sqrt_pd(_mm256_div_pd(_mm256_loadu_pd(ss + 4 * h), den));
    const __m256d degenerate = n >= 1 ? _mm256_cmp_pd(sd, floor, _CMP_LE_OQ) : _mm256_setzero_pd();
    _mm256_storeu_pd(inv + 4 * h, _mm256_andnot_pd(degenerate, _mm256_div_pd(one, _mm256_add_pd(sd, eps))));
    deg += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_pd(degenerate)));
    _mm_storeu_ps(dmean + 4 * h, _mm256_cvtpd_ps(_mm256_loadu_pd(mu + 4 * h)));
    _mm_storeu_ps(dstd + 4 * h, _mm256_cvtpd_ps(sd));
  }
  return deg;
}

/** One response of advantages(): A_hat stored as floats, w * (A_hat or s) into x (0 when invalid). */
template <int K>
__attribute__((target("avx2"), always_inline)) inline void advantage_row(
    const double* __restrict sdbl, const uint8_t* __restrict valid, const __m256d* m, const __m256d* r,
    const __m256d* wv, bool scalar, float* __restrict da, int64_t i, __m256d* x) {
  constexpr int H = K / 4;
  float* dai = da + i * K;
  if (!valid[i]) {
    for (int h = 0; h < H; ++h) {
      _mm_storeu_ps(dai + 4 * h, _mm_setzero_ps());
      x[h] = _mm256_setzero_pd();
    }
    return;
  }
  const double* di = sdbl + i * K;
  for (int h = 0; h < H; ++h) {
    const __m256d d = _mm256_loadu_pd(di + 4 * h);
    const __m256d a = _mm256_mul_pd(_mm256_sub_pd(d, m[h]), r[h]);
    _mm_storeu_ps(dai + 4 * h, _mm256_cvtpd_ps(a));
    x[h] = _mm256_mul_pd(wv[h], scalar ? d : a);
  }
}

/**
 * Advantages and aggregate, as vec::advantages. Responses go in fours: a 4x4 transpose puts one
 * response per lane, so each aggregate still sums over l in order.
 */
template <int K>
GPRL_AVX2_FN void advantages(const double* __restrict sdbl, int64_t G, const uint8_t* __restrict valid,
                             const double* __restrict mu, const double* __restrict inv, const double* __restrict w,
                             bool scalar, float* __restrict da, double* __restrict agg) {
  constexpr int H = K / 4;
  __m256d m[H], r[H], wv[H];
  for (int h = 0; h < H; ++h) {
    m[h] = _mm256_loadu_pd(mu + 4 * h);
    r[h] = _mm256_loadu_pd(inv + 4 * h);
    wv[h] = _mm256_loadu_pd(w + 4 * h);
  }
  int64_t i = 0;
  for (; i + 3 < G; i += 4) {
    __m256d x0[H], x1[H], x2[H], x3[H];
    advantage_row<K>(sdbl, valid, m, r, wv, scalar, da, i, x0);
    advantage_row<K>(sdbl, valid, m, r, wv, scalar, da, i + 1, x1);
    advantage_row<K>(sdbl, valid, m, r, wv, scalar, da, i + 2, x2);
    advantage_row<K>(sdbl, valid, m, r, wv, scalar, da, i + 3, x3);
    __m256d acc = _mm256_setzero_pd();  // agg[i .. i+3]
    for (int h = 0; h < H; ++h) {
      const __m256d t0 = _mm256_unpacklo_pd(x0[h], x1[h]), t1 = _mm256_unpackhi_pd(x0[h], x1[h]);
      const __m256d t2 = _mm256_unpacklo_pd(x2[h], x3[h]), t3 = _mm256_unpackhi_pd(x2[h], x3[h]);
      acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(t0, t2, 0x20));
      acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(t1, t3, 0x20));
      acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(t0, t2, 0x31));
      acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
    _mm256_storeu_pd(agg + i, acc);
  }
  for (; i < G; ++i) {
    __m256d x0[H];
    advantage_row<K>(sdbl, valid, m, r, wv, scalar, da, i, x0);
    alignas(32) double t[K];
    for (int h = 0; h < H; ++h) _mm256_store_pd(t + 4 * h, x0[h]);
    double acc = 0.0;
    for (int l = 0; l < K; ++l) acc += t[l];
    agg[i] = acc;
  }
}

#undef GPRL_AVX2_FN

}  // namespace avx2

/** True when the CPU runs AVX2 (checked once). */
inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") != 0;
  return has;
}
#endif

#if GPRL_SSE2 && !GPRL_AVX2_DISPATCH
namespace avx2 = vec;  // never selected (kAvx2 is false), keeps the dispatching code compiling
#endif

/** 1 when x is NaN or ±Inf, else 0 (integer form of !is_finite, so loops over it vectorize). */
inline uint32_t non_finite(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return (u & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
}

/**
 * Process groups [b0, b1). K > 0 fixes k at compile time (unrolled loops); K == 0 reads it at run time.
 * kEmb: scores are computed from embeddings (and kept in float64 for the statistics, rounded to
 * float32 only when stored), else read from job.scores. Adds (degenerate, masked) counts.
 *
 * Per group: one pass over the embeddings (validity and the sums of a and b), one pass computing the
 * float64 scores, then two passes over those scores (squared deviations, advantages), all from L1.
 * Every inner loop runs over the contiguous values of one response (2k embedding values or k
 * dimensions) with no branch and no reduction across its iterations, so it vectorizes; per-dimension
 * sums accumulate over responses in order i = 0..G-1 and the per-response aggregate sums over
 * l = 0..k-1 in order, as on the CUDA path.
 */
template <int K, bool kEmb, bool kAvx2>
void process_groups(const GroupJob& job, int64_t b0, int64_t b1, Scratch& sc, GdpoState* gdpo, int64_t* deg_out,
                    int64_t* masked_out) {
  const int64_t G = job.shape.group_size;
  const int64_t k = K > 0 ? K : job.shape.dims;
  const bool winrate = job.mode == kModeWinrate;
  const bool advantage = job.advantage;
  const AdvantageOptions& opt = job.options;
  const bool scalar = opt.normalize == kNormalizeScalar;
  const bool per_dimension = opt.normalize == kNormalizePerDimension;
  [[maybe_unused]] constexpr bool kVec = GPRL_SSE2 && K > 0 && K % 2 == 0;
  uint8_t* __restrict valid = sc.valid.data();
  double* __restrict sdbl = sc.sdbl.data();
  double stack[6 * kStackDims] = {};
  double* const dim = k <= kStackDims ? stack : sc.dim.data();
  double* __restrict sums = dim;           // 2k: sums of the interleaved (a, b) values, then their means
  double* __restrict mu = dim + 2 * k;     // k
  double* __restrict ss = dim + 3 * k;     // k
  double* __restrict inv = dim + 4 * k;    // k: 1/(sigma+eps), or 0 when degenerate
  double* __restrict w = dim + 5 * k;      // k
  double* __restrict agg = sc.resp.data();  // G
  float* const st_s = sc.stage.data();      // G*k scores
  float* const st_da = st_s + G * k;        // G*k dimAdvantages
  float* const st_adv = st_da + G * k;      // G advantages
  float* const st_mean = st_adv + G;        // k
  float* const st_std = st_mean + k;        // k
  const bool stream = job.stream;
  const uint8_t* const mask_all = job.mask;
  const float* const emb_all = job.embeddings;
  float* const scores_all = job.scores;
  const double c_tau = job.tau;
  const AdvantageOutputs out = job.out;
  int64_t deg = 0, masked = 0;
  const bool group_weights = job.lambdas != nullptr;
  if (advantage && !group_weights) compute_weights(job.dim_weights, nullptr, k, w);

  const int64_t B = job.shape.groups;
  // Software prefetch of the embeddings of the group `ahead` groups on (about 4 KiB ahead).
  const int64_t group_bytes = G * 2 * k * static_cast<int64_t>(sizeof(float));
  const int64_t ahead = group_bytes >= 4096 ? 1 : 4096 / group_bytes;

  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* mask = mask_all ? mask_all + b * G : nullptr;
    // Each output row is written in place when requested and not streamed, else into the L1 staging
    // row (copied out, streamed, after the pass when requested). Scores are the input without kEmb.
    float* __restrict s = !kEmb || (scores_all != nullptr && !stream) ? scores_all + b * G * k : st_s;
    const float* __restrict e = kEmb ? emb_all + b * G * 2 * k : nullptr;
#if GPRL_SSE2
    if (kEmb && b + ahead < B) {
      const char* pf = reinterpret_cast<const char*>(emb_all + (b + ahead) * G * 2 * k);
      for (int64_t off = 0; off < group_bytes; off += 64) _mm_prefetch(pf + off, _MM_HINT_T0);
    }
#endif

    // 1. Validity (mask and every input value finite); logit: sums of a and b over valid responses.
    int64_t n = 0;
#if GPRL_SSE2
    if constexpr (kVec && kEmb) {
      if constexpr (kAvx2) {
        n = avx2::embedding_validity<K>(e, G, mask, !winrate, valid, sums);
      } else {
        n = vec::embedding_validity<K>(e, G, mask, !winrate, valid, sums);
      }
    } else
#endif
    if (kEmb) {
      for (int64_t t = 0; t < 2 * k; ++t) sums[t] = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        const float* __restrict ei = e + i * 2 * k;
        uint32_t bad = 0;
        for (int64_t t = 0; t < 2 * k; ++t) bad |= non_finite(ei[t]);
        const bool ok = bad == 0 && (mask == nullptr || mask[i] != 0);
        valid[i] = ok ? 1 : 0;
        n += ok ? 1 : 0;
        if (ok && !winrate) {
          for (int64_t t = 0; t < 2 * k; ++t) sums[t] += static_cast<double>(ei[t]);
        }
      }
    } else {
      for (int64_t i = 0; i < G; ++i) {
        const float* __restrict si = s + i * k;
        uint32_t bad = 0;
        for (int64_t l = 0; l < k; ++l) bad |= non_finite(si[l]);
        const bool ok = bad == 0 && (mask == nullptr || mask[i] != 0);
        valid[i] = ok ? 1 : 0;
        n += ok ? 1 : 0;
      }
    }
    masked += G - n;

    // 2. Scores (group_scores semantics), kept in float64 in sdbl, stored as float32 in s.
    for (int64_t l = 0; l < k; ++l) mu[l] = 0.0;
    if (kEmb) {
      if (n < 2) {
        for (int64_t i = 0; i < G; ++i) {
          const float v = valid[i] ? 0.0f : kNaN;
          for (int64_t l = 0; l < k; ++l) {
            s[i * k + l] = v;
            sdbl[i * k + l] = 0.0;
          }
        }
      } else if (!winrate) {
        // sums[2l] = mean(a_l), sums[2l+1] = mean(b_l).
        const double rn = 1.0 / static_cast<double>(n);
        for (int64_t t = 0; t < 2 * k; ++t) sums[t] *= rn;
        const double c = static_cast<double>(n) / static_cast<double>(n - 1);
#if GPRL_SSE2
        if constexpr (kVec) {
          if constexpr (kAvx2) {
            avx2::logit_scores<K>(e, G, valid, sums, c, s, sdbl, mu);
          } else {
            vec::logit_scores<K>(e, G, valid, sums, c, s, sdbl, mu);
          }
        } else
#endif
        for (int64_t i = 0; i < G; ++i) {
          float* __restrict si = s + i * k;
          if (!valid[i]) {
            for (int64_t l = 0; l < k; ++l) si[l] = kNaN;
            continue;
          }
          const float* __restrict ei = e + i * 2 * k;
          double* __restrict di = sdbl + i * k;
          for (int64_t l = 0; l < k; ++l) {
            const double v = c * (static_cast<double>(ei[2 * l]) * sums[2 * l + 1] -
                                  static_cast<double>(ei[2 * l + 1]) * sums[2 * l]);
            di[l] = v;
            si[l] = static_cast<float>(v);
            mu[l] += v;
          }
        }
      } else {
        // Win rate: each unordered pair once, sigma(s_ij) to i and 1 - sigma(s_ij) = sigma(s_ji) to j.
        double* acc = sc.acc.data();
        for (int64_t t = 0; t < G * k; ++t) acc[t] = 0.0;
        for (int64_t i = 0; i < G; ++i) {
          if (!valid[i]) continue;
          const float* ei = e + i * 2 * k;
          for (int64_t j = i + 1; j < G; ++j) {
            if (!valid[j]) continue;
            const float* ej = e + j * 2 * k;
            for (int64_t l = 0; l < k; ++l) {
              const double sij = static_cast<double>(ei[2 * l]) * ej[2 * l + 1] -
                                 static_cast<double>(ei[2 * l + 1]) * ej[2 * l];
              const double p = sigmoid(sij / c_tau);
              acc[i * k + l] += p;
              acc[j * k + l] += 1.0 - p;
            }
          }
        }
        const double r = 1.0 / static_cast<double>(n - 1);
        for (int64_t i = 0; i < G; ++i) {
          float* __restrict si = s + i * k;
          double* __restrict di = sdbl + i * k;
          if (!valid[i]) {
            for (int64_t l = 0; l < k; ++l) si[l] = kNaN;
            continue;
          }
          for (int64_t l = 0; l < k; ++l) {
            const double v = acc[i * k + l] * r - 0.5;
            di[l] = v;
            si[l] = static_cast<float>(v);
            mu[l] += v;
          }
        }
      }
    } else {
      for (int64_t i = 0; i < G; ++i) {
        if (!valid[i]) continue;
        const float* __restrict si = s + i * k;
        double* __restrict di = sdbl + i * k;
        for (int64_t l = 0; l < k; ++l) {
          const double v = si[l];
          di[l] = v;
          mu[l] += v;
        }
      }
    }
    if (kEmb && s == st_s && scores_all != nullptr) copy_out(scores_all + b * G * k, s, G * k, stream);
    if (!advantage) continue;

    // 3. Per-dimension mean and two-pass std over the valid responses.
    if (n > 0) {
      const double rn = 1.0 / static_cast<double>(n);
      for (int64_t l = 0; l < k; ++l) mu[l] *= rn;
    }
#if GPRL_SSE2
    if constexpr (kVec) {
      if constexpr (kAvx2) {
        avx2::squared_deviations<K>(sdbl, G, valid, mu, ss);
      } else {
        vec::squared_deviations<K>(sdbl, G, valid, mu, ss);
      }
    } else
#endif
    {
      for (int64_t l = 0; l < k; ++l) ss[l] = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        if (!valid[i]) continue;
        const double* __restrict di = sdbl + i * k;
        for (int64_t l = 0; l < k; ++l) {
          const double d = di[l] - mu[l];
          ss[l] += d * d;
        }
      }
    }
    float* __restrict dmean = out.dim_mean != nullptr ? out.dim_mean + b * k : st_mean;
    float* __restrict dstd = out.dim_std != nullptr ? out.dim_std + b * k : st_std;
#if GPRL_SSE2
    if constexpr (kVec) {
      int64_t d;
      if constexpr (kAvx2) {
        d = avx2::dimension_stats<K>(mu, ss, n, opt, dmean, dstd, inv);
      } else {
        d = vec::dimension_stats<K>(mu, ss, n, opt, dmean, dstd, inv);
      }
      deg += scalar ? 0 : d;
    } else
#endif
    for (int64_t l = 0; l < k; ++l) {
      const double sd = std_from_ss(ss[l], n, opt.unbiased);
      dmean[l] = static_cast<float>(mu[l]);
      dstd[l] = static_cast<float>(sd);
      const bool degenerate = n >= 1 && sd <= opt.std_floor;
      inv[l] = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
      deg += degenerate && !scalar ? 1 : 0;
    }
    if (group_weights) compute_weights(job.dim_weights, job.lambdas + b * k, k, w);

    // 4. Normalized per-dimension advantages and the per-response aggregate (summed over l in order).
    float* __restrict da = out.dim_advantages != nullptr && !stream ? out.dim_advantages + b * G * k : st_da;
#if GPRL_SSE2
    if constexpr (kVec) {
      if constexpr (kAvx2) {
        avx2::advantages<K>(sdbl, G, valid, mu, inv, w, scalar, da, agg);
      } else {
        vec::advantages<K>(sdbl, G, valid, mu, inv, w, scalar, da, agg);
      }
    } else
#endif
    for (int64_t i = 0; i < G; ++i) {
      float* __restrict dai = da + i * k;
      if (!valid[i]) {
        for (int64_t l = 0; l < k; ++l) dai[l] = 0.0f;
        agg[i] = 0.0;
        continue;
      }
      const double* __restrict di = sdbl + i * k;
      double acc = 0.0;
      if (scalar) {
        for (int64_t l = 0; l < k; ++l) dai[l] = static_cast<float>((di[l] - mu[l]) * inv[l]);
        for (int64_t l = 0; l < k; ++l) acc += w[l] * di[l];
      } else {
        double wa[K > 0 ? K : kStackDims];
        for (int64_t l0 = 0; l0 < k; l0 += kStackDims) {
          const int64_t l1 = k - l0 < kStackDims ? k : l0 + kStackDims;
          for (int64_t l = l0; l < l1; ++l) {
            const double ahat = (di[l] - mu[l]) * inv[l];
            dai[l] = static_cast<float>(ahat);
            wa[l - l0] = w[l] * ahat;
          }
          for (int64_t l = l0; l < l1; ++l) acc += wa[l - l0];
        }
      }
      agg[i] = acc;
    }

    if (da == st_da && out.dim_advantages != nullptr) copy_out(out.dim_advantages + b * G * k, da, G * k, stream);
    float* __restrict adv = out.advantages != nullptr && !stream ? out.advantages + b * G : st_adv;
    if (per_dimension) {
      for (int64_t i = 0; i < G; ++i) adv[i] = valid[i] ? static_cast<float>(agg[i]) : 0.0f;
      if (adv == st_adv && out.advantages != nullptr) copy_out(out.advantages + b * G, adv, G, stream);
    } else if (scalar) {
      double m = 0.0;
      for (int64_t i = 0; i < G; ++i) m += valid[i] ? agg[i] : 0.0;
      if (n > 0) m /= static_cast<double>(n);
      double sq = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        if (!valid[i]) continue;
        const double d = agg[i] - m;
        sq += d * d;
      }
      const double sd = std_from_ss(sq, n, opt.unbiased);
      const bool degenerate = n >= 1 && sd <= opt.std_floor;
      if (degenerate) ++deg;
      const double r = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
      for (int64_t i = 0; i < G; ++i) adv[i] = valid[i] ? static_cast<float>((agg[i] - m) * r) : 0.0f;
      if (adv == st_adv && out.advantages != nullptr) copy_out(out.advantages + b * G, adv, G, stream);
    } else {
      // gdpo: keep A' in float64 for the batch-level pass.
      double* prime = gdpo->prime.data() + b * G;
      double sum = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        prime[i] = valid[i] ? agg[i] : std::numeric_limits<double>::quiet_NaN();
        sum += valid[i] ? agg[i] : 0.0;
      }
      gdpo->gsum[static_cast<size_t>(b)] = sum;
      gdpo->gcount[static_cast<size_t>(b)] = n;
    }
  }
#if GPRL_SSE2
  if (stream) _mm_sfence();  // non-temporal stores are visible before the thread reports completion
#endif
  *deg_out += deg;
  *masked_out += masked;
}

using GroupFn = void (*)(const GroupJob&, int64_t, int64_t, Scratch&, GdpoState*, int64_t*, int64_t*);

template <bool kEmb>
GroupFn pick(int64_t k) {
#if GPRL_AVX2_DISPATCH
  if (cpu_has_avx2()) {
    switch (k) {
      case 4: return &process_groups<4, kEmb, true>;
      case 8: return &process_groups<8, kEmb, true>;
      case 16: return &process_groups<16, kEmb, true>;
      default: break;
    }
  }
#endif
  switch (k) {
    case 1: return &process_groups<1, kEmb, false>;
    case 2: return &process_groups<2, kEmb, false>;
    case 3: return &process_groups<3, kEmb, false>;
    case 4: return &process_groups<4, kEmb, false>;
    case 8: return &process_groups<8, kEmb, false>;
    case 16: return &process_groups<16, kEmb, false>;
    default: return &process_groups<0, kEmb, false>;
  }
}

/** gdpo second pass: one z-score over all valid responses of the batch (deterministic order). */
int64_t gdpo_finish(const GroupJob& job, GdpoState& st) {
  const int64_t B = job.shape.groups, G = job.shape.group_size;
  const AdvantageOptions& opt = job.options;
  double sum = 0.0;
  int64_t n = 0;
  for (int64_t b = 0; b < B; ++b) {
    sum += st.gsum[static_cast<size_t>(b)];
    n += st.gcount[static_cast<size_t>(b)];
  }
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  // Reuse gsum for the per-group sums of squared deviations.
  parallel_for(static_cast<size_t>(B), static_cast<size_t>(G), [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      const double* p = st.prime.data() + b * static_cast<size_t>(G);
      double sq = 0.0;
      for (int64_t i = 0; i < G; ++i) {
        if (std::isnan(p[i])) continue;
        const double d = p[i] - mean;
        sq += d * d;
      }
      st.gsum[b] = sq;
    }
  });
  double sq = 0.0;
  for (int64_t b = 0; b < B; ++b) sq += st.gsum[static_cast<size_t>(b)];
  const double sd = std_from_ss(sq, n, opt.unbiased);
  const bool degenerate = n >= 1 && sd <= opt.std_floor;
  const double r = degenerate ? 0.0 : 1.0 / (sd + opt.eps);
  if (job.out.advantages == nullptr) return degenerate ? 1 : 0;
  parallel_for(static_cast<size_t>(B), static_cast<size_t>(G), [&](size_t b0, size_t b1) {
    for (size_t t = b0 * static_cast<size_t>(G); t < b1 * static_cast<size_t>(G); ++t) {
      const double p = st.prime[t];
      job.out.advantages[t] = std::isnan(p) ? 0.0f : static_cast<float>((p - mean) * r);
    }
  });
  return degenerate ? 1 : 0;
}

/**
 * Large outputs are usually fresh allocations that this call touches first: with 4 KiB pages the
 * first-touch page faults cost more than the kernel itself. On Linux, ask for transparent huge pages
 * on the 2 MiB-aligned interior of each large output array (advisory: no effect where THP is off, and
 * every byte of the range is overwritten by the call anyway). Errors are ignored.
 */
void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{1} << 21;
  constexpr size_t kMinBytes = size_t{8} << 20;
  if (p == nullptr || bytes < kMinBytes) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

/**
 * Whether the large per-response outputs are written with non-temporal stores: when one of them
 * (`bytes`) is at least kStreamBytes, the call streams far more than the per-core caches hold and
 * the outputs are not read back by the call. GPRL_STREAM_STORES=0/1 overrides (for measurements).
 */
bool stream_outputs(size_t bytes) {
  static const int forced = [] {
    const char* env = std::getenv("GPRL_STREAM_STORES");
    return env == nullptr ? -1 : (env[0] == '1' ? 1 : 0);
  }();
  if (forced >= 0) return forced == 1;
  return bytes >= kStreamBytes;
}

}  // namespace

Status run_groups_cpu(const GroupJob& job, AdvantageCounts* counts) {
  const Shape& sh = job.shape;
  const int64_t B = sh.groups, G = sh.group_size, k = sh.dims;
  const bool winrate = job.embeddings != nullptr && job.mode == kModeWinrate;
  const bool gdpo = job.advantage && job.options.normalize == kNormalizeGdpo;
  try {
    GdpoState st;
    if (gdpo) {
      st.prime.resize(static_cast<size_t>(B * G));
      st.gsum.resize(static_cast<size_t>(B));
      st.gcount.resize(static_cast<size_t>(B));
    }
    const size_t values = static_cast<size_t>(B * G * k) * sizeof(float);
    GroupJob run = job;
    run.stream = stream_outputs(values);
    if (job.embeddings != nullptr) advise_huge_pages(job.scores, values);
    if (job.advantage) {
      advise_huge_pages(job.out.dim_advantages, values);
      advise_huge_pages(job.out.advantages, static_cast<size_t>(B * G) * sizeof(float));
    }
    const GroupFn fn = job.embeddings != nullptr ? pick<true>(k) : pick<false>(k);
    // Work per group, in values touched: embeddings and outputs, or G^2 k pairs for win rate.
    const size_t per_group = static_cast<size_t>(G * k * (winrate ? G : 6));
    std::atomic<int64_t> deg{0}, masked{0};
    // Chunks of about kChunkWork values, claimed dynamically: per-group results and integer counts do
    // not depend on the chunking.
    const size_t grain = per_group >= kChunkWork ? 1 : kChunkWork / per_group;
    parallel_for_dynamic(static_cast<size_t>(B), per_group, grain, [&](size_t b0, size_t b1) {
      Scratch sc(G, k, winrate);
      int64_t d = 0, m = 0;
      fn(run, static_cast<int64_t>(b0), static_cast<int64_t>(b1), sc, gdpo ? &st : nullptr, &d, &m);
      deg += d;
      masked += m;
    });
    int64_t d = deg.load();
    if (gdpo) d += gdpo_finish(job, st);
    if (counts) {
      counts->degenerate = d;
      counts->masked = masked.load();
    }
  } catch (const std::bad_alloc&) {
    return Status::Error("gprl: out of host memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("gprl: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace detail
}  // namespace gprl
