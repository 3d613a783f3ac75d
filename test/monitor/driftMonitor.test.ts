/**
 * Drift monitor and adaptive-KL controller on seeded synthetic streams.
 *
 * Tolerances: the monitor accumulates in float64 on the same float32 scores the test's reference
 * reads, so the only difference is float64 summation order: rtol = 1e-12 for ν, α, ᾱ, α⁰ and D
 * (atol = 1e-15 for values that are exactly 0). dimWeights are returned as float32, so they are
 * compared with rtol = 1e-6 (one float32 rounding, 6e-8, with headroom).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { AdaptiveKlController } from '../../src/monitor/adaptiveKl.js';
import {
  DRIFT_EVENT_KINDS,
  DriftMonitor,
  type DriftDecision,
  type DriftMonitorOptions,
  type DriftStepInput,
} from '../../src/monitor/driftMonitor.js';
import { Rng } from '../../src/random.js';
import { expectClose } from '../helpers.js';

const F64 = { rtol: 1e-12, atol: 1e-15 };
const F32 = { rtol: 1e-6, atol: 1e-7 };

// ---------------------------------------------------------------- independent float64 reference

/** ν and α straight from the definition: per group, collect the valid responses, Var with the chosen divisor. */
function refSpectrum(
  scores: Float32Array,
  B: number,
  G: number,
  k: number,
  lambdas: Float32Array | null,
  variance: 'unbiased' | 'biased' = 'unbiased',
): { nu: number[]; alpha: number[]; degenerate: boolean } {
  const nu = new Array<number>(k).fill(0);
  let groups = 0;
  for (let b = 0; b < B; b++) {
    const rows: number[][] = [];
    for (let i = 0; i < G; i++) {
      const row = Array.from(scores.subarray((b * G + i) * k, (b * G + i + 1) * k));
      if (row.every(Number.isFinite)) rows.push(row);
    }
    if (rows.length < 2) continue;
    groups++;
    for (let l = 0; l < k; l++) {
      const xs = rows.map((r) => r[l]!);
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      const ss = xs.reduce((s, x) => s + (x - mean) ** 2, 0);
      const v = ss / (variance === 'unbiased' ? xs.length - 1 : xs.length);
      const lam = lambdas ? lambdas[b * k + l]! : 1;
      nu[l]! += lam * lam * v;
    }
  }
  for (let l = 0; l < k; l++) nu[l] = groups > 0 ? nu[l]! / groups : 0;
  const total = nu.reduce((s, x) => s + x, 0);
  const degenerate = !(total > 0);
  return { nu, alpha: nu.map((x) => (degenerate ? 1 / k : x / total)), degenerate };
}

function refKl(p: number[], q: number[], floor = 1e-8): number {
  let d = 0;
  p.forEach((pl, l) => {
    if (pl > 0) d += pl * Math.log(Math.max(pl, floor) / Math.max(q[l]!, floor));
  });
  return d;
}

/** Pearson correlation of ŝ_l with length after centering both within each group (valid responses of groups with ≥ 2). */
function refLengthCorrelation(scores: Float32Array, lengths: Float32Array, B: number, G: number, k: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < k; l++) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let b = 0; b < B; b++) {
      const idx: number[] = [];
      for (let i = 0; i < G; i++) {
        let ok = true;
        for (let j = 0; j < k; j++) if (!Number.isFinite(scores[(b * G + i) * k + j]!)) ok = false;
        if (ok) idx.push(i);
      }
      if (idx.length < 2) continue;
      const sm = idx.reduce((s, i) => s + scores[(b * G + i) * k + l]!, 0) / idx.length;
      const lm = idx.reduce((s, i) => s + lengths[b * G + i]!, 0) / idx.length;
      for (const i of idx) {
        xs.push(scores[(b * G + i) * k + l]! - sm);
        ys.push(lengths[b * G + i]! - lm);
      }
    }
    const sxy = xs.reduce((s, x, i) => s + x * ys[i]!, 0);
    const sxx = xs.reduce((s, x) => s + x * x, 0);
    const syy = ys.reduce((s, y) => s + y * y, 0);
    out.push(sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0);
  }
  return out;
}

// ---------------------------------------------------------------- synthetic streams

const B = 16;
const G = 8;
const K = 3;

/** Scores with per-dimension standard deviations `sd` (group-centred noise, like logit-mode ŝ). */
function scoresWithSd(rng: Rng, sd: readonly number[], b = B, g = G): Float32Array {
  const k = sd.length;
  const s = new Float32Array(b * g * k);
  for (let i = 0; i < b * g; i++) for (let l = 0; l < k; l++) s[i * k + l] = rng.normal(0, sd[l]!);
  return s;
}

/** A healthy step: stationary spectrum, lengths independent of scores, stationary reference scores, KL and entropy. */
function healthyInput(rng: Rng): DriftStepInput {
  const lengths = new Float32Array(B * G);
  for (let i = 0; i < lengths.length; i++) lengths[i] = Math.max(1, Math.round(rng.normal(120, 30)));
  return {
    groups: B,
    groupSize: G,
    dims: K,
    scores: scoresWithSd(rng, [1, 0.7, 1.3]),
    lengths,
    referenceScores: Float32Array.from([0.1, 0, -0.05].map((m) => m + rng.normal(0, 0.01))),
    kl: 0.05 + rng.normal(0, 0.005),
    entropy: 2 + rng.normal(0, 0.05),
  };
}

function kinds(d: DriftDecision): string[] {
  return d.events.map((e) => e.kind);
}

/** First step (1-based) at which the noiseless EMA of the expected spectrum `alphaAt(t)` exceeds τ against α⁰. */
function expectedCrossing(
  alphaAt: (t: number) => number[],
  from: number,
  to: number,
  warmup: number,
  decay: number,
  tau: number,
  above: boolean,
): number {
  let bar = alphaAt(1);
  const ref = alphaAt(1).map(() => 0);
  for (let t = 1; t <= warmup; t++) alphaAt(t).forEach((a, l) => (ref[l]! += a / warmup));
  for (let t = 2; t <= to; t++) {
    const a = alphaAt(t);
    bar = bar.map((x, l) => decay * x + (1 - decay) * a[l]!);
    if (t >= from && (refKl(bar, ref) > tau) === above) return t;
  }
  return Infinity;
}

// ---------------------------------------------------------------- tests

describe('spectrum, EMA, reference and drift against a float64 reference', () => {
  it('matches ν, α, ᾱ, α⁰ and D step by step (NaN responses, small groups, λ, both variance conventions)', () => {
    for (const variance of ['unbiased', 'biased'] as const) {
      const rng = new Rng(7);
      const b = 5;
      const g = 4;
      const k = 3;
      const mon = new DriftMonitor({ dims: k, warmupSteps: 3, emaDecay: 0.6, variance });
      let bar: number[] | null = null;
      const warm: number[][] = [];
      let ref: number[] | null = null;
      for (let t = 1; t <= 12; t++) {
        const scores = scoresWithSd(rng, [1 + 0.2 * t, 0.5, 2], b, g);
        // invalidate some responses; group 4 keeps a single valid response and must be skipped
        scores[(0 * g + 1) * k + 2] = NaN;
        scores[(2 * g + 3) * k + 0] = Infinity;
        for (let i = 1; i < g; i++) scores[(4 * g + i) * k + 1] = NaN;
        const lambdas = new Float32Array(b * k).map(() => rng.uniform(0.1, 1));
        const d = mon.update({ groups: b, groupSize: g, dims: k, scores, lambdas });
        const want = refSpectrum(scores, b, g, k, lambdas, variance);
        expect(d.invalidResponses).toBe(2 + (g - 1));
        expect(d.validGroups).toBe(4);
        expectClose(d.nu, want.nu, { ...F64, label: `nu t=${t}` });
        expectClose(d.alpha, want.alpha, { ...F64, label: `alpha t=${t}` });
        bar = bar === null ? [...want.alpha] : bar.map((x, l) => 0.6 * x + 0.4 * want.alpha[l]!);
        expectClose(d.alphaSmoothed, bar, { ...F64, label: `alphaSmoothed t=${t}` });
        if (ref === null) {
          warm.push(want.alpha);
          if (warm.length === 3) ref = [0, 1, 2].map((l) => (warm[0]![l]! + warm[1]![l]! + warm[2]![l]!) / 3);
        }
        if (ref === null) {
          expect(d.alphaRef).toBeNull();
          expect(d.drift).toBe(0);
        } else {
          expectClose(d.alphaRef!, ref, { ...F64, label: `alphaRef t=${t}` });
          expectClose([d.drift], [refKl(bar, ref)], { ...F64, label: `drift t=${t}` });
          expect(d.drifted).toBe(d.drift > 0.05);
        }
        expect(kinds(d).includes('warmup-complete')).toBe(t === 3);
      }
    }
  });

  it('all-zero variance gives a uniform α, a degenerate-spectrum event, and does not count toward the warm-up', () => {
    const mon = new DriftMonitor({ dims: 4, warmupSteps: 2 });
    const zeros = new Float32Array(2 * 3 * 4);
    const d = mon.update({ groups: 2, groupSize: 3, dims: 4, scores: zeros });
    expect(d.alpha).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(kinds(d)).toEqual(['degenerate-spectrum']);
    const rng = new Rng(3);
    const d2 = mon.update({ groups: 2, groupSize: 3, dims: 4, scores: scoresWithSd(rng, [1, 1, 1, 1], 2, 3) });
    expect(d2.alphaRef).toBeNull(); // one informative step so far
    const d3 = mon.update({ groups: 2, groupSize: 3, dims: 4, scores: scoresWithSd(rng, [1, 1, 1, 1], 2, 3) });
    expect(d3.alphaRef).not.toBeNull();
    expect(kinds(d3)).toContain('warmup-complete');
  });

  it("'calibrate' sets τ = max(floor, μ + z·max(σ, μ)) of the warm-up steps' leave-one-out KL", () => {
    const rng = new Rng(11);
    const mon = new DriftMonitor({ dims: K, warmupSteps: 4, threshold: 'calibrate', calibrateZ: 2, calibrateFloor: 1e-6 });
    const alphas: number[][] = [];
    let d: DriftDecision | null = null;
    for (let t = 0; t < 4; t++) {
      const scores = scoresWithSd(rng, [1, 0.5, 1.5], 4, 4);
      alphas.push(refSpectrum(scores, 4, 4, K, null).alpha);
      d = mon.update({ groups: 4, groupSize: 4, dims: K, scores });
      if (t < 3) expect(d.threshold).toBe(1e-6); // the floor until calibrated
    }
    const ds = alphas.map((a, j) => {
      const rest = alphas.filter((_, i) => i !== j);
      return refKl(a, [0, 1, 2].map((l) => rest.reduce((s, x) => s + x[l]!, 0) / rest.length));
    });
    const mean = ds.reduce((s, x) => s + x, 0) / 4;
    const std = Math.sqrt(ds.reduce((s, x) => s + (x - mean) ** 2, 0) / 4);
    expectClose([d!.threshold], [Math.max(1e-6, mean + 2 * Math.max(std, mean))], { ...F64, label: 'calibrated threshold' });
    const ev = d!.events.find((e) => e.kind === 'warmup-complete')!;
    expect(ev.values.threshold).toBe(d!.threshold);
    expectClose(ev.values.warmupDrift as number[], ds, F64);
    // a floor above the statistic wins
    const floored = new DriftMonitor({ dims: K, warmupSteps: 3, threshold: 'calibrate', calibrateFloor: 5 });
    let last: DriftDecision | null = null;
    for (let t = 0; t < 3; t++) last = floored.update({ groups: 4, groupSize: 4, dims: K, scores: scoresWithSd(rng, [1, 1, 1], 4, 4) });
    expect(last!.threshold).toBe(5);
    expect(() => new DriftMonitor({ dims: K, warmupSteps: 2, threshold: 'calibrate' })).toThrow(/options\.warmupSteps/);
  });
});

describe('healthy stream', () => {
  for (const threshold of [0.05, 'calibrate'] as const) {
    it(`never triggers over 200 steps (threshold ${threshold})`, () => {
      const rng = new Rng(2024);
      const mon = new DriftMonitor({ dims: K, threshold });
      let maxDrift = 0;
      for (let t = 1; t <= 200; t++) {
        const d = mon.update(healthyInput(rng));
        expect(d.drifted, `step ${t}: ${JSON.stringify(d.events)}`).toBe(false);
        expect(kinds(d).filter((x) => x !== 'warmup-complete')).toEqual([]);
        expect(Array.from(d.dimWeights)).toEqual([1, 1, 1]);
        expect(d.beta).toBe(0.04);
        expect(d.epsilon).toBe(0.2);
        // independent lengths: r is noise with sd ≈ 1/√(B·(G−1)) = 0.095; 0.45 is ~4.7 sd
        for (const c of d.lengthCorrelation) expect(Math.abs(c)).toBeLessThan(0.45);
        maxDrift = Math.max(maxDrift, d.drift);
      }
      // the healthy stream stays well under the default threshold (over 40 seeds the largest D seen was 0.016)
      expect(maxDrift).toBeLessThan(0.025);
    });
  }
});

describe('calibrate adapts to a small batch', () => {
  it("at B = 4, G = 4 noise alone crosses the fixed 0.05 while 'calibrate' stays quiet for 200 steps", () => {
    const rng = new Rng(31);
    const fixed = new DriftMonitor({ dims: K });
    const cal = new DriftMonitor({ dims: K, threshold: 'calibrate' });
    let fixedDrifts = 0;
    let maxDrift = 0;
    let tau = 0;
    for (let t = 1; t <= 200; t++) {
      const input = { groups: 4, groupSize: 4, dims: K, scores: scoresWithSd(rng, [1, 0.7, 1.3], 4, 4) };
      fixedDrifts += fixed.update(input).drifted ? 1 : 0;
      const d = cal.update(input);
      expect(d.drifted, `step ${t}`).toBe(false);
      maxDrift = Math.max(maxDrift, d.drift);
      tau = d.threshold;
    }
    expect(fixedDrifts).toBeGreaterThan(0);
    expect(maxDrift).toBeGreaterThan(0.05);
    expect(tau).toBeGreaterThan(maxDrift);
  });

  it("'calibrate' still catches a takeover at B = 4, G = 4", () => {
    const rng = new Rng(32);
    const cal = new DriftMonitor({ dims: K, threshold: 'calibrate' });
    const fired: number[] = [];
    for (let t = 1; t <= 60; t++) {
      const f = t > 20 ? 10 : 1;
      const d = cal.update({ groups: 4, groupSize: 4, dims: K, scores: scoresWithSd(rng, [Math.sqrt(f), 1, 1], 4, 4) });
      if (d.drifted) fired.push(t);
    }
    expect(fired.length).toBeGreaterThan(0);
    expect(fired[0]!).toBeGreaterThan(20);
    expect(fired[0]!).toBeLessThanOrEqual(30);
  });
});

describe('one dimension takes over the variance', () => {
  const warmupEnd = 20;
  const rampLen = 10;
  const holdEnd = 45;
  /** Variance factor of dimension 0 at step t (1-based): 1, ramps linearly to 10, holds, heals back to 1. */
  const factor = (t: number): number =>
    t <= warmupEnd ? 1 : t <= warmupEnd + rampLen ? 1 + (9 * (t - warmupEnd)) / rampLen : t <= holdEnd ? 10 : 1;
  const expectedAlpha = (t: number): number[] => {
    const v = factor(t);
    return [v / (v + 2), 1 / (v + 2), 1 / (v + 2)];
  };

  it('triggers within the EMA/threshold bound, down-weights it, tightens, then relaxes back and stays quiet', () => {
    const rng = new Rng(99);
    const mon = new DriftMonitor({ dims: K });
    const decisions: DriftDecision[] = [];
    for (let t = 1; t <= 200; t++) {
      decisions.push(mon.update({ groups: B, groupSize: G, dims: K, scores: scoresWithSd(rng, [Math.sqrt(factor(t)), 1, 1]) }));
    }
    // Bound: the noiseless EMA (d = 0.8) of the expected spectrum crosses τ = 0.05 at step tCross;
    // sampling noise (ν from 16 groups of 8) may shift the crossing by a step or two.
    const tCross = expectedCrossing(expectedAlpha, warmupEnd + 1, 200, 5, 0.8, 0.05, true);
    expect(tCross).toBeLessThan(warmupEnd + rampLen);
    const firstDrift = decisions.findIndex((d) => d.drifted) + 1;
    expect(firstDrift).toBeGreaterThan(warmupEnd);
    expect(firstDrift).toBeLessThanOrEqual(tCross + 2);
    expect(decisions[firstDrift - 1]!.triggers).toEqual(['spectrum']);
    expect(kinds(decisions[firstDrift - 1]!)).toEqual(['spectrum-drift', 'tighten']);

    // at the end of the hold: dimension 0 down-weighted, the others up, mean 1; β up, ε down
    const atHold = decisions[holdEnd - 1]!;
    expect(atHold.drifted).toBe(true);
    const m = Array.from(atHold.dimWeights);
    expect(m[0]!).toBeLessThan(1);
    expect(m[1]!).toBeGreaterThan(1);
    expect(m[2]!).toBeGreaterThan(1);
    expect(Math.abs(m.reduce((s, x) => s + x, 0) / 3 - 1)).toBeLessThan(1e-6);
    for (const x of m) expect(x >= 0.25 && x <= 4).toBe(true);
    expect(atHold.beta).toBeGreaterThan(0.04);
    expect(atHold.beta).toBeLessThanOrEqual(1);
    expect(atHold.epsilon).toBeLessThan(0.2);
    expect(atHold.epsilon).toBeGreaterThanOrEqual(0.05);

    // Healing: the noiseless EMA falls back under τ at tQuiet; after that every deviation (at most
    // max(m_max − 1, 1 − m_min, β_max − β, ε − ε_min) = 3) shrinks by relax = 0.9 per step and snaps
    // to the baseline once ≤ 1e-3, i.e. within ceil(ln(1e-3/3)/ln 0.9) = 76 steps.
    const tQuiet = expectedCrossing(expectedAlpha, holdEnd + 1, 200, 5, 0.8, 0.05, false);
    const lastDrift = decisions.map((d) => d.drifted).lastIndexOf(true) + 1;
    expect(lastDrift).toBeGreaterThan(holdEnd);
    expect(lastDrift).toBeLessThanOrEqual(tQuiet + 2);
    const relaxSteps = Math.ceil(Math.log(1e-3 / 3) / Math.log(0.9));
    const recoveredAt = decisions.findIndex((d) => kinds(d).includes('recovered')) + 1;
    expect(recoveredAt).toBeGreaterThan(lastDrift);
    expect(recoveredAt).toBeLessThanOrEqual(lastDrift + relaxSteps + 1);
    // geometric relaxation in between: each step shrinks the deviation by exactly `relax`
    const a = decisions[lastDrift]!;
    const b = decisions[lastDrift + 1]!;
    expectClose([b.beta - 0.04, b.epsilon - 0.2], [(a.beta - 0.04) * 0.9, (a.epsilon - 0.2) * 0.9], { rtol: 1e-9, atol: 1e-15 });
    expectClose(Array.from(b.dimWeights, (x) => x - 1), Array.from(a.dimWeights, (x) => (x - 1) * 0.9), { rtol: 1e-5, atol: 1e-7 });
    for (const d of decisions.slice(recoveredAt - 1)) {
      expect(Array.from(d.dimWeights)).toEqual([1, 1, 1]);
      expect(d.beta).toBe(0.04);
      expect(d.epsilon).toBe(0.2);
    }
    for (const d of decisions.slice(lastDrift)) {
      expect(d.drifted).toBe(false);
      expect(kinds(d).filter((x) => x !== 'recovered')).toEqual([]);
    }
  });
});

describe('trust-region update by hand', () => {
  /** One group of two responses ±a_l: unbiased Var = 2a_l², so α ∝ a². warmup 1 and emaDecay 0 make ᾱ = α. */
  function pm(a: number[]): Float32Array {
    return Float32Array.from([...a, ...a.map((x) => -x)]);
  }
  const shape = (k: number) => ({ groups: 1, groupSize: 2, dims: k });

  it('unclipped: m = u / mean(u) with u = m·(α⁰/ᾱ)^γ; β ← 1.5β, ε ← 0.8ε', () => {
    const mon = new DriftMonitor({ dims: 2, warmupSteps: 1, emaDecay: 0 });
    mon.update({ ...shape(2), scores: pm([1, 1]) }); // α⁰ = [1/2, 1/2]
    const d = mon.update({ ...shape(2), scores: pm([2, 1]) }); // α = [4/5, 1/5]
    expectClose(d.alpha, [0.8, 0.2], F64);
    expectClose([d.drift], [0.8 * Math.log(1.6) + 0.2 * Math.log(0.4)], F64);
    expect(d.drifted).toBe(true);
    // u = [0.5/0.8, 0.5/0.2] = [0.625, 2.5], mean 1.5625 → [0.4, 1.6]
    expectClose(Array.from(d.dimWeights), [0.4, 1.6], F32);
    expectClose([d.beta, d.epsilon], [0.06, 0.16], F64);
    // second drift step compounds: u = [0.4·0.625, 1.6·2.5] = [0.25, 4] → mean 2.125 → [0.1176.., 1.882..],
    // whose first entry is clipped to 0.25 and the second then takes 2 − 0.25 = 1.75
    const d2 = mon.update({ ...shape(2), scores: pm([2, 1]) });
    expectClose(Array.from(d2.dimWeights), [0.25, 1.75], F32);
    expectClose([d2.beta, d2.epsilon], [0.09, 0.128], F64);
  });

  it('γ = 0.5 takes the square root of the ratio', () => {
    const mon = new DriftMonitor({ dims: 2, warmupSteps: 1, emaDecay: 0, gamma: 0.5 });
    mon.update({ ...shape(2), scores: pm([1, 1]) });
    const d = mon.update({ ...shape(2), scores: pm([2, 1]) });
    // u = [√0.625, √2.5] = [0.5·√2.5, √2.5] → [2/3, 4/3]
    expectClose(Array.from(d.dimWeights), [2 / 3, 4 / 3], F32);
  });

  it("reweight 'absolute' sets m from the current ratio instead of compounding it", () => {
    const mon = new DriftMonitor({ dims: 2, warmupSteps: 1, emaDecay: 0, reweight: 'absolute' });
    mon.update({ ...shape(2), scores: pm([1, 1]) });
    const d1 = mon.update({ ...shape(2), scores: pm([2, 1]) });
    const d2 = mon.update({ ...shape(2), scores: pm([2, 1]) });
    // u = [0.625, 2.5] on both steps (the 'compound' test above gives [0.25, 1.75] on the second)
    expectClose(Array.from(d1.dimWeights), [0.4, 1.6], F32);
    expectClose(Array.from(d2.dimWeights), [0.4, 1.6], F32);
    expectClose([d2.beta, d2.epsilon], [0.09, 0.128], F64);
  });

  it('clipped: the renormalization solves for the scale with m_min binding', () => {
    const mon = new DriftMonitor({ dims: 3, warmupSteps: 1, emaDecay: 0 });
    mon.update({ ...shape(3), scores: pm([1, 1, 1]) }); // α⁰ uniform
    const d = mon.update({ ...shape(3), scores: pm([3, 1, 1]) }); // α = [9, 1, 1]/11
    // u = [11/27, 11/3, 11/3]; scaling to mean 1 would give u_0 ≈ 0.158 < 0.25, so m_0 = 0.25 and the
    // other two share 3 − 0.25: m = [0.25, 1.375, 1.375]
    expectClose(Array.from(d.dimWeights), [0.25, 1.375, 1.375], F32);
  });

  it('a zero β baseline tightens to betaOnDrift, then by c_β; β is capped at betaMax and ε floored at ε_min', () => {
    const mon = new DriftMonitor({ dims: 2, warmupSteps: 1, emaDecay: 0, beta: 0, betaOnDrift: 0.02, betaMax: 0.04, epsilonMin: 0.15 });
    mon.update({ ...shape(2), scores: pm([1, 1]) });
    const betas: number[] = [];
    const eps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = mon.update({ ...shape(2), scores: pm([2, 1]) });
      betas.push(d.beta);
      eps.push(d.epsilon);
    }
    expectClose(betas, [0.02, 0.03, 0.04], F64);
    expectClose(eps, [0.16, 0.15, 0.15], F64);
    // relaxation toward the zero baseline: β ← 0.9β, ε ← 0.2 + 0.9(ε − 0.2)
    const r = mon.update({ ...shape(2), scores: pm([1, 1]) });
    expect(r.drifted).toBe(false);
    expectClose([r.beta, r.epsilon], [0.036, 0.2 - 0.9 * 0.05], F64);
  });
});

describe('adaptive-KL controller', () => {
  it('follows β ← β(1 + clip(KL/target − 1, ±0.2)·n/horizon) by hand', () => {
    const c = new AdaptiveKlController({ initBeta: 0.1, target: 6, horizon: 10000 });
    expect(c.update(9, 512)).toBeCloseTo(0.1 * (1 + 0.2 * 0.0512), 15); // error 0.5 clipped to 0.2
    expect(c.update(6.6, 256)).toBeCloseTo(0.1 * 1.01024 * (1 + 0.1 * 0.0256), 15); // error 0.1
    expect(c.update(0, 1000)).toBeCloseTo(0.1 * 1.01024 * 1.00256 * (1 - 0.2 * 0.1), 15); // error −1 clipped to −0.2
    expect(c.value).toBeCloseTo(0.1 * 1.01024 * 1.00256 * 0.98, 15);
  });

  it('keeps β ≥ minBeta when n/horizon makes the factor non-positive, and validates', () => {
    const c = new AdaptiveKlController({ initBeta: 0.1, target: 1, horizon: 1, minBeta: 1e-4 });
    expect(c.update(0, 10)).toBe(1e-4);
    expect(() => c.update(NaN, 1)).toThrow(/invalid kl/);
    expect(() => c.update(1, 0)).toThrow(/invalid n/);
    expect(() => new AdaptiveKlController({ initBeta: 0, target: 1, horizon: 1 })).toThrow(/options\.initBeta/);
    expect(() => new AdaptiveKlController({ initBeta: 1, target: -1, horizon: 1 })).toThrow(/options\.target/);
    expect(() => new AdaptiveKlController({ initBeta: 1, target: 1, horizon: 1, clip: 2 })).toThrow(/options\.clip/);
  });

  it('inside the monitor: β baseline is the controller value, the drift surplus sits on top and relaxes', () => {
    const rng = new Rng(5);
    const opts: DriftMonitorOptions = { dims: 2, warmupSteps: 1, emaDecay: 0, beta: 0.1, adaptiveKl: { target: 0.05, horizon: 1000 } };
    const mon = new DriftMonitor(opts);
    const ctrl = new AdaptiveKlController({ initBeta: 0.1, target: 0.05, horizon: 1000 });
    const pm = (a: number[]) => Float32Array.from([...a, ...a.map((x) => -x)]);
    const plan = [[1, 1], [1, 1], [2, 1], [1, 1], [1, 1], [1, 1]];
    let surplus = 0;
    for (const a of plan) {
      const kl = rng.uniform(0, 0.1);
      const d = mon.update({ groups: 1, groupSize: 2, dims: 2, scores: pm(a), kl, sequences: 64 });
      const base = ctrl.update(kl, 64);
      expect(d.betaBase).toBe(base);
      if (d.drifted) {
        const before = base + surplus; // the surplus from the previous step rides on the new baseline
        surplus = Math.min(1, Math.max(0.01, 1.5 * before)) - base;
      } else {
        surplus *= 0.9;
      }
      expectClose([d.beta], [base + surplus], { rtol: 1e-12, atol: 1e-15 });
    }
    expect(surplus).toBeGreaterThan(0);
  });
});

describe('secondary detectors', () => {
  function run(mon: DriftMonitor, steps: number, make: (t: number, rng: Rng) => DriftStepInput, seed = 1): DriftDecision[] {
    const rng = new Rng(seed);
    const out: DriftDecision[] = [];
    for (let t = 1; t <= steps; t++) out.push(mon.update(make(t, rng)));
    return out;
  }

  it('single-axis-gain: one axis gains against the reference while the others lose (counts as drift by default)', () => {
    const make = (t: number, rng: Rng): DriftStepInput => {
      const input = healthyInput(rng);
      const shift = t > 5 ? 0.02 * (t - 5) : 0;
      input.referenceScores = Float32Array.from([0.1 + shift, -shift, -0.05 - shift].map((m) => m + rng.normal(0, 0.005)));
      return input;
    };
    const mon = new DriftMonitor({ dims: K });
    const ds = run(mon, 20, make);
    const first = ds.findIndex((d) => kinds(d).includes('single-axis-gain')) + 1;
    // window mean of a +0.02/step ramp over 5 steps is 0.02·(t − 5 − 2) > 0.05 from t = 11 (noise sd ≈ 0.003)
    expect(first).toBeGreaterThanOrEqual(10);
    expect(first).toBeLessThanOrEqual(12);
    const d = ds[first - 1]!;
    expect(d.drifted).toBe(true);
    expect(d.triggers).toContain('single-axis-gain');
    const ev = d.events.find((e) => e.kind === 'single-axis-gain')!;
    expect(ev.values.dim).toBe(0);
    // Δ against an independent recomputation from the same inputs
    const rng = new Rng(1);
    const inputs = Array.from({ length: first }, (_, i) => make(i + 1, rng));
    const base = [0, 1, 2].map((l) => inputs.slice(0, 5).reduce((s, x) => s + x.referenceScores![l]!, 0) / 5);
    const win = [0, 1, 2].map((l) => inputs.slice(first - 5).reduce((s, x) => s + x.referenceScores![l]!, 0) / 5);
    expectClose(d.referenceGain!, win.map((w, l) => w - base[l]!), F64);
    // as an event only
    const quiet = run(new DriftMonitor({ dims: K, driftTriggers: [] }), 20, make);
    expect(kinds(quiet[first - 1]!)).toContain('single-axis-gain');
    expect(quiet.every((x) => !x.drifted)).toBe(true);
  });

  it('length-correlation: fires for the dimension gaining variance through length; matches a float64 Pearson', () => {
    const make = (t: number, rng: Rng): DriftStepInput => {
      const input = healthyInput(rng);
      const c = t > 8 ? 0.02 * Math.min(t - 8, 10) : 0; // dimension 1 starts tracking length
      for (let i = 0; i < B * G; i++) input.scores[i * K + 1] = input.scores[i * K + 1]! + c * (input.lengths![i]! - 120);
      return input;
    };
    const ds = run(new DriftMonitor({ dims: K }), 30, make);
    const first = ds.findIndex((d) => kinds(d).includes('length-correlation')) + 1;
    expect(first).toBeGreaterThan(8);
    expect(first).toBeLessThanOrEqual(12);
    const d = ds[first - 1]!;
    expect(d.gainingDim).toBe(1);
    expect(d.events.find((e) => e.kind === 'length-correlation')!.values.dim).toBe(1);
    expect(d.triggers).not.toContain('length-correlation'); // not a drift trigger by default
    const rng = new Rng(1);
    for (let t = 1; t <= 30; t++) {
      const input = make(t, rng);
      expectClose(ds[t - 1]!.lengthCorrelation, refLengthCorrelation(input.scores, input.lengths!, B, G, K), { rtol: 1e-10, atol: 1e-12 });
    }
    // configured as a trigger, it tightens
    const strict = run(new DriftMonitor({ dims: K, driftTriggers: ['length-correlation'], threshold: 100 }), 30, make);
    expect(strict[first - 1]!.triggers).toEqual(['length-correlation']);
    expect(strict[first - 1]!.drifted).toBe(true);
  });

  it('kl-growth: a KL ramp steeper than the rate fires with its least-squares slope', () => {
    const make = (t: number, rng: Rng): DriftStepInput => ({ ...healthyInput(rng), kl: t <= 20 ? 0.05 : 0.05 + 0.03 * (t - 20) });
    const ds = run(new DriftMonitor({ dims: K }), 40, make);
    const first = ds.findIndex((d) => kinds(d).includes('kl-growth')) + 1;
    expect(first).toBeGreaterThan(20);
    // slope over the last 10 steps of a ramp starting at 21: exceeds 0.01 within a few steps
    expect(first).toBeLessThanOrEqual(25);
    expectClose([ds[39]!.klSlope!], [0.03], { rtol: 1e-9, atol: 0 }); // window fully on the ramp
    expect(ds[first - 1]!.drifted).toBe(false);
  });

  it('entropy-collapse: entropy below half its warm-up mean fires', () => {
    const make = (t: number, rng: Rng): DriftStepInput => ({ ...healthyInput(rng), entropy: t <= 10 ? 2 : 2 * 0.9 ** (t - 10) });
    const ds = run(new DriftMonitor({ dims: K }), 30, make);
    const first = ds.findIndex((d) => kinds(d).includes('entropy-collapse')) + 1;
    // 0.9^n < 0.5 first at n = 7
    expect(first).toBe(17);
    expectClose([ds[first - 1]!.entropyRatio!], [0.9 ** 7], { rtol: 1e-12, atol: 0 });
  });

  it('every event kind is a documented kind', () => {
    const rng = new Rng(3);
    const mon = new DriftMonitor({ dims: K, driftTriggers: ['kl-growth'] });
    for (let t = 1; t <= 40; t++) {
      const d = mon.update({ ...healthyInput(rng), kl: 0.05 * t, entropy: t < 10 ? 2 : 0.5 });
      for (const e of d.events) {
        expect(DRIFT_EVENT_KINDS as readonly string[]).toContain(e.kind);
        expect(e.step).toBe(t);
        expect(e.reason.length).toBeGreaterThan(10);
        for (const v of Object.values(e.values)) for (const x of [v].flat()) expect(Number.isFinite(x)).toBe(true);
      }
    }
  });
});

describe('one dimension (Bradley-Terry, k = 1)', () => {
  it('the spectrum is trivial and never drifts; m stays [1]; a secondary trigger still tightens β and ε', () => {
    const rng = new Rng(12);
    const mon = new DriftMonitor({ dims: 1, beta: 2, driftTriggers: ['kl-growth'] });
    expect(mon.options.betaMax).toBe(2); // defaults to max(1, beta)
    let tightened = 0;
    for (let t = 1; t <= 40; t++) {
      const f = t > 10 ? 25 : 1;
      const d = mon.update({ groups: 8, groupSize: 4, dims: 1, scores: scoresWithSd(rng, [f], 8, 4), kl: t > 25 ? 0.1 * t : 0.05 });
      expect(d.alpha).toEqual([1]);
      expect(d.drift).toBe(0);
      expect(Array.from(d.dimWeights)).toEqual([1]);
      expect(d.triggers.includes('spectrum')).toBe(false);
      if (d.drifted) {
        tightened++;
        expect(d.triggers).toEqual(['kl-growth']);
        expect(d.epsilon).toBeLessThan(0.2);
        expect(d.beta).toBe(2); // already at its cap
      }
    }
    expect(tightened).toBeGreaterThan(0);
  });
});

describe('checkpoint state', () => {
  const opts: DriftMonitorOptions = { dims: K, threshold: 'calibrate', adaptiveKl: { target: 0.05, horizon: 500 }, driftTriggers: ['single-axis-gain', 'kl-growth'] };
  function stream(seed: number, n: number): DriftStepInput[] {
    const rng = new Rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const t = i + 1;
      const input = healthyInput(rng);
      const f = t > 15 && t < 40 ? 6 : 1;
      input.scores = scoresWithSd(rng, [Math.sqrt(f), 0.7, 1.3]);
      input.kl = 0.05 + (t > 30 ? 0.02 * (t - 30) : 0);
      return input;
    });
  }
  const plain = (d: DriftDecision) => JSON.parse(JSON.stringify({ ...d, dimWeights: Array.from(d.dimWeights) })) as unknown;

  for (const at of [3, 25]) {
    it(`getState → JSON → setState resumes with identical decisions (checkpoint at step ${at})`, () => {
      const inputs = stream(8, 70);
      const a = new DriftMonitor(opts);
      for (const x of inputs.slice(0, at)) a.update(x);
      const saved = JSON.parse(JSON.stringify(a.getState()));
      const b = new DriftMonitor(opts);
      b.setState(saved);
      expect(b.getState()).toEqual(a.getState());
      let drifted = 0;
      for (const x of inputs.slice(at)) {
        const da = a.update(x);
        const db = b.update(x);
        expect(plain(db)).toEqual(plain(da));
        drifted += da.drifted ? 1 : 0;
      }
      if (at === 25) expect(drifted).toBeGreaterThan(0); // the resumed segment exercises the tightening path
    });
  }

  it('setState validates and leaves the monitor unchanged on error', () => {
    const a = new DriftMonitor(opts);
    for (const x of stream(9, 12)) a.update(x);
    const good = a.getState();
    const b = new DriftMonitor(opts);
    const before = JSON.stringify(b.getState());
    const bad = (patch: Record<string, unknown>) => ({ ...JSON.parse(JSON.stringify(good)), ...patch });
    expect(() => b.setState(bad({ dims: 4 }))).toThrow(/state\.dims/);
    expect(() => b.setState(bad({ version: 2 }))).toThrow(/state\.version/);
    expect(() => b.setState(bad({ dimWeights: [1, 1] }))).toThrow(/state\.dimWeights/);
    expect(() => b.setState(bad({ dimWeights: [1, NaN, 1] }))).toThrow(/state\.dimWeights\[1\]/);
    expect(() => b.setState(bad({ dimWeights: [10, 1, 1] }))).toThrow(/state\.dimWeights\[0\]/);
    expect(() => b.setState(bad({ klController: null }))).toThrow(/state\.klController/);
    expect(() => b.setState(bad({ epsilon: -1 }))).toThrow(/state\.epsilon/);
    expect(() => b.setState(bad({ klHistory: new Array(11).fill(0) }))).toThrow(/state\.klHistory/);
    expect(() => b.setState(null as never)).toThrow(TypeError);
    expect(JSON.stringify(b.getState())).toBe(before);
    expect(() => new DriftMonitor({ dims: K }).setState(good)).toThrow(/state\.threshold|state\.klController/);
  });
});

describe('validation', () => {
  it('rejects bad options with the argument name', () => {
    const cases: [DriftMonitorOptions, RegExp, ErrorConstructor][] = [
      [{ dims: 0 }, /options\.dims/, RangeError],
      [{ dims: 2.5 }, /options\.dims/, RangeError],
      [{ dims: 3, emaDecay: 1 }, /options\.emaDecay/, RangeError],
      [{ dims: 3, warmupSteps: 0 }, /options\.warmupSteps/, RangeError],
      [{ dims: 3, threshold: 0 }, /options\.threshold/, RangeError],
      [{ dims: 3, threshold: 'auto' as never }, /options\.threshold/, RangeError],
      [{ dims: 3, mMin: 2 }, /options\.mMin/, RangeError],
      [{ dims: 3, mMax: 0.5 }, /options\.mMax/, RangeError],
      [{ dims: 3, beta: 2, betaMax: 1 }, /options\.beta/, RangeError],
      [{ dims: 3, beta: -0.1 }, /options\.beta/, RangeError],
      [{ dims: 3, betaFactor: 0.5 }, /options\.betaFactor/, RangeError],
      [{ dims: 3, epsilonMin: 0.5 }, /options\.epsilonMin/, RangeError],
      [{ dims: 3, epsilonFactor: 1.5 }, /options\.epsilonFactor/, RangeError],
      [{ dims: 3, relax: 1 }, /options\.relax/, RangeError],
      [{ dims: 3, gamma: NaN }, /options\.gamma/, RangeError],
      [{ dims: 3, variance: 'sample' as never }, /options\.variance/, RangeError],
      [{ dims: 3, driftTriggers: ['spectrum' as never] }, /options\.driftTriggers\[0\]/, RangeError],
      [{ dims: 3, klWindow: 1 }, /options\.klWindow/, RangeError],
      [{ dims: 3, beta: 0, adaptiveKl: { target: 1, horizon: 1 } }, /options\.beta/, RangeError],
      [{ dims: 3, adaptiveKl: { target: -1, horizon: 1 } }, /options\.adaptiveKl\.target/, RangeError],
      [{ dims: 3, adaptiveKl: { target: 1, horizon: 1, typo: 1 } as never }, /options\.adaptiveKl\.typo/, RangeError],
      [{ dims: 3, emaDecy: 0.5 } as never, /options\.emaDecy/, RangeError],
      [{ dims: '3' } as never, /options\.dims/, TypeError],
    ];
    for (const [o, re, type] of cases) {
      expect(() => new DriftMonitor(o), JSON.stringify(o)).toThrow(type);
      expect(() => new DriftMonitor(o), JSON.stringify(o)).toThrow(re);
    }
    expect(() => new DriftMonitor(undefined as never)).toThrow(TypeError);
  });

  it('rejects bad inputs with the argument name, before changing any state', () => {
    const mon = new DriftMonitor({ dims: K });
    const rng = new Rng(1);
    const ok = healthyInput(rng);
    const cases: [Partial<DriftStepInput> & Record<string, unknown>, RegExp, ErrorConstructor][] = [
      [{ dims: 4, scores: new Float32Array(B * G * 4) }, /input\.dims: expected 3 \(options\.dims\), got 4/, RangeError],
      [{ scores: new Float32Array(5) }, /input\.scores: expected length 384/, RangeError],
      [{ scores: new Float64Array(B * G * K) as never }, /input\.scores/, TypeError],
      [{ groups: 0 }, /input\.groups/, RangeError],
      [{ lambdas: new Float32Array(B * K).fill(NaN) }, /input\.lambdas\[0\]/, RangeError],
      [{ lambdas: new Float32Array(B * K).fill(-1) }, /input\.lambdas\[0\]/, RangeError],
      [{ lambdas: new Float32Array(3) }, /input\.lambdas/, RangeError],
      [{ lengths: new Float32Array(B * G).fill(Infinity) }, /input\.lengths\[0\]/, RangeError],
      [{ referenceScores: new Float32Array(2) }, /input\.referenceScores/, RangeError],
      [{ referenceScores: Float32Array.from([0, NaN, 0]) }, /input\.referenceScores\[1\]/, RangeError],
      [{ kl: NaN }, /input\.kl/, RangeError],
      [{ entropy: Infinity }, /input\.entropy/, RangeError],
      [{ entropy: -1 }, /input\.entropy/, RangeError],
      [{ sequences: 0 }, /input\.sequences/, RangeError],
      [{ klValue: 1 }, /input\.klValue/, RangeError],
    ];
    for (const [patch, re, type] of cases) {
      const input = { ...ok, ...patch } as DriftStepInput;
      expect(() => mon.update(input), String(re)).toThrow(type);
      expect(() => mon.update(input), String(re)).toThrow(re);
    }
    expect(() => mon.update(null as never)).toThrow(TypeError);
    expect(mon.update(ok).step).toBe(1); // nothing above advanced the monitor
  });
});

describe('docs/drift-monitor.md', () => {
  it('the example runs as written and prints the episode it describes', async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const doc = fs.readFileSync(path.join(root, 'docs/drift-monitor.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Example'));
    const code = section.slice(section.indexOf('```ts\n') + 6, section.indexOf('\n```', section.indexOf('```ts\n')));
    const importLine = "import { DriftMonitor, gprlAdvantages } from 'gprl';";
    expect(code).toContain(importLine);
    const src = (p: string) => JSON.stringify(pathToFileURL(path.join(root, p)).href);
    const runnable = code.replace(
      importLine,
      `import { DriftMonitor } from ${src('src/monitor/driftMonitor.ts')};\nimport { gprlAdvantages } from ${src('src/kernels/gprlAdvantages.ts')};`,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gprl-doc-'));
    const file = path.join(dir, 'example.ts');
    fs.writeFileSync(file, runnable);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    try {
      await import(pathToFileURL(file).href);
    } finally {
      spy.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(lines[at(/warmup-complete/)]).toMatch(/^step 5 /);
    const starts = lines.filter((l) => / drift starts/.test(l)).map((l) => Number(/^step (\d+)/.exec(l)![1]));
    const ends = lines.filter((l) => / drift ends/.test(l)).map((l) => Number(/^step (\d+)/.exec(l)![1]));
    expect(starts.length).toBe(1);
    expect(ends.length).toBe(1);
    expect(starts[0]!).toBeGreaterThan(20);
    expect(starts[0]!).toBeLessThanOrEqual(25);
    expect(ends[0]!).toBeGreaterThan(50);
    expect(ends[0]!).toBeLessThanOrEqual(60);
    const recovered = Number(/^step (\d+)/.exec(lines[at(/ recovered:/)]!)![1]);
    expect(recovered - ends[0]!).toBeLessThanOrEqual(77);
    expect(lines.at(-1)).toBe('resumed at step 150: beta 0.04, epsilon 0.2');
  });
});
