/**
 * The pieces of TRL's GRPOTrainer that live outside the policy-loss kernel (docs/trainer.md, "TRL
 * parity"): the loss mask with truncated completions removed, the high-entropy token mask, the loss
 * normalizer of each loss type (for the kernel and for the entropy bonus), and the soft reference update.
 */
import type { NamedWeight, Policy, Tokens } from '../policy/policy.js';
import type { PolicyLossOptions } from '../kernels/policyLoss.js';
import { aggregationOf, type TrlLossType } from './config.js';

/** The loss mask `[N][T]` and the counts the TRL normalizers need. */
export interface LossMask {
  /** 1 at the tokens of valid responses, except those of masked truncated completions. */
  mask: Uint8Array;
  /** Valid responses, truncated ones included (TRL's `grpo` divides by every completion). */
  responses: number;
  /** Tokens of the valid responses, truncated ones included (TRL's `num_items_in_batch`, the `dapo` normalizer). */
  tokens: number;
  /** Valid responses removed from the loss because they were truncated. */
  truncated: number;
}

/**
 * Build the loss mask. A completion is truncated when it is not empty and its last token is not `eos`
 * (sampling stops at `eos` or at T tokens); with `maskTruncated` its tokens leave the loss.
 */
export function lossMask(responses: readonly Tokens[], valid: Uint8Array, T: number, eos: number | null, maskTruncated: boolean): LossMask {
  const N = responses.length;
  const mask = new Uint8Array(N * T);
  let count = 0, tokens = 0, truncated = 0;
  for (let n = 0; n < N; n++) {
    if (!valid[n]) continue;
    const r = responses[n]!;
    const len = Math.min(r.length, T);
    count++;
    tokens += len;
    if (maskTruncated && len > 0 && r[len - 1] !== eos) {
      truncated++;
      continue;
    }
    mask.fill(1, n * T, n * T + len);
  }
  return { mask, responses: count, tokens, truncated };
}

/**
 * TRL's `get_high_entropy_mask`: the tokens with `mask ≠ 0` whose entropy is at least the `1 − quantile`
 * quantile (linear interpolation, as `torch.quantile`) of the entropies of those tokens. All zero when
 * no token is unmasked.
 */
export function highEntropyMask(entropy: ArrayLike<number>, mask: Uint8Array, quantile: number): Uint8Array {
  const values: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) values.push(entropy[i]!);
  const out = new Uint8Array(mask.length);
  if (values.length === 0) return out;
  values.sort((a, b) => a - b);
  const pos = (values.length - 1) * (1 - quantile);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, values.length - 1);
  const threshold = values[lo]! + (values[hi]! - values[lo]!) * (pos - lo);
  for (let i = 0; i < mask.length; i++) if (mask[i] && entropy[i]! >= threshold) out[i] = 1;
  return out;
}

/** The denominators of `policyLoss` that a TRL loss type sets (on top of `aggregationOf`). */
export function normalizerOptions(lossType: TrlLossType, m: LossMask): Pick<PolicyLossOptions, 'numTokens' | 'numSequences'> {
  const agg = aggregationOf(lossType);
  if (agg === 'sequence-mean' && m.responses > 0) return { numSequences: m.responses };
  if ((lossType === 'dapo' || lossType === 'cispo') && m.tokens > 0) return { numTokens: m.tokens };
  return {};
}

/**
 * The weight of each token `[N][T]` in the loss type's reduction (the kernel's w_n at the tokens of
 * the mask, 0 elsewhere), so that `Σ weight·x` reduces a per-token quantity x (the entropy bonus) as
 * the loss is reduced (`dr_grpo`'s constant is N·T: the trainer's policy loss has `maxLength` = T).
 */
export function tokenWeights(lossType: TrlLossType, m: LossMask, N: number, T: number): Float32Array {
  const agg = aggregationOf(lossType);
  const { numTokens, numSequences } = normalizerOptions(lossType, m);
  const w = new Float32Array(N * T);
  let total = 0, nonEmpty = 0;
  const rowCount = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) rowCount[n]! += m.mask[n * T + t]!;
    total += rowCount[n]!;
    if (rowCount[n]! > 0) nonEmpty++;
  }
  for (let n = 0; n < N; n++) {
    const c = rowCount[n]!;
    if (c === 0) continue;
    const wn = agg === 'token-mean' ? 1 / (numTokens ?? total) : agg === 'sequence-mean' ? 1 / ((numSequences ?? nonEmpty) * c) : 1 / (N * T);
    for (let t = 0; t < T; t++) if (m.mask[n * T + t]) w[n * T + t] = wn;
  }
  return w;
}

/** TR-DPO's soft update (TRL's `SyncRefModelCallback`): reference ← α·policy + (1 − α)·reference. */
export function mixReference(policy: Policy, reference: Policy, alpha: number): void {
  const p = policy.getWeights();
  const r = reference.getWeights();
  const mixed: NamedWeight[] = r.map((w, i) => {
    const src = p[i];
    if (!src || src.name !== w.name || src.values.length !== w.values.length) {
      throw new Error(`gprl: syncRefModel: the reference policy's weight '${w.name}' has no counterpart in the policy`);
    }
    const values = new Float32Array(w.values.length);
    for (let j = 0; j < values.length; j++) values[j] = alpha * src.values[j]! + (1 - alpha) * w.values[j]!;
    return { name: w.name, shape: w.shape, values };
  });
  reference.setWeights(mixed);
}
