import { describe, expect, it } from 'vitest';
import { lengthControlledWinRate, meanInterval, tQuantile975, winRate, correlation } from '../../src/demo/stats.js';

describe('lengthControlledWinRate', () => {
  it('matches a hand-computed saturated case', () => {
    // 10 comparisons where the policy is longer by 2 tokens (8 wins), 10 where it is shorter by 2
    // (4 wins). Δ/s is ±c for one c, so the regression on tanh(Δ/s) is saturated: the fitted
    // probabilities are the cell frequencies, θ₀ + θ₁x = logit(0.8) and θ₀ − θ₁x = logit(0.4), hence
    // θ₀ = (ln 4 + ln(2/3))/2 = ½·ln(8/3) and σ(θ₀) = √(8/3)/(1 + √(8/3)) = 0.620204...
    const outcomes = [...Array(8).fill(1), ...Array(2).fill(0), ...Array(4).fill(1), ...Array(6).fill(0)];
    const diff = [...Array(10).fill(2), ...Array(10).fill(-2)];
    const r = lengthControlledWinRate(outcomes, diff);
    const r0 = Math.sqrt(8 / 3);
    // The 1e-6 ridge moves θ by O(1e-6/n); 1e-6 absolute covers it.
    expect(r.intercept).toBeCloseTo(0.5 * Math.log(8 / 3), 5);
    expect(r.lcWinRate).toBeCloseTo(r0 / (1 + r0), 6);
    expect(r.winRate).toBeCloseTo(12 / 20, 12);
    // The length coefficient is positive: longer answers won more often.
    expect(r.lengthCoef).toBeGreaterThan(0);
  });

  it('equals the plain win rate without length differences (ties count ½)', () => {
    const r = lengthControlledWinRate([1, 1, 0, 0.5], [0, 0, 0, 0]);
    // The 1e-6 ridge pulls θ₀ = logit(0.625) toward 0 by ≈ 1e-6·θ₀/(n·p(1−p)) ≈ 6e-7, i.e. σ(θ₀) by ≈ 1.3e-7.
    expect(r.lcWinRate).toBeCloseTo(0.625, 6);
    expect(r.scale).toBe(1);
  });

  it('stays finite when every comparison is won', () => {
    const r = lengthControlledWinRate([1, 1, 1, 1], [1, -1, 2, 0]);
    expect(Number.isFinite(r.intercept)).toBe(true);
    expect(r.lcWinRate).toBeGreaterThan(0.99);
  });

  it('rejects bad input', () => {
    expect(() => lengthControlledWinRate([], [])).toThrow(RangeError);
    expect(() => lengthControlledWinRate([1], [1, 2])).toThrow(/lengthDiff.length/);
    expect(() => lengthControlledWinRate([2], [1])).toThrow(/outcomes\[0\]/);
    expect(() => lengthControlledWinRate([1], [Number.NaN])).toThrow(/lengthDiff\[0\]/);
  });
});

describe('meanInterval', () => {
  it('gives the 95% t-interval', () => {
    const r = meanInterval([1, 2, 3]);
    expect(r.mean).toBe(2);
    expect(r.sd).toBeCloseTo(1, 12);
    expect(r.halfWidth).toBeCloseTo((4.303 * 1) / Math.sqrt(3), 12);
  });

  it('has no interval for one value', () => {
    const r = meanInterval([0.7]);
    expect(r).toEqual({ mean: 0.7, n: 1, sd: null, halfWidth: null, low: null, high: null });
  });

  it('uses the table and the expansion for t quantiles', () => {
    expect(tQuantile975(4)).toBe(2.776);
    // Tables: t_{0.975, 40} = 2.021, t_{0.975, 120} = 1.980.
    expect(Math.abs(tQuantile975(40) - 2.021)).toBeLessThan(1e-3);
    expect(Math.abs(tQuantile975(120) - 1.98)).toBeLessThan(1e-3);
    expect(() => meanInterval([1, Number.NaN])).toThrow(/values\[1\]/);
  });
});

describe('winRate and correlation', () => {
  it('computes the basics', () => {
    expect(winRate([1, 0, 0.5, 1])).toBe(0.625);
    expect(correlation([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(correlation([1, 1, 1], [2, 4, 6])).toBe(0);
  });
});
