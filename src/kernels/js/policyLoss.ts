/**
 * Pure-TypeScript `policy_loss` (docs/policy-loss.md): the same algorithm as
 * native/kernels/policy_loss.cc, per-sequence float64 partials combined in sequence order, then
 * one scaling pass over the gradient.
 */
import type { NativePolicyLossResult } from '../../native/addon.js';
import type { PolicyLossParams } from '../policyLoss.js';

/** Write ∂loss/∂logp into `grad` (length N·T) and return the loss and metrics. */
export function policyLossJs(p: PolicyLossParams, grad: Float32Array): NativePolicyLossResult {
  const { sequences: N, tokens: T, logp, logpOld, logpRef, advantages, mask } = p;
  const lo = 1 - p.epsilonLow;
  const hi = 1 + p.epsilonHigh;
  const dual = p.dualClip;
  const beta = p.beta;
  const kl = p.kl;
  const rowLoss = new Float64Array(N);
  const rowCount = new Float64Array(N);
  let clipLow = 0, clipHigh = 0, dualCount = 0, nonFinite = 0;
  let sumRatio = 0, sumKl = 0;
  for (let n = 0; n < N; n++) {
    const A = advantages[n]!;
    const advOk = Number.isFinite(A);
    let sLoss = 0, count = 0;
    const base = n * T;
    for (let t = 0; t < T; t++) {
      const i = base + t;
      grad[i] = 0;
      if (mask[i] === 0) continue;
      const lp = logp[i]!, lq = logpOld[i]!;
      const lr = logpRef === null ? 0 : logpRef[i]!;
      if (!advOk || !Number.isFinite(lp) || !Number.isFinite(lq) || !Number.isFinite(lr)) {
        nonFinite++;
        continue;
      }
      const ratio = Math.exp(lp - lq);
      let loss = 0, d = 0;
      if (A > 0) {
        if (ratio > hi) {
          loss = -hi * A;
          clipHigh++;
        } else {
          loss = -ratio * A;
          d = loss;
        }
      } else if (A < 0) {
        if (ratio < lo) {
          // Lower clip active (1 − ε_low < 1 < c, so the dual clip cannot be).
          loss = -lo * A;
          clipLow++;
        } else {
          loss = -ratio * A;
          d = loss;
          if (dual > 0 && ratio > dual) {
            loss = -dual * A;
            d = 0;
            dualCount++;
          }
        }
      }
      if (logpRef !== null) {
        const delta = lr - lp;
        let k: number, dk: number;
        if (kl === 0) {
          k = -delta;
          dk = 1;
        } else if (kl === 1) {
          k = 0.5 * delta * delta;
          dk = -delta;
        } else {
          const e = Math.exp(delta);
          k = e - delta - 1;
          dk = 1 - e;
        }
        sumKl += k;
        if (beta > 0) {
          loss += beta * k;
          d += beta * dk;
        }
      }
      sumRatio += ratio;
      sLoss += loss;
      count++;
      grad[i] = d;
    }
    rowLoss[n] = sLoss;
    rowCount[n] = count;
  }
  let valid = 0, nonEmpty = 0, total = 0, seqMeanSum = 0;
  for (let n = 0; n < N; n++) {
    const c = rowCount[n]!;
    valid += c;
    total += rowLoss[n]!;
    if (c > 0) {
      nonEmpty++;
      seqMeanSum += rowLoss[n]! / c;
    }
  }
  let loss = 0;
  if (valid > 0) {
    if (p.aggregation === 0) loss = total / valid;
    else if (p.aggregation === 1) loss = seqMeanSum / nonEmpty;
    else loss = total / (N * p.maxLength);
    for (let n = 0; n < N; n++) {
      const c = rowCount[n]!;
      if (c === 0) continue;
      const w = p.aggregation === 0 ? 1 / valid : p.aggregation === 1 ? 1 / (nonEmpty * c) : 1 / (N * p.maxLength);
      const base = n * T;
      for (let t = 0; t < T; t++) grad[base + t] = grad[base + t]! * w;
    }
  }
  const frac = (x: number): number => (valid > 0 ? x / valid : 0);
  return {
    loss,
    clipFracLow: frac(clipLow),
    clipFracHigh: frac(clipHigh),
    dualClipFrac: frac(dualCount),
    meanRatio: frac(sumRatio),
    meanKl: logpRef === null ? 0 : frac(sumKl),
    validTokens: valid,
    nonFinite,
  };
}
