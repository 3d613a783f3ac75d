/**
 * `GPRLTrainerConfig`: every knob of the trainer, with its default. Names follow TRL's `GRPOConfig`
 * (camel-cased) and verl where they mean the same thing; docs/trainer.md has the TRL ↔ gprl table.
 */
import {
  assertNumber,
  assertOneOf,
  assertOptionsObject,
  assertPositiveInt,
  invalidRead,
  invalidType,
  invalidValue,
} from '../errors.js';
import type { NormalizeMode, ScoreMode, StdMode } from '../types.js';
import type { ImportanceSamplingLevel, KlEstimator, LossAggregation, Surrogate } from '../kernels/policyLoss.js';
import { didYouMean } from '../suggest.js';
import type { DriftMonitorOptions } from '../monitor/driftMonitor.js';

/** TRL's loss types (`GRPOConfig.loss_type`). */
export type TrlLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'cispo' | 'sapo';
/** A TRL loss type, or one of the aggregation names accepted as aliases (`'sequence-mean'` = `'grpo'`, `'token-mean'` = `'bnpo'`, `'constant'` = `'dr_grpo'`). */
export type LossType = TrlLossType | LossAggregation;
export const TRL_LOSS_TYPES: readonly TrlLossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo'];
export const LOSS_TYPES: readonly LossType[] = [...TRL_LOSS_TYPES, 'token-mean', 'sequence-mean', 'constant'];
const LOSS_TYPE_ALIASES: Record<LossAggregation, TrlLossType> = { 'sequence-mean': 'grpo', 'token-mean': 'bnpo', constant: 'dr_grpo' };

/** How scalar rewards (the `reward` function path) are scaled, as TRL's `scale_rewards`. */
export type ScaleRewards = 'group' | 'batch' | 'none';
export type LrSchedulerType = 'constant' | 'linear' | 'cosine';
export type OptimizerName = 'adam' | 'sgd';

export interface GPRLTrainerConfig {
  // ---- rollout ----
  /**
   * Prompts per step (B); each gets `numGenerations` responses, so a step has B·G completions. Give at most
   * one of `promptsPerStep`, `batchSize` and `generationBatchSize`. Defaults to `8`.
   */
  promptsPerStep?: number;
  /**
   * Alias of `promptsPerStep` (prompts, not completions — TRL's batch sizes count completions). Kept for
   * existing configs. Defaults to `promptsPerStep`.
   */
  batchSize?: number;
  /**
   * Completions per step, as TRL's `generation_batch_size`: a multiple of `numGenerations`, sets
   * `promptsPerStep = generationBatchSize / numGenerations`. Defaults to `promptsPerStep·numGenerations`.
   */
  generationBatchSize?: number;
  /** Responses sampled per prompt (G, TRL's `num_generations`), ≥ 2 for a non-zero group advantage. Defaults to `8`. */
  numGenerations?: number;
  /** Maximum response length in tokens (T). Defaults to `16`. */
  maxCompletionLength?: number;
  /** Sampling temperature (> 0); log-probs are taken under the same temperature. Defaults to `1`. */
  temperature?: number;
  /** Nucleus sampling mass in (0, 1]. Defaults to `1` (off). */
  topP?: number;
  /** Token that ends a response, or `null`. Defaults to `null`. */
  eosToken?: number | null;

  // ---- advantages ----
  /** `'per-dimension'` (GPRL), `'scalar'` (GRPO on the aggregate score) or `'gdpo'`. Defaults to `'per-dimension'`. */
  normalize?: NormalizeMode;
  /** Group score mode of the verifier path: `'logit'` or `'winrate'`. Defaults to `'logit'`. */
  scoreMode?: ScoreMode;
  /** Win-rate temperature τ (> 0), `'winrate'` only. Defaults to `0.1`. */
  scoreTau?: number;
  /** ε added to standard deviations in the advantage normalization (≥ 0). Defaults to `1e-4`. */
  advantageEpsilon?: number;
  /** Standard-deviation convention: `'unbiased'` or `'biased'`. Defaults to `'unbiased'`. */
  std?: StdMode;
  /** Static dimension weights m (k finite values ≥ 0, positive sum); the drift monitor's weights replace them when it runs. Defaults to all 1. */
  dimWeights?: number[] | null;
  /**
   * Reward-function path only (TRL's `scale_rewards`): `'group'` (divide by the group std, GRPO), `'batch'`
   * (by the std of every reward of the step) or `'none'` (Dr. GRPO). With a verifier, `normalize` decides and
   * any value but `'group'` is an error. Defaults to `'group'`.
   */
  scaleRewards?: ScaleRewards;
  /**
   * Mask truncated completions (no `eosToken` within `maxCompletionLength`) out of the loss, as TRL's
   * `mask_truncated_completions`; they still count in the advantages (and in `dapo`'s and `grpo`'s
   * normalizers, as in TRL). Needs `eosToken`. Defaults to `false`.
   */
  maskTruncatedCompletions?: boolean;

  // ---- loss ----
  /**
   * TRL's `loss_type`: `'grpo'` (mean over completions of each one's token mean), `'bnpo'` (token mean over
   * the step's unmasked tokens), `'dapo'` (token sum / every completion token of the step), `'dr_grpo'`
   * (sum / (completions·maxCompletionLength)), `'cispo'` (CISPO surrogate, `dapo` normalizer) or `'sapo'`
   * (SAPO surrogate, `grpo` normalizer); aliases `'sequence-mean'` = grpo, `'token-mean'` = bnpo, `'constant'`
   * = dr_grpo. Defaults to `'grpo'` (TRL's default is `'dapo'`; docs/trainer.md says why gprl differs).
   */
  lossType?: LossType;
  /**
   * TRL's `importance_sampling_level`: `'token'` (one ratio per token) or `'sequence'` (GSPO: one ratio per
   * completion, the exp of its mean token log-ratio, clipped at the sequence level). Defaults to `'token'`.
   */
  importanceSamplingLevel?: ImportanceSamplingLevel;
  /** SAPO gate temperature for positive advantages (> 0), TRL's `sapo_temperature_pos`. Defaults to `1`. */
  sapoTemperaturePos?: number;
  /** SAPO gate temperature for other advantages (> 0), TRL's `sapo_temperature_neg`. Defaults to `1.05`. */
  sapoTemperatureNeg?: number;
  /**
   * TRL's `top_entropy_quantile` ρ in [0, 1]: only tokens whose entropy is at least the (1 − ρ) quantile of the
   * step's unmasked token entropies keep their policy term (the KL term and the normalizers keep every
   * token). `1` keeps every token. Defaults to `1`.
   */
  topEntropyQuantile?: number;
  /**
   * Entropy bonus coefficient (≥ 0): the loss becomes `loss − entropyCoef·H`, H the policy's token entropy
   * reduced like the loss (per the loss type's normalizer). A gprl extension (verl's `entropy_coeff`); TRL's
   * `GRPOTrainer` loss has no entropy term. Defaults to `0`.
   */
  entropyCoef?: number;
  /** Clip range ε (lower; also upper unless `epsilonHigh` is set), in [0, 1]. The drift monitor's ε replaces it when it runs. Defaults to `0.2`. */
  epsilon?: number;
  /** Upper clip range ε_high (DAPO's clip-higher), ≥ 0, or `null` for `epsilon`. Defaults to `null`. */
  epsilonHigh?: number | null;
  /** Dual-clip constant c > 1 for negative advantages, or `null` (off). Defaults to `null`. */
  dualClip?: number | null;
  /** KL coefficient β ≥ 0 against the frozen reference policy. The drift monitor's β replaces it when it runs. Defaults to `0.04`. */
  beta?: number;
  /** KL estimator `'k1'`, `'k2'` or `'k3'`. Defaults to `'k3'`. */
  klEstimator?: KlEstimator;
  /**
   * TRL's `sync_ref_model`: every `refModelSyncSteps` steps, the reference policy becomes
   * `refModelMixupAlpha·policy + (1 − refModelMixupAlpha)·reference` (TR-DPO's soft update). A reference
   * policy passed in `options.referencePolicy` is updated in place. Defaults to `false`.
   */
  syncRefModel?: boolean;
  /** α in [0, 1] of the reference update, TRL's `ref_model_mixup_alpha`. Defaults to `0.6`. */
  refModelMixupAlpha?: number;
  /** Steps between reference updates (positive integer), TRL's `ref_model_sync_steps`. Defaults to `512`. */
  refModelSyncSteps?: number;

  // ---- optimization ----
  /** Peak learning rate (> 0). Defaults to `1e-3`. */
  learningRate?: number;
  /** `'adam'` (tfjs-core Adam) or `'sgd'`. Defaults to `'adam'`. */
  optimizer?: OptimizerName;
  /** Adam β₁ in [0, 1). Defaults to `0.9`. */
  adamBeta1?: number;
  /** Adam β₂ in [0, 1). Defaults to `0.999`. */
  adamBeta2?: number;
  /** Adam ε (> 0). Defaults to `1e-8`. */
  adamEpsilon?: number;
  /** Optimization passes over each rollout (μ), each one optimizer step. Defaults to `1`. */
  numIterations?: number;
  /** Clip the global gradient norm to this value (> 0), or `null` (no clipping). Defaults to `1`. */
  maxGradNorm?: number | null;
  /** Learning-rate schedule after the warm-up: `'constant'`, `'linear'` (to 0 at `maxSteps`) or `'cosine'` (to 0 at `maxSteps`). Defaults to `'constant'`. */
  lrSchedulerType?: LrSchedulerType;
  /** Linear warm-up steps from 0 (as Hugging Face schedulers: factor step/warmupSteps). Defaults to `0`. */
  warmupSteps?: number;
  /** Warm-up as a fraction of `maxSteps`, in [0, 1), used when `warmupSteps` is 0. Defaults to `0`. */
  warmupRatio?: number;
  /** Length of the run: the schedule's horizon and what `train()` runs to. Defaults to `100`. */
  maxSteps?: number;

  // ---- control ----
  /** Drift monitor (design §2.5): `true` for its defaults, an options object (without `dims`), or `false`.
   * Its β/ε baselines default to this config's `beta`/`epsilon`. Ignored with a `reward` function. Defaults to `true`. */
  drift?: boolean | Omit<DriftMonitorOptions, 'dims'>;
  /** Seed of every random choice (prompt order, sampling). Defaults to `0`. */
  seed?: number;
  /** Append one JSON line of metrics per step to this file, or `null`. Defaults to `null`. */
  metricsPath?: string | null;
}

export interface ResolvedTrainerConfig {
  /** Prompts per step (B). */
  promptsPerStep: number;
  numGenerations: number;
  maxCompletionLength: number;
  temperature: number;
  topP: number;
  eosToken: number | null;
  normalize: NormalizeMode;
  scoreMode: ScoreMode;
  scoreTau: number;
  advantageEpsilon: number;
  std: StdMode;
  dimWeights: number[] | null;
  scaleRewards: ScaleRewards;
  maskTruncatedCompletions: boolean;
  /** Always a TRL name (aliases are resolved). */
  lossType: TrlLossType;
  importanceSamplingLevel: ImportanceSamplingLevel;
  sapoTemperaturePos: number;
  sapoTemperatureNeg: number;
  topEntropyQuantile: number;
  entropyCoef: number;
  epsilon: number;
  epsilonHigh: number | null;
  dualClip: number | null;
  beta: number;
  klEstimator: KlEstimator;
  syncRefModel: boolean;
  refModelMixupAlpha: number;
  refModelSyncSteps: number;
  learningRate: number;
  optimizer: OptimizerName;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  numIterations: number;
  maxGradNorm: number | null;
  lrSchedulerType: LrSchedulerType;
  warmupSteps: number;
  warmupRatio: number;
  maxSteps: number;
  drift: false | Omit<DriftMonitorOptions, 'dims'>;
  seed: number;
  metricsPath: string | null;
}

export const DEFAULT_CONFIG: Readonly<ResolvedTrainerConfig> = Object.freeze({
  promptsPerStep: 8,
  numGenerations: 8,
  maxCompletionLength: 16,
  temperature: 1,
  topP: 1,
  eosToken: null,
  normalize: 'per-dimension',
  scoreMode: 'logit',
  scoreTau: 0.1,
  advantageEpsilon: 1e-4,
  std: 'unbiased',
  dimWeights: null,
  scaleRewards: 'group',
  maskTruncatedCompletions: false,
  lossType: 'grpo',
  importanceSamplingLevel: 'token',
  sapoTemperaturePos: 1,
  sapoTemperatureNeg: 1.05,
  topEntropyQuantile: 1,
  entropyCoef: 0,
  epsilon: 0.2,
  epsilonHigh: null,
  dualClip: null,
  beta: 0.04,
  klEstimator: 'k3',
  syncRefModel: false,
  refModelMixupAlpha: 0.6,
  refModelSyncSteps: 512,
  learningRate: 1e-3,
  optimizer: 'adam',
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  numIterations: 1,
  maxGradNorm: 1,
  lrSchedulerType: 'constant',
  warmupSteps: 0,
  warmupRatio: 0,
  maxSteps: 100,
  drift: {},
  seed: 0,
  metricsPath: null,
});

const KEYS: readonly string[] = [...Object.keys(DEFAULT_CONFIG), 'batchSize', 'generationBatchSize'];

/** Options of TRL's GRPOConfig that gprl names differently, for the unknown-key message. */
const TRL_NAMES: Record<string, string> = {
  per_device_train_batch_size: 'promptsPerStep (prompts) or generationBatchSize (completions)',
  generation_batch_size: 'generationBatchSize',
  num_generations: 'numGenerations',
  max_completion_length: 'maxCompletionLength',
  loss_type: 'lossType',
  importance_sampling_level: 'importanceSamplingLevel',
  scale_rewards: 'scaleRewards',
  mask_truncated_completions: 'maskTruncatedCompletions',
  top_entropy_quantile: 'topEntropyQuantile',
  sync_ref_model: 'syncRefModel',
  ref_model_mixup_alpha: 'refModelMixupAlpha',
  ref_model_sync_steps: 'refModelSyncSteps',
  epsilon_high: 'epsilonHigh',
  num_iterations: 'numIterations',
  learning_rate: 'learningRate',
  max_grad_norm: 'maxGradNorm',
  entropy_coeff: 'entropyCoef',
};

function assertKnownConfigKeys(config: Record<string, unknown>): void {
  let keys: string[];
  try {
    keys = Object.keys(config);
  } catch (err) {
    throw invalidRead('config', err);
  }
  for (const key of keys) {
    if (KEYS.includes(key)) continue;
    const trl = TRL_NAMES[key];
    const hint = trl !== undefined ? ` (TRL's ${key} is ${trl} here)` : didYouMean(key, KEYS);
    throw invalidValue(`config.${key}`, `a known option${hint}`, key);
  }
}

function nonNegInt(name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number') throw invalidType(name, 'a non-negative integer', v);
  if (!Number.isSafeInteger(v) || v < 0) throw invalidValue(name, 'a non-negative integer', v);
}

/** Fill defaults and validate every option (errors name `config.<option>`). */
export function resolveTrainerConfig(config: unknown): ResolvedTrainerConfig {
  assertOptionsObject('config', config);
  if (config !== undefined) assertKnownConfigKeys(config);
  const given = Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined));
  const c = { ...DEFAULT_CONFIG, ...given } as Record<string, unknown>;
  assertPositiveInt('config.numGenerations', c.numGenerations);
  // Batch size: prompts (promptsPerStep, or its alias batchSize) or completions (generationBatchSize).
  const sizes = (['promptsPerStep', 'batchSize', 'generationBatchSize'] as const).filter((k) => given[k] !== undefined);
  for (const k of sizes) assertPositiveInt(`config.${k}`, given[k]);
  const G = c.numGenerations as number;
  const prompts = sizes.map((k) => (k === 'generationBatchSize' ? (given[k] as number) / G : (given[k] as number)));
  if (given.generationBatchSize !== undefined && !Number.isSafeInteger(prompts[sizes.indexOf('generationBatchSize')])) {
    throw invalidValue('config.generationBatchSize', `a multiple of numGenerations (${G})`, given.generationBatchSize);
  }
  if (prompts.some((p) => p !== prompts[0])) {
    throw invalidValue(`config.${sizes[1]}`, `the same number of prompts per step as config.${sizes[0]} (${prompts[0]}), or only one of them`, given[sizes[1]!]);
  }
  c.promptsPerStep = prompts[0] ?? DEFAULT_CONFIG.promptsPerStep;
  delete c.batchSize;
  delete c.generationBatchSize;
  assertPositiveInt('config.maxCompletionLength', c.maxCompletionLength);
  assertNumber('config.temperature', c.temperature, { min: 0, exclusiveMin: true });
  assertNumber('config.topP', c.topP, { min: 0, max: 1, exclusiveMin: true });
  if (c.eosToken !== null) nonNegInt('config.eosToken', c.eosToken);
  assertOneOf('config.normalize', c.normalize, ['per-dimension', 'scalar', 'gdpo'] as const);
  assertOneOf('config.scoreMode', c.scoreMode, ['logit', 'winrate'] as const);
  assertNumber('config.scoreTau', c.scoreTau, { min: 0, exclusiveMin: true });
  assertNumber('config.advantageEpsilon', c.advantageEpsilon, { min: 0 });
  assertOneOf('config.std', c.std, ['unbiased', 'biased'] as const);
  if (c.dimWeights !== null) {
    const w = c.dimWeights;
    if (!Array.isArray(w) || w.length === 0) throw invalidType('config.dimWeights', 'a non-empty array of numbers or null', w);
    w.forEach((x, i) => assertNumber(`config.dimWeights[${i}]`, x, { min: 0 }));
    if (!((w as number[]).reduce((a, b) => a + b, 0) > 0)) throw invalidValue('config.dimWeights', 'weights with a positive sum', w);
    c.dimWeights = [...(w as number[])];
  }
  assertOneOf('config.scaleRewards', c.scaleRewards, ['group', 'batch', 'none'] as const);
  if (typeof c.maskTruncatedCompletions !== 'boolean') throw invalidType('config.maskTruncatedCompletions', 'a boolean', c.maskTruncatedCompletions);
  if (c.maskTruncatedCompletions && c.eosToken === null) {
    throw invalidValue('config.maskTruncatedCompletions', 'false when config.eosToken is null (without an end token every completion is truncated)', true);
  }
  assertOneOf('config.lossType', c.lossType, LOSS_TYPES);
  c.lossType = LOSS_TYPE_ALIASES[c.lossType as LossAggregation] ?? c.lossType;
  assertOneOf('config.importanceSamplingLevel', c.importanceSamplingLevel, ['token', 'sequence'] as const);
  assertNumber('config.sapoTemperaturePos', c.sapoTemperaturePos, { min: 0, exclusiveMin: true });
  assertNumber('config.sapoTemperatureNeg', c.sapoTemperatureNeg, { min: 0, exclusiveMin: true });
  assertNumber('config.topEntropyQuantile', c.topEntropyQuantile, { min: 0, max: 1 });
  assertNumber('config.entropyCoef', c.entropyCoef, { min: 0 });
  assertNumber('config.epsilon', c.epsilon, { min: 0, max: 1 });
  if (c.epsilonHigh !== null) assertNumber('config.epsilonHigh', c.epsilonHigh, { min: 0 });
  else if (c.lossType === 'cispo') {
    // TRL caps the CISPO ratio at epsilon_high, falling back to epsilon (0.2): almost surely not meant.
    throw invalidValue('config.epsilonHigh', "the CISPO ratio cap (e.g. 5, ScaleRL's value) when lossType is 'cispo'", null);
  }
  if (c.dualClip !== null) {
    assertNumber('config.dualClip', c.dualClip, { min: 1, exclusiveMin: true });
    if (c.lossType === 'cispo' || c.lossType === 'sapo') throw invalidValue('config.dualClip', `null with lossType '${c.lossType}'`, c.dualClip);
  }
  assertNumber('config.beta', c.beta, { min: 0 });
  assertOneOf('config.klEstimator', c.klEstimator, ['k1', 'k2', 'k3'] as const);
  if (typeof c.syncRefModel !== 'boolean') throw invalidType('config.syncRefModel', 'a boolean', c.syncRefModel);
  assertNumber('config.refModelMixupAlpha', c.refModelMixupAlpha, { min: 0, max: 1 });
  assertPositiveInt('config.refModelSyncSteps', c.refModelSyncSteps);
  assertNumber('config.learningRate', c.learningRate, { min: 0, exclusiveMin: true });
  assertOneOf('config.optimizer', c.optimizer, ['adam', 'sgd'] as const);
  assertNumber('config.adamBeta1', c.adamBeta1, { min: 0 });
  if ((c.adamBeta1 as number) >= 1) throw invalidValue('config.adamBeta1', 'a finite number in [0, 1)', c.adamBeta1);
  assertNumber('config.adamBeta2', c.adamBeta2, { min: 0 });
  if ((c.adamBeta2 as number) >= 1) throw invalidValue('config.adamBeta2', 'a finite number in [0, 1)', c.adamBeta2);
  assertNumber('config.adamEpsilon', c.adamEpsilon, { min: 0, exclusiveMin: true });
  assertPositiveInt('config.numIterations', c.numIterations);
  if (c.maxGradNorm !== null) assertNumber('config.maxGradNorm', c.maxGradNorm, { min: 0, exclusiveMin: true });
  assertOneOf('config.lrSchedulerType', c.lrSchedulerType, ['constant', 'linear', 'cosine'] as const);
  nonNegInt('config.warmupSteps', c.warmupSteps);
  assertNumber('config.warmupRatio', c.warmupRatio, { min: 0 });
  if ((c.warmupRatio as number) >= 1) throw invalidValue('config.warmupRatio', 'a finite number in [0, 1)', c.warmupRatio);
  assertPositiveInt('config.maxSteps', c.maxSteps);
  if (c.drift === true) c.drift = {};
  else if (c.drift !== false) {
    assertOptionsObject('config.drift', c.drift);
    if (c.drift === undefined || 'dims' in (c.drift as object)) throw invalidValue('config.drift', 'a boolean or monitor options without dims', c.drift);
    c.drift = { ...(c.drift as object) };
  }
  assertNumber('config.seed', c.seed);
  if (c.metricsPath !== null && typeof c.metricsPath !== 'string') throw invalidType('config.metricsPath', 'a file path or null', c.metricsPath);
  return c as unknown as ResolvedTrainerConfig;
}

/** The loss aggregation a `lossType` stands for (its normalizer's shape; `dapo` and `cispo` also set `numTokens`). */
export function aggregationOf(lossType: LossType): LossAggregation {
  switch (lossType) {
    case 'grpo':
    case 'sapo':
      return 'sequence-mean';
    case 'bnpo':
    case 'dapo':
    case 'cispo':
      return 'token-mean';
    case 'dr_grpo':
      return 'constant';
    default:
      return lossType;
  }
}

/** The policy-loss surrogate a `lossType` uses. */
export function surrogateOf(lossType: LossType): Surrogate {
  return lossType === 'cispo' ? 'cispo' : lossType === 'sapo' ? 'sapo' : 'clip';
}

/** Number of warm-up steps of a resolved config. */
export function warmupStepsOf(c: Pick<ResolvedTrainerConfig, 'warmupSteps' | 'warmupRatio' | 'maxSteps'>): number {
  return c.warmupSteps > 0 ? c.warmupSteps : Math.ceil(c.warmupRatio * c.maxSteps);
}

/**
 * Learning rate at step `step` (0-based), as the Hugging Face schedulers compute it: warm-up factor
 * `step / W` for `step < W`, then constant, linear decay `(S − step)/(S − W)` or cosine
 * `½(1 + cos(π·(step − W)/(S − W)))`, clamped at 0 after `S = maxSteps`.
 */
export function learningRateAt(c: Pick<ResolvedTrainerConfig, 'learningRate' | 'lrSchedulerType' | 'warmupSteps' | 'warmupRatio' | 'maxSteps'>, step: number): number {
  const W = warmupStepsOf(c);
  const S = c.maxSteps;
  if (step < W) return (c.learningRate * step) / Math.max(1, W);
  if (c.lrSchedulerType === 'constant') return c.learningRate;
  const progress = Math.min(1, (step - W) / Math.max(1, S - W));
  if (c.lrSchedulerType === 'linear') return c.learningRate * Math.max(0, 1 - progress);
  return c.learningRate * 0.5 * (1 + Math.cos(Math.PI * progress));
}
