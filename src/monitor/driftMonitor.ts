/**
 * Drift monitor and adaptive trust region (design §2.5; the math, every option and every event kind
 * are documented in docs/drift-monitor.md).
 *
 * Per step, from the per-dimension group scores ŝ (before normalization):
 *   ν_l = mean over groups with ≥ 2 valid responses of λ_{b,l}² · Var_i ŝ_l(i)
 *   α   = ν / Σν                      (all-zero ν: uniform α, event 'degenerate-spectrum', not folded in)
 *   ᾱ  ← d·ᾱ + (1 − d)·α              (EMA; the first informative step initializes ᾱ = α)
 *   α⁰  = mean of α over the first `warmupSteps` informative steps
 *   D   = KL(ᾱ ‖ α⁰) = Σ_l ᾱ_l · (ln max(ᾱ_l, f) − ln max(α⁰_l, f))
 * Drift when D > τ_D, or when a secondary detector listed in `driftTriggers` fires. On drift:
 *   m_l ← clip(s · m_l · (max(α⁰_l, f) / max(ᾱ_l, f))^γ, m_min, m_max), s chosen so mean(m) = 1
 *         (reweight 'absolute' drops the factor m_l: m follows the current ratio instead of integrating it)
 *   β   ← min(β_max, max(β_onDrift, c_β · β)),   ε ← max(ε_min, c_ε · ε)
 * Without drift, m, β and ε relax geometrically to their baselines: x ← base + (x − base) · relax.
 * With an adaptive-KL controller, β's baseline is the controller's value and the drift surplus
 * (β − baseline) is carried on top of it and relaxes the same way.
 */
import {
  assertFloat32Array,
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertOptionsObject,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';
import { Rng } from '../random.js';
import { AdaptiveKlController, type AdaptiveKlState } from './adaptiveKl.js';

/** Secondary detectors; those listed in `driftTriggers` count as drift when they fire. */
export const SECONDARY_DETECTORS = ['single-axis-gain', 'length-correlation', 'length-drift', 'kl-growth', 'entropy-collapse'] as const;
export type SecondaryDetector = (typeof SECONDARY_DETECTORS)[number];

/** Every event kind a decision can carry (see docs/drift-monitor.md for each one's `values`). */
export const DRIFT_EVENT_KINDS = [
  'warmup-complete',
  'degenerate-spectrum',
  'spectrum-drift',
  ...SECONDARY_DETECTORS,
  'tighten',
  'recovered',
] as const;
export type DriftEventKind = (typeof DRIFT_EVENT_KINDS)[number];

export interface DriftMonitorOptions {
  /** Number of preference dimensions k, a positive integer. Required. */
  dims: number;
  /** Informative steps averaged into the reference spectrum α⁰ (and the warm-up baselines of the secondary detectors), a positive integer. Defaults to `5`. */
  warmupSteps?: number;
  /** EMA decay d of the spectrum, ᾱ ← d·ᾱ + (1−d)·α, in [0, 1). Defaults to `0.8`. */
  emaDecay?: number;
  /**
   * Drift threshold τ_D on KL(ᾱ‖α⁰) in nats (> 0), or `'calibrate'`: τ_D = max(calibrateFloor, μ + z·max(σ, μ))
   * where μ, σ are the mean and (population) std of the warm-up steps' leave-one-out KL(α_j ‖ mean of the other
   * warm-up α); needs warmupSteps ≥ 3. Defaults to `0.05`.
   */
  threshold?: number | 'calibrate';
  /** z in the calibrated threshold, ≥ 0. Defaults to `5`. */
  calibrateZ?: number;
  /** Lower bound of the calibrated threshold in nats, > 0. Defaults to `0.02`. */
  calibrateFloor?: number;
  /** Floor f inside the logarithms of the KL and of the reweighting ratio, in (0, 0.01]. Defaults to `1e-8`. */
  logFloor?: number;
  /** Variance convention of Var_i ŝ_l(i): `'unbiased'` (divide by G'−1, as the advantage std) or `'biased'` (divide by G'). Defaults to `'unbiased'`. */
  variance?: 'unbiased' | 'biased';
  /** Exponent γ of the reweighting (α⁰_l/ᾱ_l)^γ, in [0, 10]. Defaults to `1`. */
  gamma?: number;
  /**
   * How a drift step moves m: `'compound'` (m_l ← m_l·(α⁰_l/ᾱ_l)^γ, then projected: an integrator that keeps
   * moving m while the drift persists) or `'absolute'` (m_l ← (α⁰_l/ᾱ_l)^γ, then projected: m follows the
   * current ratio and does not accumulate the noise of the ratios). Defaults to `'compound'`.
   */
  reweight?: 'compound' | 'absolute';
  /** Lower bound m_min of the dimension weights, in (0, 1]. Defaults to `0.25`. */
  mMin?: number;
  /** Upper bound m_max of the dimension weights, ≥ 1. Defaults to `4`. */
  mMax?: number;
  /** Baseline KL coefficient β, in [0, betaMax]; must be > 0 with `adaptiveKl` (its initial value). Defaults to `0.04`. */
  beta?: number;
  /** Cap β_max on β, > 0 and ≥ beta. Defaults to `max(1, beta)`. */
  betaMax?: number;
  /** Factor c_β applied to β on drift, ≥ 1. Defaults to `1.5`. */
  betaFactor?: number;
  /** Smallest β after a drift step (so a zero baseline can tighten), in (0, betaMax]. Defaults to `0.01`. */
  betaOnDrift?: number;
  /** Baseline clip range ε, > 0. Defaults to `0.2`. */
  epsilon?: number;
  /** Floor ε_min of the clip range on drift, in (0, epsilon]. Defaults to `0.05`. */
  epsilonMin?: number;
  /** Factor c_ε applied to ε on drift, in (0, 1]. Defaults to `0.8`. */
  epsilonFactor?: number;
  /** Per-step relaxation of m, β, ε toward their baselines without drift, in [0, 1). Defaults to `0.9`. */
  relax?: number;
  /** When every deviation from the baselines (|m_l − 1|, β surplus, |ε − ε_base|) is ≤ this after a drift episode, they snap to the baselines and a 'recovered' event fires; ≥ 0. Defaults to `1e-3`. */
  recoverTolerance?: number;
  /** Ziegler et al. (2019) controller on β's baseline: target KL (nats, > 0), horizon (sequences, > 0), optional error clip in (0, 1] (default 0.2). `null` disables it. Defaults to `null`. */
  adaptiveKl?: { target: number; horizon: number; clip?: number } | null;
  /** Secondary detectors that count as drift (trigger tightening) when they fire; the others only emit events. Defaults to `['single-axis-gain']`. */
  driftTriggers?: SecondaryDetector[];
  /** Window (steps after the reference baseline) over which reference scores are averaged for 'single-axis-gain', a positive integer. Defaults to `5`. */
  gainWindow?: number;
  /** Margin δ (score units) for 'single-axis-gain': Δ_l* > δ and mean of the other Δ < −δ, ≥ 0. Defaults to `0.05`. */
  gainMargin?: number;
  /** |corr(ŝ_l, length)| above which 'length-correlation' fires for the dimension gaining variance, in (0, 1]. Defaults to `0.5`. */
  lengthCorrelationThreshold?: number;
  /** Window (steps) over which 'length-drift' averages the batch's mean response length, a positive integer. Defaults to `10`. */
  lengthWindow?: number;
  /** 'length-drift' fires when that average moves more than this fraction away from the warm-up mean length, > 0. Defaults to `0.25`. */
  lengthDriftRatio?: number;
  /** Window (steps) of the least-squares KL slope, an integer ≥ 2. Defaults to `10`. */
  klWindow?: number;
  /** KL slope (nats per step) above which 'kl-growth' fires, > 0. Defaults to `0.01`. */
  klGrowthRate?: number;
  /** 'entropy-collapse' fires when entropy < this fraction of its warm-up mean, in (0, 1). Defaults to `0.5`. */
  entropyCollapseFraction?: number;
  /**
   * What the monitor does with a drift declaration: `'act'` (reweight, tighten β and ε), `'observe'`
   * (detect and log every event, never change m, β or ε: a log-only monitor for measuring detection),
   * or `'sham'` (a control: drift is declared at random steps with probability `shamRate`, with the
   * same actions as `'act'`; the detectors still run and log but do not trigger). Defaults to `'act'`.
   */
  mode?: 'act' | 'observe' | 'sham';
  /** Probability in [0, 1] that the sham monitor declares drift on a step (mode `'sham'` only). Defaults to `0`. */
  shamRate?: number;
  /** Seed of the sham monitor's random firings. Defaults to `0`. */
  shamSeed?: number;
  /** Whether the spectrum threshold counts as drift (false: 'spectrum-drift' is only logged). Defaults to `true`. */
  spectrumTrigger?: boolean;
}

export interface DriftStepInput {
  groups: number;
  groupSize: number;
  dims: number;
  /** ŝ, `B·G·k`; a response with any non-finite score is invalid (NaN marks, as returned by gprlAdvantages). */
  scores: Float32Array;
  /** λ, `B·k`, finite and ≥ 0. Defaults to all 1 (α does not depend on a common scale). */
  lambdas?: Float32Array;
  /** Response lengths, `B·G`, finite and ≥ 0. Without them the length correlation is 0. */
  lengths?: Float32Array;
  /** `k` finite values: per-dimension mean score of the current samples against fixed reference responses. */
  referenceScores?: Float32Array;
  /** Policy KL to the reference policy this step, finite. */
  kl?: number;
  /** Mean token entropy this step, finite and ≥ 0. */
  entropy?: number;
  /** n in the adaptive-KL update, > 0. Defaults to `B·G`. */
  sequences?: number;
}

export interface DriftEvent {
  step: number;
  kind: string;
  reason: string;
  values: Record<string, number | number[]>;
}

export interface DriftDecision {
  /** 1-based index of this update() call. */
  step: number;
  /** This step's spectrum α (uniform when degenerate). */
  alpha: number[];
  /** ᾱ after this step (uniform before the first informative step). */
  alphaSmoothed: number[];
  /** α⁰, or null during warm-up. */
  alphaRef: number[] | null;
  /** D = KL(ᾱ‖α⁰); 0 during warm-up. */
  drift: number;
  /** τ_D in use (with 'calibrate', calibrateFloor until the warm-up completes). */
  threshold: number;
  /** Whether drift was declared this step (mode 'act': the trust region was tightened; 'observe': detected, nothing changed; 'sham': a random firing). */
  drifted: boolean;
  /** Whether this step's declaration changed m, β and ε (false in mode 'observe'). */
  acted: boolean;
  /** m, length k, mean 1: pass as gprlAdvantages' options.dimWeights. */
  dimWeights: Float32Array;
  /** KL coefficient for the next policy update. */
  beta: number;
  /** Clip range for the next policy update. */
  epsilon: number;
  /** Per-dimension within-group Pearson correlation of ŝ_l with response length; 0 where undefined or without lengths. */
  lengthCorrelation: number[];
  /** Events of this step, in order. */
  events: DriftEvent[];
  /** ν (λ²-weighted mean within-group variance), length k. */
  nu: number[];
  /** Groups with ≥ 2 valid responses that entered ν. */
  validGroups: number;
  /** Responses excluded because a score was non-finite. */
  invalidResponses: number;
  /** What caused the tightening: 'spectrum' and/or secondary detector names; empty without drift. */
  triggers: string[];
  /** Dimension whose smoothed share grew most relative to α⁰ (ᾱ_l/α⁰_l > 1), or −1. */
  gainingDim: number;
  /** Δ = (window mean of referenceScores) − warm-up mean, or null until the window is full. */
  referenceGain: number[] | null;
  /** Least-squares KL slope over the last klWindow steps (nats/step), or null until the window is full. */
  klSlope: number | null;
  /** entropy / warm-up mean entropy, or null until available. */
  entropyRatio: number | null;
  /** β's baseline this step (options.beta, or the adaptive-KL controller's value). */
  betaBase: number;
}

/** JSON-serializable state; `setState` validates it. */
export interface DriftMonitorState {
  version: 1;
  dims: number;
  step: number;
  alphaSmoothed: number[] | null;
  warmupAlphas: number[][];
  alphaRef: number[] | null;
  threshold: number | null;
  dimWeights: number[];
  betaSurplus: number;
  epsilon: number;
  klController: AdaptiveKlState | null;
  reference: { sum: number[]; count: number; baseline: number[] | null; window: number[][] };
  klHistory: number[];
  entropy: { sum: number; count: number; baseline: number | null };
  excursion: boolean;
  /** 'length-drift' state (absent in states saved before it existed). */
  lengthDrift?: { sum: number; count: number; baseline: number | null; window: number[] };
  /** The sham monitor's generator state (mode 'sham'); absent otherwise. */
  shamRng?: { s: number[]; spare: number | null };
}

/** Options with every default filled in (DriftMonitor.options). */
export interface ResolvedDriftMonitorOptions {
  dims: number;
  warmupSteps: number;
  emaDecay: number;
  threshold: number | 'calibrate';
  calibrateZ: number;
  calibrateFloor: number;
  logFloor: number;
  variance: 'unbiased' | 'biased';
  gamma: number;
  reweight: 'compound' | 'absolute';
  mMin: number;
  mMax: number;
  beta: number;
  betaMax: number;
  betaFactor: number;
  betaOnDrift: number;
  epsilon: number;
  epsilonMin: number;
  epsilonFactor: number;
  relax: number;
  recoverTolerance: number;
  adaptiveKl: { target: number; horizon: number; clip?: number } | null;
  driftTriggers: SecondaryDetector[];
  gainWindow: number;
  gainMargin: number;
  lengthCorrelationThreshold: number;
  lengthWindow: number;
  lengthDriftRatio: number;
  klWindow: number;
  klGrowthRate: number;
  entropyCollapseFraction: number;
  mode: 'act' | 'observe' | 'sham';
  shamRate: number;
  shamSeed: number;
  spectrumTrigger: boolean;
}

const OPTION_KEYS = [
  'dims', 'warmupSteps', 'emaDecay', 'threshold', 'calibrateZ', 'calibrateFloor', 'logFloor', 'variance', 'gamma',
  'reweight', 'mMin', 'mMax', 'beta', 'betaMax', 'betaFactor', 'betaOnDrift', 'epsilon', 'epsilonMin', 'epsilonFactor', 'relax',
  'recoverTolerance', 'adaptiveKl', 'driftTriggers', 'gainWindow', 'gainMargin', 'lengthCorrelationThreshold', 'lengthWindow', 'lengthDriftRatio',
  'klWindow', 'klGrowthRate', 'entropyCollapseFraction', 'mode', 'shamRate', 'shamSeed', 'spectrumTrigger',
] as const;

const INPUT_KEYS = ['groups', 'groupSize', 'dims', 'scores', 'lambdas', 'lengths', 'referenceScores', 'kl', 'entropy', 'sequences'] as const;

function resolveOptions(options: DriftMonitorOptions): ResolvedDriftMonitorOptions {
  assertOptionsObject('options', options);
  if (options === undefined) throw invalidType('options', 'an options object', options);
  assertKnownKeys('options', options as unknown as Record<string, unknown>, OPTION_KEYS);
  const o = options;
  assertPositiveInt('options.dims', o.dims);
  const warmupSteps = o.warmupSteps ?? 5;
  assertPositiveInt('options.warmupSteps', warmupSteps);
  const emaDecay = o.emaDecay ?? 0.8;
  assertNumber('options.emaDecay', emaDecay, { min: 0, max: 1 });
  if (emaDecay >= 1) throw invalidValue('options.emaDecay', 'a finite number in [0, 1)', emaDecay);
  const threshold = o.threshold ?? 0.05;
  if (threshold !== 'calibrate') {
    if (typeof threshold === 'string') throw invalidValue('options.threshold', "a number > 0 or 'calibrate'", threshold);
    assertNumber('options.threshold', threshold, { min: 0, exclusiveMin: true });
  }
  if (threshold === 'calibrate' && warmupSteps < 3) {
    throw invalidValue('options.warmupSteps', "an integer >= 3 with threshold 'calibrate'", warmupSteps);
  }
  const calibrateZ = o.calibrateZ ?? 5;
  assertNumber('options.calibrateZ', calibrateZ, { min: 0 });
  const calibrateFloor = o.calibrateFloor ?? 0.02;
  assertNumber('options.calibrateFloor', calibrateFloor, { min: 0, exclusiveMin: true });
  const logFloor = o.logFloor ?? 1e-8;
  assertNumber('options.logFloor', logFloor, { min: 0, max: 0.01, exclusiveMin: true });
  const variance = o.variance ?? 'unbiased';
  assertOneOf('options.variance', variance, ['unbiased', 'biased'] as const);
  const gamma = o.gamma ?? 1;
  assertNumber('options.gamma', gamma, { min: 0, max: 10 });
  const reweight = o.reweight ?? 'compound';
  assertOneOf('options.reweight', reweight, ['compound', 'absolute'] as const);
  const mMin = o.mMin ?? 0.25;
  assertNumber('options.mMin', mMin, { min: 0, max: 1, exclusiveMin: true });
  const mMax = o.mMax ?? 4;
  assertNumber('options.mMax', mMax, { min: 1 });
  const beta = o.beta ?? 0.04;
  assertNumber('options.beta', beta, { min: 0 });
  const betaMax = o.betaMax ?? Math.max(1, beta);
  assertNumber('options.betaMax', betaMax, { min: 0, exclusiveMin: true });
  if (beta > betaMax) throw invalidValue('options.beta', `a finite number in [0, ${betaMax}] (betaMax)`, beta);
  const betaFactor = o.betaFactor ?? 1.5;
  assertNumber('options.betaFactor', betaFactor, { min: 1 });
  const betaOnDrift = o.betaOnDrift ?? Math.min(0.01, betaMax);
  assertNumber('options.betaOnDrift', betaOnDrift, { min: 0, max: betaMax, exclusiveMin: true });
  const epsilon = o.epsilon ?? 0.2;
  assertNumber('options.epsilon', epsilon, { min: 0, exclusiveMin: true });
  const epsilonMin = o.epsilonMin ?? Math.min(0.05, epsilon);
  assertNumber('options.epsilonMin', epsilonMin, { min: 0, max: epsilon, exclusiveMin: true });
  const epsilonFactor = o.epsilonFactor ?? 0.8;
  assertNumber('options.epsilonFactor', epsilonFactor, { min: 0, max: 1, exclusiveMin: true });
  const relax = o.relax ?? 0.9;
  assertNumber('options.relax', relax, { min: 0, max: 1 });
  if (relax >= 1) throw invalidValue('options.relax', 'a finite number in [0, 1)', relax);
  const recoverTolerance = o.recoverTolerance ?? 1e-3;
  assertNumber('options.recoverTolerance', recoverTolerance, { min: 0 });
  let adaptiveKl: ResolvedDriftMonitorOptions['adaptiveKl'] = null;
  if (o.adaptiveKl !== undefined && o.adaptiveKl !== null) {
    assertOptionsObject('options.adaptiveKl', o.adaptiveKl);
    assertKnownKeys('options.adaptiveKl', o.adaptiveKl as unknown as Record<string, unknown>, ['target', 'horizon', 'clip']);
    if (!(beta > 0)) throw invalidValue('options.beta', 'a number > 0 when adaptiveKl is set (its initial value)', beta);
    adaptiveKl = { ...o.adaptiveKl };
  }
  const driftTriggers = o.driftTriggers ?? ['single-axis-gain'];
  if (!Array.isArray(driftTriggers)) throw invalidType('options.driftTriggers', 'an array of detector names', driftTriggers);
  driftTriggers.forEach((t, i) => assertOneOf(`options.driftTriggers[${i}]`, t, SECONDARY_DETECTORS));
  const gainWindow = o.gainWindow ?? 5;
  assertPositiveInt('options.gainWindow', gainWindow);
  const gainMargin = o.gainMargin ?? 0.05;
  assertNumber('options.gainMargin', gainMargin, { min: 0 });
  const lengthCorrelationThreshold = o.lengthCorrelationThreshold ?? 0.5;
  assertNumber('options.lengthCorrelationThreshold', lengthCorrelationThreshold, { min: 0, max: 1, exclusiveMin: true });
  const lengthWindow = o.lengthWindow ?? 10;
  assertPositiveInt('options.lengthWindow', lengthWindow);
  const lengthDriftRatio = o.lengthDriftRatio ?? 0.25;
  assertNumber('options.lengthDriftRatio', lengthDriftRatio, { min: 0, exclusiveMin: true });
  const klWindow = o.klWindow ?? 10;
  assertPositiveInt('options.klWindow', klWindow);
  if (klWindow < 2) throw invalidValue('options.klWindow', 'an integer >= 2', klWindow);
  const klGrowthRate = o.klGrowthRate ?? 0.01;
  assertNumber('options.klGrowthRate', klGrowthRate, { min: 0, exclusiveMin: true });
  const entropyCollapseFraction = o.entropyCollapseFraction ?? 0.5;
  assertNumber('options.entropyCollapseFraction', entropyCollapseFraction, { min: 0, max: 1, exclusiveMin: true });
  if (entropyCollapseFraction >= 1) {
    throw invalidValue('options.entropyCollapseFraction', 'a finite number in (0, 1)', entropyCollapseFraction);
  }
  const mode = o.mode ?? 'act';
  assertOneOf('options.mode', mode, ['act', 'observe', 'sham'] as const);
  const shamRate = o.shamRate ?? 0;
  assertNumber('options.shamRate', shamRate, { min: 0, max: 1 });
  const shamSeed = o.shamSeed ?? 0;
  assertNumber('options.shamSeed', shamSeed);
  const spectrumTrigger = o.spectrumTrigger ?? true;
  if (typeof spectrumTrigger !== 'boolean') throw invalidType('options.spectrumTrigger', 'a boolean', spectrumTrigger);
  return {
    mode, shamRate, shamSeed, spectrumTrigger,
    dims: o.dims, warmupSteps, emaDecay, threshold, calibrateZ, calibrateFloor, logFloor, variance, gamma, reweight, mMin, mMax,
    beta, betaMax, betaFactor, betaOnDrift, epsilon, epsilonMin, epsilonFactor, relax, recoverTolerance, adaptiveKl,
    driftTriggers: [...driftTriggers], gainWindow, gainMargin, lengthCorrelationThreshold, lengthWindow, lengthDriftRatio, klWindow, klGrowthRate,
    entropyCollapseFraction,
  };
}

/** KL(p‖q) with the floor f inside the logarithms (terms with p_l = 0 contribute 0). */
export function flooredKl(p: ArrayLike<number>, q: ArrayLike<number>, floor: number): number {
  let d = 0;
  for (let l = 0; l < p.length; l++) {
    const pl = p[l]!;
    if (pl > 0) d += pl * (Math.log(Math.max(pl, floor)) - Math.log(Math.max(q[l]!, floor)));
  }
  return d;
}

/**
 * Scale-then-clip projection: m_l = clip(s·u_l, lo, hi) with s > 0 chosen so that mean(m) = 1
 * (requires lo ≤ 1 ≤ hi and u_l > 0). mean(clip(s·u)) is continuous and nondecreasing in s, so s is
 * bracketed by bisection; the final s is then solved exactly on the unclipped set.
 */
export function projectMeanOne(u: ArrayLike<number>, lo: number, hi: number): Float64Array {
  const k = u.length;
  const out = new Float64Array(k);
  let uMin = Infinity;
  for (let l = 0; l < k; l++) uMin = Math.min(uMin, u[l]!);
  const mean = (s: number): number => {
    let acc = 0;
    for (let l = 0; l < k; l++) acc += Math.min(hi, Math.max(lo, s * u[l]!));
    return acc / k;
  };
  let sLo = 0;
  let sHi = hi / uMin;
  for (let it = 0; it < 100 && sHi - sLo > 1e-15 * sHi; it++) {
    const mid = 0.5 * (sLo + sHi);
    if (mean(mid) < 1) sLo = mid;
    else sHi = mid;
  }
  const s0 = 0.5 * (sLo + sHi);
  let fixed = 0;
  let freeSum = 0;
  for (let l = 0; l < k; l++) {
    const v = s0 * u[l]!;
    if (v <= lo) fixed += lo;
    else if (v >= hi) fixed += hi;
    else freeSum += u[l]!;
  }
  const s = freeSum > 0 ? (k - fixed) / freeSum : s0;
  for (let l = 0; l < k; l++) out[l] = Math.min(hi, Math.max(lo, s * u[l]!));
  return out;
}

function round(v: number): number {
  return Number(v.toPrecision(6));
}

export class DriftMonitor {
  private readonly o: ResolvedDriftMonitorOptions;
  private readonly controller: AdaptiveKlController | null;
  private step = 0;
  private readonly shamRng: Rng | null;
  private alphaBar: Float64Array | null = null;
  private warmupAlphas: number[][] = [];
  private alphaRef: Float64Array | null = null;
  private tau: number | null;
  private m: Float64Array;
  private betaSurplus = 0;
  private eps: number;
  private ref = { sum: [] as number[], count: 0, baseline: null as number[] | null, window: [] as number[][] };
  private klHistory: number[] = [];
  private len = { sum: 0, count: 0, baseline: null as number | null, window: [] as number[] };
  private ent = { sum: 0, count: 0, baseline: null as number | null };
  private excursion = false;
  // scratch buffers (length k)
  private readonly sMean: Float64Array;
  private readonly sSq: Float64Array;
  private readonly sLen: Float64Array;
  private validBuf = new Uint8Array(0);

  constructor(options: DriftMonitorOptions) {
    this.o = resolveOptions(options);
    const k = this.o.dims;
    this.controller = this.o.adaptiveKl
      ? new AdaptiveKlController({ initBeta: this.o.beta, ...this.o.adaptiveKl }, 'options.adaptiveKl')
      : null;
    this.tau = this.o.threshold === 'calibrate' ? null : this.o.threshold;
    this.m = new Float64Array(k).fill(1);
    this.eps = this.o.epsilon;
    this.shamRng = this.o.mode === 'sham' ? new Rng(this.o.shamSeed) : null;
    this.ref.sum = new Array<number>(k).fill(0);
    this.sMean = new Float64Array(k);
    this.sSq = new Float64Array(k);
    this.sLen = new Float64Array(k);
  }

  /** Current dimension weights m (a copy, mean 1). */
  get dimWeights(): Float32Array {
    return Float32Array.from(this.m);
  }

  /** β for the next policy update. */
  get beta(): number {
    return Math.min(this.o.betaMax, this.betaBase() + this.betaSurplus);
  }

  /** ε for the next policy update. */
  get epsilon(): number {
    return this.eps;
  }

  /** Resolved options (defaults filled in). */
  get options(): Readonly<ResolvedDriftMonitorOptions> {
    return { ...this.o, driftTriggers: [...this.o.driftTriggers], adaptiveKl: this.o.adaptiveKl ? { ...this.o.adaptiveKl } : null };
  }

  private betaBase(): number {
    return this.controller ? this.controller.value : this.o.beta;
  }

  private validateInput(input: DriftStepInput): void {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalidType('input', 'a DriftStepInput object', input);
    assertKnownKeys('input', input as unknown as Record<string, unknown>, INPUT_KEYS);
    assertPositiveInt('input.groups', input.groups);
    assertPositiveInt('input.groupSize', input.groupSize);
    assertPositiveInt('input.dims', input.dims);
    const k = this.o.dims;
    if (input.dims !== k) throw invalidValue('input.dims', `${k} (options.dims)`, input.dims);
    const B = input.groups;
    const G = input.groupSize;
    assertFloat32Array('input.scores', input.scores, B * G * k);
    if (input.lambdas !== undefined) {
      assertFloat32Array('input.lambdas', input.lambdas, B * k);
      const lam = input.lambdas;
      for (let i = 0; i < lam.length; i++) {
        const v = lam[i]!;
        if (!(Number.isFinite(v) && v >= 0)) throw invalidValue(`input.lambdas[${i}]`, 'a finite number >= 0', v);
      }
    }
    if (input.lengths !== undefined) {
      assertFloat32Array('input.lengths', input.lengths, B * G);
      const len = input.lengths;
      for (let i = 0; i < len.length; i++) {
        const v = len[i]!;
        if (!(Number.isFinite(v) && v >= 0)) throw invalidValue(`input.lengths[${i}]`, 'a finite number >= 0', v);
      }
    }
    if (input.referenceScores !== undefined) {
      assertFloat32Array('input.referenceScores', input.referenceScores, k);
      input.referenceScores.forEach((v, i) => {
        if (!Number.isFinite(v)) throw invalidValue(`input.referenceScores[${i}]`, 'a finite number', v);
      });
    }
    if (input.kl !== undefined) assertNumber('input.kl', input.kl);
    if (input.entropy !== undefined) assertNumber('input.entropy', input.entropy, { min: 0 });
    if (input.sequences !== undefined) assertNumber('input.sequences', input.sequences, { min: 0, exclusiveMin: true });
  }

  /**
   * One monitoring step. Validates the whole input before changing any state, so a rejected input
   * leaves the monitor as it was.
   */
  update(input: DriftStepInput): DriftDecision {
    this.validateInput(input);
    const o = this.o;
    const k = o.dims;
    const B = input.groups;
    const G = input.groupSize;
    const scores = input.scores;
    const lambdas = input.lambdas;
    const lengths = input.lengths;
    const step = ++this.step;
    const events: DriftEvent[] = [];
    const emit = (kind: DriftEventKind, reason: string, values: Record<string, number | number[]>): void => {
      events.push({ step, kind, reason, values });
    };

    // ---- variance spectrum ν and within-group length correlation ----
    const nu = new Float64Array(k);
    const sxy = new Float64Array(k);
    const syy = new Float64Array(k);
    let sxx = 0;
    let validGroups = 0;
    let invalidResponses = 0;
    const { sMean, sSq, sLen } = this;
    if (this.validBuf.length < G) this.validBuf = new Uint8Array(G);
    const valid = this.validBuf;
    for (let b = 0; b < B; b++) {
      let gv = 0;
      let lenMean = 0;
      sMean.fill(0);
      for (let i = 0; i < G; i++) {
        const base = (b * G + i) * k;
        let ok = 1;
        for (let l = 0; l < k; l++) {
          if (!Number.isFinite(scores[base + l]!)) {
            ok = 0;
            break;
          }
        }
        valid[i] = ok;
        if (!ok) {
          invalidResponses++;
          continue;
        }
        gv++;
        for (let l = 0; l < k; l++) sMean[l]! += scores[base + l]!;
        if (lengths) lenMean += lengths[b * G + i]!;
      }
      if (gv < 2) continue;
      validGroups++;
      for (let l = 0; l < k; l++) sMean[l]! /= gv;
      lenMean /= gv;
      sSq.fill(0);
      sLen.fill(0);
      let lenSq = 0;
      for (let i = 0; i < G; i++) {
        if (!valid[i]) continue;
        const base = (b * G + i) * k;
        const dLen = lengths ? lengths[b * G + i]! - lenMean : 0;
        lenSq += dLen * dLen;
        for (let l = 0; l < k; l++) {
          const d = scores[base + l]! - sMean[l]!;
          sSq[l]! += d * d;
          sLen[l]! += d * dLen;
        }
      }
      const denom = o.variance === 'unbiased' ? gv - 1 : gv;
      for (let l = 0; l < k; l++) {
        const lam = lambdas ? lambdas[b * k + l]! : 1;
        nu[l]! += (lam * lam * sSq[l]!) / denom;
        syy[l]! += sSq[l]!;
        sxy[l]! += sLen[l]!;
      }
      sxx += lenSq;
    }
    let total = 0;
    for (let l = 0; l < k; l++) {
      if (validGroups > 0) nu[l]! /= validGroups;
      total += nu[l]!;
    }
    const degenerate = !(total > 0) || !Number.isFinite(total);
    const alpha = new Float64Array(k);
    for (let l = 0; l < k; l++) alpha[l] = degenerate ? 1 / k : nu[l]! / total;
    if (degenerate) {
      emit('degenerate-spectrum', `no score variance this step (${validGroups} of ${B} groups with >= 2 valid responses): alpha is uniform and not folded into the EMA or the warm-up`, {
        validGroups,
        invalidResponses,
      });
    } else {
      if (this.alphaBar === null) this.alphaBar = Float64Array.from(alpha);
      else for (let l = 0; l < k; l++) this.alphaBar[l] = o.emaDecay * this.alphaBar[l]! + (1 - o.emaDecay) * alpha[l]!;
      if (this.alphaRef === null) {
        this.warmupAlphas.push(Array.from(alpha));
        if (this.warmupAlphas.length >= o.warmupSteps) this.completeWarmup(emit);
      }
    }
    const alphaBar = this.alphaBar ?? new Float64Array(k).fill(1 / k);
    const alphaRef = this.alphaRef;
    const drift = alphaRef ? flooredKl(alphaBar, alphaRef, o.logFloor) : 0;
    const tau = this.tau ?? (o.threshold === 'calibrate' ? o.calibrateFloor : o.threshold);
    const triggers: string[] = [];
    if (alphaRef && drift > tau) {
      if (o.spectrumTrigger) triggers.push('spectrum');
      emit('spectrum-drift', `KL(alphaSmoothed || alphaRef) = ${round(drift)} nats exceeds the threshold ${round(tau)}${o.spectrumTrigger ? '' : ' (logged only: spectrumTrigger is false)'}`, {
        drift,
        threshold: tau,
        alphaSmoothed: Array.from(alphaBar),
        alphaRef: Array.from(alphaRef),
      });
    }
    let gainingDim = -1;
    if (alphaRef && this.alphaBar) {
      let best = 1;
      for (let l = 0; l < k; l++) {
        const r = Math.max(alphaBar[l]!, o.logFloor) / Math.max(alphaRef[l]!, o.logFloor);
        if (r > best) {
          best = r;
          gainingDim = l;
        }
      }
    }
    const fire = (kind: SecondaryDetector, reason: string, values: Record<string, number | number[]>): void => {
      const counts = o.driftTriggers.includes(kind);
      if (counts) triggers.push(kind);
      emit(kind, `${reason}${counts ? ' (counts as drift)' : ''}`, values);
    };

    // ---- length correlation ----
    const lengthCorrelation = new Array<number>(k).fill(0);
    if (lengths) {
      for (let l = 0; l < k; l++) {
        const den = Math.sqrt(syy[l]! * sxx);
        const c = den > 0 ? sxy[l]! / den : 0;
        lengthCorrelation[l] = Number.isFinite(c) ? Math.max(-1, Math.min(1, c)) : 0;
      }
      if (gainingDim >= 0 && Math.abs(lengthCorrelation[gainingDim]!) > o.lengthCorrelationThreshold) {
        fire('length-correlation', `dimension ${gainingDim} gains variance and its scores correlate with response length (r = ${round(lengthCorrelation[gainingDim]!)}, |r| > ${o.lengthCorrelationThreshold})`, {
          dim: gainingDim,
          correlation: lengthCorrelation[gainingDim]!,
          threshold: o.lengthCorrelationThreshold,
          lengthCorrelation: [...lengthCorrelation],
        });
      }
    }

    // ---- length drift: the batch's mean length against its warm-up mean ----
    if (lengths && lengths.length > 0) {
      let m = 0;
      for (let i = 0; i < lengths.length; i++) m += lengths[i]!;
      m /= lengths.length;
      const ls = this.len;
      if (ls.baseline === null) {
        ls.sum += m;
        ls.count++;
        if (ls.count >= o.warmupSteps) ls.baseline = ls.sum / ls.count;
      } else {
        ls.window.push(m);
        if (ls.window.length > o.lengthWindow) ls.window.shift();
        if (ls.window.length === o.lengthWindow && ls.baseline > 0) {
          const avg = ls.window.reduce((a, b) => a + b, 0) / ls.window.length;
          const change = avg / ls.baseline - 1;
          if (Math.abs(change) > o.lengthDriftRatio) {
            fire('length-drift', `mean response length ${round(avg)} over the last ${o.lengthWindow} steps is ${round(100 * change)}% from its warm-up mean ${round(ls.baseline)} (limit ${round(100 * o.lengthDriftRatio)}%)`, {
              length: avg,
              baseline: ls.baseline,
              change,
              ratio: o.lengthDriftRatio,
            });
          }
        }
      }
    }

    // ---- reference-score gain ----
    let referenceGain: number[] | null = null;
    if (input.referenceScores) {
      const r = Array.from(input.referenceScores);
      const ref = this.ref;
      if (ref.baseline === null) {
        for (let l = 0; l < k; l++) ref.sum[l]! += r[l]!;
        ref.count++;
        if (ref.count >= o.warmupSteps) ref.baseline = ref.sum.map((s) => s / ref.count);
      } else {
        ref.window.push(r);
        if (ref.window.length > o.gainWindow) ref.window.shift();
        if (ref.window.length === o.gainWindow) {
          const baseline = ref.baseline;
          const gain = baseline.map((b0, l) => {
            let s = 0;
            for (const w of ref.window) s += w[l]!;
            return s / ref.window.length - b0;
          });
          referenceGain = gain;
          if (k >= 2) {
            let top = 0;
            for (let l = 1; l < k; l++) if (gain[l]! > gain[top]!) top = l;
            let others = 0;
            for (let l = 0; l < k; l++) if (l !== top) others += gain[l]!;
            others /= k - 1;
            if (gain[top]! > o.gainMargin && others < -o.gainMargin) {
              fire('single-axis-gain', `dimension ${top} gains ${round(gain[top]!)} against the reference responses while the others change by ${round(others)} on average (margin ${o.gainMargin})`, {
                dim: top,
                gain: gain[top]!,
                othersMean: others,
                margin: o.gainMargin,
                referenceGain: [...gain],
              });
            }
          }
        }
      }
    }

    // ---- KL growth and adaptive-KL controller ----
    let klSlope: number | null = null;
    if (input.kl !== undefined) {
      this.klHistory.push(input.kl);
      if (this.klHistory.length > o.klWindow) this.klHistory.shift();
      if (this.klHistory.length === o.klWindow) {
        klSlope = lsSlope(this.klHistory);
        if (klSlope > o.klGrowthRate) {
          fire('kl-growth', `KL rises by ${round(klSlope)} nats/step over the last ${o.klWindow} steps (limit ${o.klGrowthRate})`, {
            slope: klSlope,
            rate: o.klGrowthRate,
            kl: input.kl,
            window: [...this.klHistory],
          });
        }
      }
      if (this.controller) this.controller.update(input.kl, input.sequences ?? B * G);
    }

    // ---- entropy collapse ----
    let entropyRatio: number | null = null;
    if (input.entropy !== undefined) {
      const ent = this.ent;
      if (ent.baseline === null) {
        ent.sum += input.entropy;
        ent.count++;
        if (ent.count >= o.warmupSteps) ent.baseline = ent.sum / ent.count;
      } else if (ent.baseline > 0) {
        entropyRatio = input.entropy / ent.baseline;
        if (entropyRatio < o.entropyCollapseFraction) {
          fire('entropy-collapse', `entropy ${round(input.entropy)} is ${round(entropyRatio)} of its warm-up mean ${round(ent.baseline)} (limit ${o.entropyCollapseFraction})`, {
            entropy: input.entropy,
            baseline: ent.baseline,
            ratio: entropyRatio,
            fraction: o.entropyCollapseFraction,
          });
        }
      }
    }

    // ---- trust region ----
    const detected = triggers.length > 0;
    let drifted = detected;
    if (o.mode === 'sham') {
      drifted = this.shamRng!.next() < o.shamRate;
      if (drifted) triggers.splice(0, triggers.length, 'sham');
      else triggers.length = 0;
    }
    const acts = o.mode !== 'observe';
    const betaBase = this.betaBase();
    if (drifted && acts) {
      const mOld = Array.from(this.m);
      const betaOld = Math.min(o.betaMax, betaBase + this.betaSurplus);
      const epsOld = this.eps;
      const u = new Float64Array(k);
      for (let l = 0; l < k; l++) {
        const ratio = alphaRef && this.alphaBar ? Math.max(alphaRef[l]!, o.logFloor) / Math.max(alphaBar[l]!, o.logFloor) : 1;
        u[l] = (o.reweight === 'compound' ? this.m[l]! : 1) * Math.pow(ratio, o.gamma);
      }
      this.m = projectMeanOne(u, o.mMin, o.mMax);
      const betaNew = Math.max(betaOld, Math.min(o.betaMax, Math.max(o.betaOnDrift, o.betaFactor * betaOld)));
      this.betaSurplus = Math.max(0, betaNew - betaBase);
      this.eps = Math.min(epsOld, Math.max(o.epsilonMin, o.epsilonFactor * epsOld));
      this.excursion = true;
      emit('tighten', `${o.mode === 'sham' ? 'sham drift (a random firing at the sham rate)' : `drift (${triggers.join(', ')})`}: dimension weights rescaled by (alphaRef/alphaSmoothed)^${o.gamma}, beta ${round(betaOld)} -> ${round(this.beta)}, epsilon ${round(epsOld)} -> ${round(this.eps)}`, {
        dimWeightsBefore: mOld,
        dimWeights: Array.from(this.m),
        betaBefore: betaOld,
        beta: this.beta,
        epsilonBefore: epsOld,
        epsilon: this.eps,
      });
    } else if (acts) {
      for (let l = 0; l < k; l++) this.m[l] = 1 + (this.m[l]! - 1) * o.relax;
      this.betaSurplus *= o.relax;
      this.eps = o.epsilon + (this.eps - o.epsilon) * o.relax;
      if (this.excursion) {
        let dev = Math.max(this.betaSurplus, Math.abs(this.eps - o.epsilon));
        for (let l = 0; l < k; l++) dev = Math.max(dev, Math.abs(this.m[l]! - 1));
        if (dev <= o.recoverTolerance) {
          this.m.fill(1);
          this.betaSurplus = 0;
          this.eps = o.epsilon;
          this.excursion = false;
          emit('recovered', `dimension weights, beta and epsilon are back at their baselines (largest deviation ${round(dev)} <= ${o.recoverTolerance})`, {
            deviation: dev,
            beta: this.beta,
            epsilon: this.eps,
          });
        }
      }
    }

    return {
      step,
      alpha: Array.from(alpha),
      alphaSmoothed: Array.from(alphaBar),
      alphaRef: alphaRef ? Array.from(alphaRef) : null,
      drift,
      threshold: tau,
      drifted,
      acted: drifted && acts,
      dimWeights: Float32Array.from(this.m),
      beta: this.beta,
      epsilon: this.eps,
      lengthCorrelation,
      events,
      nu: Array.from(nu),
      validGroups,
      invalidResponses,
      triggers,
      gainingDim,
      referenceGain,
      klSlope,
      entropyRatio,
      betaBase,
    };
  }

  private completeWarmup(emit: (kind: DriftEventKind, reason: string, values: Record<string, number | number[]>) => void): void {
    const o = this.o;
    const k = o.dims;
    const ref = new Float64Array(k);
    const n = this.warmupAlphas.length;
    for (const a of this.warmupAlphas) for (let l = 0; l < k; l++) ref[l]! += a[l]! / n;
    this.alphaRef = ref;
    const values: Record<string, number | number[]> = { alphaRef: Array.from(ref), steps: n };
    if (o.threshold === 'calibrate') {
      // leave-one-out: each warm-up α_j against the mean of the other warm-up steps, so the spread
      // includes the error of the reference itself (in-sample KL(α_j‖α⁰) is biased low by ~1/W)
      const ds = this.warmupAlphas.map((a, j) => {
        const others = new Float64Array(k);
        this.warmupAlphas.forEach((b, i) => {
          if (i !== j) for (let l = 0; l < k; l++) others[l]! += b[l]! / (n - 1);
        });
        return flooredKl(a, others, o.logFloor);
      });
      const mean = ds.reduce((s, d) => s + d, 0) / n;
      const std = Math.sqrt(ds.reduce((s, d) => s + (d - mean) * (d - mean), 0) / n);
      // A handful of warm-up values gives an unreliable std; these KL values are roughly scaled χ² with
      // std ≈ mean or larger, so the spread used is max(std, mean).
      this.tau = Math.max(o.calibrateFloor, mean + o.calibrateZ * Math.max(std, mean));
      values.warmupDrift = ds;
      values.warmupDriftMean = mean;
      values.warmupDriftStd = std;
    }
    values.threshold = this.tau!;
    this.warmupAlphas = [];
    emit('warmup-complete', `reference spectrum set from ${n} informative steps; threshold ${round(this.tau!)} nats${o.threshold === 'calibrate' ? ' (calibrated)' : ''}`, values);
  }

  /** Full JSON-serializable state: a monitor restored with setState (same options) makes identical decisions. */
  getState(): DriftMonitorState {
    return {
      version: 1,
      dims: this.o.dims,
      step: this.step,
      alphaSmoothed: this.alphaBar ? Array.from(this.alphaBar) : null,
      warmupAlphas: this.warmupAlphas.map((a) => [...a]),
      alphaRef: this.alphaRef ? Array.from(this.alphaRef) : null,
      threshold: this.tau,
      dimWeights: Array.from(this.m),
      betaSurplus: this.betaSurplus,
      epsilon: this.eps,
      klController: this.controller ? this.controller.getState() : null,
      reference: {
        sum: [...this.ref.sum],
        count: this.ref.count,
        baseline: this.ref.baseline ? [...this.ref.baseline] : null,
        window: this.ref.window.map((w) => [...w]),
      },
      klHistory: [...this.klHistory],
      entropy: { ...this.ent },
      excursion: this.excursion,
      lengthDrift: { ...this.len, window: [...this.len.window] },
      ...(this.shamRng ? { shamRng: this.shamRng.getState() } : {}),
    };
  }

  /** Restore a state from getState (validated in full before anything changes). */
  setState(state: DriftMonitorState): void {
    const o = this.o;
    const k = o.dims;
    if (state === null || typeof state !== 'object' || Array.isArray(state)) throw invalidType('state', 'a DriftMonitorState object', state);
    if (state.version !== 1) throw invalidValue('state.version', '1', state.version);
    if (state.dims !== k) throw invalidValue('state.dims', `${k} (options.dims)`, state.dims);
    if (!Number.isSafeInteger(state.step) || state.step < 0) throw invalidValue('state.step', 'an integer >= 0', state.step);
    const vec = (name: string, v: unknown, len: number, min = -Infinity, max = Infinity): number[] => {
      if (!Array.isArray(v)) throw invalidType(name, `an array of ${len} numbers`, v);
      if (v.length !== len) throw invalidValue(name, `length ${len}`, v);
      v.forEach((x, i) => assertNumber(`${name}[${i}]`, x, { min, max }));
      return v as number[];
    };
    const nullableVec = (name: string, v: unknown, len: number, min?: number, max?: number): number[] | null =>
      v === null ? null : vec(name, v, len, min, max);
    const alphaSmoothed = nullableVec('state.alphaSmoothed', state.alphaSmoothed, k, 0, 1);
    const alphaRef = nullableVec('state.alphaRef', state.alphaRef, k, 0, 1);
    if (!Array.isArray(state.warmupAlphas)) throw invalidType('state.warmupAlphas', 'an array', state.warmupAlphas);
    if (state.warmupAlphas.length >= o.warmupSteps || (alphaRef !== null && state.warmupAlphas.length > 0)) {
      throw invalidValue('state.warmupAlphas', `fewer than ${o.warmupSteps} entries (none once alphaRef is set)`, state.warmupAlphas);
    }
    const warmupAlphas = state.warmupAlphas.map((a, i) => vec(`state.warmupAlphas[${i}]`, a, k, 0, 1));
    let tau: number | null;
    if (o.threshold === 'calibrate') {
      if (state.threshold === null) {
        if (alphaRef !== null) throw invalidValue('state.threshold', 'a calibrated threshold once alphaRef is set', null);
        tau = null;
      } else {
        assertNumber('state.threshold', state.threshold, { min: 0, exclusiveMin: true });
        tau = state.threshold;
      }
    } else {
      if (state.threshold !== o.threshold) throw invalidValue('state.threshold', `${o.threshold} (options.threshold)`, state.threshold);
      tau = o.threshold;
    }
    const m = vec('state.dimWeights', state.dimWeights, k, o.mMin, o.mMax);
    assertNumber('state.betaSurplus', state.betaSurplus, { min: 0 });
    assertNumber('state.epsilon', state.epsilon, { min: 0, exclusiveMin: true });
    if (this.controller) {
      if (state.klController === null || typeof state.klController !== 'object') {
        throw invalidType('state.klController', 'an AdaptiveKlState (options.adaptiveKl is set)', state.klController);
      }
      assertNumber('state.klController.value', state.klController.value, { min: this.controller.minBeta });
    } else if (state.klController !== null) {
      throw invalidValue('state.klController', 'null (options.adaptiveKl is not set)', state.klController);
    }
    const r = state.reference;
    if (r === null || typeof r !== 'object') throw invalidType('state.reference', 'an object', r);
    const refSum = vec('state.reference.sum', r.sum, k);
    if (!Number.isSafeInteger(r.count) || r.count < 0) throw invalidValue('state.reference.count', 'an integer >= 0', r.count);
    const refBaseline = nullableVec('state.reference.baseline', r.baseline, k);
    if (!Array.isArray(r.window) || r.window.length > o.gainWindow || (refBaseline === null && r.window.length > 0)) {
      throw invalidValue('state.reference.window', `at most ${o.gainWindow} entries (none before the baseline)`, r.window);
    }
    const refWindow = r.window.map((w, i) => vec(`state.reference.window[${i}]`, w, k));
    if (!Array.isArray(state.klHistory) || state.klHistory.length > o.klWindow) {
      throw invalidValue('state.klHistory', `an array of at most ${o.klWindow} numbers`, state.klHistory);
    }
    const klHistory = vec('state.klHistory', state.klHistory, state.klHistory.length);
    const e = state.entropy;
    if (e === null || typeof e !== 'object') throw invalidType('state.entropy', 'an object', e);
    assertNumber('state.entropy.sum', e.sum, { min: 0 });
    if (!Number.isSafeInteger(e.count) || e.count < 0) throw invalidValue('state.entropy.count', 'an integer >= 0', e.count);
    if (e.baseline !== null) assertNumber('state.entropy.baseline', e.baseline, { min: 0 });
    if (typeof state.excursion !== 'boolean') throw invalidType('state.excursion', 'a boolean', state.excursion);
    let lengthDrift: { sum: number; count: number; baseline: number | null; window: number[] } | null = null;
    if (state.lengthDrift !== undefined) {
      const ld = state.lengthDrift;
      if (ld === null || typeof ld !== 'object' || !Number.isFinite(ld.sum) || !Number.isSafeInteger(ld.count) || ld.count < 0 || !Array.isArray(ld.window) || ld.window.length > o.lengthWindow || !ld.window.every(Number.isFinite) || !(ld.baseline === null || Number.isFinite(ld.baseline))) {
        throw invalidValue('state.lengthDrift', `{ sum, count, baseline, window } of finite numbers (window at most ${o.lengthWindow} long)`, ld);
      }
      lengthDrift = { sum: ld.sum, count: ld.count, baseline: ld.baseline, window: [...ld.window] };
    }
    let shamRng: Rng | null = null;
    if (this.shamRng) {
      if (state.shamRng === undefined) throw invalidValue('state.shamRng', "the sham generator's state (this monitor's mode is 'sham')", state.shamRng);
      shamRng = new Rng(0);
      try {
        shamRng.setState(state.shamRng);
      } catch {
        throw invalidValue('state.shamRng', 'a generator state { s: [4 uint32], spare }', state.shamRng);
      }
    }

    // all checks passed: commit
    if (this.controller && state.klController) this.controller.setState(state.klController, 'state.klController');
    this.step = state.step;
    this.alphaBar = alphaSmoothed ? Float64Array.from(alphaSmoothed) : null;
    this.warmupAlphas = warmupAlphas.map((a) => [...a]);
    this.alphaRef = alphaRef ? Float64Array.from(alphaRef) : null;
    this.tau = tau;
    this.m = Float64Array.from(m);
    this.betaSurplus = state.betaSurplus;
    this.eps = state.epsilon;
    this.ref = { sum: [...refSum], count: r.count, baseline: refBaseline ? [...refBaseline] : null, window: refWindow.map((w) => [...w]) };
    this.klHistory = [...klHistory];
    this.ent = { sum: e.sum, count: e.count, baseline: e.baseline };
    this.excursion = state.excursion;
    if (lengthDrift) this.len = lengthDrift;
    if (this.shamRng && shamRng) this.shamRng.setState(shamRng.getState());
  }
}

/** Least-squares slope of y against x = 0, 1, …, n−1. */
function lsSlope(y: readonly number[]): number {
  const n = y.length;
  const xMean = (n - 1) / 2;
  let yMean = 0;
  for (const v of y) yMean += v / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - xMean) * (y[i]! - yMean);
    den += (i - xMean) * (i - xMean);
  }
  return num / den;
}
