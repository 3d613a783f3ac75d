/**
 * The drift monitor's study modes (src/monitor/driftMonitor.ts): the sham control (random firings
 * at `shamRate` from its own seeded stream, with the acting monitor's actions), the observing monitor
 * (detects, never acts), the 'length-drift' detector, and the sham generator in getState/setState.
 *
 * Expected firings are recomputed independently: the sham monitor draws one uniform per update()
 * from `new Rng(shamSeed)` and fires when it is < shamRate, so the firing steps are known exactly.
 * Rates are also checked against the binomial tolerance 4.5·√(p(1−p)/N) (N = 2000, p = 0.2:
 * ±0.0402). β/ε updates are sums and products of a few doubles: 1e-12.
 */
import { describe, expect, it } from 'vitest';
import { DriftMonitor, type DriftDecision, type DriftMonitorOptions, type DriftStepInput } from '../../src/monitor/driftMonitor.js';
import { Rng } from '../../src/random.js';

const K = 3;

/** One step's input: per-dimension score standard deviations `sd`, optional lengths around `meanLength`. */
function input(rng: Rng, B: number, G: number, sd: readonly number[], meanLength?: number): DriftStepInput {
  const scores = new Float32Array(B * G * K);
  for (let i = 0; i < B * G; i++) for (let l = 0; l < K; l++) scores[i * K + l] = rng.normal(0, sd[l]!);
  const out: DriftStepInput = { groups: B, groupSize: G, dims: K, scores };
  if (meanLength !== undefined) {
    const lengths = new Float32Array(B * G);
    for (let i = 0; i < lengths.length; i++) lengths[i] = Math.max(0, Math.round(rng.normal(meanLength, 2)));
    out.lengths = lengths;
  }
  return out;
}

/** A stream whose dimension-0 variance grows tenfold after step `shiftAt` (the spectrum detector fires). */
function shiftingStream(seed: number, steps: number, shiftAt: number, B = 16, G = 8): DriftStepInput[] {
  const rng = new Rng(seed);
  return Array.from({ length: steps }, (_, i) => input(rng, B, G, i + 1 > shiftAt ? [Math.sqrt(10), 1, 1] : [1, 1, 1]));
}

function healthyStream(seed: number, steps: number, B = 4, G = 4): DriftStepInput[] {
  const rng = new Rng(seed);
  return Array.from({ length: steps }, () => input(rng, B, G, [1, 0.8, 1.2]));
}

/** Steps (1-based) on which a sham monitor with this seed and rate fires: one uniform per step. */
function expectedShamSteps(seed: number, rate: number, steps: number, from = 1): number[] {
  const rng = new Rng(seed);
  const out: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const u = rng.next();
    if (s >= from && u < rate) out.push(s);
  }
  return out;
}

const kinds = (d: DriftDecision): string[] => d.events.map((e) => e.kind);
const firedSteps = (ds: readonly DriftDecision[]): number[] => ds.filter((d) => d.drifted).map((d) => d.step);

describe("mode 'sham'", () => {
  const N = 2000;
  const rate = 0.2;

  it('fires on exactly the steps its own stream picks, at the sham rate within binomial tolerance, whatever the inputs', () => {
    const mon = new DriftMonitor({ dims: K, mode: 'sham', shamRate: rate, shamSeed: 7 });
    // the spectrum shifts after step 30, so the spectrum detector fires often: it must not trigger
    const rng = new Rng(100);
    const ds = Array.from({ length: N }, (_, i) => mon.update(input(rng, 4, 4, i + 1 > 30 ? [Math.sqrt(10), 1, 1] : [1, 1, 1])));
    const fired = firedSteps(ds);
    expect(fired).toEqual(expectedShamSteps(7, rate, N));
    const share = fired.length / N;
    expect(Math.abs(share - rate)).toBeLessThan(4.5 * Math.sqrt((rate * (1 - rate)) / N));
    // detector events are logged but never declare drift on their own
    const detectedNotFired = ds.filter((d) => kinds(d).includes('spectrum-drift') && !d.drifted);
    expect(detectedNotFired.length).toBeGreaterThan(100);
    for (const d of detectedNotFired) {
      expect(d.triggers).toEqual([]);
      expect(kinds(d)).not.toContain('tighten');
    }
  });

  it('every firing tightens like the acting monitor: β ← max(β, min(βmax, max(βonDrift, 1.5β))), ε ← max(εmin, 0.8ε); relaxes otherwise', () => {
    const mon = new DriftMonitor({ dims: K, mode: 'sham', shamRate: rate, shamSeed: 7 });
    const o = mon.options;
    expect([o.beta, o.betaMax, o.betaOnDrift, o.betaFactor, o.epsilon, o.epsilonMin, o.epsilonFactor, o.relax]).toEqual([0.04, 1, 0.01, 1.5, 0.2, 0.05, 0.8, 0.9]);
    let beta = 0.04;
    let eps = 0.2;
    let firings = 0;
    let maxBeta = beta;
    for (const inp of healthyStream(5, N)) {
      const d = mon.update(inp);
      if (d.drifted) {
        firings++;
        expect(d.acted).toBe(true);
        expect(d.triggers).toEqual(['sham']);
        const tighten = d.events.filter((e) => e.kind === 'tighten');
        expect(tighten).toHaveLength(1);
        const wantBeta = Math.max(beta, Math.min(1, Math.max(0.01, 1.5 * beta)));
        const wantEps = Math.min(eps, Math.max(0.05, 0.8 * eps));
        expect(Math.abs(d.beta - wantBeta)).toBeLessThan(1e-12);
        expect(Math.abs(d.epsilon - wantEps)).toBeLessThan(1e-12);
        expect(tighten[0]!.values.betaBefore as number).toBeCloseTo(beta, 12);
        expect(tighten[0]!.values.beta as number).toBeCloseTo(wantBeta, 12);
        expect(tighten[0]!.reason).toMatch(/^sham drift/);
      } else {
        expect(d.acted).toBe(false);
        expect(kinds(d)).not.toContain('tighten');
        if (kinds(d).includes('recovered')) {
          expect(d.beta).toBe(0.04);
          expect(d.epsilon).toBe(0.2);
        } else {
          expect(Math.abs(d.beta - (0.04 + (beta - 0.04) * 0.9))).toBeLessThan(1e-12);
          expect(Math.abs(d.epsilon - (0.2 + (eps - 0.2) * 0.9))).toBeLessThan(1e-12);
        }
      }
      beta = d.beta;
      eps = d.epsilon;
      maxBeta = Math.max(maxBeta, beta);
    }
    expect(firings).toBe(expectedShamSteps(7, rate, N).length);
    // consecutive firings compound: β grows well above its baseline at some point
    expect(maxBeta).toBeGreaterThan(0.04 * 1.5 * 1.5);
  });

  it('the same seed gives the same firing steps on any input stream; another seed other steps; rate 0 never fires, rate 1 always', () => {
    const run = (opts: Partial<DriftMonitorOptions>, stream: DriftStepInput[]) => {
      const mon = new DriftMonitor({ dims: K, mode: 'sham', ...opts });
      return firedSteps(stream.map((x) => mon.update(x)));
    };
    const s1 = healthyStream(1, 300);
    const s2 = shiftingStream(2, 300, 50, 4, 4);
    const a = run({ shamRate: 0.3, shamSeed: 42 }, s1);
    expect(run({ shamRate: 0.3, shamSeed: 42 }, s2)).toEqual(a);
    expect(a).toEqual(expectedShamSteps(42, 0.3, 300));
    const b = run({ shamRate: 0.3, shamSeed: 43 }, s1);
    expect(b).not.toEqual(a);
    expect(b).toEqual(expectedShamSteps(43, 0.3, 300));
    expect(run({ shamRate: 0, shamSeed: 42 }, s2)).toEqual([]);
    expect(run({ shamRate: 1, shamSeed: 42 }, s1)).toHaveLength(300);
    // the default rate is 0
    expect(run({ shamSeed: 42 }, s1)).toEqual([]);
  });
});

describe("mode 'observe'", () => {
  it('detects exactly when the acting monitor does, but never changes m, β or ε', () => {
    const stream = shiftingStream(31, 120, 20);
    const act = new DriftMonitor({ dims: K, mode: 'act' });
    const obs = new DriftMonitor({ dims: K, mode: 'observe' });
    const da = stream.map((x) => act.update(x));
    const dobs = stream.map((x) => obs.update(x));
    const fired = firedSteps(dobs);
    expect(fired.length).toBeGreaterThan(5);
    expect(fired[0]!).toBeGreaterThan(20);
    expect(firedSteps(da)).toEqual(fired);
    for (const d of dobs) {
      expect(d.acted).toBe(false);
      expect(Array.from(d.dimWeights)).toEqual([1, 1, 1]);
      expect(d.beta).toBe(0.04);
      expect(d.epsilon).toBe(0.2);
      expect(kinds(d)).not.toContain('tighten');
      expect(kinds(d)).not.toContain('recovered');
      if (d.drifted) {
        expect(d.triggers).toEqual(['spectrum']);
        expect(kinds(d)).toContain('spectrum-drift');
      }
    }
    expect(Array.from(obs.dimWeights)).toEqual([1, 1, 1]);
    expect(obs.beta).toBe(0.04);
    expect(obs.epsilon).toBe(0.2);
    // the acting monitor, on the same inputs, tightened
    const first = da[fired[0]! - 1]!;
    expect(first.acted).toBe(true);
    expect(kinds(first)).toContain('tighten');
    expect(first.beta).toBeCloseTo(0.06, 12); // max(0.01, 1.5·0.04)
    expect(first.epsilon).toBeCloseTo(0.16, 12); // max(0.05, 0.8·0.2)
    expect(first.dimWeights[0]!).toBeLessThan(1); // the dimension that gained variance is down-weighted
    // the spectrum values are the same in both (detection does not depend on the actions)
    da.forEach((d, i) => {
      expect(d.drift).toBe(dobs[i]!.drift);
      expect(d.alphaSmoothed).toEqual(dobs[i]!.alphaSmoothed);
    });
  });
});

describe("'length-drift'", () => {
  /** Batch mean lengths (float64 sums of the float32 lengths, as documented) and the documented rule. */
  function referenceLengthDrift(stream: DriftStepInput[], warmup: number, window: number, ratio: number): number[] {
    const means = stream.map((x) => {
      let s = 0;
      for (const v of x.lengths!) s += v;
      return s / x.lengths!.length;
    });
    const baseline = means.slice(0, warmup).reduce((a, b) => a + b, 0) / warmup;
    const out: number[] = [];
    for (let t = warmup + window; t <= means.length; t++) {
      const avg = means.slice(t - window, t).reduce((a, b) => a + b, 0) / window;
      if (Math.abs(avg / baseline - 1) > ratio) out.push(t);
    }
    return out;
  }

  function lengthStream(seed: number, factor: number, steps = 80, shiftAt = 20): DriftStepInput[] {
    const rng = new Rng(seed);
    return Array.from({ length: steps }, (_, i) => input(rng, 16, 8, [1, 1, 1], i + 1 > shiftAt ? 8 * factor : 8));
  }

  const opts = (driftTriggers: DriftMonitorOptions['driftTriggers']): DriftMonitorOptions => ({
    dims: K,
    lengthWindow: 10,
    lengthDriftRatio: 0.25,
    spectrumTrigger: false,
    driftTriggers,
  });

  it('a +30% (or −30%) mean length after warm-up fires once the 10-step window has moved > 25%; counts as drift only when listed', () => {
    for (const factor of [1.3, 0.7]) {
      const stream = lengthStream(factor === 1.3 ? 9 : 10, factor);
      const want = referenceLengthDrift(stream, 5, 10, 0.25);
      // by hand (noiseless): the window holds c shifted steps of 10, avg change 0.3·c/10 > 0.25 ⇔ c ≥ 9,
      // i.e. from step 29 (c = t − 20); batch-mean noise (≈ 0.2/8 relative) may move it by a step
      expect(want[0]!).toBeGreaterThanOrEqual(28);
      expect(want[0]!).toBeLessThanOrEqual(30);
      expect(want).toEqual(Array.from({ length: 80 - want[0]! + 1 }, (_, i) => want[0]! + i));

      const counting = new DriftMonitor(opts(['length-drift']));
      const dc = stream.map((x) => counting.update(x));
      const events = dc.filter((d) => kinds(d).includes('length-drift')).map((d) => d.step);
      expect(events).toEqual(want);
      expect(firedSteps(dc)).toEqual(want);
      for (const s of want) expect(dc[s - 1]!.triggers).toEqual(['length-drift']);
      const ev = dc[want[0]! - 1]!.events.find((e) => e.kind === 'length-drift')!;
      expect(Math.sign(ev.values.change as number)).toBe(factor > 1 ? 1 : -1);
      expect(ev.reason).toMatch(/counts as drift/);

      const logging = new DriftMonitor(opts([]));
      const dl = stream.map((x) => logging.update(x));
      expect(dl.filter((d) => kinds(d).includes('length-drift')).map((d) => d.step)).toEqual(want);
      expect(firedSteps(dl)).toEqual([]);
    }
  });

  it('a +20% mean length never fires (ratio 0.25)', () => {
    const stream = lengthStream(11, 1.2);
    expect(referenceLengthDrift(stream, 5, 10, 0.25)).toEqual([]);
    const mon = new DriftMonitor(opts(['length-drift']));
    const ds = stream.map((x) => mon.update(x));
    expect(ds.some((d) => kinds(d).includes('length-drift'))).toBe(false);
    expect(firedSteps(ds)).toEqual([]);
    // with a ratio below 0.2 the same stream does fire
    const loose = new DriftMonitor({ ...opts(['length-drift']), lengthDriftRatio: 0.15 });
    expect(firedSteps(stream.map((x) => loose.update(x))).length).toBeGreaterThan(0);
  });
});

describe('getState/setState with the sham generator', () => {
  it('a restored sham monitor continues the same firing sequence (and the same decisions)', () => {
    const options: DriftMonitorOptions = { dims: K, mode: 'sham', shamRate: 0.3, shamSeed: 11 };
    const stream = healthyStream(77, 250);
    const original = new DriftMonitor(options);
    for (const x of stream.slice(0, 50)) original.update(x);
    const state = JSON.parse(JSON.stringify(original.getState()));
    expect(state.shamRng).toBeDefined();
    expect(state.shamRng.s).toHaveLength(4);
    const restored = new DriftMonitor(options);
    restored.setState(state);
    const fresh = new DriftMonitor(options);
    const a = stream.slice(50).map((x) => original.update(x));
    const b = stream.slice(50).map((x) => restored.update(x));
    const c = stream.slice(50).map((x) => fresh.update(x));
    expect(firedSteps(b)).toEqual(firedSteps(a));
    expect(firedSteps(a)).toEqual(expectedShamSteps(11, 0.3, 250, 51));
    b.forEach((d, i) => {
      expect(d.beta).toBe(a[i]!.beta);
      expect(d.epsilon).toBe(a[i]!.epsilon);
      expect(Array.from(d.dimWeights)).toEqual(Array.from(a[i]!.dimWeights));
    });
    // without the restored generator the sequence would restart from the seed
    expect(firedSteps(c).map((s) => s + 50)).not.toEqual(firedSteps(a));
    expect(restored.getState()).toEqual(original.getState());
    // an acting monitor has no sham generator in its state
    expect(new DriftMonitor({ dims: K }).getState().shamRng).toBeUndefined();
  });
});

describe('options', () => {
  it('rejects a bad mode and shamRate with the option name', () => {
    expect(() => new DriftMonitor({ dims: K, mode: 'random' as never })).toThrow(/^gprl: invalid options\.mode: /);
    expect(() => new DriftMonitor({ dims: K, mode: 'sham', shamRate: 1.5 })).toThrow(/^gprl: invalid options\.shamRate: /);
    expect(() => new DriftMonitor({ dims: K, mode: 'sham', shamRate: -0.1 })).toThrow(/^gprl: invalid options\.shamRate: /);
    expect(() => new DriftMonitor({ dims: K, lengthWindow: 0 })).toThrow(/^gprl: invalid options\.lengthWindow: /);
    expect(() => new DriftMonitor({ dims: K, lengthDriftRatio: 0 })).toThrow(/^gprl: invalid options\.lengthDriftRatio: /);
    expect(() => new DriftMonitor({ dims: K, spectrumTrigger: 1 as never })).toThrow(/^gprl: invalid options\.spectrumTrigger: /);
    const o = new DriftMonitor({ dims: K }).options;
    expect([o.mode, o.shamRate, o.shamSeed, o.spectrumTrigger, o.lengthWindow, o.lengthDriftRatio]).toEqual(['act', 0, 0, true, 10, 0.25]);
  });
});

describe('DriftMonitor.setState: rejected states change nothing', () => {
  it('rejects a bad lengthDrift or shamRng before committing anything, naming the field', () => {
    const m = new DriftMonitor({ dims: 3, mode: 'sham', shamRate: 0.5, shamSeed: 3 });
    const good = m.getState();
    expect(() => m.setState({ ...good, step: 99, betaSurplus: 0.5, lengthDrift: { sum: Number.NaN, count: 0, baseline: null, window: [] } })).toThrow(/gprl: invalid state\.lengthDrift/);
    expect(() => m.setState({ ...good, step: 7, shamRng: { s: [1, 2], spare: null } })).toThrow(/gprl: invalid state\.shamRng/);
    const { shamRng: _omit, ...noSham } = good;
    expect(() => m.setState({ ...noSham, step: 5 })).toThrow(/gprl: invalid state\.shamRng/);
    expect(m.getState()).toEqual(good);
  });
});
