/**
 * `policy_loss`: the policy-gradient objective of GRPO/GPRL — clipped (optional dual clip), CISPO or
 * SAPO surrogate, token- or sequence-level (GSPO) importance ratio, optional policy mask (entropy
 * masking) and KL penalty — its exact gradient with respect to the current log-probabilities, and
 * its metrics, in one pass (design §2.4; full semantics in docs/policy-loss.md).
 *
 * Layout: per-token arrays are row-major `[N][T]` (N sequences of T tokens); advantages are
 * per sequence `[N]`. Every reduction accumulates in float64 on every backend; the gradient is
 * stored as float32.
 */
import {
  assertNumber,
  assertOneOf,
  assertPositiveInt,
  checkTypedArray,
  invalidType,
  invalidValue,
  isFieldObject,
  readField,
  readOptions,
} from '../errors.js';
import { resolveBackend } from '../backend.js';
import type { Backend, ResolvedBackend } from '../types.js';
import type { NativePolicyLossArgs, NativePolicyLossResult } from '../native/addon.js';
import { allocateOutput, checkOutputSizes, MAX_ELEMENTS } from './validate.js';
import { laterTick } from './dispatch.js';
import { policyLossJs } from './js/policyLoss.js';

/** KL estimator of the penalty against the reference policy (Schulman's k1/k2/k3). */
export type KlEstimator = 'k1' | 'k2' | 'k3';

/** How per-token losses are reduced to one number. */
export type LossAggregation = 'token-mean' | 'sequence-mean' | 'constant';

/** Importance ratio per token (`'token'`) or per sequence (`'sequence'`: GSPO), as TRL's `importance_sampling_level`. */
export type ImportanceSamplingLevel = 'token' | 'sequence';

/** Surrogate of the policy term: PPO/GRPO clipping, CISPO or SAPO (docs/policy-loss.md). */
export type Surrogate = 'clip' | 'cispo' | 'sapo';

export const KL_ESTIMATORS: readonly KlEstimator[] = ['k1', 'k2', 'k3'];
export const LOSS_AGGREGATIONS: readonly LossAggregation[] = ['token-mean', 'sequence-mean', 'constant'];
export const IMPORTANCE_SAMPLING_LEVELS: readonly ImportanceSamplingLevel[] = ['token', 'sequence'];
export const SURROGATES: readonly Surrogate[] = ['clip', 'cispo', 'sapo'];

export const DEFAULT_EPSILON = 0.2;

/** Largest `maxLength`: 2⁴⁰, the native binding's integer limit, enforced here so every backend agrees. */
export const MAX_LENGTH = 2 ** 40;

export interface PolicyLossOptions {
  /** Lower clip range ε_low: the ratio is clipped below at `1 − ε_low`. In [0, 1]. Defaults to `0.2`. */
  epsilonLow?: number;
  /**
   * Upper clip range ε_high: the ratio is clipped above at `1 + ε_high`. With `surrogate: 'cispo'` it is the
   * cap of the ratio itself (TRL's convention: `min(ρ, ε_high)`). Finite, ≥ 0. Defaults to `epsilonLow`.
   */
  epsilonHigh?: number;
  /** Dual-clip constant c > 1 bounding the loss of negative-advantage tokens by `−c·A`. Defaults to `undefined` (off). */
  dualClip?: number;
  /** KL penalty coefficient β ≥ 0; β > 0 requires `inputs.logpRef`. Defaults to `0`. */
  beta?: number;
  /** KL estimator: `'k1'` (`logp − logpRef`), `'k2'` (`½δ²`) or `'k3'` (`e^δ − δ − 1`), δ = logpRef − logp. Defaults to `'k3'`. */
  kl?: KlEstimator;
  /**
   * `'token-mean'` (sum over valid tokens / their count), `'sequence-mean'` (mean over sequences with a valid
   * token of each sequence's token mean: original GRPO) or `'constant'` (sum / (N·maxLength): Dr. GRPO).
   * Defaults to `'token-mean'`.
   */
  aggregation?: LossAggregation;
  /**
   * The constant length of the `'constant'` aggregation, a positive integer ≤ 2⁴⁰ (`MAX_LENGTH`; ignored by the
   * others). Defaults to `T` (shape.tokens).
   */
  maxLength?: number;
  /**
   * `'token'`: ratio ρ_t = e^{logp_t − logpOld_t} per token; `'sequence'` (GSPO): one ratio per sequence,
   * s = e^{mean of logp − logpOld over its valid tokens}, clipped at the sequence level. Defaults to `'token'`.
   */
  importanceSampling?: ImportanceSamplingLevel;
  /** `'clip'` (PPO/GRPO), `'cispo'` or `'sapo'` (docs/policy-loss.md). Defaults to `'clip'`. */
  surrogate?: Surrogate;
  /** SAPO gate temperature τ for A > 0 (finite, > 0). Defaults to `1` (TRL's `sapo_temperature_pos`). */
  sapoTemperaturePos?: number;
  /** SAPO gate temperature τ for A ≤ 0 (finite, > 0). Defaults to `1.05` (TRL's `sapo_temperature_neg`). */
  sapoTemperatureNeg?: number;
  /**
   * Denominator of `'token-mean'` (finite, > 0), e.g. every completion token of the batch including masked
   * ones (TRL's `dapo`). Defaults to the number of valid tokens.
   */
  numTokens?: number;
  /**
   * Denominator of `'sequence-mean'` (finite, > 0), e.g. every sequence of the batch including empty ones
   * (TRL's `grpo`). Defaults to the number of sequences with a valid token.
   */
  numSequences?: number;
}

export interface PolicyLossCallOptions extends PolicyLossOptions {
  /** Which implementation runs. Defaults to `'auto'`. */
  backend?: Backend;
}

export interface PolicyLossInputs {
  /** Log-probabilities of the sampled tokens under the current policy, `[N][T]`. */
  logp: Float32Array;
  /** Log-probabilities under the policy that sampled the batch, `[N][T]`. */
  logpOld: Float32Array;
  /** Log-probabilities under the reference policy, `[N][T]`; needed when `beta > 0`, else used only for `meanKl`. */
  logpRef?: Float32Array | null;
  /** Advantage of each sequence, `[N]`, broadcast to its tokens. */
  advantages: Float32Array;
  /** Token mask `[N][T]`: nonzero = valid token. */
  mask: Uint8Array;
  /**
   * Policy mask `[N][T]`: nonzero = the token's policy term counts (TRL's entropy mask); a zero keeps the
   * token in the KL term and in every denominator. Defaults to every token.
   */
  policyMask?: Uint8Array | null;
}

/** Batch shape: `sequences` (N) of `tokens` (T). */
export interface PolicyLossShape {
  sequences: number;
  tokens: number;
}

/** Statistics of one call. Fractions and means are over the valid tokens (0 when there are none). */
export interface PolicyLossMetrics {
  /** Fraction of valid tokens with A < 0 whose ratio is below `1 − ε_low` (lower clip active). */
  clipFracLow: number;
  /** Fraction of valid tokens with A > 0 whose ratio is above `1 + ε_high` (upper clip active). */
  clipFracHigh: number;
  /** Fraction of valid tokens with A < 0 whose loss is capped at `−c·A` by the dual clip. */
  dualClipFrac: number;
  /** Mean ratio `exp(logp − logpOld)`. */
  meanRatio: number;
  /** Mean of the selected KL estimator (0 without `logpRef`). */
  meanKl: number;
  /** Tokens that entered the loss. */
  validTokens: number;
  /** Tokens with mask ≠ 0 excluded because an input value (log-prob or their sequence's advantage) was not finite. */
  nonFinite: number;
}

export interface PolicyLossResult {
  /** The aggregated loss (to be minimized). */
  loss: number;
  /** ∂loss/∂logp, `[N][T]`; 0 at excluded tokens. */
  grad: Float32Array;
  metrics: PolicyLossMetrics;
  /** The implementation that ran. */
  backend: ResolvedBackend;
}

export const KL_CODES: Record<KlEstimator, number> = { k1: 0, k2: 1, k3: 2 };
export const AGGREGATION_CODES: Record<LossAggregation, number> = { 'token-mean': 0, 'sequence-mean': 1, constant: 2 };

/** Validated inputs and options, in the form every backend consumes (codes as in native/kernels/policy_loss.h). */
export interface PolicyLossParams {
  sequences: number;
  tokens: number;
  logp: Float32Array;
  logpOld: Float32Array;
  logpRef: Float32Array | null;
  advantages: Float32Array;
  mask: Uint8Array;
  policyMask: Uint8Array | null;
  epsilonLow: number;
  epsilonHigh: number;
  /** 0 = off. */
  dualClip: number;
  beta: number;
  /** 0 = k1, 1 = k2, 2 = k3. */
  kl: number;
  /** 0 = token-mean, 1 = sequence-mean, 2 = constant. */
  aggregation: number;
  maxLength: number;
  /** 0 = token, 1 = sequence. */
  importanceSampling: number;
  /** 0 = clip, 1 = cispo, 2 = sapo. */
  surrogate: number;
  sapoTemperaturePos: number;
  sapoTemperatureNeg: number;
  /** 0 = the number of valid tokens. */
  numTokens: number;
  /** 0 = the number of sequences with a valid token. */
  numSequences: number;
}

export const IMPORTANCE_SAMPLING_CODES: Record<ImportanceSamplingLevel, number> = { token: 0, sequence: 1 };
export const SURROGATE_CODES: Record<Surrogate, number> = { clip: 0, cispo: 1, sapo: 2 };

const INPUT_KEYS = ['logp', 'logpOld', 'logpRef', 'advantages', 'mask', 'policyMask'] as const;
const OPTION_KEYS = [
  'epsilonLow', 'epsilonHigh', 'dualClip', 'beta', 'kl', 'aggregation', 'maxLength',
  'importanceSampling', 'surrogate', 'sapoTemperaturePos', 'sapoTemperatureNeg', 'numTokens', 'numSequences', 'backend',
] as const;

/** Check `shape` (each field read once) and return a plain copy; the gradient output must fit MAX_OUTPUT_ELEMENTS. */
export function validatePolicyShape(shape: unknown): PolicyLossShape {
  if (!isFieldObject(shape)) {
    throw invalidType('shape', 'an object { sequences, tokens }', shape);
  }
  const sequences = readField(shape, 'sequences', 'shape.sequences');
  const tokens = readField(shape, 'tokens', 'shape.tokens');
  assertPositiveInt('shape.sequences', sequences);
  assertPositiveInt('shape.tokens', tokens);
  const n = sequences * tokens;
  if (!Number.isSafeInteger(n) || n > MAX_ELEMENTS) {
    throw invalidValue('shape', `sequences·tokens <= ${MAX_ELEMENTS} elements`, n);
  }
  checkOutputSizes([['grad', n, 'sequences·tokens']], `{ sequences: ${sequences}, tokens: ${tokens} }`);
  return { sequences, tokens };
}

function tokenArray(name: string, value: unknown, n: number, fixedLength: boolean): Float32Array {
  checkTypedArray(name, value, 'Float32Array', n, `a Float32Array of length ${n} (sequences·tokens)`, { fixedLength });
  return value as Float32Array;
}

/**
 * Validate the options alone (shared with the tfjs op, which gets its arrays from tensors). Each
 * option is read once (`readOptions`), and the value checked is the value used.
 */
export function resolvePolicyOptions(
  options: unknown,
  shape: PolicyLossShape,
  hasRef: boolean,
): Omit<PolicyLossParams, 'sequences' | 'tokens' | 'logp' | 'logpOld' | 'logpRef' | 'advantages' | 'mask' | 'policyMask'> {
  const o = readOptions('options', options, OPTION_KEYS);
  let epsilonLow = DEFAULT_EPSILON;
  if (o.epsilonLow !== undefined) {
    assertNumber('options.epsilonLow', o.epsilonLow, { min: 0, max: 1 });
    epsilonLow = o.epsilonLow;
  }
  let epsilonHigh = epsilonLow;
  if (o.epsilonHigh !== undefined) {
    assertNumber('options.epsilonHigh', o.epsilonHigh, { min: 0 });
    epsilonHigh = o.epsilonHigh;
  }
  let dualClip = 0;
  if (o.dualClip !== undefined) {
    assertNumber('options.dualClip', o.dualClip, { min: 1, exclusiveMin: true });
    dualClip = o.dualClip;
  }
  let beta = 0;
  if (o.beta !== undefined) {
    assertNumber('options.beta', o.beta, { min: 0 });
    beta = o.beta;
  }
  if (beta > 0 && !hasRef) throw invalidValue('options.beta', '0 when inputs.logpRef is not given', beta);
  let kl: KlEstimator = 'k3';
  if (o.kl !== undefined) {
    assertOneOf('options.kl', o.kl, KL_ESTIMATORS);
    kl = o.kl;
  }
  let aggregation: LossAggregation = 'token-mean';
  if (o.aggregation !== undefined) {
    assertOneOf('options.aggregation', o.aggregation, LOSS_AGGREGATIONS);
    aggregation = o.aggregation;
  }
  let maxLength = shape.tokens;
  if (o.maxLength !== undefined) {
    assertPositiveInt('options.maxLength', o.maxLength);
    if (o.maxLength > MAX_LENGTH) throw invalidValue('options.maxLength', `a positive integer <= ${MAX_LENGTH}`, o.maxLength);
    maxLength = o.maxLength;
  }
  let importanceSampling: ImportanceSamplingLevel = 'token';
  if (o.importanceSampling !== undefined) {
    assertOneOf('options.importanceSampling', o.importanceSampling, IMPORTANCE_SAMPLING_LEVELS);
    importanceSampling = o.importanceSampling;
  }
  let surrogate: Surrogate = 'clip';
  if (o.surrogate !== undefined) {
    assertOneOf('options.surrogate', o.surrogate, SURROGATES);
    surrogate = o.surrogate;
  }
  if (dualClip > 0 && surrogate !== 'clip') throw invalidValue('options.dualClip', `undefined with surrogate '${surrogate}'`, dualClip);
  const positive = (name: 'sapoTemperaturePos' | 'sapoTemperatureNeg' | 'numTokens' | 'numSequences', fallback: number): number => {
    const v = o[name];
    if (v === undefined) return fallback;
    assertNumber(`options.${name}`, v, { min: 0, exclusiveMin: true });
    return v;
  };
  return {
    epsilonLow,
    epsilonHigh,
    dualClip,
    beta,
    kl: KL_CODES[kl],
    aggregation: AGGREGATION_CODES[aggregation],
    maxLength,
    importanceSampling: IMPORTANCE_SAMPLING_CODES[importanceSampling],
    surrogate: SURROGATE_CODES[surrogate],
    sapoTemperaturePos: positive('sapoTemperaturePos', 1),
    sapoTemperatureNeg: positive('sapoTemperatureNeg', 1.05),
    numTokens: positive('numTokens', 0),
    numSequences: positive('numSequences', 0),
  };
}

/**
 * Validate a call. The caller's objects (shape, inputs, options) are read once each, before any
 * array is checked, so no caller code runs between the checks and the kernel. `async` calls
 * reject arrays over resizable or growable buffers (docs/kernels.md, "Arguments").
 */
function preparePolicyLoss(
  inputs: unknown,
  shape: unknown,
  options: unknown,
  async: boolean,
): { params: PolicyLossParams; backend: unknown } {
  const s = validatePolicyShape(shape);
  if (!isFieldObject(inputs)) {
    throw invalidType('inputs', 'an object { logp, logpOld, logpRef?, advantages, mask, policyMask? }', inputs);
  }
  const i = readOptions('inputs', inputs, INPUT_KEYS);
  const o = readOptions('options', options, OPTION_KEYS);
  const n = s.sequences * s.tokens;
  const logp = tokenArray('inputs.logp', i.logp, n, async);
  const logpOld = tokenArray('inputs.logpOld', i.logpOld, n, async);
  const logpRef = i.logpRef === undefined || i.logpRef === null ? null : tokenArray('inputs.logpRef', i.logpRef, n, async);
  const advExpected = `a Float32Array of length ${s.sequences} (sequences)`;
  checkTypedArray('inputs.advantages', i.advantages, 'Float32Array', s.sequences, advExpected, { fixedLength: async });
  const maskExpected = `a Uint8Array of length ${n} (sequences·tokens)`;
  checkTypedArray('inputs.mask', i.mask, 'Uint8Array', n, maskExpected, { fixedLength: async });
  if (i.policyMask !== undefined && i.policyMask !== null) {
    checkTypedArray('inputs.policyMask', i.policyMask, 'Uint8Array', n, `${maskExpected} or null`, { fixedLength: async });
  }
  const params: PolicyLossParams = {
    sequences: s.sequences,
    tokens: s.tokens,
    logp,
    logpOld,
    logpRef,
    advantages: i.advantages as Float32Array,
    mask: i.mask as Uint8Array,
    policyMask: i.policyMask === undefined || i.policyMask === null ? null : (i.policyMask as Uint8Array),
    ...resolvePolicyOptions(o, s, logpRef !== null),
  };
  return { params, backend: o.backend };
}

/** Validate everything a call takes; throws TypeError/RangeError naming the argument. */
export function resolvePolicyLoss(inputs: unknown, shape: unknown, options: unknown): PolicyLossParams {
  return preparePolicyLoss(inputs, shape, options, false).params;
}

function nativeArgs(p: PolicyLossParams, device: number, grad: Float32Array): NativePolicyLossArgs {
  return { ...p, device: device as NativePolicyLossArgs['device'], grad };
}

function toResult(r: NativePolicyLossResult, grad: Float32Array, backend: ResolvedBackend): PolicyLossResult {
  const { loss, ...metrics } = r;
  return {
    loss,
    grad,
    metrics: {
      clipFracLow: metrics.clipFracLow,
      clipFracHigh: metrics.clipFracHigh,
      dualClipFrac: metrics.dualClipFrac,
      meanRatio: metrics.meanRatio,
      meanKl: metrics.meanKl,
      validTokens: metrics.validTokens,
      nonFinite: metrics.nonFinite,
    },
    backend,
  };
}

/**
 * Clipped policy loss, its gradient with respect to `logp`, and metrics (docs/policy-loss.md).
 *
 * Valid tokens: mask ≠ 0 and every given log-prob at the token and the sequence's advantage finite;
 * the others are excluded (those with mask ≠ 0 are counted in `metrics.nonFinite`). An all-excluded
 * batch gives loss 0 and a zero gradient.
 */
export function policyLoss(
  inputs: PolicyLossInputs,
  shape: PolicyLossShape,
  options?: PolicyLossCallOptions,
): PolicyLossResult {
  const { params: p, backend } = preparePolicyLoss(inputs, shape, options, false);
  const call = resolveBackend(backend);
  const grad = allocateOutput(p.sequences * p.tokens, 'grad');
  if (call.addon) return toResult(call.addon.policyLoss(nativeArgs(p, call.device, grad)), grad, call.backend);
  return toResult(policyLossJs(p, grad), grad, call.backend);
}

/**
 * `policyLoss` with the native work off the JavaScript thread (the pure-TypeScript path runs
 * on a later tick).
 * The arrays passed must not be modified, transferred or detached until the promise settles;
 * arrays over resizable or growable buffers are rejected (docs/kernels.md, "Arguments").
 */
export async function policyLossAsync(
  inputs: PolicyLossInputs,
  shape: PolicyLossShape,
  options?: PolicyLossCallOptions,
): Promise<PolicyLossResult> {
  const { params: p, backend } = preparePolicyLoss(inputs, shape, options, true);
  const call = resolveBackend(backend);
  const grad = allocateOutput(p.sequences * p.tokens, 'grad');
  if (call.addon) return toResult(await call.addon.policyLoss(nativeArgs(p, call.device, grad), true), grad, call.backend);
  await laterTick();
  return toResult(policyLossJs(p, grad), grad, call.backend);
}
