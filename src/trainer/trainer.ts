/**
 * `GPRLTrainer`: online RL of a tfjs policy against a frozen verifier (design §2.3–2.5).
 *
 * One `step()`:
 *  1. rollout: B prompts (epoch-shuffled from the dataset, seeded), G responses each from the current policy;
 *  2. verifier: GPM/BT embeddings and eigenvalues (`verifierOutputs`, or a function returning them), or a
 *     scalar reward function (plain GRPO);
 *  3. old and reference log-probs (no gradient); a response with a non-finite one is masked and counted;
 *  4. advantages: `gprlAdvantages` (per-dimension / scalar / gdpo) with the drift monitor's dimension
 *     weights, then `monitor.update()` decides m, β, ε for this update (advantages recomputed from the
 *     same scores when m changed);
 *  5. `numIterations` passes, each one optimizer step: policy log-probs with gradient → `policyLossOp`
 *     (the policy-loss kernel as a tfjs op: loss, exact ∂loss/∂logp saved for the backward pass, clip and
 *     KL metrics; the loss type's surrogate and normalizer, token- or sequence-level ratio, optional
 *     high-entropy token mask) − entropyCoef·entropy → ∂loss/∂θ → global-norm clipping → Adam (tfjs-core)
 *     at the scheduled learning rate;
 *  6. with `syncRefModel`, every `refModelSyncSteps` steps: reference ← α·policy + (1 − α)·reference.
 */
import { assertGradients } from '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertOptionsObject, invalidType, invalidValue } from '../errors.js';
import { gprlAdvantages } from '../kernels/gprlAdvantages.js';
import { groupAdvantages } from '../kernels/groupAdvantages.js';
import type { PolicyLossMetrics } from '../kernels/policyLoss.js';
import { policyLossOpWithMetrics } from '../tfjs/policyLossOp.js';
import type { Policy, SampleResult, Tokens } from '../policy/policy.js';
import { assertTokenBatch } from '../policy/policy.js';
import { DriftMonitor, type DriftDecision, type DriftEvent, type DriftMonitorState } from '../monitor/driftMonitor.js';
import { aggregationOf, learningRateAt, resolveTrainerConfig, surrogateOf, type GPRLTrainerConfig, type ResolvedTrainerConfig } from './config.js';
import { highEntropyMask, lossMask, mixReference, normalizerOptions, tokenWeights } from './trl.js';
import { appendMetricsLine, meanStd, type StepMetrics } from './metrics.js';
import { readCheckpoint, writeCheckpoint, type CheckpointTensor, type WriteCheckpointOptions } from './checkpoint.js';

/** What a verifier returns for B prompts × G responses (the shape of `PreferenceModel.verifierOutputs`). */
export interface VerifierResult {
  /** Set by the trainer when reference responses were scored: their embeddings `[B][2k]`. */
  referenceEmbeddings?: Float32Array;
  /** Embeddings `[B][G][2k]`; a response with a non-finite value is masked and counted. */
  embeddings: Float32Array;
  /** Eigenvalues λ `[B][k]`. Defaults to uniform. */
  lambdas?: Float32Array;
  /** k; when absent, taken from `shape.dims` or `embeddings.length / (2·B·G)`. */
  dims?: number;
  /** `{ groups, groupSize, dims }` (as `verifierOutputs` reports it). */
  shape?: { groups: number; groupSize: number; dims: number };
  /** Bradley-Terry rewards `[B][G]`, reported as `rewardMean`. */
  rewards?: Float32Array;
}

/** A frozen verifier: an object with `verifierOutputs` (GeneralPreferenceModel, BradleyTerryModel). */
export interface VerifierModel {
  verifierOutputs(prompts: readonly Tokens[], groups: readonly (readonly Tokens[])[]): VerifierResult;
}

/** A verifier function: prompts `[B]` and responses per prompt `[B][G]` → embeddings and eigenvalues. */
export type VerifierFn = (prompts: readonly Tokens[], groups: readonly (readonly Tokens[])[]) => VerifierResult | Promise<VerifierResult>;

/** A scalar reward (plain GRPO). Non-finite rewards mask the response. */
export type RewardFn = (prompt: Tokens, response: Tokens) => number;

/** Where prompts come from: a fixed dataset (epoch-shuffled with the trainer's seed), or a function of the step. */
export type PromptSource = readonly Tokens[] | ((step: number, rng: Rng, batchSize: number) => Tokens[]);

export interface GPRLTrainerOptions {
  /** The policy to train (updated in place). Required. */
  policy: Policy;
  /** The frozen reference policy of the KL term. Defaults to `policy.clone()` at construction. */
  referencePolicy?: Policy;
  /** A frozen GPM/BT model or verifier function. Exactly one of `verifier` and `reward` is required. */
  verifier?: VerifierModel | VerifierFn;
  /** A scalar reward function (plain GRPO on its values). Exactly one of `verifier` and `reward` is required. */
  reward?: RewardFn;
  /** Training prompts. Required. */
  prompts: PromptSource;
  /** Hyper-parameters; see `GPRLTrainerConfig`. Defaults to every default. */
  config?: GPRLTrainerConfig;
  /** Called after every step with its metrics. Defaults to none. */
  onStep?: (metrics: StepMetrics) => void;
  /** Called for every drift-monitor event. Defaults to none. */
  onEvent?: (event: DriftEvent) => void;
  /**
   * Fixed reference responses for the drift monitor's second detector (design §2.5): each step, the
   * verifier also scores one reference response per prompt, and the per-dimension mean score
   * `s_l(sample, reference)` of the samples goes to the monitor (`referenceScores`). `'initial'` decodes
   * the reference policy greedily (cached per prompt); a function returns the reference for a prompt.
   * Verifier path with the monitor only. Defaults to none.
   */
  referenceResponses?: 'initial' | ((prompt: Tokens) => Tokens);
}

/** Everything `resume` needs besides the checkpoint: the same kind of policy, and the verifier. */
export interface ResumeOptions extends Omit<GPRLTrainerOptions, 'config' | 'policy' | 'referencePolicy'> {
  /** A policy of the architecture that was saved (its weights are overwritten), or a factory of one. Required. */
  policy: Policy | (() => Policy);
  /** Options that may differ from the saved run (e.g. a longer `maxSteps`, a new `metricsPath`). Defaults to none. */
  config?: Pick<GPRLTrainerConfig, 'maxSteps' | 'metricsPath'>;
}

/** The last rollout, for inspection and tests (arrays are this step's, not copies kept in sync). */
export interface Rollout {
  prompts: Tokens[];
  sample: SampleResult;
  /** Per-response advantages `[B·G]` used by the update. */
  advantages: Float32Array;
  /** Valid responses `[B·G]` (1 = used). */
  valid: Uint8Array;
  /** Old log-probs `[N·T]` (under the policy before this step's update). */
  logpOld: Float32Array;
  /** Reference log-probs `[N·T]`. */
  logpRef: Float32Array;
  /** Rewards `[B·G]` (reward path or BT verifier), else null. */
  rewards: Float32Array | null;
  /** Group scores ŝ `[B·G·k]` (verifier path), else null. */
  scores: Float32Array | null;
  /** The monitor's decision, or null. */
  decision: DriftDecision | null;
}

const OPTION_KEYS = ['policy', 'referencePolicy', 'verifier', 'reward', 'prompts', 'config', 'onStep', 'onEvent', 'referenceResponses'] as const;
const STATE_VERSION = 1;

interface TrainerState {
  version: number;
  step: number;
  config: ResolvedTrainerConfig;
  rng: { s: number[]; spare: number | null };
  order: number[];
  cursor: number;
  monitor: DriftMonitorState | null;
  dims: number | null;
}

export class GPRLTrainer {
  readonly config: Readonly<ResolvedTrainerConfig>;
  readonly policy: Policy;
  readonly referencePolicy: Policy;
  private readonly verifier: VerifierModel | VerifierFn | null;
  private readonly reward: RewardFn | null;
  private readonly prompts: PromptSource;
  private readonly onStep: ((m: StepMetrics) => void) | null;
  private readonly onEvent: ((e: DriftEvent) => void) | null;
  private readonly referenceResponses: 'initial' | ((prompt: Tokens) => Tokens) | null;
  private readonly referenceCache = new Map<string, Tokens>();
  private readonly rng: Rng;
  private optimizer: tf.Optimizer;
  private monitorInstance: DriftMonitor | null = null;
  private dims: number | null = null;
  private stepCount = 0;
  private order: number[] = [];
  private cursor = 0;
  private disposed = false;
  private ownsReference: boolean;
  private last: Rollout | null = null;

  constructor(options: GPRLTrainerOptions) {
    assertOptionsObject('options', options);
    if (options === undefined) throw invalidType('options', 'trainer options', options);
    assertKnownKeys('options', options as unknown as Record<string, unknown>, OPTION_KEYS);
    const p = options.policy as Partial<Policy> | undefined;
    if (!p || typeof p.sample !== 'function' || typeof p.logProbs !== 'function' || typeof p.clone !== 'function') {
      throw invalidType('options.policy', 'a Policy (sample, logProbs, clone, ...)', options.policy);
    }
    const hasVerifier = options.verifier !== undefined;
    const hasReward = options.reward !== undefined;
    if (hasVerifier === hasReward) throw invalidValue('options', 'exactly one of verifier and reward', hasVerifier ? 'both' : 'neither');
    if (hasVerifier) {
      const v = options.verifier as unknown;
      const ok = typeof v === 'function' || (v !== null && typeof v === 'object' && typeof (v as VerifierModel).verifierOutputs === 'function');
      if (!ok) throw invalidType('options.verifier', 'an object with verifierOutputs() or a function', v);
    }
    if (hasReward && typeof options.reward !== 'function') throw invalidType('options.reward', 'a function (prompt, response) => number', options.reward);
    if (typeof options.prompts !== 'function') {
      assertTokenBatch('options.prompts', options.prompts, options.policy.vocabSize);
      if (options.prompts.length === 0) throw invalidValue('options.prompts', 'at least one prompt', options.prompts);
    }
    for (const key of ['onStep', 'onEvent'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'function') throw invalidType(`options.${key}`, 'a function', options[key]);
    }
    this.config = Object.freeze(resolveTrainerConfig(options.config));
    if (hasVerifier && this.config.scaleRewards !== 'group') {
      throw invalidValue('config.scaleRewards', "'group' with a verifier (scaleRewards applies to the reward path; the verifier path uses config.normalize)", this.config.scaleRewards);
    }
    assertGradients(); // tfjs-core's gradient functions must have loaded for the policy update
    if (this.config.eosToken !== null && this.config.eosToken >= options.policy.vocabSize) {
      throw invalidValue('config.eosToken', `a token id below the policy's vocabSize (${options.policy.vocabSize})`, this.config.eosToken);
    }
    this.policy = options.policy;
    this.ownsReference = options.referencePolicy === undefined;
    this.referencePolicy = options.referencePolicy ?? options.policy.clone();
    this.verifier = options.verifier ?? null;
    this.reward = options.reward ?? null;
    this.prompts = options.prompts;
    this.onStep = options.onStep ?? null;
    this.onEvent = options.onEvent ?? null;
    const rr = options.referenceResponses;
    if (rr !== undefined && rr !== 'initial' && typeof rr !== 'function') {
      throw invalidType('options.referenceResponses', "'initial' or a function (prompt) => response", rr);
    }
    this.referenceResponses = rr ?? null;
    this.rng = new Rng(this.config.seed);
    this.optimizer = this.makeOptimizer();
  }

  private makeOptimizer(): tf.Optimizer {
    const c = this.config;
    return c.optimizer === 'adam'
      ? tf.train.adam(learningRateAt(c, 0), c.adamBeta1, c.adamBeta2, c.adamEpsilon)
      : tf.train.sgd(learningRateAt(c, 0));
  }

  /** Number of steps taken so far (Hugging Face's `global_step`). */
  get globalStep(): number {
    return this.stepCount;
  }

  /** The drift monitor (created at the first verifier step), or null. */
  get monitor(): DriftMonitor | null {
    return this.monitorInstance;
  }

  /** The last step's rollout, or null before the first step. */
  get lastRollout(): Rollout | null {
    return this.last;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('gprl: this GPRLTrainer has been disposed');
  }

  private nextPrompts(): Tokens[] {
    const B = this.config.promptsPerStep;
    if (typeof this.prompts === 'function') {
      const out = this.prompts(this.stepCount, this.rng, B);
      assertTokenBatch('prompts()', out, this.policy.vocabSize);
      if (out.length !== B) throw invalidValue('prompts()', `${B} prompts (config.promptsPerStep)`, out);
      return out;
    }
    const data = this.prompts;
    const out: Tokens[] = [];
    while (out.length < B) {
      if (this.cursor >= this.order.length) {
        this.order = this.rng.shuffle(Array.from({ length: data.length }, (_, i) => i));
        this.cursor = 0;
      }
      out.push(data[this.order[this.cursor++]!]!);
    }
    return out;
  }

  /** Run steps until `config.maxSteps` (or `steps` more). Returns the metrics of each step. */
  async train(steps?: number): Promise<StepMetrics[]> {
    this.assertAlive();
    const n = steps ?? Math.max(0, this.config.maxSteps - this.stepCount);
    if (!Number.isSafeInteger(n) || n < 0) throw invalidValue('steps', 'a non-negative integer', steps);
    const out: StepMetrics[] = [];
    for (let i = 0; i < n; i++) out.push(await this.step());
    return out;
  }

  /** One rollout and its `numIterations` optimizer passes. */
  async step(): Promise<StepMetrics> {
    this.assertAlive();
    const c = this.config;
    const t0 = performance.now();
    const prompts = this.nextPrompts();
    const B = c.promptsPerStep, G = c.numGenerations, T = c.maxCompletionLength, N = B * G;
    const sample = this.policy.sample(prompts, {
      groupSize: G,
      maxLength: T,
      temperature: c.temperature,
      topP: c.topP,
      eosToken: c.eosToken,
      rng: this.rng,
    });
    const t1 = performance.now();
    const groups: Tokens[][] = [];
    for (let b = 0; b < B; b++) groups.push(sample.responses.slice(b * G, (b + 1) * G));
    const expanded: Tokens[] = [];
    for (let b = 0; b < B; b++) for (let i = 0; i < G; i++) expanded.push(prompts[b]!);

    // Verifier or reward.
    let ver: VerifierResult | null = null;
    let rewards: Float32Array | null = null;
    if (this.verifier) {
      const refs = this.referenceResponses && c.drift !== false ? prompts.map((p) => this.referenceFor(p)) : null;
      const asked = refs ? groups.map((g, b) => [...g, refs[b]!]) : groups;
      ver = typeof this.verifier === 'function' ? await this.verifier(prompts, asked) : this.verifier.verifierOutputs(prompts, asked);
      this.checkVerifierResult(ver, B, refs ? G + 1 : G);
      if (refs) ver = splitReference(ver, B, G, this.dims!);
      if (ver.rewards) rewards = ver.rewards;
    } else {
      rewards = new Float32Array(N);
      for (let n = 0; n < N; n++) {
        const r = this.reward!(expanded[n]!, sample.responses[n]!);
        rewards[n] = typeof r === 'number' ? r : Number.NaN;
      }
    }
    const t2 = performance.now();

    // Old and reference log-probs.
    const lpOpts = { temperature: c.temperature, maxLength: T };
    const [logpOld, entropyTok] = tf.tidy(() => {
      const r = this.policy.logProbs(expanded, sample.responses, lpOpts);
      return [Float32Array.from(r.logp.dataSync() as Float32Array), Float32Array.from(r.entropy.dataSync() as Float32Array)];
    });
    const logpRef = tf.tidy(() => Float32Array.from(this.referencePolicy.logProbs(expanded, sample.responses, lpOpts).logp.dataSync() as Float32Array));
    const valid = new Uint8Array(N).fill(1);
    let nonFiniteLogProbs = 0;
    for (let n = 0; n < N; n++) {
      for (let t = 0; t < sample.lengths[n]!; t++) {
        if (!Number.isFinite(logpOld[n * T + t]!) || !Number.isFinite(logpRef[n * T + t]!)) {
          valid[n] = 0;
          nonFiniteLogProbs++;
          break;
        }
      }
    }
    const t3 = performance.now();

    // Rollout statistics that feed the monitor.
    let tokens = 0, entSum = 0, klSum = 0, klTokens = 0, clipped = 0;
    for (let n = 0; n < N; n++) {
      const len = sample.lengths[n]!;
      tokens += len;
      if (c.eosToken === null ? false : len === T && sample.responses[n]![len - 1] !== c.eosToken) clipped++;
      if (!valid[n]) continue;
      for (let t = 0; t < len; t++) {
        entSum += entropyTok[n * T + t]!;
        klSum += klEstimate(c.klEstimator, logpRef[n * T + t]! - logpOld[n * T + t]!);
        klTokens++;
      }
    }
    // Over the valid responses; NaN/Inf (e.g. an overflowing k3) are reported but not given to the monitor.
    const rolloutKl = klTokens > 0 ? klSum / klTokens : 0;
    const meanEntropy = klTokens > 0 ? entSum / klTokens : 0;

    // Advantages.
    const adv = this.computeAdvantages(ver, rewards, valid, sample, rolloutKl, meanEntropy, B, G);
    const t4 = performance.now();

    // Optimization. The loss mask leaves out invalid responses and, with maskTruncatedCompletions,
    // truncated ones (which still counted in the advantages and count in the TRL normalizers).
    const lm = lossMask(sample.responses, valid, T, c.eosToken, c.maskTruncatedCompletions);
    const mask = lm.mask;
    const lr = learningRateAt(c, this.stepCount);
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
    const lossOpts = {
      epsilonLow: adv.epsilon,
      epsilonHigh: c.epsilonHigh ?? adv.epsilon,
      beta: adv.beta,
      kl: c.klEstimator,
      aggregation: aggregationOf(c.lossType),
      maxLength: T,
      surrogate: surrogateOf(c.lossType),
      importanceSampling: c.importanceSamplingLevel,
      sapoTemperaturePos: c.sapoTemperaturePos,
      sapoTemperatureNeg: c.sapoTemperatureNeg,
      ...normalizerOptions(c.lossType, lm),
      ...(c.dualClip !== null ? { dualClip: c.dualClip } : {}),
    };
    const entropyW = c.entropyCoef > 0 ? tf.tensor2d(tokenWeights(c.lossType, lm, N, T), [N, T]) : null;
    const vars = this.policy.trainableVariables as tf.Variable[];
    let lossValue = Number.NaN;
    let gradNormSum = 0;
    const agg = { clipFracLow: 0, clipFracHigh: 0, dualClipFrac: 0, meanRatio: 0 };
    const oldT = tf.tensor2d(logpOld, [N, T]);
    const refT = tf.tensor2d(logpRef, [N, T]);
    const advT = tf.tensor1d(adv.advantages);
    const maskT = tf.tensor2d(mask, [N, T], 'int32');
    for (let it = 0; it < c.numIterations; it++) {
      let metrics: PolicyLossMetrics | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const r = this.policy.logProbs(expanded, sample.responses, lpOpts);
        // TRL's entropy masking: the current policy's entropies (no gradient through the mask).
        const policyMask = c.topEntropyQuantile < 1 ? tf.tensor2d(highEntropyMask(r.entropy.dataSync(), mask, c.topEntropyQuantile), [N, T], 'bool') : null;
        const res = policyLossOpWithMetrics(r.logp, oldT, refT, advT, maskT, policyMask ? { ...lossOpts, policyMask } : lossOpts);
        metrics = res.metrics;
        return entropyW ? tf.sub(res.loss, tf.mul(tf.sum(tf.mul(r.entropy, entropyW)), c.entropyCoef)) : res.loss;
      }, vars);
      lossValue = value.dataSync()[0]!;
      value.dispose();
      const m = metrics as PolicyLossMetrics | null;
      if (m) {
        agg.clipFracLow += m.clipFracLow / c.numIterations;
        agg.clipFracHigh += m.clipFracHigh / c.numIterations;
        agg.dualClipFrac += m.dualClipFrac / c.numIterations;
        agg.meanRatio += m.meanRatio / c.numIterations;
      }
      const list = vars.map((v) => grads[v.name]!);
      const norm = tf.tidy(() => Math.sqrt(list.reduce((s, g) => s + (tf.sum(tf.square(g)).dataSync()[0] as number), 0)));
      gradNormSum += norm;
      const scale = c.maxGradNorm !== null && norm > c.maxGradNorm ? c.maxGradNorm / norm : 1;
      const named = vars.map((v, i) => ({ name: v.name, tensor: scale === 1 ? list[i]! : tf.mul(list[i]!, scale) }));
      if (Number.isFinite(norm)) this.optimizer.applyGradients(named);
      tf.dispose(list);
      if (scale !== 1) tf.dispose(named.map((x) => x.tensor));
    }
    tf.dispose([oldT, refT, advT, maskT]);
    entropyW?.dispose();
    this.stepCount++;
    // TRL's SyncRefModelCallback runs at the end of every refModelSyncSteps-th step.
    if (c.syncRefModel && this.stepCount % c.refModelSyncSteps === 0) mixReference(this.policy, this.referencePolicy, c.refModelMixupAlpha);
    const t5 = performance.now();

    const stepMs = t5 - t0;
    const metrics: StepMetrics = {
      step: this.stepCount,
      learningRate: lr,
      loss: lossValue,
      gradNorm: gradNormSum / c.numIterations,
      dims: adv.dims,
      scoreMean: adv.scoreMean,
      scoreStd: adv.scoreStd,
      zeroVarianceShare: adv.zeroVarianceShare,
      dimContribution: adv.dimContribution,
      rewardMean: rewards ? meanStd(rewards)[0] : null,
      rewardStd: rewards ? meanStd(rewards)[1] : null,
      advantageAbsMean: absMean(adv.advantages, valid),
      alpha: adv.decision ? adv.decision.alpha.slice() : null,
      drift: adv.decision ? adv.decision.drift : null,
      drifted: adv.decision ? adv.decision.drifted : false,
      referenceScores: adv.referenceScores ? Array.from(adv.referenceScores) : null,
      dimWeights: Array.from(adv.dimWeights),
      beta: adv.beta,
      epsilon: adv.epsilon,
      ...agg,
      kl: rolloutKl,
      entropy: meanEntropy,
      responseLength: tokens / N,
      clippedRatio: clipped / N,
      maskedResponses: N - valid.reduce((a, b) => a + b, 0),
      nonFiniteLogProbs,
      events: adv.decision ? adv.decision.events.map((e) => e.kind) : [],
      timing: {
        rolloutMs: t1 - t0,
        verifierMs: t2 - t1,
        logProbMs: t3 - t2,
        advantageMs: t4 - t3,
        optimizeMs: t5 - t4,
        stepMs,
        samplesPerSecond: (N * 1000) / stepMs,
        tokensPerSecond: (tokens * 1000) / stepMs,
      },
    };
    this.last = {
      prompts,
      sample,
      advantages: adv.advantages,
      valid,
      logpOld,
      logpRef,
      rewards,
      scores: adv.scores,
      decision: adv.decision,
    };
    if (c.metricsPath !== null) appendMetricsLine(c.metricsPath, metrics);
    if (this.onEvent && adv.decision) for (const e of adv.decision.events) this.onEvent(e);
    if (this.onStep) this.onStep(metrics);
    return metrics;
  }

  /** The reference response of a prompt (cached; `'initial'` decodes the reference policy greedily). */
  private referenceFor(prompt: Tokens): Tokens {
    const key = prompt.join(',');
    let ref = this.referenceCache.get(key);
    if (ref === undefined) {
      if (this.referenceResponses === 'initial') {
        const c = this.config;
        // topP → 0 keeps only the most likely token: greedy, deterministic decoding.
        ref = this.referencePolicy.sample([prompt], { groupSize: 1, maxLength: c.maxCompletionLength, eosToken: c.eosToken, temperature: c.temperature, topP: 1e-9 }).responses[0]!;
      } else {
        ref = (this.referenceResponses as (p: Tokens) => Tokens)(prompt);
        assertTokenBatch('referenceResponses()', [ref], this.policy.vocabSize, false);
      }
      this.referenceCache.set(key, ref);
    }
    return ref;
  }

  private checkVerifierResult(v: VerifierResult, B: number, G: number): void {
    if (v === null || typeof v !== 'object' || !(v.embeddings instanceof Float32Array)) {
      throw invalidType('verifier result', 'an object with embeddings (Float32Array)', v);
    }
    const k = v.dims ?? v.shape?.dims ?? v.embeddings.length / (2 * B * G);
    if (!Number.isSafeInteger(k) || k < 1 || v.embeddings.length !== B * G * 2 * k) {
      throw invalidValue('verifier result.embeddings', `B·G·2k = ${B}·${G}·2k values`, v.embeddings);
    }
    if (this.dims === null) this.dims = k;
    else if (k !== this.dims) throw invalidValue('verifier result.dims', `${this.dims} (as in earlier steps)`, k);
    if (v.lambdas !== undefined && (!(v.lambdas instanceof Float32Array) || v.lambdas.length !== B * k)) {
      throw invalidValue('verifier result.lambdas', `a Float32Array of B·k = ${B * k} values`, v.lambdas);
    }
    if (v.rewards !== undefined && (!(v.rewards instanceof Float32Array) || v.rewards.length !== B * G)) {
      throw invalidValue('verifier result.rewards', `a Float32Array of B·G = ${B * G} values`, v.rewards);
    }
  }

  private computeAdvantages(
    ver: VerifierResult | null,
    rewards: Float32Array | null,
    valid: Uint8Array,
    sample: SampleResult,
    kl: number,
    entropy: number,
    B: number,
    G: number,
  ) {
    const c = this.config;
    const N = B * G;
    const eps = c.advantageEpsilon;
    if (!ver) {
      // Reward-function path: GRPO on the scalar rewards.
      const r = rewards!;
      for (let n = 0; n < N; n++) if (!Number.isFinite(r[n]!)) valid[n] = 0;
      const { advantages, degenerate } = scalarRewardAdvantages(r, valid, B, G, c.scaleRewards, eps, c.std);
      const [mean, std] = meanStd(maskedValues(r, valid));
      return {
        advantages,
        dims: 1,
        scores: null,
        scoreMean: [mean],
        scoreStd: [std],
        zeroVarianceShare: degenerate / B,
        dimContribution: [1],
        dimWeights: new Float32Array([1]),
        beta: c.beta,
        epsilon: c.epsilon,
        decision: null as DriftDecision | null,
        referenceScores: null as Float32Array | null,
      };
    }
    const k = this.dims!;
    if (c.dimWeights !== null && c.dimWeights.length !== k) {
      throw invalidValue('config.dimWeights', `${k} weights (the verifier's dims)`, c.dimWeights);
    }
    if (c.drift !== false && !this.monitorInstance) {
      this.monitorInstance = new DriftMonitor({ beta: c.beta, epsilon: c.epsilon, ...c.drift, dims: k });
    }
    const monitor = this.monitorInstance;
    const shape = { groups: B, groupSize: G, dims: k };
    const baseOpts = {
      ...(ver.lambdas ? { lambdas: ver.lambdas } : {}),
      mask: valid,
      normalize: c.normalize,
      eps,
      std: c.std,
    };
    let weights = monitor ? monitor.dimWeights : c.dimWeights ? Float32Array.from(c.dimWeights) : new Float32Array(k).fill(1);
    // Only the outputs used below (dimMean is not).
    const outputs = ['advantages', 'dimAdvantages', 'dimStd', 'scores'] as const;
    let res = gprlAdvantages(ver.embeddings, shape, { ...baseOpts, dimWeights: weights, mode: c.scoreMode, tau: c.scoreTau, outputs });
    const scores = res.scores;
    for (let n = 0; n < N; n++) if (!Number.isFinite(scores[n * k]!)) valid[n] = 0;
    const referenceScores = ver.referenceEmbeddings ? referenceScoresOf(ver, valid, B, G, k) : null;
    let decision: DriftDecision | null = null;
    let beta = c.beta;
    let epsilon = c.epsilon;
    if (monitor) {
      const lengths = Float32Array.from(sample.lengths);
      decision = monitor.update({
        groups: B,
        groupSize: G,
        dims: k,
        scores,
        ...(ver.lambdas ? { lambdas: ver.lambdas } : {}),
        lengths,
        ...(Number.isFinite(kl) ? { kl } : {}),
        ...(Number.isFinite(entropy) && entropy >= 0 ? { entropy } : {}),
        ...(referenceScores ? { referenceScores } : {}),
      });
      beta = decision.beta;
      epsilon = decision.epsilon;
      if (decision.dimWeights.some((w, l) => w !== weights[l])) {
        weights = Float32Array.from(decision.dimWeights);
        const again = groupAdvantages(scores, shape, { ...baseOpts, dimWeights: weights });
        res = { ...again, scores };
      }
    }
    // Per-dimension statistics and contributions.
    const scoreMean = new Array<number>(k).fill(0);
    const scoreStd = new Array<number>(k).fill(0);
    const contrib = new Array<number>(k).fill(0);
    let validCount = 0;
    for (let b = 0; b < B; b++) {
      let wsum = 0;
      for (let l = 0; l < k; l++) wsum += weights[l]! * (ver.lambdas ? ver.lambdas[b * k + l]! : 1);
      for (let l = 0; l < k; l++) {
        scoreStd[l]! += res.dimStd[b * k + l]! / B;
        const w = wsum > 0 ? (weights[l]! * (ver.lambdas ? ver.lambdas[b * k + l]! : 1)) / wsum : 0;
        for (let i = 0; i < G; i++) {
          const n = b * G + i;
          if (!valid[n]) continue;
          contrib[l]! += Math.abs(w * res.dimAdvantages[n * k + l]!);
          scoreMean[l]! += scores[n * k + l]!;
        }
      }
      for (let i = 0; i < G; i++) validCount += valid[b * G + i]!;
    }
    const total = contrib.reduce((a, b) => a + b, 0);
    return {
      advantages: res.advantages,
      dims: k,
      scores,
      scoreMean: scoreMean.map((s) => (validCount > 0 ? s / validCount : 0)),
      scoreStd,
      zeroVarianceShare: res.degenerate / (c.normalize === 'scalar' ? B : c.normalize === 'gdpo' ? B * k + 1 : B * k),
      dimContribution: total > 0 ? contrib.map((x) => x / total) : contrib.map(() => 1 / k),
      dimWeights: weights,
      beta,
      epsilon,
      decision,
      referenceScores,
    };
  }

  /** Save the whole training state to `dir` (see `checkpoint.ts`: atomic, the previous checkpoint stays loadable). */
  async save(dir: string, options: WriteCheckpointOptions = {}): Promise<string> {
    this.assertAlive();
    const toTensors = (weights: { name: string; shape: number[]; values: Float32Array }[]): CheckpointTensor[] =>
      weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32', values: w.values }));
    const optWeights = await this.optimizer.getWeights();
    const optimizer: CheckpointTensor[] = optWeights.map((w) => ({
      name: w.name,
      shape: w.tensor.shape.slice(),
      dtype: w.tensor.dtype === 'int32' ? 'int32' : 'float32',
      values: w.tensor.dtype === 'int32' ? Int32Array.from(w.tensor.dataSync() as Int32Array) : Float32Array.from(w.tensor.dataSync() as Float32Array),
    }));
    // saveIterations() makes a fresh scalar; the moments are the optimizer's own variables.
    optWeights[0]?.tensor.dispose();
    const state: TrainerState = {
      version: STATE_VERSION,
      step: this.stepCount,
      config: { ...this.config } as ResolvedTrainerConfig,
      rng: this.rng.getState(),
      order: this.order,
      cursor: this.cursor,
      monitor: this.monitorInstance ? this.monitorInstance.getState() : null,
      dims: this.dims,
    };
    return writeCheckpoint(
      dir,
      {
        step: this.stepCount,
        tensors: {
          policy: toTensors(this.policy.getWeights()),
          reference: toTensors(this.referencePolicy.getWeights()),
          optimizer,
        },
        state: state as unknown as Record<string, unknown>,
      },
      options,
    );
  }

  /** Continue a saved run: same config, weights, optimizer state, monitor state, data order and RNG stream. */
  static async resume(dir: string, options: ResumeOptions): Promise<GPRLTrainer> {
    assertOptionsObject('options', options);
    const ckpt = await readCheckpoint(dir);
    const state = ckpt.state as unknown as TrainerState;
    if (state?.version !== STATE_VERSION || !state.config) throw new Error(`gprl: '${dir}' does not hold a GPRLTrainer checkpoint`);
    if (typeof options.prompts !== 'function' && state.order.some((i) => i >= options.prompts.length)) {
      throw invalidValue('options.prompts', `the dataset of the saved run (at least ${Math.max(...state.order) + 1} prompts)`, options.prompts);
    }
    const policy = typeof options.policy === 'function' ? options.policy() : options.policy;
    const asWeights = (list: CheckpointTensor[] | undefined, name: string) => {
      if (!list) throw new Error(`gprl: checkpoint in '${dir}' has no ${name} weights`);
      return list.map((t) => ({ name: t.name, shape: t.shape, values: t.values as Float32Array }));
    };
    policy.setWeights(asWeights(ckpt.tensors.policy, 'policy'));
    const reference = policy.clone();
    reference.setWeights(asWeights(ckpt.tensors.reference, 'reference'));
    const { policy: _p, config: overrides, ...rest } = options;
    const trainer = new GPRLTrainer({
      ...rest,
      policy,
      referencePolicy: reference,
      config: { ...state.config, ...(overrides ?? {}) } as GPRLTrainerConfig,
    });
    trainer.ownsReference = true;
    trainer.stepCount = state.step;
    trainer.rng.setState(state.rng);
    trainer.order = state.order;
    trainer.cursor = state.cursor;
    trainer.dims = state.dims;
    if (state.monitor) {
      const cfg = trainer.config;
      if (cfg.drift === false || state.dims === null) throw new Error(`gprl: checkpoint in '${dir}' has monitor state but no monitor config`);
      trainer.monitorInstance = new DriftMonitor({ beta: cfg.beta, epsilon: cfg.epsilon, ...cfg.drift, dims: state.dims });
      trainer.monitorInstance.setState(state.monitor);
    }
    const opt = ckpt.tensors.optimizer ?? [];
    if (opt.length > 0) {
      const named = opt.map((t) => ({ name: t.name, tensor: tf.tensor(t.values, t.shape, t.dtype) }));
      await trainer.optimizer.setWeights(named);
      // setWeights turns the moment tensors into variables (sharing their data) and reads the iteration count.
      tf.dispose(named.map((n) => n.tensor));
    }
    return trainer;
  }

  /** Release the optimizer state and the reference policy (when the trainer made it). The policy stays the caller's. */
  dispose(): void {
    if (this.disposed) return;
    this.optimizer.dispose();
    if (this.ownsReference) this.referencePolicy.dispose();
    this.disposed = true;
  }
}

/** Move the reference responses (the last of each group of G + 1) out of a verifier result. */
function splitReference(v: VerifierResult, B: number, G: number, k: number): VerifierResult {
  const w = 2 * k;
  const embeddings = new Float32Array(B * G * w);
  const refs = new Float32Array(B * w);
  for (let b = 0; b < B; b++) {
    embeddings.set(v.embeddings.subarray(b * (G + 1) * w, (b * (G + 1) + G) * w), b * G * w);
    refs.set(v.embeddings.subarray((b * (G + 1) + G) * w, (b + 1) * (G + 1) * w), b * w);
  }
  const out: VerifierResult = { embeddings, dims: k, referenceEmbeddings: refs };
  if (v.lambdas) out.lambdas = v.lambdas;
  if (v.rewards) {
    const r = new Float32Array(B * G);
    for (let b = 0; b < B; b++) r.set(v.rewards.subarray(b * (G + 1), b * (G + 1) + G), b * G);
    out.rewards = r;
  }
  return out;
}

/**
 * Per-dimension mean of `s_l(i, ref) = a_l(i)·b_l(ref) − b_l(i)·a_l(ref)` over the valid samples of the
 * groups whose reference embedding is finite (0 where there are none).
 */
function referenceScoresOf(v: VerifierResult, valid: Uint8Array, B: number, G: number, k: number): Float32Array {
  const refs = v.referenceEmbeddings!;
  const sum = new Float64Array(k);
  let n = 0;
  for (let b = 0; b < B; b++) {
    let finite = true;
    for (let j = 0; j < 2 * k; j++) if (!Number.isFinite(refs[b * 2 * k + j]!)) finite = false;
    if (!finite) continue;
    for (let i = 0; i < G; i++) {
      if (!valid[b * G + i]) continue;
      n++;
      for (let l = 0; l < k; l++) {
        const e = (b * G + i) * 2 * k + 2 * l;
        const r = b * 2 * k + 2 * l;
        sum[l] = sum[l]! + v.embeddings[e]! * refs[r + 1]! - v.embeddings[e + 1]! * refs[r]!;
      }
    }
  }
  return Float32Array.from(sum, (x) => (n > 0 ? x / n : 0));
}

function klEstimate(kind: 'k1' | 'k2' | 'k3', delta: number): number {
  // δ = logp_ref − logp (design §2.4).
  if (kind === 'k1') return -delta;
  if (kind === 'k2') return 0.5 * delta * delta;
  return Math.expm1(delta) - delta;
}

function maskedValues(values: Float32Array, valid: Uint8Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = valid[i] ? values[i]! : Number.NaN;
  return out;
}

function absMean(a: Float32Array, valid: Uint8Array): number {
  let s = 0, n = 0;
  for (let i = 0; i < a.length; i++) if (valid[i]) {
    s += Math.abs(a[i]!);
    n++;
  }
  return n > 0 ? s / n : 0;
}

/**
 * GRPO advantages of scalar rewards over the valid responses: `'group'` (r − mean_g)/(std_g + ε) via
 * the `groupAdvantages` kernel; `'batch'` (r − mean_g)/(std_batch + ε); `'none'` r − mean_g.
 */
export function scalarRewardAdvantages(
  rewards: Float32Array,
  valid: Uint8Array,
  B: number,
  G: number,
  scale: 'group' | 'batch' | 'none',
  eps: number,
  std: 'unbiased' | 'biased',
): { advantages: Float32Array; degenerate: number } {
  if (scale === 'group') {
    const r = groupAdvantages(rewards, { groups: B, groupSize: G, dims: 1 }, { mask: valid, eps, std, normalize: 'scalar' });
    return { advantages: r.advantages, degenerate: r.degenerate };
  }
  const out = new Float32Array(B * G);
  const centered = new Float64Array(B * G);
  let count = 0, sum = 0;
  for (let b = 0; b < B; b++) {
    let s = 0, n = 0;
    for (let i = 0; i < G; i++) if (valid[b * G + i]) {
      s += rewards[b * G + i]!;
      n++;
    }
    const m = n > 0 ? s / n : 0;
    for (let i = 0; i < G; i++) if (valid[b * G + i]) {
      centered[b * G + i] = rewards[b * G + i]! - m;
      sum += rewards[b * G + i]!;
      count++;
    }
  }
  let denom = 1;
  if (scale === 'batch' && count > 0) {
    const mean = sum / count;
    let q = 0;
    for (let n = 0; n < B * G; n++) if (valid[n]) q += (rewards[n]! - mean) ** 2;
    const sd = Math.sqrt(q / Math.max(1, std === 'unbiased' ? count - 1 : count));
    denom = sd + eps;
  }
  for (let n = 0; n < B * G; n++) out[n] = valid[n] ? centered[n]! / denom : 0;
  return { advantages: out, degenerate: 0 };
}
