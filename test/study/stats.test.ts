/**
 * The study's statistics (src/study/stats.ts) against values computed independently: published
 * Student-t tail probabilities (scipy.stats.t.sf, 10 digits), the closed forms of the t CDF for
 * df = 1 and df = 2, a numerical integral of the t density, and means, intervals and Holm
 * adjustments worked out by hand.
 *
 * Tolerances: p-values are checked to 1e-6 absolute (the continued fraction converges to ~1e-15;
 * 1e-6 is the precision the reference values are quoted at, with headroom). Means and half-widths
 * are sums of a few doubles: 1e-12.
 */
import { describe, expect, it } from 'vitest';
import { estimate, holm, incompleteBeta, pairedDifference, tTestPValue } from '../../src/study/stats.js';

/** Two-sided p-value by integrating the Student-t density from |t| to a far cutoff (composite Simpson, float64). */
function pValueByIntegration(t: number, df: number): number {
  const lg = (x: number): number => {
    // log Γ by Stirling's series after shifting x ≥ 10 (independent of the Lanczos form in stats.ts).
    let shift = 0;
    while (x < 10) {
      shift -= Math.log(x);
      x += 1;
    }
    return shift + (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
  };
  const c = Math.exp(lg((df + 1) / 2) - lg(df / 2)) / Math.sqrt(df * Math.PI);
  // Substitute t = |t0| + u/(1−u), u ∈ [0, 1): the tail integral becomes finite.
  const f = (u: number): number => {
    if (u >= 1) return 0;
    const x = Math.abs(t) + u / (1 - u);
    return c * (1 + (x * x) / df) ** (-(df + 1) / 2) / (1 - u) ** 2;
  };
  const n = 20000;
  const h = 1 / n;
  let s = f(0) + f(1);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return (2 * s * h) / 3;
}

describe('tTestPValue', () => {
  it('matches published two-sided Student-t p-values', () => {
    // scipy.stats.t.sf(|t|, df) * 2
    const known: [number, number, number][] = [
      [2.1, 9, 0.0651182824],
      [0.3, 19, 0.7674346603],
      [5, 3, 0.0153924381],
      [-2.5, 7, 0.0409922186],
    ];
    for (const [t, df, p] of known) expect(Math.abs(tTestPValue(t, df) - p)).toBeLessThan(1e-6);
  });

  it('matches the closed forms for df = 1 (Cauchy) and df = 2', () => {
    for (const t of [0, 0.1, 0.5, 1, 2.3, 7, 40]) {
      const cauchy = 1 - (2 / Math.PI) * Math.atan(Math.abs(t));
      const df2 = 1 - Math.abs(t) / Math.sqrt(2 + t * t);
      expect(Math.abs(tTestPValue(t, 1) - cauchy)).toBeLessThan(1e-9);
      expect(Math.abs(tTestPValue(-t, 2) - df2)).toBeLessThan(1e-9);
    }
    expect(tTestPValue(1, 1)).toBeCloseTo(0.5, 12);
  });

  it('matches a numerical integral of the t density over a grid of t and df', () => {
    for (const df of [3, 4, 9, 19, 39]) {
      for (const t of [0.2, 1, 1.96, 3.5]) {
        expect(Math.abs(tTestPValue(t, df) - pValueByIntegration(t, df))).toBeLessThan(1e-6);
      }
    }
  });

  it('is 1 at t = 0, 0 at ±Infinity, NaN for NaN, symmetric in t', () => {
    expect(tTestPValue(0, 5)).toBe(1);
    expect(tTestPValue(Infinity, 5)).toBe(0);
    expect(tTestPValue(-Infinity, 5)).toBe(0);
    expect(tTestPValue(Number.NaN, 5)).toBeNaN();
    expect(tTestPValue(-1.7, 11)).toBe(tTestPValue(1.7, 11));
  });

  it('incompleteBeta: I_x(1, 1) = x, I_x(a, 1) = x^a, I_x(1, b) = 1 − (1 − x)^b', () => {
    for (const x of [0.05, 0.3, 0.5, 0.77, 0.99]) {
      expect(incompleteBeta(x, 1, 1)).toBeCloseTo(x, 12);
      expect(incompleteBeta(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 12);
      expect(incompleteBeta(x, 1, 2.5)).toBeCloseTo(1 - (1 - x) ** 2.5, 12);
    }
    expect(incompleteBeta(0, 2, 3)).toBe(0);
    expect(incompleteBeta(1, 2, 3)).toBe(1);
  });
});

describe('estimate', () => {
  it('mean and 95% t-interval by hand (t table: t_{0.975,4} = 2.776, t_{0.975,2} = 4.303)', () => {
    // [1, 2, 3, 4, 5]: mean 3, sample sd √(10/4) = √2.5, half-width 2.776·√2.5/√5 = 2.776/√2.
    const e = estimate([1, 2, 3, 4, 5]);
    expect(e.n).toBe(5);
    expect(e.mean).toBe(3);
    const h = 2.776 / Math.SQRT2;
    expect(Math.abs(e.low! - (3 - h))).toBeLessThan(1e-12);
    expect(Math.abs(e.high! - (3 + h))).toBeLessThan(1e-12);
    // The table value is within 1e-3 of the exact quantile 2.7764451.
    expect(Math.abs(e.high! - 3 - 2.7764451 / Math.SQRT2)).toBeLessThan(1e-3);

    // [0.2, 0.5, 1.1]: mean 0.6, deviations −0.4, −0.1, 0.5, ss = 0.42, sd = √0.21, h = 4.303·√0.21/√3.
    const f = estimate([0.2, 0.5, 1.1]);
    expect(f.mean).toBeCloseTo(0.6, 14);
    const hf = (4.303 * Math.sqrt(0.21)) / Math.sqrt(3);
    expect(Math.abs(f.high! - f.mean - hf)).toBeLessThan(1e-12);
    expect(Math.abs(f.mean - f.low! - hf)).toBeLessThan(1e-12);
  });

  it('drops NaN/Infinity, gives null bounds with one value and NaN with none', () => {
    expect(estimate([2, Number.NaN, 4, Infinity])).toEqual(estimate([2, 4]));
    expect(estimate([7])).toEqual({ mean: 7, low: null, high: null, n: 1 });
    const none = estimate([Number.NaN]);
    expect(none.mean).toBeNaN();
    expect(none.n).toBe(0);
    expect(none.low).toBeNull();
  });
});

describe('pairedDifference', () => {
  it('differences by index, t = mean/(sd/√n), p from the t distribution with n − 1 df', () => {
    const a = [0.61, 0.7, 0.55, 0.68, 0.6];
    const b = [0.5, 0.52, 0.56, 0.6, 0.47];
    // d = [0.11, 0.18, −0.01, 0.08, 0.13]: mean 0.098
    const d = a.map((x, i) => x - b[i]!);
    const mean = d.reduce((s, x) => s + x, 0) / 5;
    expect(mean).toBeCloseTo(0.098, 12);
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / 4);
    const t = mean / (sd / Math.sqrt(5));
    const r = pairedDifference(a, b);
    expect(r.diff.mean).toBeCloseTo(0.098, 12);
    expect(r.diff.n).toBe(5);
    expect(Math.abs(r.diff.high! - r.diff.mean - (2.776 * sd) / Math.sqrt(5))).toBeLessThan(1e-12);
    expect(Math.abs(r.p - pValueByIntegration(t, 4))).toBeLessThan(1e-6);
  });

  it('skips pairs with a non-finite side, uses the shorter length; NaN p with < 2 pairs; 1 when all differences are 0', () => {
    const r = pairedDifference([1, Number.NaN, 3, 5, 9], [0, 1, 1, 2]);
    // pairs used: (1,0), (3,1), (5,2) → d = [1, 2, 3]
    expect(r.diff.n).toBe(3);
    expect(r.diff.mean).toBe(2);
    // t = 2 / (1/√3) = 2√3 with 2 df: p = 1 − t/√(2 + t²) = 1 − 2√3/√14
    expect(Math.abs(r.p - (1 - (2 * Math.sqrt(3)) / Math.sqrt(14)))).toBeLessThan(1e-9);
    expect(pairedDifference([1], [0]).p).toBeNaN();
    expect(pairedDifference([1, 2, 3], [1, 2, 3]).p).toBe(1);
    expect(pairedDifference([2, 3, 4], [1, 2, 3]).p).toBe(0);
  });
});

describe('holm', () => {
  it('step-down adjustment by hand, in input order', () => {
    // sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
    const out = holm([0.01, 0.04, 0.03, 0.005]);
    const want = [0.03, 0.06, 0.06, 0.02];
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 14));
  });

  it('caps at 1 and leaves NaN out of the count', () => {
    const out = holm([0.5, Number.NaN, 0.2]);
    // m = 2: 0.2·2 = 0.4, then max(0.4, 0.5·1) = 0.5
    expect(out[0]).toBeCloseTo(0.5, 14);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBeCloseTo(0.4, 14);
    expect(holm([0.6, 0.7])).toEqual([1, 1]);
    expect(holm([])).toEqual([]);
  });
});
