/**
 * `policyLoss` on every available backend against an independent float64 reference, hand-computed
 * cases, finite differences, non-finite inputs and validation messages.
 *
 * Tolerances: the kernels do all per-token math and every reduction in float64, so the loss and the
 * metrics agree with the float64 reference to summation-order rounding (1e-10 relative). The
 * gradient is stored as float32 after two roundings (unscaled value, then scaled), so each element
 * agrees to 2.5e-7 relative (2 ulp of float32) — 1e-6 leaves margin.
 */
import { describe, expect, it } from 'vitest';
import { backendInfo } from '../../src/backend.js';
import { loadAddon } from '../../src/native/addon.js';
import { policyLoss, policyLossAsync, type PolicyLossOptions, type PolicyLossInputs } from '../../src/kernels/policyLoss.js';
import { Rng } from '../../src/random.js';
import type { ResolvedBackend } from '../../src/types.js';

const BACKENDS: ResolvedBackend[] = backendInfo().available;

// ---------------------------------------------------------------------------------------------
// Independent float64 reference: written from the formulas (min/clip, then the dual min), not from
// the kernels' branch structure.
// ---------------------------------------------------------------------------------------------

interface RefResult {
  loss: number;
  grad: Float64Array;
  clipLow: number;
  clipHigh: number;
  dual: number;
  meanRatio: number;
  meanKl: number;
  valid: number;
  nonFinite: number;
}

interface RefInputs {
  logp: ArrayLike<number>;
  logpOld: ArrayLike<number>;
  logpRef: ArrayLike<number> | null;
  advantages: ArrayLike<number>;
  mask: ArrayLike<number>;
}

const clip = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);

function klOf(kind: string, delta: number): { k: number; dk: number } {
  // dk = d KL / d logp = −d KL / d δ.
  if (kind === 'k1') return { k: -delta, dk: 1 };
  if (kind === 'k2') return { k: (delta * delta) / 2, dk: -delta };
  return { k: Math.exp(delta) - delta - 1, dk: -(Math.exp(delta) - 1) };
}

function reference(x: RefInputs, N: number, T: number, o: PolicyLossOptions = {}): RefResult {
  const el = o.epsilonLow ?? 0.2;
  const eh = o.epsilonHigh ?? el;
  const c = o.dualClip;
  const beta = o.beta ?? 0;
  const kind = o.kl ?? 'k3';
  const agg = o.aggregation ?? 'token-mean';
  const L = o.maxLength ?? T;
  const tokLoss: number[][] = [];
  const tokGrad: number[][] = [];
  let clipLow = 0, clipHigh = 0, dual = 0, sumRatio = 0, sumKl = 0, nonFinite = 0;
  const idxs: number[][] = [];
  for (let n = 0; n < N; n++) {
    tokLoss.push([]);
    tokGrad.push([]);
    idxs.push([]);
    const A = x.advantages[n]!;
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      if (!x.mask[i]) continue;
      const vals = [A, x.logp[i]!, x.logpOld[i]!];
      if (x.logpRef) vals.push(x.logpRef[i]!);
      if (vals.some((v) => !Number.isFinite(v))) {
        nonFinite++;
        continue;
      }
      const r = Math.exp(x.logp[i]! - x.logpOld[i]!);
      const un = r * A;
      const cl = clip(r, 1 - el, 1 + eh) * A;
      let s = -Math.min(un, cl);
      // d(−min(un, cl))/dlogp: the selected branch's derivative (un on ties); cl's derivative is
      // r·A inside the clip range and 0 outside.
      let ds = un <= cl ? -r * A : r >= 1 - el && r <= 1 + eh ? -r * A : 0;
      if (un > cl) {
        if (A < 0) clipLow++;
        else clipHigh++;
      }
      if (c !== undefined && A < 0) {
        if (-c * A < s) {
          s = -c * A;
          ds = 0;
          dual++;
        }
      }
      let l = s, g = ds;
      if (x.logpRef) {
        const { k, dk } = klOf(kind, x.logpRef[i]! - x.logp[i]!);
        sumKl += k;
        if (beta > 0) {
          l += beta * k;
          g += beta * dk;
        }
      }
      sumRatio += r;
      tokLoss[n]!.push(l);
      tokGrad[n]!.push(g);
      idxs[n]!.push(i);
    }
  }
  const valid = tokLoss.reduce((a, r) => a + r.length, 0);
  const nonEmpty = tokLoss.filter((r) => r.length > 0).length;
  const grad = new Float64Array(N * T);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const len = tokLoss[n]!.length;
    const w = valid === 0 ? 0 : agg === 'token-mean' ? 1 / valid : agg === 'sequence-mean' ? 1 / (nonEmpty * len) : 1 / (N * L);
    for (let j = 0; j < len; j++) {
      loss += w * tokLoss[n]![j]!;
      grad[idxs[n]![j]!] = w * tokGrad[n]![j]!;
    }
  }
  const f = (v: number): number => (valid === 0 ? 0 : v / valid);
  return {
    loss,
    grad,
    clipLow: f(clipLow),
    clipHigh: f(clipHigh),
    dual: f(dual),
    meanRatio: f(sumRatio),
    meanKl: x.logpRef ? f(sumKl) : 0,
    valid,
    nonFinite,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Compare element-wise; on failure report the first mismatches (index, got, want). */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    const ok = Number.isFinite(w) ? Math.abs(g - w) <= abs + rel * Math.abs(w) : Object.is(g, w);
    if (!ok && bad.length < 5) bad.push(`[${i}] got ${g}, want ${w}`);
  }
  expect(bad, `${what}: first mismatches`).toEqual([]);
}

function closeNum(got: number, want: number, rel: number, abs: number, what: string): void {
  expect(Math.abs(got - want) <= abs + rel * Math.abs(want), `${what}: got ${got}, want ${want}`).toBe(true);
}

interface Batch {
  inputs: PolicyLossInputs & { logpRef: Float32Array };
  N: number;
  T: number;
}

/** Random batch: ratios spread on both sides of every clip, response lengths 0..T, some A = 0. */
function makeBatch(rng: Rng, N: number, T: number): Batch {
  const logp = new Float32Array(N * T);
  const logpOld = new Float32Array(N * T);
  const logpRef = new Float32Array(N * T);
  const mask = new Uint8Array(N * T);
  const advantages = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    advantages[n] = n % 7 === 3 ? 0 : rng.normal(0, 1);
    const len = n === 1 ? 0 : rng.int(T + 1);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      logp[i] = -Math.abs(rng.normal(1.5, 1));
      logpOld[i] = logp[i]! + rng.normal(0, 0.4);
      logpRef[i] = logp[i]! + rng.normal(0, 0.3);
      mask[i] = t < len ? 1 : 0;
    }
  }
  return { inputs: { logp, logpOld, logpRef, advantages, mask }, N, T };
}

function checkAgainstReference(b: Batch, opts: PolicyLossOptions, backend: ResolvedBackend, useRef: boolean): void {
  const inputs = useRef ? b.inputs : { ...b.inputs, logpRef: undefined };
  const want = reference({ ...inputs, logpRef: useRef ? b.inputs.logpRef : null }, b.N, b.T, opts);
  const got = policyLoss(inputs, { sequences: b.N, tokens: b.T }, { ...opts, backend });
  const tag = `${backend} ${JSON.stringify(opts)} ref=${useRef}`;
  expect(got.backend).toBe(backend);
  closeNum(got.loss, want.loss, 1e-10, 1e-12, `${tag} loss`);
  let scale = 0;
  for (const g of want.grad) scale = Math.max(scale, Math.abs(g));
  expectClose(got.grad, want.grad, 1e-6, 1e-12 * scale, `${tag} grad`);
  const m = got.metrics;
  expect(m.validTokens, tag).toBe(want.valid);
  expect(m.nonFinite, tag).toBe(want.nonFinite);
  closeNum(m.clipFracLow, want.clipLow, 1e-12, 0, `${tag} clipFracLow`);
  closeNum(m.clipFracHigh, want.clipHigh, 1e-12, 0, `${tag} clipFracHigh`);
  closeNum(m.dualClipFrac, want.dual, 1e-12, 0, `${tag} dualClipFrac`);
  closeNum(m.meanRatio, want.meanRatio, 1e-10, 0, `${tag} meanRatio`);
  closeNum(m.meanKl, want.meanKl, 1e-10, 1e-14, `${tag} meanKl`);
}

const EPSILONS: PolicyLossOptions[] = [{}, { epsilonLow: 0.2, epsilonHigh: 0.28 }, { epsilonLow: 0.1, epsilonHigh: 0.05 }];
const DUALS: PolicyLossOptions[] = [{}, { dualClip: 3 }, { dualClip: 1.1 }];
const KLS: PolicyLossOptions[] = [{ beta: 0 }, { beta: 0.05, kl: 'k1' }, { beta: 0.05, kl: 'k2' }, { beta: 0.1, kl: 'k3' }];
const AGGS: PolicyLossOptions[] = [
  { aggregation: 'token-mean' },
  { aggregation: 'sequence-mean' },
  { aggregation: 'constant' },
  { aggregation: 'constant', maxLength: 200 },
];

describe.each(BACKENDS)('policyLoss on %s', (backend) => {
  it('matches the float64 reference for every option combination (5×123 and 3×7)', () => {
    const rng = new Rng(42);
    for (const [N, T] of [
      [5, 123],
      [3, 7],
    ] as const) {
      const b = makeBatch(rng, N, T);
      for (const e of EPSILONS)
        for (const d of DUALS)
          for (const k of KLS)
            for (const a of AGGS) {
              const opts = { ...e, ...d, ...k, ...a };
              checkAgainstReference(b, opts, backend, true);
              if (!opts.beta) checkAgainstReference(b, opts, backend, false);
            }
    }
  });

  it('matches the reference on a larger batch that takes the multi-threaded path (64×1000)', () => {
    const b = makeBatch(new Rng(7), 64, 1000);
    checkAgainstReference(b, { epsilonHigh: 0.28, dualClip: 3, beta: 0.04 }, backend, true);
    checkAgainstReference(b, { aggregation: 'sequence-mean', beta: 0.04, kl: 'k2' }, backend, true);
  });

  it.runIf(backend === 'cpu')('gives bitwise the same result with 1 thread and with several', () => {
    const addon = loadAddon().addon!;
    const b = makeBatch(new Rng(17), 64, 1500);
    const opts = { backend, beta: 0.05, aggregation: 'sequence-mean' as const };
    const threads = addon.getNumThreads();
    addon.setNumThreads(1);
    const one = policyLoss(b.inputs, { sequences: 64, tokens: 1500 }, opts);
    addon.setNumThreads(Math.max(threads, 4));
    const many = policyLoss(b.inputs, { sequences: 64, tokens: 1500 }, opts);
    addon.setNumThreads(threads);
    expect(many.loss).toBe(one.loss);
    expect(many.metrics).toEqual(one.metrics);
    expect(many.grad).toEqual(one.grad);
  });

  it('computes the hand-derived clipping, dual clip and aggregation values', () => {
    // N = 2, T = 2, ε = 0.2, logpOld = 0.
    //  seq 0, A = 1:  ρ = 1.5 → clipped high, loss −1.2, grad 0;  ρ = 0.5 → loss −0.5, ∂/∂logp = −ρA = −0.5
    //  seq 1, A = −2: ρ = 0.5 → clipped low, loss −0.8·(−2) = 1.6, grad 0;  ρ = 4 → loss 8, ∂ = −ρA = 8
    // token-mean: (−1.2 − 0.5 + 1.6 + 8)/4 = 1.975; grad [0, −0.125, 0, 2]
    // dual clip c = 3: the ρ = 4 token becomes min(8, −3·(−2) = 6) = 6 with grad 0 → 5.9/4 = 1.475
    // metrics: clipFracHigh = clipFracLow = 1/4, meanRatio = (1.5 + 0.5 + 0.5 + 4)/4 = 1.625
    // Inputs are float32(ln ρ), so the hand values hold to ~1e-7 relative: tolerance 1e-6.
    const logp = Float32Array.from([Math.log(1.5), Math.log(0.5), Math.log(0.5), Math.log(4)]);
    const base = { logp, logpOld: new Float32Array(4), advantages: Float32Array.from([1, -2]) };
    const shape = { sequences: 2, tokens: 2 };
    {
      const r = policyLoss({ ...base, mask: Uint8Array.from([1, 1, 1, 1]) }, shape, { backend });
      closeNum(r.loss, 1.975, 1e-6, 0, 'token-mean');
      expectClose(r.grad, [0, -0.125, 0, 2], 1e-6, 0, 'token-mean grad');
      expect(r.metrics.clipFracHigh).toBe(0.25);
      expect(r.metrics.clipFracLow).toBe(0.25);
      expect(r.metrics.dualClipFrac).toBe(0);
      closeNum(r.metrics.meanRatio, 1.625, 1e-6, 0, 'meanRatio');
      const d = policyLoss({ ...base, mask: Uint8Array.from([1, 1, 1, 1]) }, shape, { backend, dualClip: 3 });
      closeNum(d.loss, 1.475, 1e-6, 0, 'dual clip');
      expectClose(d.grad, [0, -0.125, 0, 0], 1e-6, 0, 'dual clip grad');
      expect(d.metrics.dualClipFrac).toBe(0.25);

      // Mask out the ρ = 4 token: 3 valid tokens, sequence lengths 2 and 1.
      //  token-mean: (−1.2 − 0.5 + 1.6)/3 = −0.0333…, grad of (0,1): −0.5/3
      //  sequence-mean: ((−1.2 − 0.5)/2 + 1.6/1)/2 = 0.375, grad of (0,1): −0.5/(2·2) = −0.125
      //  constant, maxLength 4: −0.1/(2·4) = −0.0125, grad of (0,1): −0.5/8 = −0.0625
      const mask = Uint8Array.from([1, 1, 1, 0]);
      const tm = policyLoss({ ...base, mask }, shape, { backend });
      closeNum(tm.loss, -0.1 / 3, 1e-5, 0, 'token-mean masked');
      expectClose(tm.grad, [0, -0.5 / 3, 0, 0], 1e-6, 0, 'token-mean masked grad');
      const sm = policyLoss({ ...base, mask }, shape, { backend, aggregation: 'sequence-mean' });
      closeNum(sm.loss, 0.375, 1e-6, 0, 'sequence-mean');
      expectClose(sm.grad, [0, -0.125, 0, 0], 1e-6, 0, 'sequence-mean grad');
      const cm = policyLoss({ ...base, mask }, shape, { backend, aggregation: 'constant', maxLength: 4 });
      closeNum(cm.loss, -0.0125, 1e-5, 0, 'constant');
      expectClose(cm.grad, [0, -0.0625, 0, 0], 1e-6, 0, 'constant grad');
    }
  });

  it('computes the hand-derived KL estimators and their gradients', () => {
    // One token, A = 0 (no surrogate), logp = logpOld = 0, logpRef = ln 2 → δ = ln 2, e^δ = 2, β = 1:
    //  k1 = −δ = −0.693147, ∂/∂logp = 1
    //  k2 = ½δ² = 0.240227, ∂/∂logp = −δ = −0.693147
    //  k3 = e^δ − δ − 1 = 0.306853, ∂/∂logp = 1 − e^δ = −1
    // logpRef is float32(ln 2): tolerance 1e-6 relative.
    const ln2 = Math.log(2);
    const inputs = {
      logp: new Float32Array(1),
      logpOld: new Float32Array(1),
      logpRef: Float32Array.of(ln2),
      advantages: new Float32Array(1),
      mask: Uint8Array.of(1),
    };
    const cases = [
      ['k1', -ln2, 1],
      ['k2', (ln2 * ln2) / 2, -ln2],
      ['k3', 1 - ln2, -1],
    ] as const;
    for (const [kl, value, grad] of cases) {
      const r = policyLoss(inputs, { sequences: 1, tokens: 1 }, { backend, beta: 1, kl });
      closeNum(r.loss, value, 1e-6, 0, kl);
      closeNum(r.metrics.meanKl, value, 1e-6, 0, `${kl} meanKl`);
      closeNum(r.grad[0]!, grad, 1e-6, 0, `${kl} grad`);
      // β = 0: the KL is still reported but takes no part in the loss.
      const z = policyLoss(inputs, { sequences: 1, tokens: 1 }, { backend, kl });
      expect(z.loss).toBe(0);
      expect(z.grad[0]).toBe(0);
      closeNum(z.metrics.meanKl, value, 1e-6, 0, `${kl} meanKl at β = 0`);
    }
  });

  it('lets the gradient through at the exact clip boundary (ρ = 1 with ε = 0)', () => {
    // ρ = exp(0) = 1 exactly = 1 − ε_low = 1 + ε_high: the clip is not active (strict inequalities),
    // so ∂/∂logp = −ρA/#valid = −A/2 for both tokens.
    const r = policyLoss(
      {
        logp: Float32Array.of(-1, -2),
        logpOld: Float32Array.of(-1, -2),
        advantages: Float32Array.of(0.5, -3),
        mask: Uint8Array.of(1, 1),
      },
      { sequences: 2, tokens: 1 },
      { backend, epsilonLow: 0, epsilonHigh: 0 },
    );
    expect(Array.from(r.grad)).toEqual([-0.25, 1.5]);
    expect(r.metrics.clipFracLow).toBe(0);
    expect(r.metrics.clipFracHigh).toBe(0);
  });

  it('gives loss 0 and a zero gradient for an all-masked batch', () => {
    const b = makeBatch(new Rng(3), 4, 9);
    for (const aggregation of ['token-mean', 'sequence-mean', 'constant'] as const) {
      const r = policyLoss({ ...b.inputs, mask: new Uint8Array(36) }, { sequences: 4, tokens: 9 }, { backend, aggregation, beta: 0.1 });
      expect(r.loss).toBe(0);
      expect(r.grad.every((g) => g === 0)).toBe(true);
      expect(r.metrics).toEqual({
        clipFracLow: 0,
        clipFracHigh: 0,
        dualClipFrac: 0,
        meanRatio: 0,
        meanKl: 0,
        validTokens: 0,
        nonFinite: 0,
      });
    }
  });

  it('excludes and counts tokens with non-finite inputs; the loss stays finite', () => {
    const b = makeBatch(new Rng(11), 6, 20);
    const { inputs } = b;
    inputs.mask.fill(1);
    inputs.logp[3] = NaN;
    inputs.logpOld[25] = Infinity;
    inputs.logpRef[47] = -Infinity;
    inputs.logp[61] = -Infinity;
    inputs.advantages[4] = NaN; // excludes the 20 tokens of sequence 4
    inputs.mask[5 * 20 + 2] = 0;
    inputs.logp[5 * 20 + 2] = NaN; // masked: not counted
    for (const aggregation of ['token-mean', 'sequence-mean', 'constant'] as const) {
      const opts = { aggregation, beta: 0.1, dualClip: 2 };
      checkAgainstReference(b, opts, backend, true);
      const r = policyLoss(inputs, { sequences: 6, tokens: 20 }, { ...opts, backend });
      expect(r.metrics.nonFinite).toBe(4 + 20);
      expect(r.metrics.validTokens).toBe(120 - 24 - 1);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.grad.every((g) => Number.isFinite(g))).toBe(true);
      for (const i of [3, 25, 47, 61, 82, 102]) expect(r.grad[i]).toBe(0);
    }
    // Without logpRef, a non-finite reference value cannot exclude anything.
    const noRef = policyLoss({ ...inputs, logpRef: null }, { sequences: 6, tokens: 20 }, { backend });
    expect(noRef.metrics.nonFinite).toBe(3 + 20);
  });

  it('accepts typed-array views with a byte offset', () => {
    const b = makeBatch(new Rng(21), 5, 17);
    const n = 5 * 17;
    const view = <T extends Float32Array | Uint8Array>(src: T, make: (buf: ArrayBuffer, off: number, len: number) => T): T => {
      const off = 3 * src.BYTES_PER_ELEMENT;
      const v = make(new ArrayBuffer(off + src.byteLength + 8), off, src.length);
      v.set(src);
      return v;
    };
    const f32 = (buf: ArrayBuffer, off: number, len: number) => new Float32Array(buf, off, len);
    const inputs = {
      logp: view(b.inputs.logp, f32),
      logpOld: view(b.inputs.logpOld, f32),
      logpRef: view(b.inputs.logpRef, f32),
      advantages: view(b.inputs.advantages, f32),
      mask: view(b.inputs.mask, (buf, off, len) => new Uint8Array(buf, off, len)),
    };
    expect(inputs.logp.byteOffset).toBe(12);
    const opts = { backend, beta: 0.1, dualClip: 2 };
    const want = policyLoss(b.inputs, { sequences: 5, tokens: 17 }, opts);
    const got = policyLoss(inputs, { sequences: 5, tokens: 17 }, opts);
    expect(got.loss).toBe(want.loss);
    expect(got.grad).toEqual(want.grad);
    expect(got.metrics).toEqual(want.metrics);
    expect(n).toBe(got.grad.length);
  });

  it('async gives the same result as sync', async () => {
    const b = makeBatch(new Rng(5), 7, 33);
    const opts = { backend, beta: 0.02, aggregation: 'sequence-mean' as const };
    const s = policyLoss(b.inputs, { sequences: 7, tokens: 33 }, opts);
    const a = await policyLossAsync(b.inputs, { sequences: 7, tokens: 33 }, opts);
    expect(a.loss).toBe(s.loss);
    expect(a.grad).toEqual(s.grad);
    expect(a.metrics).toEqual(s.metrics);
    expect(a.backend).toBe(backend);
  });
});

describe('policyLoss gradient vs finite differences', () => {
  it('the reference and every backend match central differences of the float64 loss', () => {
    const N = 6, T = 15;
    const b = makeBatch(new Rng(99), N, T);
    // All tokens valid except sequence 1 (empty) and the tail of sequence 5.
    b.inputs.mask.fill(1);
    b.inputs.mask.fill(0, T, 2 * T);
    b.inputs.mask.fill(0, 5 * T + 9, 6 * T);
    const base: RefInputs = { ...b.inputs, logp: Array.from(b.inputs.logp) };
    for (const opts of [
      { epsilonHigh: 0.28, dualClip: 2, beta: 0.1, kl: 'k3' },
      { beta: 0.3, kl: 'k2', aggregation: 'sequence-mean' },
      { beta: 0.3, kl: 'k1', aggregation: 'constant', maxLength: 40 },
    ] as PolicyLossOptions[]) {
      const ref = reference(base, N, T, opts);
      const el = opts.epsilonLow ?? 0.2, eh = opts.epsilonHigh ?? el;
      const h = 1e-6;
      let checked = 0;
      for (let i = 0; i < N * T; i++) {
        if (!b.inputs.mask[i]) continue;
        const r = Math.exp(b.inputs.logp[i]! - b.inputs.logpOld[i]!);
        const A = b.inputs.advantages[Math.floor(i / T)]!;
        // Stay away from the kinks: clip boundaries and the dual-clip point.
        const kinks = [1 - el, 1 + eh, ...(opts.dualClip ? [opts.dualClip] : [])];
        if (kinks.some((k) => Math.abs(r - k) < 1e-3) || A === 0) continue;
        const plus = Array.from(base.logp);
        const minus = Array.from(base.logp);
        plus[i] = plus[i]! + h;
        minus[i] = minus[i]! - h;
        const fd = (reference({ ...base, logp: plus }, N, T, opts).loss - reference({ ...base, logp: minus }, N, T, opts).loss) / (2 * h);
        // Central differences: O(h²) truncation + O(ε/h) rounding ≈ 1e-10 absolute on O(1/#valid) values.
        expect(Math.abs(fd - ref.grad[i]!), `token ${i}: fd ${fd}, analytic ${ref.grad[i]}`).toBeLessThan(1e-8);
        checked++;
      }
      expect(checked).toBeGreaterThan(20);
      for (const backend of BACKENDS) {
        const got = policyLoss(b.inputs, { sequences: N, tokens: T }, { ...opts, backend });
        expectClose(got.grad, ref.grad, 1e-6, 0, `${backend} grad`);
      }
    }
  });
});

describe('policyLoss validation', () => {
  const ok = (): PolicyLossInputs => ({
    logp: new Float32Array(6),
    logpOld: new Float32Array(6),
    advantages: new Float32Array(2),
    mask: new Uint8Array(6),
  });
  const shape = { sequences: 2, tokens: 3 };

  it('names the argument, the expectation and the received value', () => {
    expect(() => policyLoss({ ...ok(), logp: new Float64Array(6) as unknown as Float32Array }, shape)).toThrow(
      new TypeError('gprl: invalid inputs.logp: expected a Float32Array of length 6 (sequences·tokens), got Float64Array(6)'),
    );
    expect(() => policyLoss({ ...ok(), logpOld: new Float32Array(5) }, shape)).toThrow(
      new RangeError('gprl: invalid inputs.logpOld: expected a Float32Array of length 6 (sequences·tokens), got Float32Array(5)'),
    );
    expect(() => policyLoss({ ...ok(), logpRef: new Float32Array(7) }, shape)).toThrow(RangeError);
    expect(() => policyLoss({ ...ok(), advantages: new Float32Array(6) }, shape)).toThrow(
      new RangeError('gprl: invalid inputs.advantages: expected a Float32Array of length 2 (sequences), got Float32Array(6)'),
    );
    expect(() => policyLoss({ ...ok(), mask: new Int8Array(6) as unknown as Uint8Array }, shape)).toThrow(
      new TypeError('gprl: invalid inputs.mask: expected a Uint8Array of length 6 (sequences·tokens), got Int8Array(6)'),
    );
    expect(() => policyLoss(ok(), { sequences: 0, tokens: 3 })).toThrow(
      new RangeError('gprl: invalid shape.sequences: expected a positive integer, got 0'),
    );
    expect(() => policyLoss(null as unknown as PolicyLossInputs, shape)).toThrow(TypeError);
    expect(() => policyLoss({ ...ok(), logpref: new Float32Array(6) } as PolicyLossInputs, shape)).toThrow(
      /invalid inputs\.logpref: expected a known option \(logp, logpOld, logpRef, advantages, mask, policyMask\)/,
    );
  });

  it('checks every option', () => {
    expect(() => policyLoss(ok(), shape, { beta: 0.1 })).toThrow(
      new RangeError('gprl: invalid options.beta: expected 0 when inputs.logpRef is not given, got 0.1'),
    );
    expect(() => policyLoss(ok(), shape, { epsilonLow: 1.5 })).toThrow(
      new RangeError('gprl: invalid options.epsilonLow: expected a finite number in [0, 1], got 1.5'),
    );
    expect(() => policyLoss(ok(), shape, { epsilonHigh: -0.1 })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { dualClip: 1 })).toThrow(
      new RangeError('gprl: invalid options.dualClip: expected a finite number > 1, got 1'),
    );
    expect(() => policyLoss(ok(), shape, { beta: NaN })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { kl: 'k4' as 'k1' })).toThrow(
      new RangeError("gprl: invalid options.kl: expected one of 'k1', 'k2', 'k3', got \"k4\""),
    );
    expect(() => policyLoss(ok(), shape, { aggregation: 'sum' as 'constant' })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { maxLength: 2.5 })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { epsilon: 0.2 } as PolicyLossOptions)).toThrow(/options\.epsilon: expected a known option/);
    expect(() => policyLoss(ok(), shape, { backend: 'gpu' as 'cuda' })).toThrow(
      new RangeError("gprl: invalid options.backend: expected one of 'auto', 'cuda', 'cpu', 'js', got \"gpu\""),
    );
  });
});
