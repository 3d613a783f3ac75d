/**
 * `policyLoss` modes of TRL's GRPOTrainer (`_compute_loss`): sequence-level importance sampling (GSPO),
 * the CISPO and SAPO surrogates, the entropy (policy) mask, and the loss normalizers of `grpo`, `bnpo`,
 * `dapo` and `dr_grpo`, on every available backend.
 *
 * The reference is written from TRL's published definitions, vectorised as TRL writes them (coef_1 per
 * token or per sequence, per-token loss, × entropy mask, + β·KL, then the loss type's normalizer), in
 * float64, without the kernels' branch structure. Its gradient is a central finite difference of that
 * float64 loss (h = 1e-6), except for CISPO, whose gradient is by definition not the derivative of its
 * value (the capped ratio is detached): there the reference gradient is TRL's `−sg(min(ρ, ε_high))·A` times
 * the normalizer weight.
 *
 * Tolerances: loss 1e-10 relative (both float64; summation order only). Gradient 1e-6 relative (the
 * kernels store float32: ≤ 2 roundings, 2.4e-7) plus 1e-7 of the largest element absolute (the finite
 * difference's truncation and cancellation error, ~h²·|f'''| + 1e-16/h ≈ 1e-10 of the loss scale).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { backendInfo } from '../../src/backend.js';
import { policyLoss, type PolicyLossInputs, type PolicyLossOptions } from '../../src/kernels/policyLoss.js';
import { Rng } from '../../src/random.js';
import { policyInputs as benchInputs } from '../../bench/policyLoss.bench.js';
import type { ResolvedBackend } from '../../src/types.js';

const BACKENDS: ResolvedBackend[] = backendInfo().available;

type TrlLossType = 'grpo' | 'bnpo' | 'dapo' | 'dr_grpo';

interface TrlCase {
  level: 'token' | 'sequence';
  surrogate: 'clip' | 'cispo' | 'sapo';
  lossType: TrlLossType;
  entropyMask: boolean;
  beta: number;
}

interface Data {
  N: number;
  T: number;
  lp: Float64Array;
  old: Float64Array;
  ref: Float64Array;
  adv: Float64Array;
  mask: Uint8Array;
  emask: Uint8Array;
  /** TRL's num_items_in_batch: every completion token, including those the mask removed. */
  numItems: number;
  maxLen: number;
}

const EL = 0.2, EH = 0.28, CISPO_CAP = 1.3, TAU_POS = 1, TAU_NEG = 1.05;

/** TRL's loss for these inputs, as a function of the current log-probs `lp` (float64). */
function trlLoss(d: Data, lp: Float64Array, c: TrlCase): number {
  const { N, T } = d;
  const coef1 = new Float64Array(N * T);
  for (let n = 0; n < N; n++) {
    if (c.level === 'sequence') {
      let s = 0, m = 0;
      for (let t = 0; t < T; t++) {
        s += (lp[n * T + t]! - d.old[n * T + t]!) * d.mask[n * T + t]!;
        m += d.mask[n * T + t]!;
      }
      const liw = s / Math.max(1, m);
      for (let t = 0; t < T; t++) coef1[n * T + t] = Math.exp(liw);
    } else for (let t = 0; t < T; t++) coef1[n * T + t] = Math.exp(lp[n * T + t]! - d.old[n * T + t]!);
  }
  const ptl = new Float64Array(N * T);
  for (let n = 0; n < N; n++) {
    const A = d.adv[n]!;
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      const r = coef1[i]!;
      let l: number;
      if (c.surrogate === 'cispo') l = -Math.min(r, CISPO_CAP) * A * lp[i]!;
      else if (c.surrogate === 'sapo') {
        const tau = A > 0 ? TAU_POS : TAU_NEG;
        l = -(1 / (1 + Math.exp(-tau * (r - 1)))) * (4 / tau) * A;
      } else l = -Math.min(r * A, Math.min(Math.max(r, 1 - EL), 1 + EH) * A);
      if (c.entropyMask) l *= d.emask[i]!;
      if (c.beta > 0) {
        const delta = d.ref[i]! - lp[i]!;
        l += c.beta * (Math.exp(delta) - delta - 1);
      }
      ptl[i] = l;
    }
  }
  let total = 0, maskSum = 0, seqMeans = 0;
  for (let n = 0; n < N; n++) {
    let s = 0, m = 0;
    for (let t = 0; t < T; t++) {
      s += ptl[n * T + t]! * d.mask[n * T + t]!;
      m += d.mask[n * T + t]!;
    }
    total += s;
    maskSum += m;
    seqMeans += s / Math.max(1, m);
  }
  if (c.lossType === 'grpo') return seqMeans / N;
  if (c.lossType === 'bnpo') return total / Math.max(1, maskSum);
  if (c.lossType === 'dr_grpo') return total / (N * d.maxLen);
  return total / d.numItems;
}

/** TRL's normalizer weight of one token of sequence n (for the CISPO reference gradient). */
function weight(d: Data, n: number, lossType: TrlLossType): number {
  let maskSum = 0, m = 0;
  for (let i = 0; i < d.N * d.T; i++) maskSum += d.mask[i]!;
  for (let t = 0; t < d.T; t++) m += d.mask[n * d.T + t]!;
  if (lossType === 'grpo') return 1 / (d.N * Math.max(1, m));
  if (lossType === 'bnpo') return 1 / Math.max(1, maskSum);
  if (lossType === 'dr_grpo') return 1 / (d.N * d.maxLen);
  return 1 / d.numItems;
}

function referenceGrad(d: Data, c: TrlCase): Float64Array {
  const g = new Float64Array(d.N * d.T);
  if (c.surrogate === 'cispo') {
    for (let n = 0; n < d.N; n++) {
      for (let t = 0; t < d.T; t++) {
        const i = n * d.T + t;
        if (!d.mask[i]) continue;
        let r: number;
        if (c.level === 'sequence') {
          let s = 0, m = 0;
          for (let u = 0; u < d.T; u++) {
            s += (d.lp[n * d.T + u]! - d.old[n * d.T + u]!) * d.mask[n * d.T + u]!;
            m += d.mask[n * d.T + u]!;
          }
          r = Math.exp(s / Math.max(1, m));
        } else r = Math.exp(d.lp[i]! - d.old[i]!);
        let gi = -Math.min(r, CISPO_CAP) * d.adv[n]! * (c.entropyMask ? d.emask[i]! : 1);
        if (c.beta > 0) gi += c.beta * (1 - Math.exp(d.ref[i]! - d.lp[i]!));
        g[i] = gi * weight(d, n, c.lossType);
      }
    }
    return g;
  }
  const h = 1e-6;
  const x = Float64Array.from(d.lp);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + h;
    const up = trlLoss(d, x, c);
    x[i] = v - h;
    const down = trlLoss(d, x, c);
    x[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Random inputs; float32-representable so the kernels see exactly the reference's values. */
function makeData(seed: number, N: number, T: number): Data {
  const rng = new Rng(seed);
  const f = (v: number): number => Math.fround(v);
  const lp = new Float64Array(N * T), old = new Float64Array(N * T), ref = new Float64Array(N * T);
  const adv = new Float64Array(N), mask = new Uint8Array(N * T), emask = new Uint8Array(N * T);
  let numItems = 0;
  for (let n = 0; n < N; n++) {
    adv[n] = n % 5 === 2 ? 0 : f(rng.normal(0, 1));
    // Sequence 1 is empty (it still counts in grpo's mean over sequences); sequence 3 is "truncated":
    // its tokens count in dapo's num_items_in_batch but its mask is 0.
    const len = n === 1 ? 0 : 1 + rng.int(T);
    numItems += len;
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      lp[i] = f(-Math.abs(rng.normal(1.5, 1)));
      old[i] = f(lp[i]! + rng.normal(0, 0.35));
      ref[i] = f(lp[i]! + rng.normal(0, 0.3));
      mask[i] = t < len && n !== 3 ? 1 : 0;
      emask[i] = rng.uniform() < 0.6 ? 1 : 0;
    }
  }
  return { N, T, lp, old, ref, adv, mask, emask, numItems, maxLen: T + 2 };
}

/** The kernel options that stand for a TRL configuration. */
function kernelOptions(d: Data, c: TrlCase): PolicyLossOptions {
  const o: PolicyLossOptions = {
    epsilonLow: EL,
    epsilonHigh: c.surrogate === 'cispo' ? CISPO_CAP : EH,
    beta: c.beta,
    kl: 'k3',
    importanceSampling: c.level,
    surrogate: c.surrogate,
    sapoTemperaturePos: TAU_POS,
    sapoTemperatureNeg: TAU_NEG,
  };
  if (c.lossType === 'grpo') return { ...o, aggregation: 'sequence-mean', numSequences: d.N };
  if (c.lossType === 'bnpo') return { ...o, aggregation: 'token-mean' };
  if (c.lossType === 'dapo') return { ...o, aggregation: 'token-mean', numTokens: d.numItems };
  return { ...o, aggregation: 'constant', maxLength: d.maxLen };
}

function inputsOf(d: Data, c: TrlCase): PolicyLossInputs {
  return {
    logp: Float32Array.from(d.lp),
    logpOld: Float32Array.from(d.old),
    logpRef: Float32Array.from(d.ref),
    advantages: Float32Array.from(d.adv),
    mask: d.mask,
    policyMask: c.entropyMask ? d.emask : null,
  };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= abs + rel * Math.abs(w)) && bad.length < 5) bad.push(`[${i}] got ${g}, want ${w}`);
  }
  expect(bad, `${what}: first mismatches`).toEqual([]);
}

const CASES: TrlCase[] = [];
for (const level of ['token', 'sequence'] as const)
  for (const surrogate of ['clip', 'cispo', 'sapo'] as const)
    for (const lossType of ['grpo', 'bnpo', 'dapo', 'dr_grpo'] as const)
      for (const entropyMask of [false, true])
        for (const beta of [0, 0.04]) CASES.push({ level, surrogate, lossType, entropyMask, beta });

describe.each(BACKENDS)('policyLoss TRL modes on %s', (backend) => {
  for (const [N, T, seed] of [[7, 9, 11], [3, 33, 12]] as const) {
    it(`matches TRL's definitions (N=${N}, T=${T}: ${CASES.length} configurations)`, () => {
      const d = makeData(seed, N, T);
      for (const c of CASES) {
        const tag = `${backend} ${JSON.stringify(c)}`;
        const got = policyLoss(inputsOf(d, c), { sequences: N, tokens: T }, { ...kernelOptions(d, c), backend });
        const want = trlLoss(d, d.lp, c);
        expect(Math.abs(got.loss - want) <= 1e-10 * Math.abs(want) + 1e-13, `${tag} loss: got ${got.loss}, want ${want}`).toBe(true);
        const g = referenceGrad(d, c);
        let scale = 0;
        for (const v of g) scale = Math.max(scale, Math.abs(v));
        expectClose(got.grad, g, 1e-6, 1e-7 * scale, `${tag} grad`);
      }
    });
  }

  it('sequence level: clip metrics and the mean ratio count the sequence ratio at every valid token', () => {
    // One sequence, two tokens with log-ratios 0.5 and 0.1: s = e^0.3 > 1.28 and A > 0 → clipped high.
    const r = policyLoss(
      {
        logp: Float32Array.of(-1, -1),
        logpOld: Float32Array.of(-1.5, -1.1),
        advantages: Float32Array.of(1),
        mask: Uint8Array.of(1, 1),
      },
      { sequences: 1, tokens: 2 },
      { epsilonHigh: 0.28, importanceSampling: 'sequence', backend },
    );
    const s = Math.exp((Math.fround(-1) - Math.fround(-1.5) + (Math.fround(-1) - Math.fround(-1.1))) / 2);
    expect(r.metrics.clipFracHigh).toBe(1);
    expect(Math.abs(r.metrics.meanRatio - s)).toBeLessThan(1e-15);
    expect(r.loss).toBeCloseTo(-1.28, 12);
    expect(Array.from(r.grad)).toEqual([0, 0]);
  });

  it('a masked policy term stays 0 where it would be infinite, and the KL still counts there', () => {
    // logp − logpOld = 800: ρ overflows to ∞; with A < 0 the unclipped term would be +∞.
    const r = policyLoss(
      {
        logp: Float32Array.of(-0.5, -0.5),
        logpOld: Float32Array.of(-800.5, -0.7),
        logpRef: Float32Array.of(-0.6, -0.6),
        advantages: Float32Array.of(-1),
        mask: Uint8Array.of(1, 1),
        policyMask: Uint8Array.of(0, 1),
      },
      { sequences: 1, tokens: 2 },
      { beta: 0.1, backend },
    );
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(Array.from(r.grad).every(Number.isFinite)).toBe(true);
  });

  it('SAPO with an infinite ratio gives a finite gradient (its limit, 0)', () => {
    const r = policyLoss(
      { logp: Float32Array.of(-0.5), logpOld: Float32Array.of(-900), advantages: Float32Array.of(1), mask: Uint8Array.of(1) },
      { sequences: 1, tokens: 1 },
      { surrogate: 'sapo', backend },
    );
    expect(r.grad[0]).toBe(0);
    expect(r.loss).toBeCloseTo(-4, 12);
  });
});

describe('policyLoss TRL-mode validation', () => {
  const ok = (): PolicyLossInputs => ({
    logp: new Float32Array(4),
    logpOld: new Float32Array(4),
    advantages: new Float32Array(2),
    mask: new Uint8Array(4),
  });
  const shape = { sequences: 2, tokens: 2 };
  it('names the option, the expectation and the received value', () => {
    expect(() => policyLoss(ok(), shape, { importanceSampling: 'seq' as 'sequence' })).toThrow(
      /gprl: invalid options\.importanceSampling: expected one of 'token', 'sequence'/,
    );
    expect(() => policyLoss(ok(), shape, { surrogate: 'gspo' as 'clip' })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { surrogate: 'cispo', dualClip: 3 })).toThrow(/options\.dualClip: expected undefined with surrogate 'cispo'/);
    expect(() => policyLoss(ok(), shape, { sapoTemperaturePos: 0 })).toThrow(/options\.sapoTemperaturePos: expected a finite number > 0, got 0/);
    expect(() => policyLoss(ok(), shape, { sapoTemperatureNeg: Number.NaN })).toThrow(RangeError);
    expect(() => policyLoss(ok(), shape, { numTokens: -1 })).toThrow(/options\.numTokens: expected a finite number > 0/);
    expect(() => policyLoss(ok(), shape, { numSequences: '2' as unknown as number })).toThrow(TypeError);
    expect(() => policyLoss({ ...ok(), policyMask: new Uint8Array(3) }, shape)).toThrow(/inputs\.policyMask/);
    expect(() => policyLoss({ ...ok(), policyMask: new Float32Array(4) as unknown as Uint8Array }, shape)).toThrow(TypeError);
  });
});

describe.runIf(BACKENDS.includes('cpu'))('policyLoss C++ paths: 4-wide AVX2 rows and the scalar loop agree', () => {
  it('on the default token-level clipped loss (every branch live, ragged rows, a non-finite token)', () => {
    // The child process computes with GPRL_NO_AVX2=1 (the scalar loop); this process uses the AVX2 rows
    // where the CPU has them. Same float64 formulas, exponentials within 2 ulp and row sums in another
    // order: loss 1e-12 relative, gradient 1e-6 relative (float32 output).
    const script = `
      import { policyLoss } from './src/kernels/policyLoss.ts';
      import { policyInputs } from './bench/policyLoss.bench.ts';
      const x = policyInputs(37, 45, 3);
      x.logp[100] = NaN;
      for (const kl of ['k1', 'k2', 'k3']) {
        const r = policyLoss(x, { sequences: 37, tokens: 45 }, { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 1.3, beta: 0.04, kl, backend: 'cpu' });
        console.log(JSON.stringify({ loss: r.loss, grad: Array.from(r.grad), m: r.metrics }));
      }`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, GPRL_NO_AVX2: '1' },
      encoding: 'utf8',
    });
    const scalar = out.trim().split('\n').map((l) => JSON.parse(l) as { loss: number; grad: number[]; m: Record<string, number> });
    ['k1', 'k2', 'k3'].forEach((kl, j) => {
      const x = policyInputsLocal();
      const r = policyLoss(x, { sequences: 37, tokens: 45 }, { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 1.3, beta: 0.04, kl: kl as 'k3', backend: 'cpu' });
      const s = scalar[j]!;
      expect(Math.abs(r.loss - s.loss)).toBeLessThanOrEqual(1e-12 * Math.abs(s.loss));
      expectClose(r.grad, s.grad, 1e-6, 0, `${kl} grad`);
      expect(r.metrics.validTokens).toBe(s.m.validTokens);
      expect(r.metrics.nonFinite).toBe(1);
      for (const k of ['clipFracLow', 'clipFracHigh', 'dualClipFrac'] as const) expect(r.metrics[k]).toBe(s.m[k]);
      expect(r.metrics.clipFracLow * r.metrics.clipFracHigh * r.metrics.dualClipFrac).toBeGreaterThan(0);
    });
  }, 60_000);
});

/** The same batch as the child's `policyInputs(37, 45, 3)` with the NaN at 100. */
function policyInputsLocal(): PolicyLossInputs {
  const x = benchInputs(37, 45, 3);
  x.logp[100] = Number.NaN;
  return x;
}
