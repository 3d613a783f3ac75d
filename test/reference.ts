/**
 * Float64 reference implementations of the kernels, written from docs/kernels.md and design
 * §2.2–2.3 and deliberately unlike the shipped code: nested `number[]` arrays, the explicit pairwise
 * sum for ŝ (not the closed form), a fresh sigmoid per ordered pair, and plain mean/std loops.
 * Slow on purpose; only for tests.
 */
import type { GroupShape, NormalizeMode, ScoreMode, StdMode } from '../src/types.js';

export interface RefScoreOptions {
  mode?: ScoreMode;
  tau?: number;
  mask?: ArrayLike<number>;
}

export interface RefAdvantageOptions {
  lambdas?: ArrayLike<number>;
  dimWeights?: ArrayLike<number>;
  mask?: ArrayLike<number>;
  eps?: number;
  stdFloor?: number;
  std?: StdMode;
  normalize?: NormalizeMode;
}

export interface RefAdvantageResult {
  advantages: number[];
  dimAdvantages: number[];
  dimMean: number[];
  dimStd: number[];
  degenerate: number;
  masked: number;
  /** Diagnostics: the std of the aggregate score S per group (`'scalar'`; 0 otherwise). */
  scalarStd: number[];
  /** Diagnostics: the std of A' over the batch (`'gdpo'`; 0 otherwise). */
  batchStd: number;
}

const DEFAULT_TAU = 0.1;
const DEFAULT_EPS = 1e-4;
const DEFAULT_STD_FLOOR = 1e-6;

function refSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Embeddings as `[b][i] -> {a: number[], b: number[]}` of plain numbers. */
function unpack(emb: ArrayLike<number>, shape: GroupShape): { a: number[]; b: number[] }[][] {
  const { groups, groupSize, dims } = shape;
  const out: { a: number[]; b: number[] }[][] = [];
  for (let g = 0; g < groups; g++) {
    const group: { a: number[]; b: number[] }[] = [];
    for (let i = 0; i < groupSize; i++) {
      const a: number[] = [];
      const b: number[] = [];
      for (let l = 0; l < dims; l++) {
        a.push(Number(emb[((g * groupSize + i) * dims + l) * 2]));
        b.push(Number(emb[((g * groupSize + i) * dims + l) * 2 + 1]));
      }
      group.push({ a, b });
    }
    out.push(group);
  }
  return out;
}

/** s_l(i, j) = a_l(i)·b_l(j) − b_l(i)·a_l(j). */
function refPairScore(ei: { a: number[]; b: number[] }, ej: { a: number[]; b: number[] }, l: number): number {
  return ei.a[l]! * ej.b[l]! - ei.b[l]! * ej.a[l]!;
}

function isMasked(mask: ArrayLike<number> | undefined, idx: number): boolean {
  return mask !== undefined && mask[idx] === 0;
}

/** Validity of every response: not masked and every embedding value finite. */
export function refValidity(emb: ArrayLike<number>, shape: GroupShape, mask?: ArrayLike<number>): boolean[][] {
  const groups = unpack(emb, shape);
  return groups.map((group, g) =>
    group.map(
      (r, i) => !isMasked(mask, g * shape.groupSize + i) && r.a.every(Number.isFinite) && r.b.every(Number.isFinite),
    ),
  );
}

/** ŝ `[B][G][k]` flattened; NaN for invalid responses. */
export function refGroupScores(emb: ArrayLike<number>, shape: GroupShape, opts: RefScoreOptions = {}): number[] {
  const mode = opts.mode ?? 'logit';
  const tau = opts.tau ?? DEFAULT_TAU;
  const groups = unpack(emb, shape);
  const valid = refValidity(emb, shape, opts.mask);
  const out: number[] = [];
  for (let g = 0; g < shape.groups; g++) {
    const group = groups[g]!;
    const v = valid[g]!;
    const nValid = v.filter(Boolean).length;
    for (let i = 0; i < shape.groupSize; i++) {
      for (let l = 0; l < shape.dims; l++) {
        if (!v[i]) {
          out.push(NaN);
          continue;
        }
        if (nValid < 2) {
          out.push(0);
          continue;
        }
        let total = 0;
        for (let j = 0; j < shape.groupSize; j++) {
          if (j === i || !v[j]) continue;
          const s = refPairScore(group[i]!, group[j]!, l);
          total += mode === 'logit' ? s : refSigmoid(s / tau);
        }
        out.push(total / (nValid - 1) - (mode === 'winrate' ? 0.5 : 0));
      }
    }
  }
  return out;
}

export function refMean(xs: number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Two-pass standard deviation; 0 for fewer than 2 values. */
export function refStd(xs: number[], std: StdMode): number {
  if (xs.length < 2) return 0;
  const m = refMean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (std === 'unbiased' ? xs.length - 1 : xs.length));
}

/** group_advantages on scores `[B][G][k]` (a response with any non-finite score is invalid). */
export function refGroupAdvantages(
  scores: ArrayLike<number>,
  shape: GroupShape,
  opts: RefAdvantageOptions = {},
): RefAdvantageResult {
  const { groups: B, groupSize: G, dims: k } = shape;
  const eps = opts.eps ?? DEFAULT_EPS;
  const floor = opts.stdFloor ?? DEFAULT_STD_FLOOR;
  const stdMode = opts.std ?? 'unbiased';
  const normalize = opts.normalize ?? 'per-dimension';
  const at = (g: number, i: number, l: number): number => Number(scores[(g * G + i) * k + l]);

  const advantages = new Array<number>(B * G).fill(0);
  const dimAdvantages = new Array<number>(B * G * k).fill(0);
  const dimMean = new Array<number>(B * k).fill(0);
  const dimStd = new Array<number>(B * k).fill(0);
  let degenerate = 0;
  let masked = 0;
  const batchValues: { idx: number; value: number }[] = [];
  const scalarStd = new Array<number>(B).fill(0);
  let batchStd = 0;

  for (let g = 0; g < B; g++) {
    const validIdx: number[] = [];
    for (let i = 0; i < G; i++) {
      let ok = !isMasked(opts.mask, g * G + i);
      for (let l = 0; l < k; l++) if (!Number.isFinite(at(g, i, l))) ok = false;
      if (ok) validIdx.push(i);
      else masked++;
    }
    const n = validIdx.length;

    const weights: number[] = [];
    for (let l = 0; l < k; l++) {
      const m = opts.dimWeights ? Number(opts.dimWeights[l]) : 1;
      const lam = opts.lambdas ? Number(opts.lambdas[g * k + l]) : 1;
      weights.push(m * lam);
    }
    const wTotal = weights.reduce((x, y) => x + y, 0);
    const w = weights.map((x) => x / wTotal);

    for (let l = 0; l < k; l++) {
      const values = validIdx.map((i) => at(g, i, l));
      const mu = refMean(values);
      const sd = refStd(values, stdMode);
      dimMean[g * k + l] = mu;
      dimStd[g * k + l] = sd;
      const degen = n >= 1 && sd <= floor;
      if (degen) degenerate += normalize === 'scalar' ? 0 : 1;
      for (const i of validIdx) dimAdvantages[(g * G + i) * k + l] = degen ? 0 : (at(g, i, l) - mu) / (sd + eps);
    }

    if (normalize === 'scalar') {
      const S = validIdx.map((i) => {
        let t = 0;
        for (let l = 0; l < k; l++) t += w[l]! * at(g, i, l);
        return t;
      });
      const mu = refMean(S);
      const sd = refStd(S, stdMode);
      scalarStd[g] = sd;
      const degen = n >= 1 && sd <= floor;
      if (degen) degenerate++;
      validIdx.forEach((i, t) => {
        advantages[g * G + i] = degen ? 0 : (S[t]! - mu) / (sd + eps);
      });
    } else {
      for (const i of validIdx) {
        let t = 0;
        for (let l = 0; l < k; l++) t += w[l]! * dimAdvantages[(g * G + i) * k + l]!;
        if (normalize === 'per-dimension') advantages[g * G + i] = t;
        else batchValues.push({ idx: g * G + i, value: t });
      }
    }
  }

  if (normalize === 'gdpo') {
    const values = batchValues.map((x) => x.value);
    const mu = refMean(values);
    const sd = refStd(values, stdMode);
    batchStd = sd;
    const degen = values.length >= 1 && sd <= floor;
    if (degen) degenerate++;
    for (const { idx, value } of batchValues) advantages[idx] = degen ? 0 : (value - mu) / (sd + eps);
  }
  return { advantages, dimAdvantages, dimMean, dimStd, degenerate, masked, scalarStd, batchStd };
}

/** gprl_advantages: reference scores (kept in float64) chained into the reference advantages. */
export function refGprlAdvantages(
  emb: ArrayLike<number>,
  shape: GroupShape,
  opts: RefScoreOptions & RefAdvantageOptions = {},
): RefAdvantageResult & { scores: number[] } {
  const scores = refGroupScores(emb, shape, opts);
  return { ...refGroupAdvantages(scores, shape, opts), scores };
}

/** P `[B][G][G]`: σ(Σ_l λ_l s_l(i,j) / τ); NaN in the row and column of a non-finite response. */
export function refPreferenceMatrix(
  emb: ArrayLike<number>,
  shape: GroupShape,
  opts: { lambdas?: ArrayLike<number>; tau?: number } = {},
): number[] {
  const tau = opts.tau ?? DEFAULT_TAU;
  const groups = unpack(emb, shape);
  const finite = refValidity(emb, shape);
  const out: number[] = [];
  for (let g = 0; g < shape.groups; g++) {
    for (let i = 0; i < shape.groupSize; i++) {
      for (let j = 0; j < shape.groupSize; j++) {
        if (!finite[g]![i] || !finite[g]![j]) {
          out.push(NaN);
          continue;
        }
        let s = 0;
        for (let l = 0; l < shape.dims; l++) {
          const lam = opts.lambdas ? Number(opts.lambdas[g * shape.dims + l]) : 1;
          s += lam * refPairScore(groups[g]![i]!, groups[g]![j]!, l);
        }
        out.push(refSigmoid(s / tau));
      }
    }
  }
  return out;
}

/** The GRPO advantage of one group of scalar rewards: (r_i − r̄)/(std(r) + eps). */
export function refGrpoAdvantages(rewards: number[], std: StdMode, eps = 0): number[] {
  const mu = refMean(rewards);
  const sd = refStd(rewards, std);
  return rewards.map((r) => (r - mu) / (sd + eps));
}
