/**
 * Statistics of the demo's evaluation: win rates, the length-controlled win rate, and means with
 * 95% t-intervals over seeds.
 */
import { invalidValue } from '../errors.js';

/** Two-sided 95% Student-t quantiles t_{0.975, ν} for ν = 1..30 (standard tables, 3 decimals). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, ν}: the table for ν ≤ 30, the Cornish-Fisher expansion around z = 1.96 beyond (error < 1e-3). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw invalidValue('df', 'a positive integer', df);
  if (df <= T975.length) return T975[df - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** Mean and 95% t-interval of a sample; with one value the interval is absent (n = 1). */
export interface Interval {
  mean: number;
  n: number;
  /** Sample standard deviation (Bessel); null when n = 1. */
  sd: number | null;
  /** Half-width of the 95% t-interval; null when n = 1. */
  halfWidth: number | null;
  low: number | null;
  high: number | null;
}

export function meanInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) throw invalidValue('values', 'at least one value', values);
  for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) throw invalidValue(`values[${i}]`, 'a finite number', values[i]);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, n, sd: null, halfWidth: null, low: null, high: null };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const halfWidth = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { mean, n, sd, halfWidth, low: mean - halfWidth, high: mean + halfWidth };
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Win rate: the mean of `outcomes`, each 1 (win), 0 (loss) or 0.5 (tie).
 */
export function winRate(outcomes: readonly number[]): number {
  if (outcomes.length === 0) throw invalidValue('outcomes', 'at least one outcome', outcomes);
  return outcomes.reduce((a, b) => a + b, 0) / outcomes.length;
}

export interface LengthControlledResult {
  /** σ(θ₀): the predicted win rate with the length term set to 0. */
  lcWinRate: number;
  /** Plain win rate (mean outcome), for comparison. */
  winRate: number;
  /** Intercept θ₀ and length coefficient θ₁ of the fitted logistic regression. */
  intercept: number;
  lengthCoef: number;
  /** Scale s used to standardize the length difference (its standard deviation; 1 when it is 0). */
  scale: number;
  /** Newton iterations used. */
  iterations: number;
}

/**
 * Length-controlled win rate, in the spirit of AlpacaEval 2.0 LC (without its per-instruction term):
 * fit the logistic regression `P(win) = σ(θ₀ + θ₁·tanh(Δℓ / s))` to the outcomes by maximum
 * likelihood, where `Δℓ = ℓ_policy − ℓ_reference` is the length difference of the two compared
 * responses and `s` its standard deviation over the evaluation set (1 if that is 0); report `σ(θ₀)`,
 * the win rate the model predicts when the two responses have the same length. Ties count as the
 * soft label 0.5. Fitted by Newton's method with a ridge of 1e-6 on both coefficients (so that a
 * perfectly separable set, e.g. all wins, stays finite) and θ clipped to ±30.
 */
export function lengthControlledWinRate(outcomes: readonly number[], lengthDiff: readonly number[]): LengthControlledResult {
  const n = outcomes.length;
  if (n === 0) throw invalidValue('outcomes', 'at least one outcome', outcomes);
  if (lengthDiff.length !== n) throw invalidValue('lengthDiff.length', `${n} (one per outcome)`, lengthDiff.length);
  for (let i = 0; i < n; i++) {
    const y = outcomes[i]!;
    if (!(y >= 0 && y <= 1)) throw invalidValue(`outcomes[${i}]`, 'a number in [0, 1]', y);
    if (!Number.isFinite(lengthDiff[i]!)) throw invalidValue(`lengthDiff[${i}]`, 'a finite number', lengthDiff[i]);
  }
  const meanD = lengthDiff.reduce((a, b) => a + b, 0) / n;
  const varD = n > 1 ? lengthDiff.reduce((a, d) => a + (d - meanD) ** 2, 0) / (n - 1) : 0;
  const scale = varD > 0 ? Math.sqrt(varD) : 1;
  const x = lengthDiff.map((d) => Math.tanh(d / scale));
  const ridge = 1e-6;
  let t0 = 0;
  let t1 = 0;
  let iterations = 0;
  for (; iterations < 100; iterations++) {
    // Gradient and Hessian of the negative log-likelihood plus ridge/2·|θ|².
    let g0 = ridge * t0;
    let g1 = ridge * t1;
    let h00 = ridge;
    let h01 = 0;
    let h11 = ridge;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const p = sigmoid(t0 + t1 * xi);
      const r = p - outcomes[i]!;
      g0 += r;
      g1 += r * xi;
      const w = p * (1 - p);
      h00 += w;
      h01 += w * xi;
      h11 += w * xi * xi;
    }
    const det = h00 * h11 - h01 * h01;
    let d0: number;
    let d1: number;
    if (det > 1e-12 * Math.max(1, h00 * h11)) {
      d0 = (h11 * g0 - h01 * g1) / det;
      d1 = (h00 * g1 - h01 * g0) / det;
    } else {
      // Singular Hessian (e.g. no length variation): Newton on the intercept alone.
      d0 = g0 / h00;
      d1 = 0;
    }
    t0 = Math.max(-30, Math.min(30, t0 - d0));
    t1 = Math.max(-30, Math.min(30, t1 - d1));
    if (Math.abs(d0) < 1e-12 && Math.abs(d1) < 1e-12) {
      iterations++;
      break;
    }
  }
  return { lcWinRate: sigmoid(t0), winRate: winRate(outcomes), intercept: t0, lengthCoef: t1, scale, iterations };
}

/** Pearson correlation; 0 when either side has no variance. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw invalidValue('b.length', `${n}`, b.length);
  if (n < 2) return 0;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}
