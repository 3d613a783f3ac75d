/**
 * One cell × seed of the study (docs/study-protocol.md): annotate preference data with the hidden
 * population, measure its intransitivity, train the verifiers (early stopping, weight decay), measure
 * how exploitable each is, then run every arm of the cell from the same initial policy with the same
 * prompts, sampling seed and evaluation set, recording the per-step series and the gold evaluation at
 * every budget. Deterministic given the config, the cell and the seed.
 */
import '../tfjs/gradients.js';
import { Rng } from '../random.js';
import { featureEncoder } from '../gpm/encoder.js';
import { BradleyTerryModel, GeneralPreferenceModel, type PreferenceModel } from '../gpm/model.js';
import { evaluatePreferenceModel, trainPreferenceModel, type PreferencePair as ModelPair } from '../gpm/train.js';
import { GPRLTrainer, type VerifierResult } from '../trainer/trainer.js';
import { SECONDARY_DETECTORS } from '../monitor/driftMonitor.js';
import type { NamedWeight, Policy, Tokens } from '../policy/policy.js';
import { TransformerPolicy } from '../policy/transformerPolicy.js';
import { supervisedFineTune } from '../policy/supervisedFineTune.js';
import { AnnotatorPopulation, cyclicTriples, type LabelledPair } from '../demo/population.js';
import { goldPreference } from '../demo/judge.js';
import { ContextPolicy, variantWeights } from '../demo/policy.js';
import { lengthControlledWinRate, winRate } from '../demo/stats.js';
import {
  allPrompts,
  countToken,
  describePrompt,
  EOS,
  goldQuality,
  MAX_LEN,
  parsePromptTokens,
  PET_TOKEN,
  POLICY_VOCAB,
  promptTokens,
  render,
  RESPONSE_FEATURES,
  responseFeatures,
  responseWords,
  VOCAB,
  type Prompt,
} from '../demo/task.js';
import { ARMS, orderArms, type ArmId, type VerifierId } from './arms.js';
import { cellPopulation, type Cell, type StudyConfig } from './config.js';
import type { ArmRecord, Evaluation, StepSeries, UnitRecord, VerifierRecord } from './types.js';

/** Variants of the initial policy that write the responses the annotators compare: EOS logit shift (verbosity), pet-word logit shift, temperature. */
export const DATA_VARIANTS: readonly { eosShift: number; petShift: number; temperature: number }[] = [
  { eosShift: -3, petShift: 0, temperature: 1 },
  { eosShift: -1.5, petShift: 0, temperature: 1 },
  { eosShift: 0, petShift: 0, temperature: 1 },
  { eosShift: 1.5, petShift: 0, temperature: 1 },
  { eosShift: 0, petShift: 0, temperature: 0.7 },
  { eosShift: 0, petShift: 0, temperature: 1.4 },
  { eosShift: 0, petShift: 2, temperature: 1 },
  { eosShift: -1.5, petShift: 3, temperature: 1 },
];

export interface UnitHooks {
  /** Arms already finished (resume): they are skipped, and their records give the monitor arm's β and rate. */
  done?: ReadonlyMap<ArmId, ArmRecord>;
  /** A unit record already written (resume). */
  unit?: UnitRecord | null;
  onUnit?: (u: UnitRecord) => void;
  onArm?: (r: ArmRecord) => void;
  /** Called after every policy step (progress). */
  onStep?: (arm: ArmId, step: number, steps: number) => void;
  /** Polled after every policy step (the event loop gets a turn first): true stops the unit with a {@link StudyInterrupted} error; finished arms are already reported. */
  shouldStop?: () => boolean;
  /** Called before verifier training, with a label. */
  onPhase?: (label: string) => void;
}

function sampleResponses(policy: Policy, prompts: readonly Prompt[], groupSize: number, temperature: number, rng: Rng): number[][] {
  const s = policy.sample(prompts.map(promptTokens), { groupSize, maxLength: MAX_LEN, eosToken: EOS, temperature, rng });
  return s.responses.map(responseWords);
}

/** Response pools per prompt: samples of the verbosity variants of the initial policy. */
export function responsePools(perPromptPerVariant: number, rng: Rng): number[][][] {
  const prompts = allPrompts();
  const pools: number[][][] = prompts.map(() => []);
  for (const v of DATA_VARIANTS) {
    const policy = new ContextPolicy({ weights: variantWeights(v.eosShift, v.petShift) });
    try {
      const rs = sampleResponses(policy, prompts, perPromptPerVariant, v.temperature, rng);
      prompts.forEach((_, b) => pools[b]!.push(...rs.slice(b * perPromptPerVariant, (b + 1) * perPromptPerVariant)));
    } finally {
      policy.dispose();
    }
  }
  return pools;
}

/** `count` pairs of distinct pool responses of the same prompt, each labelled by one annotator drawn from the population. */
export function labelPairs(count: number, population: AnnotatorPopulation, pools: readonly (readonly number[][])[], rng: Rng): LabelledPair[] {
  const prompts = allPrompts();
  const pairs: LabelledPair[] = [];
  for (let j = 0; j < count; j++) {
    const b = j % prompts.length;
    const pool = pools[b]!;
    const i1 = rng.int(pool.length);
    let i2 = rng.int(pool.length - 1);
    if (i2 >= i1) i2++;
    pairs.push(population.label(prompts[b]!, pool[i1]!, pool[i2]!, rng));
  }
  return rng.shuffle(pairs);
}

function toModelPair(p: LabelledPair): ModelPair {
  return { prompt: responseFeatures(p.prompt, []), chosen: responseFeatures(p.prompt, p.chosen), rejected: responseFeatures(p.prompt, p.rejected) };
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** τ such that σ(Σ_l λ_l s_l / τ) is the model's probability (BT scales its embedding by a constant). */
function kernelTau(model: PreferenceModel): number {
  return model.kind === 'bt' ? model.tau * (model as BradleyTerryModel).embeddingConstant : model.tau;
}

/** s(i ≻ j) = Σ_l λ_l (a_l(i) b_l(j) − b_l(i) a_l(j)) from embeddings at offsets `ei`, `ej` and λ at `li`. */
function pairScore(emb: Float32Array, ei: number, ej: number, lambdas: Float32Array | undefined, li: number, k: number): number {
  let s = 0;
  for (let l = 0; l < k; l++) {
    const lam = lambdas ? lambdas[li + l]! : 1 / k;
    s += lam * (emb[ei + 2 * l]! * emb[ej + 2 * l + 1]! - emb[ei + 2 * l + 1]! * emb[ej + 2 * l]!);
  }
  return s;
}

/** P(response ≻ each of `refs`) for many candidates of one prompt, by the verifier (one batched call). */
function preferenceAgainst(model: PreferenceModel, prompt: Prompt, candidates: readonly number[][], refs: readonly number[][]): Float64Array {
  const out = model.verifierOutputs([responseFeatures(prompt, [])], [[...candidates, ...refs].map((r) => responseFeatures(prompt, r))]);
  const k = model.dims;
  const tau = kernelTau(model);
  const C = candidates.length;
  const p = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let j = 0; j < refs.length; j++) sum += sigmoid(pairScore(out.embeddings, c * 2 * k, (C + j) * 2 * k, out.lambdas, 0, k) / tau);
    p[c] = sum / refs.length;
  }
  return p;
}

/** Neighbours of a response: every one-word substitution, deletion and appended word. */
function neighbours(r: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < r.length; i++) {
    for (let w = 0; w < VOCAB; w++) if (w !== r[i]) out.push([...r.slice(0, i), w, ...r.slice(i + 1)]);
    if (r.length > 1) out.push([...r.slice(0, i), ...r.slice(i + 1)]);
  }
  if (r.length < MAX_LEN) for (let w = 0; w < VOCAB; w++) out.push([...r, w]);
  return out;
}

/**
 * The verifier's own optimum for each prompt: best-improvement hill climbing on the mean preference
 * over `refs[prompt]` (the initial policy's samples), from `starts[prompt]`; returns the best response per prompt.
 */
export function verifierOptima(model: PreferenceModel, prompts: readonly Prompt[], starts: readonly (readonly number[][])[], refs: readonly (readonly number[][])[], iterations: number): number[][] {
  return prompts.map((p, b) => {
    let best: number[] = starts[b]![0]!;
    let bestValue = -Infinity;
    for (const start of starts[b]!) {
      let cur = [...start];
      let curValue = preferenceAgainst(model, p, [cur], refs[b]!)[0]!;
      for (let it = 0; it < iterations; it++) {
        const cand = neighbours(cur);
        const v = preferenceAgainst(model, p, cand, refs[b]!);
        let arg = -1;
        for (let c = 0; c < cand.length; c++) if (v[c]! > curValue + 1e-9 && (arg < 0 || v[c]! > v[arg]!)) arg = c;
        if (arg < 0) break;
        cur = cand[arg]!;
        curValue = v[arg]!;
      }
      if (curValue > bestValue) {
        bestValue = curValue;
        best = cur;
      }
    }
    return best;
  });
}

/** Mean gold quality, mean length and pet-word share of `responses` (response i answers `promptOf(i)`). */
function goldSummary(promptOf: (i: number) => Prompt, responses: readonly (readonly number[])[]): { quality: number; length: number; petShare: number } {
  const n = responses.length;
  let quality = 0, length = 0, pet = 0, tokens = 0;
  responses.forEach((r, i) => {
    quality += goldQuality(promptOf(i), r) / n;
    length += r.length / n;
    pet += countToken(r, PET_TOKEN);
    tokens += r.length;
  });
  return { quality, length, petShare: tokens ? pet / tokens : 0 };
}

function evaluate(policy: Policy, prompts: readonly Prompt[], reference: readonly number[][], rng: Rng, steps: number): Evaluation {
  const responses = sampleResponses(policy, prompts, 1, 1, rng);
  const outcomes = prompts.map((p, i) => goldPreference(p, responses[i]!, reference[i]!));
  const lengthDiff = prompts.map((_, i) => responses[i]!.length - reference[i]!.length);
  const g = goldSummary((i) => prompts[i]!, responses);
  return { steps, goldWinRate: winRate(outcomes), goldQuality: g.quality, lcWinRate: lengthControlledWinRate(outcomes, lengthDiff).lcWinRate, length: g.length, petShare: g.petShare };
}

/** Held-out verifier agreement with the annotators and with the gold judge. */
function agreement(model: PreferenceModel, heldOut: readonly LabelledPair[]): { heldOutAccuracy: number; goldAgreement: number } {
  const mp = heldOut.map(toModelPair);
  const { accuracy } = evaluatePreferenceModel(model, mp);
  const s = model.scores(mp.map((p) => p.prompt), mp.map((p) => p.chosen), mp.map((p) => p.rejected));
  let decided = 0, agree = 0;
  heldOut.forEach((p, i) => {
    const g = goldPreference(p.prompt, p.chosen, p.rejected);
    if (g !== 0.5 && s[i] !== 0) {
      decided++;
      if ((s[i]! > 0) === (g === 1)) agree++;
    }
  });
  return { heldOutAccuracy: accuracy, goldAgreement: decided ? agree / decided : Number.NaN };
}

/** Share of the population's cyclic triples whose cycle the verifier reproduces (same direction on all three pairs). */
function cycleReproduction(model: PreferenceModel, cycles: readonly { prompt: Prompt; a: number[]; b: number[]; c: number[] }[]): number | null {
  if (cycles.length === 0) return null;
  const prompts: Float32Array[] = [], xs: Float32Array[] = [], ys: Float32Array[] = [];
  for (const t of cycles) {
    const pf = responseFeatures(t.prompt, []);
    for (const [x, y] of [[t.a, t.b], [t.b, t.c], [t.c, t.a]] as const) {
      prompts.push(pf);
      xs.push(responseFeatures(t.prompt, x));
      ys.push(responseFeatures(t.prompt, y));
    }
  }
  const s = model.scores(prompts, xs, ys);
  let hit = 0;
  cycles.forEach((_, i) => {
    const a = s[3 * i]!, b = s[3 * i + 1]!, c = s[3 * i + 2]!;
    if ((a > 0 && b > 0 && c > 0) || (a < 0 && b < 0 && c < 0)) hit++;
  });
  return hit / cycles.length;
}

/** Run one cell × seed. Arms already in `hooks.done` are skipped. */
export async function runUnit(config: StudyConfig, cell: Cell, seed: number, hooks: UnitHooks = {}): Promise<{ unit: UnitRecord; arms: ArmRecord[] }> {
  const population = new AnnotatorPopulation(cellPopulation(config, cell));
  const prompts = allPrompts();
  const rng = new Rng(seed);
  // Same seed ⇒ same response pools, evaluation set and sampling in every cell (paired across cells too).
  const poolRng = rng.fork();
  const labelRng = rng.fork();
  const tripleRng = rng.fork();
  const evalRng = rng.fork();
  const trainSeed = rng.nextUint32();
  const modelSeed = rng.nextUint32();
  const shamSeed = rng.nextUint32();

  const perVariant = Math.max(2, Math.ceil((2 * config.data.pairs) / (prompts.length * DATA_VARIANTS.length)));
  const pools = responsePools(perVariant, poolRng);
  hooks.onPhase?.('annotating');
  const pairs = labelPairs(config.data.pairs, population, pools, labelRng);
  const nHeld = Math.max(1, Math.round(pairs.length * config.data.heldOutShare));
  const heldOut = pairs.slice(0, nHeld);
  const rest = pairs.slice(nHeld);
  const nVal = Math.max(1, Math.round(rest.length / 8));
  const validation = rest.slice(0, nVal).map(toModelPair);
  const train = rest.slice(nVal).map(toModelPair);

  const cycles: { prompt: Prompt; a: number[]; b: number[]; c: number[] }[] = [];
  const tri = cyclicTriples(population, prompts, pools, config.data.triples, tripleRng, (b, a, bb, c, cyc) => {
    if (cyc && cycles.length < 2000) cycles.push({ prompt: prompts[b]!, a, b: bb, c });
  });
  let labelAgree = 0, labelDecided = 0;
  for (const p of heldOut) {
    const g = goldPreference(p.prompt, p.chosen, p.rejected);
    if (g === 0.5) continue;
    labelDecided++;
    if (g === 1) labelAgree++;
  }

  const ordered = orderArms(cell.arms);
  const needed = new Set<VerifierId>(ordered.map((a) => ARMS[a].verifier));
  const models = new Map<VerifierId, PreferenceModel>();
  const verifierRecords: VerifierRecord[] = [];
  const search = config.verifiers.searchStarts > 0 && (cell.main || !config.verifiers.searchMainOnly);
  try {
    for (const id of ['bt', 'gpm', 'gpm-k1'] as const) {
      if (!needed.has(id)) continue;
      hooks.onPhase?.(`training verifier ${id}`);
      const t0 = performance.now();
      const encoder = featureEncoder(RESPONSE_FEATURES);
      const model: PreferenceModel =
        id === 'bt'
          ? new BradleyTerryModel({ encoder, seed: modelSeed })
          : new GeneralPreferenceModel({ encoder, dims: id === 'gpm' ? config.verifiers.gpmDims : 1, seed: modelSeed });
      const v = config.verifiers;
      const trained = await trainPreferenceModel(model, train, {
        epochs: v.epochs,
        batchSize: v.batchSize,
        learningRate: v.learningRate,
        weightDecay: v.weightDecay,
        validationPairs: validation,
        patience: v.patience,
        seed: modelSeed,
      });
      models.set(id, model);
      const ag = agreement(model, heldOut);
      let optimum: ReturnType<typeof goldSummary> | null = null;
      if (search && !hooks.unit) {
        hooks.onPhase?.(`searching the optimum of verifier ${id}`);
        const searchRng = new Rng(seed ^ 0x5eed);
        const refs = pools.map((pool) => Array.from({ length: 8 }, () => pool[searchRng.int(pool.length)]!));
        const starts = pools.map((pool) => Array.from({ length: config.verifiers.searchStarts }, () => pool[searchRng.int(pool.length)]!));
        const optima = verifierOptima(model, prompts, starts, refs, config.verifiers.searchIterations);
        optimum = goldSummary((b) => prompts[b]!, optima);
      }
      verifierRecords.push({
        id,
        dims: model.dims,
        ...ag,
        optimumGold: optimum ? optimum.quality : null,
        optimumLength: optimum ? optimum.length : null,
        optimumPetShare: optimum ? optimum.petShare : null,
        cycleReproduction: id === 'bt' ? (cycles.length ? 0 : null) : cycleReproduction(model, cycles),
        bestEpoch: trained.bestEpoch,
        epochs: trained.history.length,
        seconds: (performance.now() - t0) / 1000,
      });
    }
    const unit: UnitRecord = hooks.unit ?? {
      cell: cell.id,
      seed,
      lengthBias: cell.lengthBias,
      petBias: cell.petBias,
      cyclicTripleShare: tri.share,
      clearCyclicTripleShare: tri.clearShare,
      labelGoldAgreement: labelDecided ? labelAgree / labelDecided : Number.NaN,
      verifiers: verifierRecords,
    };
    if (!hooks.unit) hooks.onUnit?.(unit);

    // The arms' initial policy: the context policy, or a transformer warm-started to imitate it.
    let warm: NamedWeight[] | null = null;
    if (config.policy.model === 'transformer') {
      hooks.onPhase?.('warm-starting the transformer policy');
      warm = await warmStartTransformer(config, (modelSeed ^ 0x7f4a7c15) >>> 0);
    }
    const makePolicy = (): Policy => {
      if (!warm) return new ContextPolicy();
      const p = new TransformerPolicy(transformerOptions(config, 0));
      p.setWeights(warm);
      return p;
    };

    // Fixed evaluation set: the initial policy's responses (gold references) and its greedy response per prompt (proxy reference).
    const evalPrompts: Prompt[] = [];
    for (const p of prompts) for (let i = 0; i < config.evaluation.perPrompt; i++) evalPrompts.push(p);
    const initial = makePolicy();
    const evalReference = sampleResponses(initial, evalPrompts, 1, 1, evalRng);
    const greedy = new Map<string, number[]>();
    for (const p of prompts) {
      const tok = promptTokens(p);
      const r = initial.sample([tok], { groupSize: 1, maxLength: MAX_LEN, eosToken: EOS, temperature: 1, topP: 1e-9 }).responses[0]!;
      greedy.set(tok.join(','), r);
    }
    initial.dispose();
    const evalSeed = evalRng.nextUint32();

    const records: ArmRecord[] = [];
    const done = new Map(hooks.done ?? []);
    const steps = config.budgets[config.budgets.length - 1]!;
    for (const arm of ordered) {
      if (done.has(arm)) {
        records.push(done.get(arm)!);
        continue;
      }
      const rec = await runArm(config, cell, seed, arm, {
        model: models.get(ARMS[arm].verifier)!,
        greedy,
        evalPrompts,
        evalReference,
        evalSeed,
        trainSeed,
        shamSeed,
        monitorRecord: done.get('gprl-monitor') ?? null,
        makePolicy,
        steps,
        onStep: (s) => hooks.onStep?.(arm, s, steps),
        shouldStop: hooks.shouldStop ?? null,
      });
      done.set(arm, rec);
      records.push(rec);
      hooks.onArm?.(rec);
    }
    return { unit, arms: records.filter((r) => cell.arms.includes(r.arm)) };
  } finally {
    for (const m of models.values()) m.dispose();
  }
}

interface ArmContext {
  model: PreferenceModel;
  greedy: Map<string, number[]>;
  evalPrompts: Prompt[];
  evalReference: number[][];
  evalSeed: number;
  trainSeed: number;
  shamSeed: number;
  monitorRecord: ArmRecord | null;
  /** A fresh copy of the arms' initial policy. */
  makePolicy: () => Policy;
  steps: number;
  onStep: (step: number) => void;
  shouldStop: (() => boolean) | null;
}

/** Thrown by {@link runUnit} when `hooks.shouldStop()` asked it to stop (a safe point: between two policy steps). */
export class StudyInterrupted extends Error {
  constructor() {
    super('gprl: the study was interrupted');
    this.name = 'StudyInterrupted';
  }
}

async function runArm(config: StudyConfig, cell: Cell, seed: number, arm: ArmId, ctx: ArmContext): Promise<ArmRecord> {
  const spec = ARMS[arm];
  const t0 = performance.now();
  const model = ctx.model;
  const k = model.dims;
  const tau = kernelTau(model);
  const G = config.policy.groupSize;
  const refOf = (prompt: Tokens): number[] => ctx.greedy.get(Array.from(prompt).join(','))!;
  let proxy = Number.NaN;
  // The arm's verifier, with the proxy P(sample ≻ greedy initial response) measured on the side.
  const verifier = (prompts: readonly Tokens[], groups: readonly (readonly Tokens[])[]): VerifierResult => {
    const ps = prompts.map((p) => parsePromptTokens(p));
    const Ga = groups[0]!.length;
    const out = model.verifierOutputs(
      ps.map((p) => responseFeatures(p, [])),
      groups.map((g, b) => [...g, refOf(prompts[b]!)].map((r, i) => responseFeatures(ps[b]!, i < Ga ? responseWords(r) : r))),
    );
    let sum = 0;
    const B = prompts.length;
    const emb = new Float32Array(B * Ga * 2 * k);
    for (let b = 0; b < B; b++) {
      const base = b * (Ga + 1) * 2 * k;
      emb.set(out.embeddings.subarray(base, base + Ga * 2 * k), b * Ga * 2 * k);
      for (let i = 0; i < G; i++) sum += sigmoid(pairScore(out.embeddings, base + i * 2 * k, base + Ga * 2 * k, out.lambdas, b * k, k) / tau);
    }
    proxy = sum / (B * G);
    return { embeddings: emb, lambdas: out.lambdas, dims: k, ...(out.rewards ? { rewards: pickRewards(out.rewards, B, Ga) } : {}) };
  };

  const base = { beta: config.policy.beta, epsilon: config.policy.epsilon };
  let drift: false | Record<string, unknown> = false;
  let beta = config.policy.beta;
  let referenceResponses: ((p: Tokens) => Tokens) | undefined;
  const mon = ctx.monitorRecord;
  switch (spec.control) {
    case 'monitor':
      drift = { ...config.monitor, mode: 'act' };
      referenceResponses = refOf;
      break;
    case 'observe':
      drift = { ...config.monitor, mode: 'observe' };
      referenceResponses = refOf;
      break;
    case 'sham':
      drift = { ...config.monitor, mode: 'sham', shamRate: mon ? mon.fireRate : 0, shamSeed: ctx.shamSeed };
      referenceResponses = refOf;
      break;
    case 'adaptive-kl':
      drift = { adaptiveKl: { target: config.adaptiveKl.target, horizon: config.adaptiveKl.horizon }, driftTriggers: [], spectrumTrigger: false };
      break;
    case 'matched-beta':
      beta = mon ? mon.meanBeta : config.policy.beta;
      break;
    case 'none':
      break;
  }
  const policy = ctx.makePolicy();
  const trainer = new GPRLTrainer({
    policy,
    verifier,
    prompts: allPrompts().map(promptTokens),
    config: {
      batchSize: config.policy.batchSize,
      numGenerations: G,
      maxCompletionLength: MAX_LEN,
      eosToken: EOS,
      learningRate: config.policy.model === 'transformer' ? config.policy.transformer.learningRate : config.policy.learningRate,
      beta,
      epsilon: base.epsilon,
      maxSteps: ctx.steps,
      seed: ctx.trainSeed,
      normalize: spec.normalize,
      drift: drift as never,
    },
    ...(referenceResponses ? { referenceResponses } : {}),
  });
  const series: StepSeries = { gold: [], proxy: [], length: [], petShare: [], beta: [], epsilon: [], kl: [], fired: [], events: {}, eventSteps: {} };
  const evaluations: Evaluation[] = [];
  try {
    for (let s = 1; s <= ctx.steps; s++) {
      const m = await trainer.step();
      const r = trainer.lastRollout!;
      const g = goldSummary((n) => parsePromptTokens(r.prompts[Math.floor(n / G)]!), r.sample.responses.map(responseWords));
      series.gold.push(round(g.quality));
      series.proxy.push(round(proxy));
      series.length.push(round(g.length));
      series.petShare.push(round(g.petShare));
      series.beta.push(round(m.beta));
      series.epsilon.push(round(m.epsilon));
      series.kl.push(round(m.kl));
      if (m.drifted) series.fired.push(s);
      for (const e of m.events) {
        series.events[e] = (series.events[e] ?? 0) + 1;
        if (DETECTOR_EVENTS.has(e)) (series.eventSteps[e] ??= []).push(s);
      }
      if (config.budgets.includes(s)) evaluations.push(evaluate(policy, ctx.evalPrompts, ctx.evalReference, new Rng(ctx.evalSeed + s), s));
      ctx.onStep(s);
      if (ctx.shouldStop) {
        // Let signal handlers and IPC messages run (a step resolves through microtasks only).
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (ctx.shouldStop()) throw new StudyInterrupted();
      }
    }
    const examples = [0, 1, 2, 3].map((t) => {
      const p: Prompt = { topic: t, length: 8 };
      const r = sampleResponses(policy, [p], 1, 1, new Rng(ctx.evalSeed + 17 + t))[0]!;
      return { prompt: describePrompt(p), response: render(r), quality: round(goldQuality(p, r)) };
    });
    const meanBeta = series.beta.reduce((a, b) => a + b, 0) / series.beta.length;
    return {
      cell: cell.id,
      seed,
      arm,
      evaluations,
      series,
      meanBeta,
      fireRate: series.fired.length / ctx.steps,
      seconds: (performance.now() - t0) / 1000,
      examples,
    };
  } finally {
    trainer.dispose();
    policy.dispose();
  }
}

/** The TransformerPolicy options of a study config (the task's vocabulary and context). */
function transformerOptions(config: StudyConfig, seed: number): ConstructorParameters<typeof TransformerPolicy>[0] {
  const t = config.policy.transformer;
  return { vocabSize: POLICY_VOCAB, dModel: t.dModel, heads: t.heads, layers: t.layers, ffnSize: t.ffnSize, maxLength: 2 + MAX_LEN, seed };
}

/**
 * The transformer arms' initial weights: a transformer initialized from `seed`, then trained by
 * teacher forcing on `warmStartSamples` responses per prompt of the initial context policy (EOS
 * included), so it starts from the same mediocre writer the context arms start from.
 */
export async function warmStartTransformer(config: StudyConfig, seed: number): Promise<NamedWeight[]> {
  const t = config.policy.transformer;
  const rng = new Rng(seed);
  const teacher = new ContextPolicy();
  const prompts = allPrompts().map(promptTokens);
  let examples: { prompt: Tokens; response: Tokens }[];
  try {
    const s = teacher.sample(prompts, { groupSize: t.warmStartSamples, maxLength: MAX_LEN, eosToken: EOS, temperature: 1, rng });
    examples = s.responses.map((response, n) => ({ prompt: prompts[Math.floor(n / t.warmStartSamples)]!, response }));
  } finally {
    teacher.dispose();
  }
  const student = new TransformerPolicy(transformerOptions(config, rng.nextUint32()));
  try {
    await supervisedFineTune(student, examples, { epochs: t.warmStartEpochs, learningRate: t.warmStartLearningRate, batchSize: 64, seed: rng.nextUint32() });
    return student.getWeights();
  } finally {
    student.dispose();
  }
}

const DETECTOR_EVENTS = new Set<string>(['spectrum-drift', ...SECONDARY_DETECTORS]);

function pickRewards(rewards: Float32Array, B: number, Ga: number): Float32Array {
  const out = new Float32Array(B * Ga);
  for (let b = 0; b < B; b++) out.set(rewards.subarray(b * (Ga + 1), b * (Ga + 1) + Ga), b * Ga);
  return out;
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}
