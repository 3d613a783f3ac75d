/**
 * Pure-TypeScript `policy_loss` (docs/policy-loss.md): the same algorithm as
 * native/kernels/policy_loss.cc (per-token math of `policy_token` in policy_loss.h), per-sequence
 * float64 partials combined in sequence order, then one scaling pass over the gradient.
 */
import type { NativePolicyLossResult } from '../../native/addon.js';
import type { PolicyLossParams } from '../policyLoss.js';

const CLIP_LOW = 1, CLIP_HIGH = 2, DUAL = 4;

/** Write ∂loss/∂logp into `grad` (length N·T) and return the loss and metrics. */
export function policyLossJs(p: PolicyLossParams, grad: Float32Array): NativePolicyLossResult {
  const { sequences: N, tokens: T, logp, logpOld, logpRef, advantages, mask, policyMask } = p;
  const lo = 1 - p.epsilonLow;
  const hi = 1 + p.epsilonHigh;
  const cap = p.epsilonHigh;
  const dual = p.dualClip;
  const beta = p.beta;
  const kl = p.kl;
  const surrogate = p.surrogate;
  const tauPos = p.sapoTemperaturePos, tauNeg = p.sapoTemperatureNeg;
  const seq = p.importanceSampling === 1;
  const rowLoss = new Float64Array(N);
  const rowCount = new Float64Array(N);
  let clipLow = 0, clipHigh = 0, dualCount = 0, nonFinite = 0;
  let sumRatio = 0, sumKl = 0;
  const usable = (advOk: boolean, i: number): boolean =>
    advOk && Number.isFinite(logp[i]!) && Number.isFinite(logpOld[i]!) && (logpRef === null || Number.isFinite(logpRef[i]!));
  for (let n = 0; n < N; n++) {
    const A = advantages[n]!;
    const advOk = Number.isFinite(A);
    let sLoss = 0, count = 0;
    const base = n * T;
    // Sequence-level ratio (GSPO): s = exp(mean log-ratio over the valid tokens), summed in token order.
    let xSeq = 1, gwSeq = 0;
    if (seq) {
      let sum = 0, c = 0, m = 0;
      for (let t = 0; t < T; t++) {
        const i = base + t;
        if (mask[i] === 0 || !usable(advOk, i)) continue;
        sum += logp[i]! - logpOld[i]!;
        c++;
        if (policyMask === null || policyMask[i] !== 0) m++;
      }
      if (c > 0) {
        xSeq = Math.exp(sum / c);
        gwSeq = m / c;
      }
    }
    for (let t = 0; t < T; t++) {
      const i = base + t;
      grad[i] = 0;
      if (mask[i] === 0) continue;
      if (!usable(advOk, i)) {
        nonFinite++;
        continue;
      }
      const lp = logp[i]!;
      const pw = policyMask === null || policyMask[i] !== 0 ? 1 : 0;
      const x = seq ? xSeq : Math.exp(lp - logpOld[i]!);
      let gw = seq ? gwSeq : pw;
      let loss = 0, d = 0, flags = 0;
      if (surrogate === 1) {
        // CISPO: the capped ratio carries no gradient; logp enters directly.
        const cr = x < cap ? x : cap;
        loss = -cr * A * lp;
        d = -cr * A;
        if (x > cap && A > 0) flags = CLIP_HIGH;
        gw = pw;
      } else if (surrogate === 2) {
        // SAPO: σ(z) and σ(z)(1 − σ(z)) from e = exp(−|z|).
        const tau = A > 0 ? tauPos : tauNeg;
        const z = tau * (x - 1);
        const e = Math.exp(-(z < 0 ? -z : z));
        const sg = z >= 0 ? 1 / (1 + e) : e / (1 + e);
        const g = e / ((1 + e) * (1 + e));
        loss = (-A * sg * 4) / tau;
        d = g === 0 ? 0 : -A * 4 * g * x;
      } else if (A > 0) {
        if (x > hi) {
          loss = -hi * A;
          flags = CLIP_HIGH;
        } else {
          loss = -x * A;
          d = loss;
        }
      } else if (A < 0) {
        if (x < lo) {
          // Lower clip active (1 − ε_low < 1 < c, so the dual clip cannot be).
          loss = -lo * A;
          flags = CLIP_LOW;
        } else if (dual > 0 && x > dual) {
          loss = -dual * A;
          flags = DUAL;
        } else {
          loss = -x * A;
          d = loss;
        }
      }
      if (pw === 0) loss = 0;
      d = gw === 0 ? 0 : gw === 1 ? d : gw * d;
      if (flags === CLIP_LOW) clipLow++;
      else if (flags === CLIP_HIGH) clipHigh++;
      else if (flags === DUAL) dualCount++;
      if (logpRef !== null) {
        const delta = logpRef[i]! - lp;
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
      sumRatio += x;
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
  const D = p.numTokens > 0 ? p.numTokens : valid;
  const S = p.numSequences > 0 ? p.numSequences : nonEmpty;
  let loss = 0;
  if (valid > 0) {
    if (p.aggregation === 0) loss = total / D;
    else if (p.aggregation === 1) loss = seqMeanSum / S;
    else loss = total / (N * p.maxLength);
    for (let n = 0; n < N; n++) {
      const c = rowCount[n]!;
      if (c === 0) continue;
      const w = p.aggregation === 0 ? 1 / D : p.aggregation === 1 ? 1 / (S * c) : 1 / (N * p.maxLength);
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
