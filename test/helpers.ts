/**
 * Test helpers: seeded input generators and a comparison that prints the first mismatches.
 *
 * Tolerances (float32 outputs against the float64 reference): an entry passes when
 * `|got − want| ≤ atol + rtol·|want|`. Every kernel accumulates in float64 and rounds to float32
 * only when storing, so a correct output differs from the reference by about one float32 rounding
 * (half an ulp, 6e-8 relative) plus float64 summation-order noise (~1e-15 relative). We allow
 * rtol = 1e-5 (the project's float32 budget: headroom for a backend that stores an intermediate such
 * as ŝ in float32 before normalizing) and an atol tied to each output's natural scale, because some
 * exact values are 0 (logit-mode means, the advantage of a median response) where a relative test
 * means nothing and cancellation leaves residues of (float64 ε)·(the magnitudes that cancelled):
 *   - scores and their means/stds: atol = 1e-6 × the largest |ŝ| of the case (logit scores are
 *     differences of products a·b̄ − b·ā, so their rounding scales with that magnitude);
 *   - normalized advantages: values are z-scores of size O(1) (|Â| ≤ √G); atol = 1e-5. The division
 *     by σ amplifies any error in ŝ by |ŝ|/σ, so test inputs keep σ comparable to |ŝ| (normal
 *     embeddings; winrate τ not far above the pair-score scale), where that amplification is ≤ ~10;
 *   - probabilities (preference matrix): in [0, 1], atol = 1e-6.
 * NaN must match NaN and ±Infinity must match exactly.
 */
import { expect } from 'vitest';
import { Rng } from '../src/random.js';
import type { AdvantageResult, GroupShape } from '../src/types.js';
import type { RefAdvantageResult } from './reference.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Relative budget shared by every comparison (see above). */
export const RTOL = 1e-5;
/** Advantages and normalized per-dimension advantages (z-scores, O(1)). */
export const TOL_ADVANTAGE: Tolerance = { rtol: RTOL, atol: 1e-5 };
/** Probabilities in [0, 1]. */
export const TOL_PROBABILITY: Tolerance = { rtol: RTOL, atol: 1e-6 };

/**
 * Tolerance for score-valued outputs (ŝ, their means and stds), scaled by the largest finite |value|,
 * or by ½ for win rates (bounded by ½, and computed as a mean of probabilities minus ½, so their
 * rounding is absolute). Never below two float32 denormal steps (outputs may underflow).
 */
export function scoreTolerance(want: ArrayLike<number>, mode: 'logit' | 'winrate' = 'logit'): Tolerance {
  const scale = mode === 'winrate' ? Math.max(maxAbs(want), 0.5) : maxAbs(want);
  return { rtol: RTOL, atol: Math.max(1e-6 * scale, 2 ** -148) };
}

export function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) {
    const v = Math.abs(Number(xs[i]));
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

/**
 * Assert `got ≈ want` elementwise; on failure the message lists the first mismatches
 * (index, got, want, |diff|, allowed) and how many there are in all.
 */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  opts: Partial<Tolerance> & { label?: string } = {},
): void {
  const rtol = opts.rtol ?? RTOL;
  const atol = opts.atol ?? 0;
  const label = opts.label ?? 'values';
  if (got.length !== want.length) throw new Error(`${label}: length ${got.length}, expected ${want.length}`);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < got.length; i++) {
    const g = Number(got[i]);
    const w = Number(want[i]);
    let ok: boolean;
    if (Number.isNaN(w) || Number.isNaN(g)) ok = Number.isNaN(w) && Number.isNaN(g);
    else if (!Number.isFinite(w) || !Number.isFinite(g)) ok = g === w;
    else ok = Math.abs(g - w) <= atol + rtol * Math.abs(w);
    if (!ok) {
      count++;
      if (bad.length < 10) {
        const allowed = atol + rtol * Math.abs(w);
        bad.push(`  [${i}] got ${g}, want ${w}, |diff| ${Math.abs(g - w).toExponential(3)}, allowed ${allowed.toExponential(3)}`);
      }
    }
  }
  if (count > 0) {
    throw new Error(`${label}: ${count} of ${got.length} mismatched (rtol ${rtol}, atol ${atol}); first:\n${bad.join('\n')}`);
  }
}

/** Shape element counts. */
export function sizes(shape: GroupShape): { responses: number; scores: number; embeddings: number; perGroup: number } {
  const { groups: B, groupSize: G, dims: k } = shape;
  return { responses: B * G, scores: B * G * k, embeddings: B * G * 2 * k, perGroup: B * k };
}

/** Standard-normal embeddings `[B][G][2k]` times `scale`. */
export function randomEmbeddings(rng: Rng, shape: GroupShape, scale = 1): Float32Array {
  return rng.normalArray(sizes(shape).embeddings, 0, scale);
}

/** Scores `[B][G][k]`: normal with a per-group, per-dimension offset and spread. */
export function randomScores(rng: Rng, shape: GroupShape): Float32Array {
  const { groups: B, groupSize: G, dims: k } = shape;
  const out = new Float32Array(B * G * k);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < k; l++) {
      const offset = rng.normal(0, 2);
      const spread = Math.exp(rng.uniform(-2, 2));
      for (let i = 0; i < G; i++) out[(b * G + i) * k + l] = offset + spread * rng.normal();
    }
  }
  return out;
}

/** Mask of `n` responses with each one masked with probability `p`. */
export function randomMask(rng: Rng, n: number, p = 0.2): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = rng.next() < p ? 0 : 1 + rng.int(255);
  return m;
}

/** Mask out every response of group `b`. */
export function maskGroup(mask: Uint8Array, shape: GroupShape, b: number): Uint8Array {
  mask.fill(0, b * shape.groupSize, (b + 1) * shape.groupSize);
  return mask;
}

/** Leave only `keep` valid responses in group `b` (the first ones). */
export function keepFirst(mask: Uint8Array, shape: GroupShape, b: number, keep: number): Uint8Array {
  for (let i = 0; i < shape.groupSize; i++) mask[b * shape.groupSize + i] = i < keep ? 1 : 0;
  return mask;
}

const NON_FINITE = [NaN, Infinity, -Infinity];

/**
 * Put NaN/+Inf/−Inf into `count` random entries of `values`, whose rows are `rowLength` long;
 * returns the set of affected rows (responses).
 */
export function injectNonFinite(rng: Rng, values: Float32Array, rowLength: number, count: number): Set<number> {
  const rows = new Set<number>();
  for (let t = 0; t < count; t++) {
    const idx = rng.int(values.length);
    values[idx] = NON_FINITE[t % 3]!;
    rows.add(Math.floor(idx / rowLength));
  }
  return rows;
}

/**
 * Make dimension `l` of group `b` degenerate, i.e. every pair score s_l(i, j) exactly 0, so its
 * std is exactly 0 on every backend: `'identical'` copies response 0's (a_l, b_l) to every response,
 * `'zero-a'` sets every a_l to 0, `'zero'` sets both to 0.
 */
export function makeDegenerate(
  emb: Float32Array,
  shape: GroupShape,
  b: number,
  l: number,
  kind: 'identical' | 'zero-a' | 'zero' = 'identical',
): Float32Array {
  const { groupSize: G, dims: k } = shape;
  const first = (b * G) * 2 * k + 2 * l;
  const a0 = emb[first]!;
  const b0 = emb[first + 1]!;
  for (let i = 0; i < G; i++) {
    const o = (b * G + i) * 2 * k + 2 * l;
    if (kind === 'identical') {
      emb[o] = a0;
      emb[o + 1] = b0;
    } else if (kind === 'zero-a') {
      emb[o] = 0;
    } else {
      emb[o] = 0;
      emb[o + 1] = 0;
    }
  }
  return emb;
}

/** λ `[B][k]`: positive uniform values, with a dimension zeroed now and then (keeping a positive sum). */
export function randomLambdas(rng: Rng, shape: GroupShape): Float32Array {
  const { groups: B, dims: k } = shape;
  const out = new Float32Array(B * k);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < k; l++) out[b * k + l] = rng.uniform(0.05, 1);
    if (k > 1 && rng.next() < 0.3) out[b * k + rng.int(k)] = 0;
  }
  return out;
}

/** m `[k]`: positive values around 1. */
export function randomDimWeights(rng: Rng, k: number): Float32Array {
  const out = new Float32Array(k);
  for (let l = 0; l < k; l++) out[l] = rng.uniform(0.2, 3);
  return out;
}

/** The shapes every kernel is swept over (design §4): G ∈ {1, 2, 3, 7, 64}, k ∈ {1, 3, 8}, B ∈ {1, 3, 5}. */
export function shapeGrid(): GroupShape[] {
  const out: GroupShape[] = [];
  for (const groupSize of [1, 2, 3, 7, 64]) {
    for (const dims of [1, 3, 8]) {
      for (const groups of [1, groupSize === 64 ? 3 : 5]) out.push({ groups, groupSize, dims });
    }
  }
  return out;
}

export const shapeName = (s: GroupShape): string => `B${s.groups} G${s.groupSize} k${s.dims}`;

/** Compare every output and both counts with the reference. */
export function expectAdvantagesMatch(got: AdvantageResult, want: RefAdvantageResult, label: string): void {
  expectClose(got.advantages, want.advantages, { ...TOL_ADVANTAGE, label: `${label} advantages` });
  expectClose(got.dimAdvantages, want.dimAdvantages, { ...TOL_ADVANTAGE, label: `${label} dimAdvantages` });
  const scale = scoreTolerance([...want.dimMean, ...want.dimStd]);
  expectClose(got.dimMean, want.dimMean, { ...scale, label: `${label} dimMean` });
  expectClose(got.dimStd, want.dimStd, { ...scale, label: `${label} dimStd` });
  expect(got.masked, `${label} masked`).toBe(want.masked);
  expect(got.degenerate, `${label} degenerate`).toBe(want.degenerate);
  expect(got.advantages.some(Number.isNaN), `${label} NaN advantages`).toBe(false);
  expect(got.dimAdvantages.some(Number.isNaN), `${label} NaN dimAdvantages`).toBe(false);
}


/** Unit roundoff of float64. */
const U64 = 2 ** -53;

/**
 * A bound on the absolute float64 error of each ŝ_l of group b (`[B][k]`), for tolerances on
 * ill-conditioned inputs. Implementations may sum in different orders (closed form against
 * pairwise sums, one sigmoid per pair against two), so ŝ agree only to about G·u times the size of
 * the terms summed: the products |a|·|b| in logit mode, the probabilities (≤ 1) in winrate mode,
 * |ŝ| when scores are given. Groups with fewer than 2 valid responses have exact scores (bound 0).
 */
export function scoreErrorBounds(
  shape: GroupShape,
  input: { embeddings: Float32Array; mode: 'logit' | 'winrate'; mask?: Uint8Array } | { scores: Float32Array; mask?: Uint8Array },
): number[] {
  const { groups: B, groupSize: G, dims: k } = shape;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const rows: number[] = [];
    for (let i = 0; i < G; i++) {
      if (input.mask && input.mask[b * G + i] === 0) continue;
      const len = 'scores' in input ? k : 2 * k;
      const src = 'scores' in input ? input.scores : input.embeddings;
      const vals = Array.from(src.subarray((b * G + i) * len, (b * G + i + 1) * len));
      if (vals.every(Number.isFinite)) rows.push(b * G + i);
    }
    for (let l = 0; l < k; l++) {
      if (rows.length < 2) {
        out.push(0);
        continue;
      }
      let size: number;
      if ('scores' in input) size = Math.max(...rows.map((r) => Math.abs(input.scores[r * k + l]!)));
      else if (input.mode === 'winrate') size = 1;
      else {
        const e = input.embeddings;
        size = Math.max(...rows.map((r) => Math.abs(e[(r * k + l) * 2]!))) * Math.max(...rows.map((r) => Math.abs(e[(r * k + l) * 2 + 1]!)));
      }
      out.push(8 * G * U64 * size);
    }
  }
  return out;
}

export interface ConditionedTolerance {
  /** Absolute tolerance for `advantages`. */
  advantages: number;
  /** Absolute tolerance for `dimAdvantages`. */
  dimAdvantages: number;
  /** A std lies within its error bound of stdFloor: backends may legitimately disagree on degeneracy. */
  nearFloor: boolean;
}

/**
 * Advantage tolerances widened by the conditioning of the normalization: an error δ in ŝ becomes
 * δ/(σ + ε) in Â. For well-scaled inputs this adds nothing to TOL_ADVANTAGE; for, say, win rates
 * whose spread σ is 1e-14 with ε = stdFloor = 0, the advantages are dominated by rounding noise and
 * only their finiteness and the counts are meaningful.
 */
export function conditionedTolerance(
  want: RefAdvantageResult,
  bounds: number[],
  shape: GroupShape,
  opts: { eps?: number; stdFloor?: number; normalize?: string },
): ConditionedTolerance {
  const eps = opts.eps ?? 1e-4;
  const floor = opts.stdFloor ?? 1e-6;
  const { groups: B, dims: k } = shape;
  const near = (sd: number, bound: number): boolean => bound > 0 && Math.abs(sd - floor) <= 10 * bound;
  let nearFloor = false;
  let ampDim = 0;
  let ampScalar = 0;
  for (let b = 0; b < B; b++) {
    let groupBound = 0;
    for (let l = 0; l < k; l++) {
      const sd = want.dimStd[b * k + l]!;
      const bound = bounds[b * k + l]!;
      groupBound = Math.max(groupBound, bound);
      if (near(sd, bound)) nearFloor = true;
      if (sd > floor) ampDim = Math.max(ampDim, bound / (sd + eps));
    }
    if (opts.normalize === 'scalar') {
      const sd = want.scalarStd[b]!;
      if (near(sd, groupBound)) nearFloor = true;
      if (sd > floor) ampScalar = Math.max(ampScalar, groupBound / (sd + eps));
    }
  }
  let ampAdv = ampDim;
  if (opts.normalize === 'scalar') ampAdv = ampScalar;
  if (opts.normalize === 'gdpo') {
    if (near(want.batchStd, ampDim)) nearFloor = true;
    // A degenerate batch gives exact zeros; otherwise the error of A' is amplified once more.
    ampAdv = want.batchStd > floor ? 4 * ampDim * (1 + 1 / (want.batchStd + eps)) * (1 + maxAbs(want.advantages)) : 0;
  }
  return {
    advantages: TOL_ADVANTAGE.atol + 10 * ampAdv,
    dimAdvantages: TOL_ADVANTAGE.atol + 10 * ampDim,
    nearFloor,
  };
}

/** Inputs of a policy-loss batch: `[N·T]` log-probs (current, old, reference), `[N]` advantages, mask. */
export interface PolicyBatch {
  N: number;
  T: number;
  logp: Float32Array;
  logpOld: Float32Array;
  logpRef: Float32Array;
  advantages: Float32Array;
  mask: Uint8Array;
}

/**
 * A random policy-loss batch: A ~ N(0, 1); row 0 empty, the others 1..T valid tokens; log-probs
 * −|N(1.5, 1)|, old log-probs that far ± N(0, oldStd) (ratio spread), reference ± N(0, 0.3).
 */
export function randomPolicyBatch(seed: number, N: number, T: number, oldStd = 0.4): PolicyBatch {
  const rng = new Rng(seed);
  const logp = new Float32Array(N * T), logpOld = new Float32Array(N * T), logpRef = new Float32Array(N * T);
  const mask = new Uint8Array(N * T), advantages = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    advantages[n] = rng.normal();
    const len = n === 0 ? 0 : 1 + rng.int(T);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      logp[i] = -Math.abs(rng.normal(1.5, 1));
      logpOld[i] = logp[i]! + rng.normal(0, oldStd);
      logpRef[i] = logp[i]! + rng.normal(0, 0.3);
      mask[i] = t < len ? 1 : 0;
    }
  }
  return { N, T, logp, logpOld, logpRef, advantages, mask };
}
