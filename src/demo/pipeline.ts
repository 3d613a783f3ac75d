/**
 * The paper's experiment in miniature (docs/demo.md):
 *
 * 1. biased annotators label preference pairs of responses to the toy task;
 * 2. verifiers are trained on those pairs: a GPM (k = 3), a GPM with k = 1 and a Bradley-Terry model;
 * 3. the same initial policy is trained under the same budget by each method — GRPO with the BT
 *    reward, GPRL without the drift monitor, GPRL with it, GPRL with k = 1 (and, with `extended`,
 *    GPRL with the monitor for twice the steps);
 * 4. the gold judge, which has no length or token bias, evaluates every policy against the initial
 *    policy: win rate, length-controlled win rate, mean length, each gold axis.
 *
 * Everything is seeded; one seed is one full repetition of 1-4.
 */
import '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertNumber, assertPositiveInt, invalidValue } from '../errors.js';
import { featureEncoder } from '../gpm/encoder.js';
import { BradleyTerryModel, GeneralPreferenceModel, type PreferenceModel } from '../gpm/model.js';
import { evaluatePreferenceModel, trainPreferenceModel, type PreferencePair as ModelPair } from '../gpm/train.js';
import { GPRLTrainer, type VerifierResult } from '../trainer/trainer.js';
import type { StepMetrics } from '../trainer/metrics.js';
import type { Tokens } from '../policy/policy.js';
import { BiasedAnnotator, DEFAULT_ANNOTATOR, type AnnotatorOptions, type PreferencePair } from './annotators.js';
import { goldPreference } from './judge.js';
import { ContextPolicy, verbosityWeights } from './policy.js';
import { lengthControlledWinRate, winRate } from './stats.js';
import {
  allPrompts,
  countToken,
  describePrompt,
  EOS,
  goldAxes,
  goldQuality,
  MAX_LEN,
  parsePromptTokens,
  PET_TOKEN,
  promptTokens,
  render,
  RESPONSE_FEATURES,
  responseFeatures,
  responseWords,
  type Prompt,
} from './task.js';

export type MethodId = 'grpo-bt' | 'gprl-nomon' | 'gprl' | 'gprl-k1' | 'gprl-2x';
export type VerifierId = 'bt' | 'gpm' | 'gpm-k1';

export interface MethodSpec {
  id: MethodId;
  label: string;
  verifier: VerifierId;
  drift: boolean;
  /** Multiple of the base step budget. */
  stepsFactor: number;
}

export const METHODS: readonly MethodSpec[] = [
  { id: 'grpo-bt', label: 'GRPO + BT reward', verifier: 'bt', drift: false, stepsFactor: 1 },
  { id: 'gprl-nomon', label: 'GPRL k=3, no monitor', verifier: 'gpm', drift: false, stepsFactor: 1 },
  { id: 'gprl', label: 'GPRL k=3 + monitor', verifier: 'gpm', drift: true, stepsFactor: 1 },
  { id: 'gprl-k1', label: 'GPRL k=1', verifier: 'gpm-k1', drift: false, stepsFactor: 1 },
];
export const EXTENDED_METHOD: MethodSpec = { id: 'gprl-2x', label: 'GPRL k=3 + monitor, 2x steps', verifier: 'gpm', drift: true, stepsFactor: 2 };

/** Every constant of the experiment. `quick` defaults; each is documented in docs/demo.md. */
export interface DemoConfig {
  /** Number of seeds (full repetitions), ≥ 1. Defaults to `1`. */
  seeds: number;
  /** The first seed; seed i is `firstSeed + i`. Defaults to `1`. */
  firstSeed: number;
  /** Policy-training steps per method, ≥ 1. Defaults to `120`. */
  steps: number;
  /** Also run GPRL with the monitor for 2× the steps. Defaults to `false`. */
  extended: boolean;
  /** Annotated preference pairs per seed (80% train, 20% held out). Defaults to `3000`. */
  pairs: number;
  /** Verifier training epochs. Defaults to `8`. */
  verifierEpochs: number;
  /** Verifier batch size. Defaults to `64`. */
  verifierBatchSize: number;
  /** Verifier Adam learning rate. Defaults to `0.01`. */
  verifierLearningRate: number;
  /** GPM dimensions k. Defaults to `3`. */
  gpmDims: number;
  /** Prompts per policy step (B). Defaults to `12` (each of the 12 prompts once per step). */
  batchSize: number;
  /** Responses per prompt (G). Defaults to `8`. */
  groupSize: number;
  /** Policy Adam learning rate. Defaults to `0.03`. */
  learningRate: number;
  /** KL coefficient β (the monitor's baseline too). Defaults to `0.04`. */
  beta: number;
  /** Clip range ε (the monitor's baseline too). Defaults to `0.2`. */
  epsilon: number;
  /** Final evaluation: responses per prompt (× 12 prompts). Defaults to `50`. */
  evalPerPrompt: number;
  /** Training curves: responses per prompt at each curve point. Defaults to `20`. */
  curvePerPrompt: number;
  /** Curve points per run (besides step 0). Defaults to `10`. */
  curvePoints: number;
  /** The annotators' biases. Defaults to {@link DEFAULT_ANNOTATOR}. */
  annotator: Required<AnnotatorOptions>;
}

export const DEFAULT_DEMO_CONFIG: Readonly<DemoConfig> = Object.freeze({
  seeds: 1,
  firstSeed: 1,
  steps: 120,
  extended: false,
  pairs: 3000,
  verifierEpochs: 8,
  verifierBatchSize: 64,
  verifierLearningRate: 0.01,
  gpmDims: 3,
  batchSize: 12,
  groupSize: 8,
  learningRate: 0.03,
  beta: 0.04,
  epsilon: 0.2,
  evalPerPrompt: 50,
  curvePerPrompt: 20,
  curvePoints: 10,
  annotator: { ...DEFAULT_ANNOTATOR },
});

/** Verbosity variants of the initial policy that write the responses the annotators compare: EOS logit shift and temperature. */
export const DATA_VARIANTS: readonly { eosShift: number; temperature: number }[] = [
  { eosShift: -3, temperature: 1 },
  { eosShift: -1.5, temperature: 1 },
  { eosShift: 0, temperature: 1 },
  { eosShift: 1.5, temperature: 1 },
  { eosShift: 0, temperature: 0.7 },
  { eosShift: 0, temperature: 1.4 },
];

export interface DataReport {
  seed: number;
  pairs: number;
  heldOut: number;
  /** Held-out pairs of different lengths: share where the annotators chose the longer response. */
  annotatorPrefersLonger: number;
  /** The same share for the gold judge's choice (gold ties left out). */
  goldPrefersLonger: number;
  /** Share of held-out pairs (gold ties left out) where the annotators' choice agrees with the gold judge. */
  annotatorGoldAgreement: number;
}

export interface VerifierReport {
  seed: number;
  verifier: VerifierId;
  dims: number;
  /** Held-out agreement with the (biased) annotators' labels. */
  annotatorAccuracy: number;
  /** Held-out agreement with the gold judge (gold ties left out). */
  goldAccuracy: number;
  /** Held-out pairs of different lengths: share where the verifier prefers the longer response. */
  prefersLonger: number;
  seconds: number;
}

export interface EvalResult {
  winRate: number;
  lcWinRate: number;
  lcIntercept: number;
  lcLengthCoef: number;
  length: number;
  quality: number;
  axes: [number, number, number];
  /** Share of response tokens that are the pet token. */
  petShare: number;
}

export interface RunResult extends EvalResult {
  seed: number;
  method: MethodId;
  steps: number;
  /** Steps on which the drift monitor declared drift (null without a monitor). */
  monitorFired: number | null;
  /** All monitor events, by kind. */
  monitorEvents: Record<string, number>;
  seconds: number;
  examples: { prompt: string; response: string; quality: number }[];
}

/** One line of metrics.jsonl. */
export interface StepRecord {
  seed: number;
  method: MethodId;
  step: number;
  /** Gold statistics of this step's training samples. */
  gold: { quality: number; axes: number[]; length: number; petShare: number };
  /** Gold win rate against the initial policy on the curve set (only at curve points). */
  winRate?: number;
  lcWinRate?: number;
  evalLength?: number;
  rewardMean: number | null;
  scoreMean: number[];
  alpha: number[] | null;
  drift: number | null;
  drifted: boolean;
  dimWeights: number[];
  dimContribution: number[];
  beta: number;
  epsilon: number;
  kl: number;
  entropy: number;
  events: string[];
  stepMs: number;
}

export interface DemoProgress {
  done: number;
  total: number;
  label: string;
}

export interface DemoHooks {
  onProgress?: (p: DemoProgress) => void;
  /** Called with every step record (e.g. to append metrics.jsonl). */
  onStep?: (r: StepRecord) => void;
  /** Called with each finished run. */
  onRun?: (r: RunResult) => void;
}

export interface DemoResult {
  config: DemoConfig;
  methods: MethodSpec[];
  seeds: number[];
  data: DataReport[];
  verifiers: VerifierReport[];
  runs: RunResult[];
  /** The initial policy against another sample of itself (the 50% sanity baseline), per seed. */
  initial: (EvalResult & { seed: number })[];
  /** Every step record (step 0 = the initial policy's curve point), per seed and method. */
  steps: StepRecord[];
  seconds: number;
}

/** Fill defaults and validate. */
export function resolveDemoConfig(partial: Partial<DemoConfig> = {}): DemoConfig {
  const c: DemoConfig = { ...DEFAULT_DEMO_CONFIG, ...partial, annotator: { ...DEFAULT_DEMO_CONFIG.annotator, ...(partial.annotator ?? {}) } };
  for (const key of ['seeds', 'steps', 'pairs', 'verifierEpochs', 'verifierBatchSize', 'gpmDims', 'batchSize', 'groupSize', 'evalPerPrompt', 'curvePerPrompt', 'curvePoints'] as const) {
    assertPositiveInt(`config.${key}`, c[key]);
  }
  assertNumber('config.firstSeed', c.firstSeed);
  if (c.groupSize < 2) throw invalidValue('config.groupSize', 'at least 2', c.groupSize);
  if (c.pairs < 10) throw invalidValue('config.pairs', 'at least 10', c.pairs);
  assertNumber('config.verifierLearningRate', c.verifierLearningRate, { min: 0, exclusiveMin: true });
  assertNumber('config.learningRate', c.learningRate, { min: 0, exclusiveMin: true });
  assertNumber('config.beta', c.beta, { min: 0 });
  assertNumber('config.epsilon', c.epsilon, { min: 0, max: 1 });
  return c;
}

export function methodsOf(config: DemoConfig): MethodSpec[] {
  return config.extended ? [...METHODS, EXTENDED_METHOD] : [...METHODS];
}

// ---------------------------------------------------------------------------------------------

function sampleResponses(policy: ContextPolicy, prompts: readonly Prompt[], groupSize: number, temperature: number, rng: Rng): number[][] {
  const s = policy.sample(prompts.map(promptTokens), { groupSize, maxLength: MAX_LEN, eosToken: EOS, temperature, rng });
  return s.responses.map(responseWords);
}

/** Preference data: responses from verbosity variants of the initial policy, labelled by the biased annotators. */
export function makePreferenceData(count: number, annotator: BiasedAnnotator, rng: Rng): PreferencePair[] {
  const prompts = allPrompts();
  const perPrompt = Math.max(2, Math.ceil((2 * count) / (prompts.length * DATA_VARIANTS.length)));
  const pools: number[][][] = prompts.map(() => []);
  for (const v of DATA_VARIANTS) {
    const policy = new ContextPolicy({ weights: verbosityWeights(v.eosShift) });
    try {
      const rs = sampleResponses(policy, prompts, perPrompt, v.temperature, rng);
      prompts.forEach((_, b) => pools[b]!.push(...rs.slice(b * perPrompt, (b + 1) * perPrompt)));
    } finally {
      policy.dispose();
    }
  }
  const pairs: PreferencePair[] = [];
  for (let j = 0; j < count; j++) {
    const b = j % prompts.length;
    const pool = pools[b]!;
    const i1 = rng.int(pool.length);
    let i2 = rng.int(pool.length - 1);
    if (i2 >= i1) i2++;
    pairs.push(annotator.label(prompts[b]!, pool[i1]!, pool[i2]!, rng));
  }
  return rng.shuffle(pairs);
}

function toModelPair(p: PreferencePair): ModelPair {
  return { prompt: responseFeatures(p.prompt, []), chosen: responseFeatures(p.prompt, p.chosen), rejected: responseFeatures(p.prompt, p.rejected) };
}

export function describeData(seed: number, pairs: number, heldOut: readonly PreferencePair[]): DataReport {
  let diffLen = 0, annLonger = 0, goldDiff = 0, goldLonger = 0, decided = 0, agree = 0;
  for (const p of heldOut) {
    const g = goldPreference(p.prompt, p.chosen, p.rejected);
    if (g !== 0.5) {
      decided++;
      if (g === 1) agree++;
    }
    if (p.chosen.length === p.rejected.length) continue;
    diffLen++;
    const chosenLonger = p.chosen.length > p.rejected.length;
    if (chosenLonger) annLonger++;
    if (g !== 0.5) {
      goldDiff++;
      if ((g === 1) === chosenLonger) goldLonger++;
    }
  }
  return {
    seed,
    pairs,
    heldOut: heldOut.length,
    annotatorPrefersLonger: diffLen ? annLonger / diffLen : Number.NaN,
    goldPrefersLonger: goldDiff ? goldLonger / goldDiff : Number.NaN,
    annotatorGoldAgreement: decided ? agree / decided : Number.NaN,
  };
}

function verifierReport(seed: number, id: VerifierId, model: PreferenceModel, heldOut: readonly PreferencePair[], seconds: number): VerifierReport {
  const mp = heldOut.map(toModelPair);
  const { accuracy } = evaluatePreferenceModel(model, mp);
  const s = model.scores(mp.map((p) => p.prompt), mp.map((p) => p.chosen), mp.map((p) => p.rejected));
  let decided = 0, goldAgree = 0, diffLen = 0, longer = 0;
  heldOut.forEach((p, i) => {
    const si = s[i]!;
    const g = goldPreference(p.prompt, p.chosen, p.rejected);
    if (g !== 0.5 && si !== 0) {
      decided++;
      if ((si > 0) === (g === 1)) goldAgree++;
    }
    if (p.chosen.length !== p.rejected.length && si !== 0) {
      diffLen++;
      if ((si > 0) === (p.chosen.length > p.rejected.length)) longer++;
    }
  });
  return {
    seed,
    verifier: id,
    dims: model.dims,
    annotatorAccuracy: accuracy,
    goldAccuracy: decided ? goldAgree / decided : Number.NaN,
    prefersLonger: diffLen ? longer / diffLen : Number.NaN,
    seconds,
  };
}

/** The trainer's verifier: token prompts/responses → the model's features → embeddings and eigenvalues. */
export function featureVerifier(model: PreferenceModel): (prompts: readonly Tokens[], groups: readonly (readonly Tokens[])[]) => VerifierResult {
  return (prompts, groups) => {
    const ps = prompts.map((p) => parsePromptTokens(p));
    const out = model.verifierOutputs(
      ps.map((p) => responseFeatures(p, [])),
      groups.map((g, b) => g.map((r) => responseFeatures(ps[b]!, responseWords(r)))),
    );
    return out;
  };
}

/** Evaluate `policy` against fixed reference responses of the initial policy with the gold judge. */
export function evaluateAgainst(policy: ContextPolicy, prompts: readonly Prompt[], reference: readonly number[][], rng: Rng): EvalResult {
  const responses = sampleResponses(policy, prompts, 1, 1, rng);
  const outcomes: number[] = [];
  const lengthDiff: number[] = [];
  const axes: [number, number, number] = [0, 0, 0];
  let quality = 0, length = 0, pet = 0, tokens = 0;
  prompts.forEach((p, i) => {
    const r = responses[i]!;
    outcomes.push(goldPreference(p, r, reference[i]!));
    lengthDiff.push(r.length - reference[i]!.length);
    const a = goldAxes(p, r);
    for (let l = 0; l < 3; l++) axes[l]! += a[l]! / prompts.length;
    quality += goldQuality(p, r) / prompts.length;
    length += r.length / prompts.length;
    pet += countToken(r, PET_TOKEN);
    tokens += r.length;
  });
  const lc = lengthControlledWinRate(outcomes, lengthDiff);
  return {
    winRate: winRate(outcomes),
    lcWinRate: lc.lcWinRate,
    lcIntercept: lc.intercept,
    lcLengthCoef: lc.lengthCoef,
    length,
    quality,
    axes,
    petShare: tokens ? pet / tokens : 0,
  };
}

function evalPrompts(perPrompt: number): Prompt[] {
  const out: Prompt[] = [];
  for (const p of allPrompts()) for (let i = 0; i < perPrompt; i++) out.push(p);
  return out;
}

function rolloutGold(trainer: GPRLTrainer): StepRecord['gold'] {
  const r = trainer.lastRollout!;
  const G = r.sample.groupSize;
  const axes = [0, 0, 0];
  let q = 0, len = 0, pet = 0, tokens = 0;
  const N = r.sample.responses.length;
  r.sample.responses.forEach((resp, n) => {
    const p = parsePromptTokens(r.prompts[Math.floor(n / G)]!);
    const words = responseWords(resp);
    const a = goldAxes(p, words);
    for (let l = 0; l < 3; l++) axes[l]! += a[l]! / N;
    q += goldQuality(p, words) / N;
    len += words.length / N;
    pet += countToken(words, PET_TOKEN);
    tokens += words.length;
  });
  return { quality: q, axes, length: len, petShare: tokens ? pet / tokens : 0 };
}

function stepRecord(seed: number, method: MethodId, m: StepMetrics, gold: StepRecord['gold']): StepRecord {
  return {
    seed,
    method,
    step: m.step,
    gold,
    rewardMean: m.rewardMean,
    scoreMean: m.scoreMean,
    alpha: m.alpha,
    drift: m.drift,
    drifted: m.drifted,
    dimWeights: m.dimWeights,
    dimContribution: m.dimContribution,
    beta: m.beta,
    epsilon: m.epsilon,
    kl: m.kl,
    entropy: m.entropy,
    events: m.events,
    stepMs: m.timing.stepMs,
  };
}

/** Run the whole experiment. */
export async function runDemo(partial: Partial<DemoConfig> = {}, hooks: DemoHooks = {}): Promise<DemoResult> {
  const config = resolveDemoConfig(partial);
  const methods = methodsOf(config);
  const t0 = performance.now();
  const seeds = Array.from({ length: config.seeds }, (_, i) => config.firstSeed + i);
  const stepsTotal = methods.reduce((a, m) => a + m.stepsFactor * config.steps, 0);
  // Progress units: one per policy step, VERIFIER_UNITS per verifier (its training costs about as much as that many steps).
  const VERIFIER_UNITS = 20;
  const total = seeds.length * (3 * VERIFIER_UNITS + stepsTotal);
  let done = 0;
  const progress = (label: string): void => hooks.onProgress?.({ done, total, label });
  const result: DemoResult = { config, methods, seeds, data: [], verifiers: [], runs: [], initial: [], steps: [], seconds: 0 };
  const annotator = new BiasedAnnotator(config.annotator);
  const prompts = allPrompts();
  const promptTok = prompts.map(promptTokens);

  for (const seed of seeds) {
    const rng = new Rng(seed);
    progress(`seed ${seed}: annotating ${config.pairs} pairs`);
    const pairs = makePreferenceData(config.pairs, annotator, rng.fork());
    const nHeld = Math.max(1, Math.round(pairs.length * 0.2));
    const heldOut = pairs.slice(0, nHeld);
    const train = pairs.slice(nHeld);
    result.data.push(describeData(seed, pairs.length, heldOut));
    const trainPairs = train.map(toModelPair);

    const models = new Map<VerifierId, PreferenceModel>();
    try {
      const needed = new Set(methods.map((m) => m.verifier));
      for (const id of ['gpm', 'gpm-k1', 'bt'] as const) {
        if (!needed.has(id)) {
          done += VERIFIER_UNITS;
          continue;
        }
        progress(`seed ${seed}: training verifier ${id}`);
        const encoder = featureEncoder(RESPONSE_FEATURES);
        const modelSeed = rng.nextUint32();
        const model: PreferenceModel =
          id === 'bt'
            ? new BradleyTerryModel({ encoder, seed: modelSeed })
            : new GeneralPreferenceModel({ encoder, dims: id === 'gpm' ? config.gpmDims : 1, seed: modelSeed });
        const v0 = performance.now();
        await trainPreferenceModel(model, trainPairs, {
          epochs: config.verifierEpochs,
          batchSize: config.verifierBatchSize,
          learningRate: config.verifierLearningRate,
          seed: modelSeed,
        });
        models.set(id, model);
        result.verifiers.push(verifierReport(seed, id, model, heldOut, (performance.now() - v0) / 1000));
        done += VERIFIER_UNITS;
      }

      // Fixed reference responses of the initial policy (final evaluation and curves).
      const finalPrompts = evalPrompts(config.evalPerPrompt);
      const curvePrompts = evalPrompts(config.curvePerPrompt);
      const initialPolicy = new ContextPolicy();
      const evalRng = rng.fork();
      const finalRef = sampleResponses(initialPolicy, finalPrompts, 1, 1, evalRng);
      const curveRef = sampleResponses(initialPolicy, curvePrompts, 1, 1, evalRng);
      const evalSeed = evalRng.nextUint32();
      result.initial.push({ seed, ...evaluateAgainst(initialPolicy, finalPrompts, finalRef, new Rng(evalSeed)) });
      const curve0 = evaluateAgainst(initialPolicy, curvePrompts, curveRef, new Rng(evalSeed + 1));
      initialPolicy.dispose();
      const trainSeed = rng.nextUint32();

      for (const spec of methods) {
        const steps = config.steps * spec.stepsFactor;
        const every = Math.max(1, Math.round(config.steps / config.curvePoints));
        const policy = new ContextPolicy();
        const r0 = performance.now();
        const zero: StepRecord = {
          seed, method: spec.id, step: 0, gold: { quality: curve0.quality, axes: curve0.axes, length: curve0.length, petShare: curve0.petShare },
          winRate: curve0.winRate, lcWinRate: curve0.lcWinRate, evalLength: curve0.length, rewardMean: null, scoreMean: [], alpha: null, drift: null,
          drifted: false, dimWeights: [], dimContribution: [], beta: config.beta, epsilon: config.epsilon, kl: 0, entropy: 0, events: [], stepMs: 0,
        };
        result.steps.push(zero);
        hooks.onStep?.(zero);
        const trainer = new GPRLTrainer({
          policy,
          verifier: featureVerifier(models.get(spec.verifier)!),
          prompts: promptTok,
          config: {
            batchSize: config.batchSize,
            numGenerations: config.groupSize,
            maxCompletionLength: MAX_LEN,
            eosToken: EOS,
            learningRate: config.learningRate,
            beta: config.beta,
            epsilon: config.epsilon,
            maxSteps: steps,
            seed: trainSeed,
            drift: spec.drift ? {} : false,
          },
          // The monitor's second detector (single-axis gain against fixed reference responses):
          // the initial policy's greedy response per prompt, scored by the same verifier.
          ...(spec.drift ? { referenceResponses: 'initial' as const } : {}),
        });
        let fired = 0;
        const events: Record<string, number> = {};
        const curveRng = new Rng(evalSeed + 2);
        try {
          for (let s = 1; s <= steps; s++) {
            const m = await trainer.step();
            const rec = stepRecord(seed, spec.id, m, rolloutGold(trainer));
            if (m.drifted) fired++;
            for (const e of m.events) events[e] = (events[e] ?? 0) + 1;
            if (s % every === 0 || s === steps) {
              const ev = evaluateAgainst(policy, curvePrompts, curveRef, curveRng);
              rec.winRate = ev.winRate;
              rec.lcWinRate = ev.lcWinRate;
              rec.evalLength = ev.length;
            }
            result.steps.push(rec);
            hooks.onStep?.(rec);
            done++;
            if (s % 5 === 0 || s === steps) progress(`seed ${seed}: ${spec.label}, step ${s}/${steps}`);
          }
          const ev = evaluateAgainst(policy, finalPrompts, finalRef, new Rng(evalSeed));
          const examples = [0, 1, 2, 3].map((t) => {
            const p: Prompt = { topic: t, length: 8 };
            const r = sampleResponses(policy, [p], 1, 1, new Rng(evalSeed + 10 + t))[0]!;
            return { prompt: describePrompt(p), response: render(r), quality: goldQuality(p, r) };
          });
          const run: RunResult = {
            seed, method: spec.id, steps, ...ev, monitorFired: spec.drift ? fired : null, monitorEvents: events,
            seconds: (performance.now() - r0) / 1000, examples,
          };
          result.runs.push(run);
          hooks.onRun?.(run);
        } finally {
          trainer.dispose();
          policy.dispose();
        }
      }
    } finally {
      for (const m of models.values()) m.dispose();
    }
  }
  result.seconds = (performance.now() - t0) / 1000;
  progress('done');
  return result;
}

/** Live tfjs tensors (for leak checks). */
export function liveTensors(): number {
  return tf.memory().numTensors;
}
