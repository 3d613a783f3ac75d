/**
 * Per-step training metrics: the record `GPRLTrainer` hands to `onStep` and appends, one JSON line
 * per step, to `metricsPath`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export interface StepTiming {
  /** Sampling the responses, ms. */
  rolloutMs: number;
  /** The verifier (or reward function), ms. */
  verifierMs: number;
  /** Reference and old log-probs, ms. */
  logProbMs: number;
  /** Advantages and the drift monitor, ms. */
  advantageMs: number;
  /** The `numIterations` optimizer passes, ms. */
  optimizeMs: number;
  /** The whole step, ms. */
  stepMs: number;
  /** Responses per second over the whole step. */
  samplesPerSecond: number;
  /** Response tokens per second over the whole step. */
  tokensPerSecond: number;
}

/** Everything measured in one step. Arrays of length k are per preference dimension. */
export interface StepMetrics {
  /** 1-based index of the step just taken. */
  step: number;
  /** Learning rate used by this step's optimizer passes. */
  learningRate: number;
  /** Loss of the last optimizer pass (before its update). */
  loss: number;
  /** Global gradient norm before clipping, mean over the passes. */
  gradNorm: number;
  /** Preference dimensions k (1 on the reward-function path). */
  dims: number;
  /** Mean over valid responses of each dimension's group score ŝ_l (the reward on the reward-function path). */
  scoreMean: number[];
  /** Mean over groups of each dimension's within-group standard deviation of ŝ_l. */
  scoreStd: number[];
  /** Degenerate (zero-variance) normalizations / (B·k) (`per-dimension`, `gdpo`) or / B (`scalar`). */
  zeroVarianceShare: number;
  /** Share of each dimension in the advantage: Σ_i |w_l·Â_l(i)| / Σ_l' Σ_i |w_l'·Â_l'(i)| (uniform 1/k when all zero). */
  dimContribution: number[];
  /** Mean verifier score: the Bradley-Terry reward or the reward function's value; `null` for a GPM. */
  rewardMean: number | null;
  /** Standard deviation of the same, or `null`. */
  rewardStd: number | null;
  /** Mean |advantage| over valid responses. */
  advantageAbsMean: number;
  /** Drift monitor spectrum α of this step (`null` without a monitor). */
  alpha: number[] | null;
  /** Drift D = KL(ᾱ‖α⁰) (`null` without a monitor). */
  drift: number | null;
  /** Whether the monitor tightened the trust region this step. */
  drifted: boolean;
  /** Per-dimension mean score s_l(sample, reference) against the fixed reference responses (`referenceResponses`), or `null`. */
  referenceScores: number[] | null;
  /** Dimension weights m used for the advantages. */
  dimWeights: number[];
  /** KL coefficient β used by the loss. */
  beta: number;
  /** Clip range ε (lower) used by the loss. */
  epsilon: number;
  /** Fraction of tokens with A < 0 clipped at 1 − ε, mean over passes. */
  clipFracLow: number;
  /** Fraction of tokens with A > 0 clipped at 1 + ε_high, mean over passes. */
  clipFracHigh: number;
  /** Fraction of tokens capped by the dual clip, mean over passes. */
  dualClipFrac: number;
  /** Mean importance ratio, mean over passes. */
  meanRatio: number;
  /** KL estimate to the reference policy (the configured estimator, over the tokens of valid responses) at sampling time. */
  kl: number;
  /** Mean token entropy (nats) of the sampling distribution, over the tokens of valid responses. */
  entropy: number;
  /** Mean response length in tokens. */
  responseLength: number;
  /** Share of responses that reached `maxCompletionLength` without the EOS token (when one is set). */
  clippedRatio: number;
  /** Responses excluded from the update (non-finite verifier output or log-prob, or masked). */
  maskedResponses: number;
  /** Of those, responses with a non-finite old or reference log-prob. */
  nonFiniteLogProbs: number;
  /** Drift events of this step, by kind. */
  events: string[];
  /** Wall-clock timings and throughput (the only fields that vary between identical seeded runs). */
  timing: StepTiming;
}

/** Append one line to a JSONL file (creating its directory). A line is written by one `appendFileSync` call. */
export function appendMetricsLine(file: string, metrics: StepMetrics): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  appendFileSync(file, `${JSON.stringify(metrics)}\n`);
}

/** Mean and (population) standard deviation of the finite values, `[NaN, NaN]` if none. */
export function meanStd(values: ArrayLike<number>): [number, number] {
  let n = 0;
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  if (n === 0) return [Number.NaN, Number.NaN];
  const m = s / n;
  let q = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) q += (v - m) * (v - m);
  }
  return [m, Math.sqrt(q / n)];
}
