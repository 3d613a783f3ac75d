/**
 * `GPRLTrainerConfig`: every knob of the trainer, with its default. Names follow TRL's `GRPOConfig`
 * (camel-cased) and verl where they mean the same thing.
 */
import {
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertOptionsObject,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';
import type { NormalizeMode, ScoreMode, StdMode } from '../types.js';
import type { KlEstimator, LossAggregation } from '../kernels/policyLoss.js';
import type { DriftMonitorOptions } from '../monitor/driftMonitor.js';

/** TRL loss types and the aggregation each maps to (design §2.4); the aggregation names are accepted too. */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | LossAggregation;
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'token-mean', 'sequence-mean', 'constant'];

/** How scalar rewards (the `reward` function path) are scaled, as TRL's `scale_rewards`. */
export type ScaleRewards = 'group' | 'batch' | 'none';
export type LrSchedulerType = 'constant' | 'linear' | 'cosine';
export type OptimizerName = 'adam' | 'sgd';

export interface GPRLTrainerConfig {
  // ---- rollout ----
  /** Prompts per step (B). Defaults to `8`. */
  batchSize?: number;
  /** Responses sampled per prompt (G), ≥ 2 for a non-zero group advantage. Defaults to `8`. */
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
  /** Reward-function path only: `'group'` (divide by the group std, GRPO), `'batch'` (by the batch std) or `'none'` (Dr. GRPO). Defaults to `'group'`. */
  scaleRewards?: ScaleRewards;

  // ---- loss ----
  /** `'grpo'` → sequence-mean, `'bnpo'`/`'token-mean'` → token-mean, `'dr_grpo'`/`'constant'` → sum/(N·T). Defaults to `'grpo'`. */
  lossType?: LossType;
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
  batchSize: number;
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
  lossType: LossType;
  epsilon: number;
  epsilonHigh: number | null;
  dualClip: number | null;
  beta: number;
  klEstimator: KlEstimator;
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
  batchSize: 8,
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
  lossType: 'grpo',
  epsilon: 0.2,
  epsilonHigh: null,
  dualClip: null,
  beta: 0.04,
  klEstimator: 'k3',
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

const KEYS = Object.keys(DEFAULT_CONFIG) as (keyof ResolvedTrainerConfig)[];

function nonNegInt(name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number') throw invalidType(name, 'a non-negative integer', v);
  if (!Number.isSafeInteger(v) || v < 0) throw invalidValue(name, 'a non-negative integer', v);
}

/** Fill defaults and validate every option (errors name `config.<option>`). */
export function resolveTrainerConfig(config: unknown): ResolvedTrainerConfig {
  assertOptionsObject('config', config);
  assertKnownKeys('config', config, KEYS);
  const c = { ...DEFAULT_CONFIG, ...Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined)) } as Record<string, unknown>;
  assertPositiveInt('config.batchSize', c.batchSize);
  assertPositiveInt('config.numGenerations', c.numGenerations);
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
  assertOneOf('config.lossType', c.lossType, LOSS_TYPES);
  assertNumber('config.epsilon', c.epsilon, { min: 0, max: 1 });
  if (c.epsilonHigh !== null) assertNumber('config.epsilonHigh', c.epsilonHigh, { min: 0 });
  if (c.dualClip !== null) assertNumber('config.dualClip', c.dualClip, { min: 1, exclusiveMin: true });
  assertNumber('config.beta', c.beta, { min: 0 });
  assertOneOf('config.klEstimator', c.klEstimator, ['k1', 'k2', 'k3'] as const);
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

/** The loss aggregation a `lossType` stands for. */
export function aggregationOf(lossType: LossType): LossAggregation {
  switch (lossType) {
    case 'grpo':
      return 'sequence-mean';
    case 'bnpo':
      return 'token-mean';
    case 'dr_grpo':
      return 'constant';
    default:
      return lossType;
  }
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
