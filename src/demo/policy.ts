/**
 * The demo's policy: a log-linear (softmax-linear) autoregressive model over the task's tokens,
 * implementing the library's {@link Policy} interface so the trainer can optimize it like any other
 * policy. It is small on purpose: the study trains it for nine arms × 960 steps × 80 paired
 * runs within an hour on two CPU cores (about 10 ms per step).
 *
 * The next-token distribution is `softmax((φ(x, y<t) · W + c) / temperature)` with `W` the only
 * trainable weight `[STATE_FEATURES, POLICY_VOCAB]` and `c` a fixed −30 on the prompt-marker tokens
 * (so they are never drawn). The state features φ are one-hots of the prompt's topic, its requested
 * length, the previous token (or the start), the position relative to the requested length
 * (t − L clipped to [−4, 4]), plus t/16 and a constant. Every gold axis is reachable: relevance
 * (topic → word), fluency (previous word → next word) and length fit (position → EOS).
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertOptionsObject, invalidValue } from '../errors.js';
import {
  assertTokenBatch,
  drawToken,
  resolveLogProbArgs,
  resolveSampleOptions,
  type LogProbOptions,
  type LogProbResult,
  type NamedWeight,
  type Policy,
  type SampleOptions,
  type SampleResult,
  type Tokens,
} from '../policy/policy.js';
import { allowedBigram, EOS, LENGTHS, MAX_LEN, parsePromptTokens, PET_TOKEN, POLICY_VOCAB, TOPIC_MARKER, TOPIC_WORDS, TOPICS, VOCAB } from './task.js';

const F_TOPIC = 0;
const F_LENGTH = F_TOPIC + TOPICS.length;
const F_PREV = F_LENGTH + LENGTHS.length; // start, then the 16 words
const F_PREV_OTHER = F_PREV + 1 + VOCAB; // previous token is not a word (a marker)
const F_POS = F_PREV_OTHER + 1; // t − L in [−4, 4]
const POS_RANGE = 4;
const F_T = F_POS + 2 * POS_RANGE + 1;
const F_BIAS = F_T + 1;
/** Width of the state features φ. */
export const STATE_FEATURES = F_BIAS + 1;

/** Logit offset of the prompt-marker tokens (never drawn). */
const MARKER_LOGIT = -30;

/**
 * Hand-set initial weights: a mediocre writer with headroom on every axis.
 * - topic → each of its 3 words: +1;
 * - previous word → each grammatical next word: +1;
 * - EOS: its logit by position relative to the requested length t − L = −4…4 is
 *   [−3, −2, 0.5, 2, 3.6, 4.5, 5.5, 6.5, 7.5] (about even odds of stopping at t = L).
 */
export const INITIAL_EOS_BY_POSITION = [-3, -2, 0.5, 2, 3.6, 4.5, 5.5, 6.5, 7.5] as const;

export function initialWeights(): Float32Array {
  const V = POLICY_VOCAB;
  const w = new Float32Array(STATE_FEATURES * V);
  for (let t = 0; t < TOPICS.length; t++) {
    for (let j = 0; j < TOPIC_WORDS; j++) w[(F_TOPIC + t) * V + t * TOPIC_WORDS + j] = 1;
  }
  for (let p = 0; p < VOCAB; p++) {
    for (let n = 0; n < VOCAB; n++) if (allowedBigram(p, n)) w[(F_PREV + 1 + p) * V + n] = 1;
  }
  INITIAL_EOS_BY_POSITION.forEach((v, i) => (w[(F_POS + i) * V + EOS] = v));
  return w;
}

function parsePrompt(name: string, prompt: Tokens): { topic: number; length: number } {
  try {
    return parsePromptTokens(prompt);
  } catch {
    throw invalidValue(name, 'a prompt [topic marker, length marker] (see promptTokens)', prompt);
  }
}

/** Initial weights with `shift` added to the EOS logit everywhere (a more or less verbose writer). */
export function verbosityWeights(shift: number): Float32Array {
  return variantWeights(shift, 0);
}

/** Initial weights with `eosShift` added to the EOS logit and `petShift` to the pet word's logit everywhere (data-writing variants). */
export function variantWeights(eosShift: number, petShift: number): Float32Array {
  const w = initialWeights();
  w[F_BIAS * POLICY_VOCAB + EOS]! += eosShift;
  w[F_BIAS * POLICY_VOCAB + PET_TOKEN]! += petShift;
  return w;
}

/** Active state features at position `t` (indices; every active feature has value 1 except t/16). */
function stateFeatures(topic: number, length: number, prev: number, t: number, out: Int32Array): number {
  out[0] = F_TOPIC + topic;
  out[1] = F_LENGTH + LENGTHS.indexOf(length as (typeof LENGTHS)[number]);
  out[2] = prev < 0 ? F_PREV : prev < VOCAB ? F_PREV + 1 + prev : F_PREV_OTHER;
  out[3] = F_POS + Math.max(-POS_RANGE, Math.min(POS_RANGE, t - length)) + POS_RANGE;
  out[4] = F_BIAS;
  return 5;
}

export interface ContextPolicyOptions {
  /** Initial weights `[STATE_FEATURES · POLICY_VOCAB]`. Defaults to {@link initialWeights}. */
  weights?: Float32Array;
}

let counter = 0;

export class ContextPolicy implements Policy {
  readonly vocabSize = POLICY_VOCAB;
  private w: tf.Variable | null;
  private readonly fixed: Float32Array;

  constructor(options: ContextPolicyOptions = {}) {
    assertOptionsObject('options', options);
    assertKnownKeys('options', options as Record<string, unknown>, ['weights']);
    const init = options.weights ?? initialWeights();
    if (!(init instanceof Float32Array) || init.length !== STATE_FEATURES * POLICY_VOCAB) {
      throw invalidValue('options.weights', `a Float32Array of ${STATE_FEATURES * POLICY_VOCAB} values`, init);
    }
    counter += 1;
    this.w = tf.tidy(() => tf.variable(tf.tensor2d(init, [STATE_FEATURES, POLICY_VOCAB]), true, `gprl_demo_policy_${counter}`));
    this.fixed = new Float32Array(POLICY_VOCAB);
    for (let v = TOPIC_MARKER; v < POLICY_VOCAB; v++) this.fixed[v] = MARKER_LOGIT;
  }

  private get weight(): tf.Variable {
    if (!this.w) throw new Error('gprl: this ContextPolicy has been disposed');
    return this.w;
  }

  get trainableVariables(): readonly tf.Variable[] {
    return [this.weight];
  }

  sample(prompts: readonly Tokens[], options: SampleOptions): SampleResult {
    assertTokenBatch('prompts', prompts, this.vocabSize);
    const o = resolveSampleOptions(options, this.vocabSize);
    const rng = options.rng ?? new Rng(options.seed ?? 0);
    const W = this.weight.dataSync() as Float32Array;
    const V = POLICY_VOCAB;
    const B = prompts.length, G = o.groupSize, N = B * G, T = o.maxLength;
    const tokens = new Int32Array(N * T);
    const lengths = new Int32Array(N);
    const logProbs = new Float32Array(N * T);
    const entropy = new Float32Array(N * T);
    const responses: number[][] = [];
    const active = new Int32Array(8);
    const lp = new Float32Array(V);
    const order = new Int32Array(V);
    for (let b = 0; b < B; b++) {
      const { topic, length } = parsePrompt(`prompts[${b}]`, prompts[b]!);
      for (let i = 0; i < G; i++) {
        const n = b * G + i;
        const seq: number[] = [];
        let prev = -1;
        for (let t = 0; t < T; t++) {
          const na = stateFeatures(topic, length, prev, t, active);
          let max = -Infinity;
          for (let v = 0; v < V; v++) {
            let z = this.fixed[v]! + (t / MAX_LEN) * W[F_T * V + v]!;
            for (let a = 0; a < na; a++) z += W[active[a]! * V + v]!;
            z /= o.temperature;
            lp[v] = z;
            if (z > max) max = z;
          }
          let sum = 0;
          for (let v = 0; v < V; v++) sum += Math.exp(lp[v]! - max);
          const lse = max + Math.log(sum);
          let ent = 0;
          for (let v = 0; v < V; v++) {
            lp[v] = lp[v]! - lse;
            ent -= Math.exp(lp[v]!) * lp[v]!;
          }
          const tok = drawToken(lp, 0, V, o.topP, rng, order);
          tokens[n * T + t] = tok;
          logProbs[n * T + t] = lp[tok]!;
          entropy[n * T + t] = ent;
          seq.push(tok);
          prev = tok;
          if (o.eosToken !== null && tok === o.eosToken) break;
        }
        lengths[n] = seq.length;
        responses.push(seq);
      }
    }
    return { groups: B, groupSize: G, maxLength: T, responses, tokens, lengths, logProbs, entropy };
  }

  logProbs(prompts: readonly Tokens[], responses: readonly Tokens[], options: LogProbOptions = {}): LogProbResult {
    const { temperature, maxLength: T } = resolveLogProbArgs(prompts, responses, options, this.vocabSize);
    const N = prompts.length;
    const V = POLICY_VOCAB;
    const phi = new Float32Array(N * T * STATE_FEATURES);
    const maskData = new Float32Array(N * T);
    const taken = new Float32Array(N * T * V);
    const active = new Int32Array(8);
    for (let n = 0; n < N; n++) {
      const { topic, length } = parsePrompt(`prompts[${n}]`, prompts[n]!);
      const r = responses[n]!;
      let prev = -1;
      for (let t = 0; t < r.length; t++) {
        const row = (n * T + t) * STATE_FEATURES;
        const na = stateFeatures(topic, length, prev, t, active);
        for (let a = 0; a < na; a++) phi[row + active[a]!] = 1;
        phi[row + F_T] = t / MAX_LEN;
        taken[(n * T + t) * V + r[t]!] = 1;
        maskData[n * T + t] = 1;
        prev = r[t]!;
      }
    }
    const w = this.weight;
    return tf.tidy(() => {
      const logits = tf.add(tf.matMul(tf.tensor2d(phi, [N * T, STATE_FEATURES]), w), tf.tensor2d(this.fixed, [1, V]));
      const lp = tf.logSoftmax(tf.div(logits, temperature));
      const mask = tf.tensor2d(maskData, [N, T]);
      // The one-hot of the taken tokens is built here rather than with tf.oneHot: on the wasm backend
      // (tfjs 4.22) a float32 tf.oneHot gives zero gradients through tf.mul.
      const picked = tf.reshape(tf.sum(tf.mul(lp, tf.tensor2d(taken, [N * T, V])), 1), [N, T]);
      const logp = tf.mul(picked, mask) as tf.Tensor2D;
      const ent = tf.mul(tf.reshape(tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 1)), [N, T]), mask) as tf.Tensor2D;
      return { logp, mask, entropy: ent };
    });
  }

  clone(): ContextPolicy {
    return new ContextPolicy({ weights: Float32Array.from(this.weight.dataSync() as Float32Array) });
  }

  getWeights(): NamedWeight[] {
    return [{ name: 'w', shape: [STATE_FEATURES, POLICY_VOCAB], values: Float32Array.from(this.weight.dataSync() as Float32Array) }];
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const w = weights?.[0];
    if (!Array.isArray(weights) || weights.length !== 1 || w?.name !== 'w' || !(w.values instanceof Float32Array) || w.values.length !== STATE_FEATURES * POLICY_VOCAB) {
      throw invalidValue('weights', `one weight 'w' of shape [${STATE_FEATURES}, ${POLICY_VOCAB}]`, weights);
    }
    for (let i = 0; i < w.values.length; i++) if (!Number.isFinite(w.values[i]!)) throw invalidValue(`weights[0].values[${i}]`, 'a finite number', w.values[i]);
    const target = this.weight;
    tf.tidy(() => target.assign(tf.tensor2d(w.values, [STATE_FEATURES, POLICY_VOCAB])));
  }

  dispose(): void {
    this.w?.dispose();
    this.w = null;
  }
}
