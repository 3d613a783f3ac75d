/**
 * Fuzz, in two parts.
 *
 * Conformance: thousands of seeded random calls (random shapes, tiny ones included; magnitudes from
 * 1e-20 to 1e20; random masks, non-finite values, options and backends). Every call must not crash,
 * must never return a NaN advantage, and must agree with the float64 reference and with the
 * TypeScript path. Reference values are rounded to float32 (`Math.fround`) before comparing, because
 * outputs are float32: a score of 1e40 is stored as Infinity, one of 1e-40 as a denormal.
 *
 * Hostile: seeded random calls of all five kernels, sync and async, on every backend, with up to
 * three hostile arguments each (docs/kernels.md, "Arguments"): Proxies (live and revoked), detached
 * buffers, DataViews, resizable/growable buffers, wrong types and lengths, getters that change
 * their answer or throw, huge/fractional/NaN shapes, NaN/±Inf/denormal/huge values in every numeric
 * option, unknown keys. A call with a hostile argument the API must refuse has to fail with a
 * `gprl:` TypeError/RangeError naming that argument (thrown by a sync call, a rejection of an async
 * one); any other call has to succeed with finite advantages/loss/gradient, the same result as the
 * same call with plain arguments, and the TypeScript path's result on the other backends.
 *
 * GPRL_FUZZ_CALLS=N runs N calls in each part (default 2500 conformance, 20000 hostile); ≥ 1e5 for a
 * full run: `GPRL_FUZZ_CALLS=100000 npx vitest run test/kernels/fuzz.test.ts`. GPRL_FUZZ_SEED=S
 * (an integer) shifts both parts' seeds, for a different sequence of calls; a failure message
 * names the call, so `GPRL_FUZZ_SEED` plus the call number reproduce it.
 */
import { describe, expect, it } from 'vitest';
import {
  backendInfo,
  gprlAdvantages,
  gprlAdvantagesAsync,
  groupAdvantages,
  groupAdvantagesAsync,
  groupScores,
  groupScoresAsync,
  preferenceMatrix,
  preferenceMatrixAsync,
} from '../../src/kernels/index.js';
import { policyLoss, policyLossAsync, type PolicyLossResult } from '../../src/kernels/policyLoss.js';
import { Rng } from '../../src/random.js';
import type { AdvantageResult, Backend, GprlAdvantageOptions, GroupShape, ResolvedBackend } from '../../src/types.js';
import {
  RTOL,
  TOL_PROBABILITY,
  conditionedTolerance,
  expectClose,
  injectNonFinite,
  maxAbs,
  randomDimWeights,
  randomLambdas,
  randomMask,
  scoreErrorBounds,
  scoreTolerance,
  sizes,
  type ConditionedTolerance,
} from '../helpers.js';
import { refGprlAdvantages, refGroupAdvantages, refGroupScores, refPreferenceMatrix, type RefAdvantageResult } from '../reference.js';
import {
  dataViewOf,
  detachedCopy,
  flakyGetter,
  growableCopy,
  namedArgument,
  proxyOf,
  resizableCopy,
  revokedProxy,
  throwingGetter,
} from './hostileArgs.js';

/** `GPRL_FUZZ_CALLS`, when set: the number of calls of each part. */
function envCalls(): number | undefined {
  const raw = process.env.GPRL_FUZZ_CALLS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`GPRL_FUZZ_CALLS must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}
/** `GPRL_FUZZ_SEED`, when set: an integer added to both parts' fixed seeds (another sequence of calls). */
function envSeed(): number {
  const raw = process.env.GPRL_FUZZ_SEED;
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`GPRL_FUZZ_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}
const SEED = envSeed();
const CALLS = envCalls() ?? 2500;
const HOSTILE_CALLS = envCalls() ?? 20000;
/** Per-test timeout: the config's 120 s, or more for long runs (~2 ms a call, ×10 margin). */
const timeoutFor = (calls: number): number => Math.max(120_000, calls * 20);
const backends = backendInfo().available;
const f32 = (xs: number[]): number[] => xs.map(Math.fround);

function randomShape(rng: Rng): GroupShape {
  const tiny = rng.next() < 0.3;
  return {
    groups: tiny ? 1 + rng.int(2) : 1 + rng.int(6),
    groupSize: tiny ? 1 + rng.int(3) : 1 + rng.int(16),
    dims: tiny ? 1 + rng.int(2) : 1 + rng.int(8),
  };
}

/** Embeddings at one random magnitude, sometimes with a per-response spread of six decades. */
function randomEmbeddingsAnyScale(rng: Rng, shape: GroupShape): Float32Array {
  const scale = 10 ** rng.uniform(-20, 20);
  const mixed = rng.next() < 0.15;
  const row = 2 * shape.dims;
  const out = new Float32Array(sizes(shape).embeddings);
  for (let r = 0; r < out.length / row; r++) {
    const s = mixed ? scale * 10 ** rng.uniform(-3, 3) : scale;
    for (let c = 0; c < row; c++) out[r * row + c] = rng.normal(0, s);
  }
  return out;
}

function randomOptions(rng: Rng, shape: GroupShape): GprlAdvantageOptions {
  const o: GprlAdvantageOptions = {};
  if (rng.next() < 0.5) o.mode = rng.next() < 0.5 ? 'logit' : 'winrate';
  if (rng.next() < 0.5) o.tau = 10 ** rng.uniform(-3, 3);
  if (rng.next() < 0.5) o.mask = randomMask(rng, sizes(shape).responses, rng.uniform(0, 0.6));
  if (rng.next() < 0.5) o.lambdas = randomLambdas(rng, shape);
  if (rng.next() < 0.3) o.dimWeights = randomDimWeights(rng, shape.dims);
  if (rng.next() < 0.4) o.eps = [0, 1e-8, 1e-4, 0.1][rng.int(4)]!;
  if (rng.next() < 0.4) o.stdFloor = [0, 1e-6, 1e-2][rng.int(3)]!;
  if (rng.next() < 0.4) o.std = rng.next() < 0.5 ? 'unbiased' : 'biased';
  if (rng.next() < 0.6) o.normalize = (['per-dimension', 'scalar', 'gdpo'] as const)[rng.int(3)]!;
  return o;
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

interface Check {
  tol: ConditionedTolerance;
  /** Absolute tolerance of dimMean and dimStd. */
  statsAtol: number;
}

function checkFor(want: RefAdvantageResult, bounds: number[], shape: GroupShape, opts: GprlAdvantageOptions, mode: 'logit' | 'winrate'): Check {
  const stats = f32([...want.dimMean, ...want.dimStd]);
  return {
    tol: conditionedTolerance(want, bounds, shape, opts),
    statsAtol: Math.max(scoreTolerance(stats, mode).atol, 10 * Math.max(0, ...bounds)),
  };
}

let nearFloorCalls = 0;

function expectAdvantages(got: AdvantageResult, want: RefAdvantageResult, check: Check, label: string): void {
  expect(got.advantages.some(Number.isNaN), `${label}: NaN advantage`).toBe(false);
  expect(got.dimAdvantages.some(Number.isNaN), `${label}: NaN dimAdvantage`).toBe(false);
  expect(got.advantages.every(Number.isFinite), `${label}: non-finite advantage`).toBe(true);
  expect(got.masked, `${label} masked`).toBe(want.masked);
  if (check.tol.nearFloor) {
    // A std within rounding of stdFloor: degeneracy (and so the values) may differ legitimately.
    nearFloorCalls++;
    return;
  }
  expect(got.degenerate, `${label} degenerate`).toBe(want.degenerate);
  expectClose(got.advantages, want.advantages, { rtol: RTOL, atol: check.tol.advantages, label: `${label} advantages` });
  expectClose(got.dimAdvantages, want.dimAdvantages, { rtol: RTOL, atol: check.tol.dimAdvantages, label: `${label} dimAdvantages` });
  expectClose(got.dimMean, f32(want.dimMean), { rtol: RTOL, atol: check.statsAtol, label: `${label} dimMean` });
  expectClose(got.dimStd, f32(want.dimStd), { rtol: RTOL, atol: check.statsAtol, label: `${label} dimStd` });
}

/** The same outputs from two backends. */
function expectSameAdvantages(a: AdvantageResult, b: AdvantageResult, check: Check, label: string): void {
  expect(a.masked, label).toBe(b.masked);
  if (check.tol.nearFloor) return;
  expectClose(a.advantages, b.advantages, { rtol: RTOL, atol: check.tol.advantages, label: `${label} advantages` });
  expectClose(a.dimAdvantages, b.dimAdvantages, { rtol: RTOL, atol: check.tol.dimAdvantages, label: `${label} dimAdvantages` });
  expect(a.degenerate, label).toBe(b.degenerate);
}

describe('fuzz', () => {
  it(`${CALLS} random calls on ${backends.join(', ')} agree with the reference and with the TypeScript path`, async () => {
    const rng = new Rng(20260525 + SEED);
    const counts: Record<string, number> = {};
    for (let call = 0; call < CALLS; call++) {
      const shape = randomShape(rng);
      const backend: ResolvedBackend = pick(rng, backends);
      const kernel = pick(rng, ['gprlAdvantages', 'groupAdvantages', 'groupScores', 'preferenceMatrix'] as const);
      const label = `call ${call} ${kernel} [${backend}] B${shape.groups} G${shape.groupSize} k${shape.dims}`;
      counts[`${kernel}/${backend}`] = (counts[`${kernel}/${backend}`] ?? 0) + 1;
      const emb = randomEmbeddingsAnyScale(rng, shape);
      if (rng.next() < 0.3) injectNonFinite(rng, emb, 2 * shape.dims, 1 + rng.int(3));
      const opts = randomOptions(rng, shape);
      const on = (b: Backend) => ({ ...opts, backend: b });

      if (kernel === 'gprlAdvantages') {
        const got = rng.next() < 0.2 ? await gprlAdvantagesAsync(emb, shape, on(backend)) : gprlAdvantages(emb, shape, on(backend));
        const want = refGprlAdvantages(emb, shape, opts);
        const mode = opts.mode ?? 'logit';
        const wantScores = f32(want.scores);
        expectClose(got.scores, wantScores, { ...scoreTolerance(wantScores, mode), label: `${label} scores` });
        const check = checkFor(want, scoreErrorBounds(shape, { embeddings: emb, mode, mask: opts.mask }), shape, opts, mode);
        expectAdvantages(got, want, check, label);
        if (backend !== 'js') expectSameAdvantages(got, gprlAdvantages(emb, shape, on('js')), check, `${label} vs js`);
      } else if (kernel === 'groupAdvantages') {
        // Scores: the float32 rounding of reference scores (NaN for invalid responses).
        const scores = Float32Array.from(refGroupScores(emb, shape, opts));
        const { mode: _m, tau: _t, ...advOpts } = opts;
        const got = groupAdvantages(scores, shape, { ...advOpts, backend });
        const want = refGroupAdvantages(scores, shape, advOpts);
        const check = checkFor(want, scoreErrorBounds(shape, { scores, mask: opts.mask }), shape, opts, opts.mode ?? 'logit');
        expectAdvantages(got, want, check, label);
        if (backend !== 'js') {
          expectSameAdvantages(got, groupAdvantages(scores, shape, { ...advOpts, backend: 'js' }), check, `${label} vs js`);
        }
      } else if (kernel === 'groupScores') {
        const scoreOpts = { mode: opts.mode, tau: opts.tau, mask: opts.mask };
        const got = groupScores(emb, shape, { ...scoreOpts, backend });
        const want = f32(refGroupScores(emb, shape, scoreOpts));
        expectClose(got, want, { ...scoreTolerance(want, scoreOpts.mode), label });
      } else {
        const pmOpts = { lambdas: opts.lambdas, tau: opts.tau };
        const got = preferenceMatrix(emb, shape, { ...pmOpts, backend });
        expectClose(got, refPreferenceMatrix(emb, shape, pmOpts), { ...TOL_PROBABILITY, label });
      }
    }
    expect(Object.keys(counts).length).toBe(4 * backends.length);
    // Calls whose values could not be compared stay a small minority.
    expect(nearFloorCalls).toBeLessThan(CALLS / 20);
  }, timeoutFor(CALLS));
});

// ---------------------------------------------------------------------------------------------
// Hostile fuzz
// ---------------------------------------------------------------------------------------------

type Kernel = 'gprlAdvantages' | 'groupAdvantages' | 'groupScores' | 'preferenceMatrix' | 'policyLoss';
const KERNELS: readonly Kernel[] = ['gprlAdvantages', 'groupAdvantages', 'groupScores', 'preferenceMatrix', 'policyLoss'];

/** How an object argument is passed: as is, behind a Proxy, with its fields as prototype getters, or replaced. */
type BoxMode = 'plain' | 'proxy' | 'class' | 'revoked' | 'null' | 'array';
/** One field of an object argument: the value passed (possibly hostile) and the plain value it stands for. */
interface Slot {
  value: unknown;
  clean: unknown;
  getter?: 'flaky' | 'throws';
}
interface Box {
  name: string;
  slots: Map<string, Slot>;
  mode: BoxMode;
  extraKey?: string;
}

interface Model {
  kernel: Kernel;
  async: boolean;
  backend: ResolvedBackend;
  /** `embeddings` or `scores` (group kernels). */
  primary: (Slot & { name: string }) | null;
  shape: Box;
  /** The shape the arrays were made for (group kernels). */
  baseShape: GroupShape | null;
  /** The shape fields the arrays were made for (every kernel). */
  shapeBase: object;
  inputs: Box | null;
  options: Box;
  out: Box | null;
  /**
   * What the API must refuse: per hostile target (a later hostility on the same target replaces
   * the earlier one), the name prefixes one of which the error must give. Empty: must succeed.
   */
  refusals: Map<string, string[]>;
  applied: string[];
  /**
   * A legal option so large that the exact result exceeds float64/float32 (policy `beta` > 1e30:
   * the KL term overflows, and docs/policy-loss.md says nothing is clamped): the result must still
   * equal the plain call's and the TypeScript path's, but may hold ±Infinity.
   */
  mayOverflow: boolean;
  /**
   * A legal option that leaves only rounding noise to normalize (`tau` > 1e6 in winrate mode:
   * σ(s/τ) − ½ ≈ 1e-17, below float64's resolution at ½), so backends may disagree: the result is
   * still checked for finiteness and against the plain call, not against the TypeScript path.
   */
  noiseOnly: boolean;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** The documented domain of every numeric option (written from docs, independently of src/). */
const NUMBER_DOMAINS: Record<string, (v: unknown) => boolean> = {
  tau: (v) => isFiniteNumber(v) && v > 0,
  eps: (v) => isFiniteNumber(v) && v >= 0,
  stdFloor: (v) => isFiniteNumber(v) && v >= 0,
  epsilonLow: (v) => isFiniteNumber(v) && v >= 0 && v <= 1,
  epsilonHigh: (v) => isFiniteNumber(v) && v >= 0,
  dualClip: (v) => isFiniteNumber(v) && v > 1,
  beta: (v) => isFiniteNumber(v) && v >= 0,
  maxLength: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= 2 ** 40,
};
const STRING_DOMAINS: Record<string, readonly string[]> = {
  mode: ['logit', 'winrate'],
  std: ['unbiased', 'biased'],
  normalize: ['per-dimension', 'scalar', 'gdpo'],
  kl: ['k1', 'k2', 'k3'],
  aggregation: ['token-mean', 'sequence-mean', 'constant'],
};
const HOSTILE_NUMBERS: readonly unknown[] = [
  NaN, Infinity, -Infinity, -0, 0, 5e-324, -5e-324, 1e-45, 1e-300, 1e308, -1, 0.5, 1, 1 + 2 ** -52, 1.5, 3, 2 ** 31,
  2 ** 53 - 1, 2 ** 53, '0.1', null, true, 10n, {},
];
const HOSTILE_STRINGS: readonly unknown[] = ['bogus', '', 'Logit', 1, null, NaN, {}];

const NUMBER_OPTIONS: Record<Kernel, string[]> = {
  gprlAdvantages: ['tau', 'eps', 'stdFloor'],
  groupAdvantages: ['eps', 'stdFloor'],
  groupScores: ['tau'],
  preferenceMatrix: ['tau'],
  policyLoss: ['epsilonLow', 'epsilonHigh', 'dualClip', 'beta', 'maxLength'],
};
const STRING_OPTIONS: Record<Kernel, string[]> = {
  gprlAdvantages: ['mode', 'std', 'normalize'],
  groupAdvantages: ['std', 'normalize'],
  groupScores: ['mode'],
  preferenceMatrix: [],
  policyLoss: ['kl', 'aggregation'],
};

function slot(value: unknown): Slot {
  return { value, clean: value };
}

/** Give option `key` the value `value` (keeping any getter hostility on it). */
function setOption(m: Model, key: string, value: unknown): void {
  const s = m.options.slots.get(key);
  if (s) {
    s.value = value;
    s.clean = value;
  } else {
    m.options.slots.set(key, slot(value));
  }
}

function box(name: string, fields: Record<string, unknown>): Box {
  const slots = new Map<string, Slot>();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) slots.set(k, slot(v));
  return { name, slots, mode: 'plain' };
}

/** Small, well-conditioned data, sometimes with non-finite and denormal entries (all legal). */
function hostileData(rng: Rng, n: number, make: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = make();
  if (rng.next() < 0.2) out[rng.int(n)] = pick(rng, [NaN, Infinity, -Infinity]);
  if (rng.next() < 0.2) out[rng.int(n)] = pick(rng, [1e-45, -1e-45, 1e-40, 0, -0]);
  return out;
}

function cleanModel(rng: Rng): Model {
  const kernel = pick(rng, KERNELS);
  const m: Model = {
    kernel,
    async: rng.next() < 0.3,
    backend: pick(rng, backends),
    primary: null,
    shape: box('shape', {}),
    baseShape: null,
    shapeBase: {},
    inputs: null,
    options: box('options', {}),
    out: null,
    refusals: new Map(),
    applied: [],
    mayOverflow: false,
    noiseOnly: false,
  };
  const opt = (key: string, value: unknown, p = 0.5): void => {
    if (rng.next() < p) m.options.slots.set(key, slot(value));
  };
  if (kernel === 'policyLoss') {
    const N = 1 + rng.int(4);
    const T = 1 + rng.int(6);
    m.shape = box('shape', { sequences: N, tokens: T });
    m.shapeBase = { sequences: N, tokens: T };
    const logp = hostileData(rng, N * T, () => -rng.uniform(0, 5));
    const logpOld = Float32Array.from(logp, (v) => v + rng.normal(0, 0.3));
    const logpRef = Float32Array.from(logp, (v) => v + rng.normal(0, 0.3));
    const advantages = hostileData(rng, N, () => rng.normal());
    m.inputs = box('inputs', { logp, logpOld, logpRef, advantages, mask: randomMask(rng, N * T, 0.2) });
    opt('epsilonLow', rng.uniform(0, 0.4));
    opt('epsilonHigh', rng.uniform(0, 0.4));
    opt('dualClip', rng.uniform(1.5, 5), 0.3);
    opt('beta', rng.uniform(0, 0.2), 0.4);
    opt('kl', pick(rng, STRING_DOMAINS.kl!), 0.4);
    opt('aggregation', pick(rng, STRING_DOMAINS.aggregation!), 0.5);
    opt('maxLength', T + rng.int(4), 0.3);
  } else {
    const shape = { groups: 1 + rng.int(4), groupSize: 1 + rng.int(8), dims: 1 + rng.int(4) };
    m.shape = box('shape', shape);
    m.baseShape = shape;
    m.shapeBase = shape;
    const n = sizes(shape);
    m.primary =
      kernel === 'groupAdvantages'
        ? { name: 'scores', ...slot(hostileData(rng, n.scores, () => rng.normal())) }
        : { name: 'embeddings', ...slot(hostileData(rng, n.embeddings, () => rng.normal())) };
    if (kernel !== 'groupAdvantages' && kernel !== 'preferenceMatrix') opt('mode', pick(rng, STRING_DOMAINS.mode!));
    if (kernel !== 'groupAdvantages') opt('tau', 10 ** rng.uniform(-2, 1));
    if (kernel !== 'preferenceMatrix') opt('mask', randomMask(rng, n.responses, 0.3), 0.4);
    if (kernel !== 'groupScores') opt('lambdas', randomLambdas(rng, shape), 0.4);
    if (kernel === 'gprlAdvantages' || kernel === 'groupAdvantages') {
      opt('dimWeights', randomDimWeights(rng, shape.dims), 0.3);
      opt('eps', pick(rng, [0, 1e-8, 1e-4, 0.1]), 0.3);
      opt('stdFloor', pick(rng, [0, 1e-6, 1e-3]), 0.3);
      opt('std', pick(rng, STRING_DOMAINS.std!), 0.3);
      opt('normalize', pick(rng, STRING_DOMAINS.normalize!), 0.5);
      if (rng.next() < 0.4) {
        const { groups: B, groupSize: G, dims: k } = shape;
        const all: Record<string, number> = { advantages: B * G, dimAdvantages: B * G * k, dimMean: B * k, dimStd: B * k };
        if (kernel === 'gprlAdvantages') all.scores = B * G * k;
        const fields: Record<string, unknown> = {};
        for (const [key, len] of Object.entries(all)) if (rng.next() < 0.6) fields[key] = new Float32Array(len).fill(NaN);
        m.out = box('options.out', fields);
      }
    }
  }
  m.options.slots.set('backend', slot(m.backend));
  return m;
}

/** Every array argument of the call: [full name, its slot]. */
function arraySlots(m: Model): [string, Slot][] {
  const out: [string, Slot][] = [];
  if (m.primary) out.push([m.primary.name, m.primary]);
  for (const b of [m.inputs, m.options, m.out]) {
    if (!b) continue;
    for (const [key, s] of b.slots) if (ArrayBuffer.isView(s.clean)) out.push([`${b.name}.${key}`, s]);
  }
  return out;
}

class F32Sub extends Float32Array {}

/** Replace an array argument by a hostile look-alike; returns whether the API must refuse it. */
function hostileArray(rng: Rng, m: Model, s: Slot, label: (what: string) => void): boolean {
  const arr = s.clean as Float32Array | Uint8Array;
  const isMask = arr instanceof Uint8Array;
  const variant = pick(rng, [
    'proxy', 'revoked', 'detached', 'dataview', 'dataview-detached', 'other-type', 'short', 'long', 'plain-array',
    'resizable', 'length-tracking', 'growable', 'subclass',
  ] as const);
  label(variant);
  switch (variant) {
    case 'proxy':
      s.value = proxyOf(arr.slice());
      return true;
    case 'revoked':
      s.value = revokedProxy(arr.slice());
      return true;
    case 'detached':
      s.value = detachedCopy(arr);
      return true;
    case 'dataview':
      s.value = dataViewOf(arr);
      return true;
    case 'dataview-detached':
      s.value = dataViewOf(arr, true);
      return true;
    case 'other-type':
      s.value = isMask ? new Int8Array(arr.length) : Float64Array.from(arr);
      return true;
    case 'short':
      s.value = arr.slice(0, arr.length - 1);
      return true;
    case 'long': {
      const longer = new (isMask ? Uint8Array : Float32Array)(arr.length + 1);
      longer.set(arr);
      s.value = longer;
      return true;
    }
    case 'plain-array':
      s.value = Array.from(arr);
      return true;
    case 'resizable':
      s.value = resizableCopy(arr);
      return m.async;
    case 'length-tracking':
      s.value = resizableCopy(arr, true);
      return m.async;
    case 'growable':
      s.value = growableCopy(arr);
      return m.async;
    case 'subclass':
      s.value = isMask ? Buffer.from(arr) : F32Sub.from(arr);
      return false;
  }
}

/** λ and m as the validation must see them: finite, ≥ 0, positive sums, positive m·λ per group. */
function weightsValid(lambdas: unknown, dimWeights: unknown, shape: GroupShape): boolean {
  const { groups: B, dims: k } = shape;
  const lam = lambdas as Float32Array | undefined;
  const dw = dimWeights as Float32Array | undefined;
  for (const a of [lam, dw]) if (a && !Array.from(a).every((v) => Number.isFinite(v) && v >= 0)) return false;
  if (dw && !(Array.from(dw).reduce((x, y) => x + y, 0) > 0)) return false;
  for (let b = 0; b < B && lam; b++) {
    let sum = 0;
    let overlap = 0;
    for (let l = 0; l < k; l++) {
      sum += lam[b * k + l]!;
      overlap += (dw ? dw[l]! : 1) * lam[b * k + l]!;
    }
    if (!(sum > 0) || !(overlap > 0)) return false;
  }
  return true;
}

/** Apply one random hostility to `m` (recording, when the API must refuse it, the names it may give). */
function applyHostility(rng: Rng, m: Model): void {
  const label = (what: string): void => {
    m.applied.push(what);
  };
  /** Set what target `id` makes the API refuse (no names: nothing). */
  const refuse = (id: string, ...names: string[]): void => {
    if (names.length > 0) m.refusals.set(id, names);
    else m.refusals.delete(id);
  };
  const kind = pick(rng, ['array', 'array', 'array', 'number', 'number', 'string', 'getter', 'container', 'shape', 'entries'] as const);
  if (kind === 'array') {
    const arrays = arraySlots(m);
    const [name, s] = pick(rng, arrays);
    refuse(`value:${name}`, ...(hostileArray(rng, m, s, (v) => label(`${name}=${v}`)) ? [name] : []));
  } else if (kind === 'number') {
    const key = pick(rng, NUMBER_OPTIONS[m.kernel]);
    const value = pick(rng, HOSTILE_NUMBERS);
    label(`options.${key}=${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value)}`);
    setOption(m, key, value);
    refuse(`value:options.${key}`, ...(NUMBER_DOMAINS[key]!(value) ? [] : [`options.${key}`]));
    if (key === 'beta' && typeof value === 'number' && value > 1e30) m.mayOverflow = true;
    if (key === 'tau' && m.kernel === 'gprlAdvantages' && typeof value === 'number' && value > 1e6) m.noiseOnly = true;
  } else if (kind === 'string') {
    const keys = [...STRING_OPTIONS[m.kernel], 'backend'];
    const key = pick(rng, keys);
    const value = pick(rng, key === 'backend' ? ['gpu', 'auto ', 1, null] : [...HOSTILE_STRINGS, ...STRING_DOMAINS[key]!]);
    label(`options.${key}=${String(value)}`);
    setOption(m, key, value);
    const valid = key !== 'backend' && typeof value === 'string' && STRING_DOMAINS[key]!.includes(value);
    refuse(`value:options.${key}`, ...(valid ? [] : [`options.${key}`]));
  } else if (kind === 'getter') {
    const boxes = [m.shape, m.options, m.inputs, m.out].filter((b): b is Box => b !== null && b.slots.size > 0);
    const b = pick(rng, boxes);
    const key = pick(rng, [...b.slots.keys()]);
    const s = b.slots.get(key)!;
    if (rng.next() < 0.7) {
      s.getter = 'flaky';
      label(`${b.name}.${key}=flaky getter`);
      refuse(`getter:${b.name}.${key}`);
    } else {
      s.getter = 'throws';
      label(`${b.name}.${key}=throwing getter`);
      refuse(`getter:${b.name}.${key}`, `${b.name}.${key}`);
    }
  } else if (kind === 'container') {
    const boxes = [m.shape, m.options, m.inputs, m.out].filter((b): b is Box => b !== null);
    const b = pick(rng, boxes);
    const mode = pick(rng, ['proxy', 'class', 'revoked', 'null', 'array', 'extra-key'] as const);
    label(`${b.name}=${mode}`);
    if (mode === 'extra-key') {
      b.extraKey = pick(rng, ['tua', 'Backend', 'lambda', 'logpref', 'scoresOut']);
      refuse(`extra:${b.name}`, ...(b.name === 'shape' ? [] : [`${b.name}.${b.extraKey}`]));
    } else {
      b.mode = mode;
      refuse(`box:${b.name}`, ...(mode === 'revoked' || mode === 'null' || mode === 'array' ? [b.name] : []));
    }
  } else if (kind === 'shape') {
    const key = pick(rng, [...m.shape.slots.keys()]);
    const s = m.shape.slots.get(key)!;
    const value = pick(rng, [1.5, 0, -0, -1, NaN, Infinity, '2', null, 5e-324, 2 ** 20, 2 ** 31, 2 ** 53, 1e300, 1, 2]);
    label(`shape.${key}=${String(value)}`);
    const before = (m.shapeBase as Record<string, unknown>)[key];
    s.value = value;
    s.clean = value;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) {
      // A legal shape entry: refused when it no longer matches the arrays (or exceeds a limit).
      refuse(`value:shape.${key}`, ...(value !== before ? ['shape', 'embeddings', 'scores', 'inputs', 'options'] : []));
    } else {
      refuse(`value:shape.${key}`, `shape.${key}`);
    }
  } else {
    const target = pick(rng, ['lambdas', 'dimWeights'] as const);
    const s = m.options.slots.get(target);
    if (!s || m.kernel === 'policyLoss') return;
    const arr = (s.clean as Float32Array).slice();
    arr[rng.int(arr.length)] = pick(rng, [NaN, Infinity, -1, 0, 1e-45, 3e38]);
    if (rng.next() < 0.3) arr.fill(pick(rng, [0, 1e-45]));
    s.value = arr;
    s.clean = arr;
    label(`options.${target}=${Array.from(arr).join(',')}`);
    const shape = m.baseShape!;
    refuse(`value:options.${target}`); // replaces any earlier hostile look-alike of this array
    const valid = weightsValid(m.options.slots.get('lambdas')?.clean, m.options.slots.get('dimWeights')?.clean, shape);
    refuse('weights', ...(valid ? [] : ['options.lambdas', 'options.dimWeights']));
  }
}

const LATER: Record<string, unknown> = { number: NaN, string: 'bogus', object: new Float32Array(1) };

/** Build the object argument of `b` (hostile as modelled, or `clean`: a plain object of plain values). */
function materialize(b: Box, clean: boolean, nested?: Record<string, unknown>): unknown {
  const fields = new Map([...b.slots].map(([k, s]) => [k, { ...s }]));
  if (nested) for (const [k, v] of Object.entries(nested)) fields.set(k, { value: v, clean: v });
  if (clean) {
    const out: Record<string, unknown> = {};
    for (const [k, s] of fields) out[k] = s.clean;
    return out;
  }
  if (b.mode === 'null') return null;
  if (b.mode === 'array') return [...fields.values()].map((s) => s.value);
  const target: Record<string, unknown> = b.mode === 'class' ? Object.create({}) : {};
  const holder = b.mode === 'class' ? (Object.getPrototypeOf(target) as object) : target;
  for (const [k, s] of fields) {
    if (s.getter === 'flaky') flakyGetter(holder, k, s.value, LATER[typeof s.value] ?? NaN);
    else if (s.getter === 'throws') throwingGetter(holder, k);
    else Object.defineProperty(holder, k, { value: s.value, enumerable: true, writable: true, configurable: true });
  }
  if (b.extraKey !== undefined) target[b.extraKey] = 1;
  if (b.mode === 'proxy') return proxyOf(target);
  if (b.mode === 'revoked') return revokedProxy(target);
  return target;
}

type AnyResult = Float32Array | AdvantageResult | PolicyLossResult;

/** Run the call of `m` (hostile, or `clean` on `backend`); sync calls return the value, async ones the promise. */
function invoke(m: Model, clean: boolean, backend?: ResolvedBackend): AnyResult | Promise<AnyResult> {
  const out = m.out ? materialize(m.out, clean) : undefined;
  const options = materialize(m.options, clean, {
    ...(out !== undefined ? { out: clean ? freshOut(m.out!) : out } : {}),
    ...(backend ? { backend } : {}),
  }) as never;
  const shape = materialize(m.shape, clean) as never;
  const primary = (clean ? m.primary?.clean : m.primary?.value) as never;
  const async = clean ? false : m.async;
  switch (m.kernel) {
    case 'gprlAdvantages':
      return async ? gprlAdvantagesAsync(primary, shape, options) : gprlAdvantages(primary, shape, options);
    case 'groupAdvantages':
      return async ? groupAdvantagesAsync(primary, shape, options) : groupAdvantages(primary, shape, options);
    case 'groupScores':
      return async ? groupScoresAsync(primary, shape, options) : groupScores(primary, shape, options);
    case 'preferenceMatrix':
      return async ? preferenceMatrixAsync(primary, shape, options) : preferenceMatrix(primary, shape, options);
    case 'policyLoss': {
      const inputs = materialize(m.inputs!, clean) as never;
      return async ? policyLossAsync(inputs, shape, options) : policyLoss(inputs, shape, options);
    }
  }
}

/** Fresh output arrays of the same lengths (the clean twin must not share the hostile call's outputs). */
function freshOut(b: Box): Record<string, Float32Array> {
  return Object.fromEntries([...b.slots].map(([k, s]) => [k, new Float32Array((s.clean as Float32Array).length)]));
}

/** Numbers of a result, exactly (NaN-safe), without the backend name. */
function digest(r: AnyResult): string {
  return JSON.stringify(r, (key, value: unknown) =>
    key === 'backend' ? undefined : ArrayBuffer.isView(value) ? Array.from(value as Float32Array, String) : typeof value === 'number' ? String(value) : value,
  );
}

function expectFiniteResult(m: Model, r: AnyResult, label: string): void {
  if (m.kernel === 'policyLoss') {
    const p = r as PolicyLossResult;
    expect(Number.isFinite(p.loss), `${label}: loss ${p.loss}`).toBe(true);
    expect(p.grad.every(Number.isFinite), `${label}: non-finite gradient`).toBe(true);
    expect(Object.values(p.metrics).every(Number.isFinite), `${label}: non-finite metric`).toBe(true);
    expect(p.backend, label).toBe(m.backend);
  } else if (m.kernel === 'groupScores') {
    expect((r as Float32Array).every((v) => Number.isNaN(v) || Number.isFinite(v)), `${label}: infinite score`).toBe(true);
  } else if (m.kernel === 'preferenceMatrix') {
    expect((r as Float32Array).every((v) => Number.isNaN(v) || (v >= 0 && v <= 1)), `${label}: probability out of [0, 1]`).toBe(true);
  } else {
    const a = r as AdvantageResult;
    expect(a.advantages.every(Number.isFinite), `${label}: non-finite advantage`).toBe(true);
    expect(a.dimAdvantages.every(Number.isFinite), `${label}: non-finite dimAdvantage`).toBe(true);
    expect(a.backend, label).toBe(m.backend);
  }
}

/** The clean call on `m.backend` against the TypeScript path. */
function expectSameAsJs(m: Model, got: AnyResult, label: string): void {
  const js = invoke(m, true, 'js') as AnyResult;
  if (m.kernel === 'policyLoss') {
    const a = got as PolicyLossResult;
    const b = js as PolicyLossResult;
    expect(Math.abs(a.loss - b.loss) <= 1e-9 * Math.abs(b.loss) + 1e-300, `${label}: loss ${a.loss} vs js ${b.loss}`).toBe(true);
    expectClose(a.grad, b.grad, { rtol: 1e-6, atol: 1e-12 * Math.max(1e-30, maxAbs(b.grad)), label: `${label} grad vs js` });
    expect(a.metrics.validTokens, label).toBe(b.metrics.validTokens);
    expect(a.metrics.nonFinite, label).toBe(b.metrics.nonFinite);
  } else if (m.kernel === 'groupScores') {
    const want = js as Float32Array;
    expectClose(got as Float32Array, want, { ...scoreTolerance(want, 'winrate'), label: `${label} vs js` });
  } else if (m.kernel === 'preferenceMatrix') {
    expectClose(got as Float32Array, js as Float32Array, { ...TOL_PROBABILITY, label: `${label} vs js` });
  } else {
    const a = got as AdvantageResult;
    const b = js as AdvantageResult;
    expect(a.masked, label).toBe(b.masked);
    expect(a.degenerate, label).toBe(b.degenerate);
    expectClose(a.advantages, b.advantages, { rtol: RTOL, atol: 1e-5, label: `${label} advantages vs js` });
    expectClose(a.dimAdvantages, b.dimAdvantages, { rtol: RTOL, atol: 1e-5, label: `${label} dimAdvantages vs js` });
  }
}

function expectNamedRejection(m: Model, err: unknown, label: string): void {
  const named = namedArgument(err);
  expect(named, `${label}: ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`).not.toBeNull();
  const names = [...m.refusals.values()].flat();
  const ok = names.some((n) => named === n || named!.startsWith(`${n}.`) || named!.startsWith(`${n}[`) || named!.startsWith(`${n} `) || named!.startsWith(`${n}·`));
  expect(ok, `${label}: the error names ${named}, expected one of ${names.join(', ')}`).toBe(true);
}

describe('hostile fuzz', () => {
  it(`${HOSTILE_CALLS} calls with hostile arguments: named gprl errors or finite results equal to the plain call's`, async () => {
    const rng = new Rng(20260601 + SEED);
    const tally = { rejected: 0, accepted: 0, async: 0, hostile: 0 };
    for (let call = 0; call < HOSTILE_CALLS; call++) {
      const m = cleanModel(rng);
      const n = rng.next() < 0.15 ? 0 : 1 + rng.int(3);
      for (let h = 0; h < n; h++) applyHostility(rng, m);
      const label = `hostile call ${call} ${m.kernel}${m.async ? 'Async' : ''} [${m.backend}] ${m.applied.join('; ') || 'plain'}`;
      if (m.async) tally.async++;
      if (m.applied.length > 0) tally.hostile++;
      let result: AnyResult | undefined;
      let error: unknown;
      let threwSync = false;
      try {
        const r = invoke(m, false);
        result = m.async ? await (r as Promise<AnyResult>) : (r as AnyResult);
      } catch (err) {
        error = err;
        threwSync = !m.async;
      }
      if (m.refusals.size > 0) {
        expect(error, `${label}: accepted`).toBeDefined();
        expectNamedRejection(m, error, label);
        if (!m.async) expect(threwSync, label).toBe(true);
        tally.rejected++;
        continue;
      }
      if (error !== undefined) {
        throw new Error(`${label}: rejected a legal call: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      tally.accepted++;
      if (!m.mayOverflow) expectFiniteResult(m, result!, label);
      // The hostile-but-legal arguments stand for plain values: bit-for-bit the plain call's result.
      expect(digest(result!), `${label}: differs from the plain call`).toBe(digest(invoke(m, true) as AnyResult));
      if (m.backend !== 'js' && !m.noiseOnly) expectSameAsJs(m, result!, label);
    }
    // Both outcomes and both call styles are well represented.
    expect(tally.rejected).toBeGreaterThan(HOSTILE_CALLS / 5);
    expect(tally.accepted).toBeGreaterThan(HOSTILE_CALLS / 5);
    expect(tally.async).toBeGreaterThan(HOSTILE_CALLS / 5);
  }, timeoutFor(HOSTILE_CALLS));
});
