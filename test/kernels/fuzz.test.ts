/**
 * Fuzz: thousands of seeded random calls (random shapes, tiny ones included; magnitudes from 1e-20
 * to 1e20; random masks, non-finite values, options and backends). Every call must not crash, must
 * never return a NaN advantage, and must agree with the float64 reference and with the TypeScript
 * path. Reference values are rounded to float32 (`Math.fround`) before comparing, because outputs
 * are float32: a score of 1e40 is stored as Infinity, one of 1e-40 as a denormal.
 */
import { describe, expect, it } from 'vitest';
import {
  backendInfo,
  gprlAdvantages,
  gprlAdvantagesAsync,
  groupAdvantages,
  groupScores,
  preferenceMatrix,
} from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { AdvantageResult, Backend, GprlAdvantageOptions, GroupShape, ResolvedBackend } from '../../src/types.js';
import {
  RTOL,
  TOL_PROBABILITY,
  conditionedTolerance,
  expectClose,
  injectNonFinite,
  randomDimWeights,
  randomLambdas,
  randomMask,
  scoreErrorBounds,
  scoreTolerance,
  sizes,
  type ConditionedTolerance,
} from '../helpers.js';
import { refGprlAdvantages, refGroupAdvantages, refGroupScores, refPreferenceMatrix, type RefAdvantageResult } from '../reference.js';

const CALLS = 2500;
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
    const rng = new Rng(20260525);
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
  });
});
