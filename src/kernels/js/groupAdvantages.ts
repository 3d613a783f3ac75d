/**
 * Pure-TypeScript `group_advantages` (docs/kernels.md): per-group, per-dimension normalization of
 * scores ŝ and their weighted aggregation into one advantage per response.
 * Two-pass statistics in float64; outputs rounded to float32 only when stored.
 */
import type { GroupShape } from '../../types.js';
import type { ResolvedAdvantageOptions } from '../validate.js';

/** The preallocated outputs of an advantage kernel. */
export interface AdvantageOutputs {
  advantages: Float32Array; // B*G
  dimAdvantages: Float32Array; // B*G*k
  dimMean: Float32Array; // B*k
  dimStd: Float32Array; // B*k
}

export interface AdvantageCounts {
  degenerate: number;
  masked: number;
}

/**
 * Normalizes one group at a time from float64 scores, with all scratch allocated once per call.
 * Call `normalizeGroup` for every group in order, then `finish` (which applies the batch z-score
 * of `'gdpo'`) for the counts.
 */
export class AdvantageWorkspace {
  private readonly mean: Float64Array;
  private readonly inv: Float64Array;
  private readonly w: Float64Array;
  private readonly agg: Float64Array;
  /** `'gdpo'` only: A' of every response of the batch, NaN for invalid ones. */
  private readonly batch: Float64Array | null;
  private degenerate = 0;
  private masked = 0;

  constructor(
    private readonly shape: GroupShape,
    private readonly opts: ResolvedAdvantageOptions,
    private readonly out: AdvantageOutputs,
  ) {
    const { groups: B, groupSize: G, dims: k } = shape;
    this.mean = new Float64Array(k);
    this.inv = new Float64Array(k);
    this.w = new Float64Array(k);
    this.agg = new Float64Array(G);
    this.batch = opts.normalize === 'gdpo' ? new Float64Array(B * G) : null;
  }

  /** Normalize group `b` from its scores `s` `[G][k]` (float64) and validity flags, `n` of them set. */
  normalizeGroup(b: number, s: Float64Array, valid: Uint8Array, n: number): void {
    const { groupSize: G, dims: k } = this.shape;
    const { lambdas, dimWeights, eps, stdFloor, unbiased, normalize } = this.opts;
    const { advantages, dimAdvantages, dimMean, dimStd } = this.out;
    const { mean, inv, w, agg } = this;
    const base = b * G;
    this.masked += G - n;

    // Pass 1: means. Pass 2: squared deviations (into `inv`, reused).
    mean.fill(0);
    inv.fill(0);
    for (let i = 0; i < G; i++) {
      if (!valid[i]) continue;
      for (let l = 0; l < k; l++) mean[l] = mean[l]! + s[i * k + l]!;
    }
    if (n > 0) for (let l = 0; l < k; l++) mean[l] = mean[l]! / n;
    for (let i = 0; i < G; i++) {
      if (!valid[i]) continue;
      for (let l = 0; l < k; l++) {
        const d = s[i * k + l]! - mean[l]!;
        inv[l] = inv[l]! + d * d;
      }
    }
    const denom = unbiased ? n - 1 : n;
    let degenerateDims = 0;
    for (let l = 0; l < k; l++) {
      const sd = n > 1 ? Math.sqrt(inv[l]! / denom) : 0;
      dimMean[b * k + l] = mean[l]!;
      dimStd[b * k + l] = sd;
      if (n >= 1 && sd <= stdFloor) {
        inv[l] = 0;
        degenerateDims++;
      } else {
        inv[l] = 1 / (sd + eps);
      }
    }

    // Weights w_l = m_l·λ_l / Σ m·λ.
    let wsum = 0;
    for (let l = 0; l < k; l++) {
      const v = (dimWeights ? dimWeights[l]! : 1) * (lambdas ? lambdas[b * k + l]! : 1);
      w[l] = v;
      wsum += v;
    }
    for (let l = 0; l < k; l++) w[l] = w[l]! / wsum;

    const batch = this.batch;
    const perDimension = normalize === 'per-dimension';
    for (let i = 0; i < G; i++) {
      const o = (base + i) * k;
      if (!valid[i]) {
        for (let l = 0; l < k; l++) dimAdvantages[o + l] = 0;
        advantages[base + i] = 0;
        if (batch) batch[base + i] = NaN;
        continue;
      }
      let a = 0;
      let sc = 0;
      for (let l = 0; l < k; l++) {
        const x = s[i * k + l]!;
        const il = inv[l]!;
        const ahat = il === 0 ? 0 : (x - mean[l]!) * il;
        dimAdvantages[o + l] = ahat;
        a += w[l]! * ahat;
        sc += w[l]! * x;
      }
      if (perDimension) advantages[base + i] = a;
      else if (batch) batch[base + i] = a;
      else agg[i] = sc;
    }

    if (normalize === 'per-dimension' || normalize === 'gdpo') {
      this.degenerate += degenerateDims;
      return;
    }
    // 'scalar': GRPO on the aggregate score S = Σ w_l·ŝ_l, normalized once per group.
    if (zscore(agg, valid, G, n, unbiased, stdFloor, eps)) this.degenerate++;
    for (let i = 0; i < G; i++) advantages[base + i] = valid[i] ? agg[i]! : 0;
  }

  /** Apply the batch z-score (`'gdpo'`) and return the counts. */
  finish(): AdvantageCounts {
    const batch = this.batch;
    if (batch) {
      let n = 0;
      const flags = new Uint8Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        if (!Number.isNaN(batch[i]!)) {
          flags[i] = 1;
          n++;
        }
      }
      const { unbiased, stdFloor, eps } = this.opts;
      if (zscore(batch, flags, batch.length, n, unbiased, stdFloor, eps)) this.degenerate++;
      const adv = this.out.advantages;
      for (let i = 0; i < batch.length; i++) adv[i] = flags[i] ? batch[i]! : 0;
    }
    return { degenerate: this.degenerate, masked: this.masked };
  }
}

/**
 * In-place z-score of the first `len` entries of `x` over those flagged valid (`n` of them),
 * two-pass. Degenerate (`n ≥ 1` and std ≤ stdFloor): the valid entries become 0. Returns whether it was.
 */
function zscore(
  x: Float64Array,
  valid: Uint8Array,
  len: number,
  n: number,
  unbiased: boolean,
  stdFloor: number,
  eps: number,
): boolean {
  let mean = 0;
  for (let i = 0; i < len; i++) if (valid[i]) mean += x[i]!;
  if (n > 0) mean /= n;
  let m2 = 0;
  for (let i = 0; i < len; i++) {
    if (!valid[i]) continue;
    const d = x[i]! - mean;
    m2 += d * d;
  }
  const sd = n > 1 ? Math.sqrt(m2 / (unbiased ? n - 1 : n)) : 0;
  const degenerate = n >= 1 && sd <= stdFloor;
  for (let i = 0; i < len; i++) {
    if (!valid[i]) continue;
    x[i] = degenerate ? 0 : (x[i]! - mean) / (sd + eps);
  }
  return degenerate;
}

/** Pure-TypeScript `group_advantages` from float32 scores `[B][G][k]`; outputs written in place. */
export function groupAdvantagesJs(
  scores: Float32Array,
  shape: GroupShape,
  opts: ResolvedAdvantageOptions,
  out: AdvantageOutputs,
): AdvantageCounts {
  const { groups: B, groupSize: G, dims: k } = shape;
  const ws = new AdvantageWorkspace(shape, opts, out);
  const s = new Float64Array(G * k);
  const valid = new Uint8Array(G);
  const mask = opts.mask;
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let i = 0; i < G; i++) {
      const row = (b * G + i) * k;
      let ok = mask === null || mask[b * G + i] !== 0;
      for (let l = 0; l < k; l++) {
        const v = scores[row + l]!;
        s[i * k + l] = v;
        if (!Number.isFinite(v)) ok = false;
      }
      valid[i] = ok ? 1 : 0;
      if (ok) n++;
    }
    ws.normalizeGroup(b, s, valid, n);
  }
  return ws.finish();
}
