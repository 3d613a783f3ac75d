/**
 * The study's statistics: means with 95% t-intervals, paired differences, two-sided paired t-test
 * p-values (Student t CDF through the regularized incomplete beta function) and Holm's step-down
 * adjustment.
 */
import { meanInterval } from '../demo/stats.js';
import type { Estimate } from './types.js';

/** Mean and 95% t-interval (null bounds with fewer than 2 values). NaN values are left out; none left → NaN mean. */
export function estimate(values: readonly number[]): Estimate {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return { mean: Number.NaN, low: null, high: null, n: 0 };
  const m = meanInterval(v);
  return { mean: m.mean, low: m.low, high: m.high, n: m.n };
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), relative error < 1e-13 for x > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of a Student t statistic with `df` degrees of freedom. */
export function tTestPValue(t: number, df: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? Number.NaN : 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** Paired differences a − b (by index) with their estimate and two-sided paired t-test p-value (NaN with < 2 pairs; 1 when every difference is 0). */
export function pairedDifference(a: readonly number[], b: readonly number[]): { diff: Estimate; p: number } {
  const d: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (Number.isFinite(a[i]!) && Number.isFinite(b[i]!)) d.push(a[i]! - b[i]!);
  const diff = estimate(d);
  const n = d.length;
  if (n < 2) return { diff, p: Number.NaN };
  const sd = meanInterval(d).sd!;
  if (sd === 0) return { diff, p: diff.mean === 0 ? 1 : 0 };
  return { diff, p: tTestPValue(diff.mean / (sd / Math.sqrt(n)), n - 1) };
}

/** Holm's step-down adjusted p-values (same order as the input; NaN stays NaN and is not counted). */
export function holm(p: readonly number[]): number[] {
  const idx = p.map((v, i) => [v, i] as const).filter(([v]) => Number.isFinite(v)).sort((x, y) => x[0] - y[0]);
  const m = idx.length;
  const out = p.map(() => Number.NaN);
  let running = 0;
  idx.forEach(([v, i], r) => {
    running = Math.max(running, Math.min(1, (m - r) * v));
    out[i] = running;
  });
  return out;
}
