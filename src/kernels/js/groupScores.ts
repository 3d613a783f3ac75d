/**
 * Pure-TypeScript `group_scores` (docs/kernels.md): per-dimension group scores ŝ `[B][G][k]`.
 * Float64 accumulation, rounded to float32 only when stored.
 */
import type { GroupShape } from '../../types.js';
import type { ResolvedScoreOptions } from '../validate.js';

/**
 * Reusable float64 scratch for scoring one group at a time (no allocation per group).
 * `scores` holds ŝ of the current group, `[G][k]`; `valid` its validity flags.
 */
export class ScoreWorkspace {
  readonly scores: Float64Array;
  readonly valid: Uint8Array;
  private readonly sums: Float64Array;

  constructor(readonly shape: GroupShape) {
    this.scores = new Float64Array(shape.groupSize * shape.dims);
    this.valid = new Uint8Array(shape.groupSize);
    this.sums = new Float64Array(2 * shape.dims);
  }

  /**
   * Score group `b` of `embeddings` into `this.scores`; returns the number of valid responses.
   * Invalid responses (masked, or any non-finite embedding value) get NaN.
   */
  scoreGroup(embeddings: Float32Array, b: number, opts: ResolvedScoreOptions): number {
    const { groupSize: G, dims: k } = this.shape;
    const { scores: s, valid, sums } = this;
    const k2 = 2 * k;
    const base = b * G;
    const mask = opts.mask;
    const logit = opts.mode === 'logit';
    // Validity; in logit mode also Σa and Σb over the valid responses (interleaved like the input).
    let n = 0;
    sums.fill(0);
    for (let i = 0; i < G; i++) {
      let ok = mask === null || mask[base + i] !== 0;
      const row = (base + i) * k2;
      if (ok) {
        // A sum of finite float32 values cannot overflow in float64: it is finite iff all are.
        let t = 0;
        for (let c = 0; c < k2; c++) t += embeddings[row + c]!;
        ok = Number.isFinite(t);
      }
      valid[i] = ok ? 1 : 0;
      if (!ok) continue;
      n++;
      if (logit) for (let c = 0; c < k2; c++) sums[c] = sums[c]! + embeddings[row + c]!;
    }
    if (n < 2) {
      for (let i = 0; i < G; i++) s.fill(valid[i] ? 0 : NaN, i * k, (i + 1) * k);
      return n;
    }
    const inv = 1 / (n - 1);
    if (logit) {
      // ŝ_l(i) = G'/(G'−1)·(a_i·b̄ − b_i·ā) = (a_i·Σb − b_i·Σa)/(G'−1)
      for (let i = 0; i < G; i++) {
        const o = i * k;
        if (!valid[i]) {
          s.fill(NaN, o, o + k);
          continue;
        }
        const row = (base + i) * k2;
        for (let l = 0; l < k; l++) {
          const a = embeddings[row + 2 * l]!;
          const bb = embeddings[row + 2 * l + 1]!;
          s[o + l] = (a * sums[2 * l + 1]! - bb * sums[2 * l]!) * inv;
        }
      }
      return n;
    }
    // winrate: each unordered pair once, σ(x) to i and σ(−x) to j.
    const tau = opts.tau;
    for (let i = 0; i < G; i++) s.fill(valid[i] ? 0 : NaN, i * k, (i + 1) * k);
    for (let i = 0; i < G; i++) {
      if (!valid[i]) continue;
      const ri = (base + i) * k2;
      const oi = i * k;
      for (let j = i + 1; j < G; j++) {
        if (!valid[j]) continue;
        const rj = (base + j) * k2;
        const oj = j * k;
        for (let l = 0; l < k; l++) {
          const x =
            (embeddings[ri + 2 * l]! * embeddings[rj + 2 * l + 1]! - embeddings[ri + 2 * l + 1]! * embeddings[rj + 2 * l]!) / tau;
          // Overflow-free sigmoid pair sharing one exp.
          const e = Math.exp(-Math.abs(x));
          const d = 1 + e;
          const big = 1 / d;
          const small = e / d;
          s[oi + l] = s[oi + l]! + (x >= 0 ? big : small);
          s[oj + l] = s[oj + l]! + (x >= 0 ? small : big);
        }
      }
    }
    for (let i = 0; i < G; i++) {
      if (!valid[i]) continue;
      for (let t = i * k; t < (i + 1) * k; t++) s[t] = s[t]! * inv - 0.5;
    }
    return n;
  }
}

/** Pure-TypeScript `group_scores`: writes ŝ `[B][G][k]` into `out`. */
export function groupScoresJs(embeddings: Float32Array, shape: GroupShape, opts: ResolvedScoreOptions, out: Float32Array): void {
  const ws = new ScoreWorkspace(shape);
  const block = shape.groupSize * shape.dims;
  for (let b = 0; b < shape.groups; b++) {
    ws.scoreGroup(embeddings, b, opts);
    out.set(ws.scores, b * block);
  }
}
