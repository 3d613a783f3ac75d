/**
 * The policy interface the trainer optimizes: an autoregressive token model on TensorFlow.js.
 *
 * Token sequences are plain arrays of non-negative integer ids. A batch of `N` responses is stored
 * padded to `T` tokens, row-major `[N][T]`; `lengths[n]` tokens of row `n` are real, the rest are
 * padding (token 0, log-prob 0, mask 0). Log-probs are natural logs of the tempered distribution
 * `softmax(logits / temperature)` over the whole vocabulary (as TRL and verl compute them): top-p only
 * decides which tokens may be drawn, it does not renormalize the reported log-probs, so `sample()`
 * and `logProbs()` agree on the same responses.
 */
import type { tf } from '../tf.js';
import type { Rng } from '../random.js';
import {
  assertNumber,
  assertOptionsObject,
  assertKnownKeys,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';

/** A token sequence (prompt or response). */
export type Tokens = readonly number[];

export interface SampleOptions {
  /** Responses drawn per prompt (G), a positive integer. Defaults to `1`. */
  groupSize?: number;
  /** Softmax temperature, > 0; small values approach greedy (argmax) decoding. Defaults to `1`. */
  temperature?: number;
  /** Nucleus sampling mass in (0, 1]: draw only from the smallest set of most likely tokens whose
   * probability reaches `topP` (at least one token). `1` disables it. Defaults to `1`. */
  topP?: number;
  /** Maximum response length in tokens (T), a positive integer. Required. */
  maxLength: number;
  /** Token that ends a response (it is kept, and counted in the length); `null` = none. Defaults to `null`. */
  eosToken?: number | null;
  /** Random stream to draw from (advanced in place). Defaults to `new Rng(seed)`. */
  rng?: Rng;
  /** Seed used when `rng` is not given. Defaults to `0`. */
  seed?: number;
}

/** Responses drawn from a policy: `N = B·G` rows, row `b·G + i` is response `i` to prompt `b`. */
export interface SampleResult {
  /** Number of prompts (B). */
  groups: number;
  /** Responses per prompt (G). */
  groupSize: number;
  /** Padded length T (the `maxLength` asked for). */
  maxLength: number;
  /** The responses, `N` arrays of token ids (without padding). */
  responses: number[][];
  /** Padded token ids `[N][T]` (padding = 0). */
  tokens: Int32Array;
  /** Number of real tokens per response, `N`. */
  lengths: Int32Array;
  /** Log-prob of each sampled token under the tempered distribution, `[N][T]` (0 at padding). No gradient. */
  logProbs: Float32Array;
  /** Entropy (nats) of the tempered distribution at each position, `[N][T]` (0 at padding). */
  entropy: Float32Array;
}

export interface LogProbOptions {
  /** Softmax temperature, > 0 (use the one the responses were sampled with). Defaults to `1`. */
  temperature?: number;
  /** Pad to this many tokens (≥ the longest response). Defaults to the longest response length (at least 1). */
  maxLength?: number;
}

/** Per-token log-probs of given responses, as tensors owned by the caller (dispose them, or call inside `tf.tidy`). */
export interface LogProbResult {
  /** `[N, T]` log-probs of the response tokens; differentiable w.r.t. the policy's trainable variables. 0 at padding. */
  logp: tf.Tensor2D;
  /** `[N, T]` 1 for real tokens, 0 for padding (float32). */
  mask: tf.Tensor2D;
  /** `[N, T]` entropy (nats) of the tempered distribution at each position (0 at padding). */
  entropy: tf.Tensor2D;
}

/** A serializable weight: its name, shape and values. */
export interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** What the trainer needs from a policy. */
export interface Policy {
  /** Vocabulary size: valid token ids are `0 … vocabSize − 1`. */
  readonly vocabSize: number;
  /** Draw `groupSize` responses per prompt. */
  sample(prompts: readonly Tokens[], options: SampleOptions): SampleResult;
  /** Log-probs of `responses[n]` given `prompts[n]` (one prompt per response, `N` each). */
  logProbs(prompts: readonly Tokens[], responses: readonly Tokens[], options?: LogProbOptions): LogProbResult;
  /** The variables an optimizer updates, in a fixed order. */
  readonly trainableVariables: readonly tf.Variable[];
  /** An independent copy with the same architecture and weights (e.g. the frozen reference policy). */
  clone(): Policy;
  /** A copy of every weight, in `trainableVariables` order. */
  getWeights(): NamedWeight[];
  /** Overwrite every weight (same names, order and shapes as `getWeights()`). */
  setWeights(weights: readonly NamedWeight[]): void;
  /** Release the tensors; the policy is unusable afterwards. */
  dispose(): void;
}

const SAMPLE_KEYS = ['groupSize', 'temperature', 'topP', 'maxLength', 'eosToken', 'rng', 'seed'] as const;

/** Validated sampling options. */
export interface ResolvedSampleOptions {
  groupSize: number;
  temperature: number;
  topP: number;
  maxLength: number;
  eosToken: number | null;
}

/** Validate a batch of token sequences against a vocabulary. */
export function assertTokenBatch(name: string, value: unknown, vocabSize: number, allowEmpty = true): asserts value is Tokens[] {
  if (!Array.isArray(value)) throw invalidType(name, 'an array of token arrays', value);
  for (let n = 0; n < value.length; n++) {
    const seq: unknown = value[n];
    if (!Array.isArray(seq)) throw invalidType(`${name}[${n}]`, 'an array of token ids', seq);
    if (!allowEmpty && seq.length === 0) throw invalidValue(`${name}[${n}]`, 'a non-empty array of token ids', seq);
    for (let t = 0; t < seq.length; t++) {
      const tok: unknown = seq[t];
      if (typeof tok !== 'number' || !Number.isInteger(tok) || tok < 0 || tok >= vocabSize) {
        throw invalidValue(`${name}[${n}][${t}]`, `an integer token id in [0, ${vocabSize})`, tok);
      }
    }
  }
}

/** Check sampling options (shared by every `Policy` implementation). */
export function resolveSampleOptions(options: unknown, vocabSize: number): ResolvedSampleOptions {
  assertOptionsObject('options', options);
  if (options === undefined) throw invalidType('options', 'an options object with maxLength', options);
  assertKnownKeys('options', options, SAMPLE_KEYS);
  const o = options as Partial<SampleOptions>;
  const groupSize = o.groupSize ?? 1;
  assertPositiveInt('options.groupSize', groupSize);
  const temperature = o.temperature ?? 1;
  assertNumber('options.temperature', temperature, { min: 0, exclusiveMin: true });
  const topP = o.topP ?? 1;
  assertNumber('options.topP', topP, { min: 0, max: 1, exclusiveMin: true });
  assertPositiveInt('options.maxLength', o.maxLength);
  const eosToken = o.eosToken ?? null;
  if (eosToken !== null && (typeof eosToken !== 'number' || !Number.isInteger(eosToken) || eosToken < 0 || eosToken >= vocabSize)) {
    throw invalidValue('options.eosToken', `null or an integer token id in [0, ${vocabSize})`, eosToken);
  }
  if (o.seed !== undefined) assertNumber('options.seed', o.seed);
  return { groupSize, temperature, topP, maxLength: o.maxLength, eosToken };
}

/**
 * Check the arguments of a policy's `logProbs` (shared by every `Policy` implementation): token
 * batches within the vocabulary, one response per prompt, known options. Returns the temperature and
 * the padded length `T` (`options.maxLength`, at least the longest response; defaults to it).
 */
export function resolveLogProbArgs(
  prompts: unknown,
  responses: unknown,
  options: unknown,
  vocabSize: number,
): { temperature: number; maxLength: number } {
  assertTokenBatch('prompts', prompts, vocabSize);
  assertTokenBatch('responses', responses, vocabSize);
  if (prompts.length !== responses.length) {
    throw invalidValue('responses', `${prompts.length} responses (one per prompt)`, responses);
  }
  assertOptionsObject('options', options);
  const o = (options ?? {}) as LogProbOptions;
  assertKnownKeys('options', o as Record<string, unknown>, ['temperature', 'maxLength']);
  const temperature = o.temperature ?? 1;
  assertNumber('options.temperature', temperature, { min: 0, exclusiveMin: true });
  const longest = responses.reduce((m, r) => Math.max(m, r.length), 1);
  const maxLength = o.maxLength ?? longest;
  assertPositiveInt('options.maxLength', maxLength);
  if (maxLength < longest) throw invalidValue('options.maxLength', `at least the longest response (${longest})`, maxLength);
  return { temperature, maxLength };
}

/**
 * Draw one token from a row of log-probs (natural log, already tempered and normalized), with
 * nucleus (top-p) truncation. Returns the token id. `order` is scratch space of the row's length.
 * Ties are broken toward the lower id, so a near-zero temperature gives the argmax.
 */
export function drawToken(logp: Float32Array, offset: number, vocab: number, topP: number, rng: Rng, order: Int32Array): number {
  const u = rng.next();
  if (topP >= 1) {
    let total = 0;
    for (let v = 0; v < vocab; v++) total += Math.exp(logp[offset + v]!);
    const target = u * total;
    let acc = 0;
    let last = 0;
    for (let v = 0; v < vocab; v++) {
      const p = Math.exp(logp[offset + v]!);
      if (p > 0) last = v;
      acc += p;
      if (acc > target) return v;
    }
    return last;
  }
  for (let v = 0; v < vocab; v++) order[v] = v;
  const sorted = order.subarray(0, vocab).sort((a, b) => logp[offset + b]! - logp[offset + a]! || a - b);
  let total = 0;
  let kept = 0;
  for (; kept < vocab; kept++) {
    total += Math.exp(logp[offset + sorted[kept]!]!);
    if (total >= topP) {
      kept++;
      break;
    }
  }
  kept = Math.max(1, Math.min(kept, vocab));
  let mass = 0;
  for (let j = 0; j < kept; j++) mass += Math.exp(logp[offset + sorted[j]!]!);
  const target = u * mass;
  let acc = 0;
  for (let j = 0; j < kept; j++) {
    acc += Math.exp(logp[offset + sorted[j]!]!);
    if (acc > target) return sorted[j]!;
  }
  return sorted[kept - 1]!;
}

/**
 * The host side of batched sampling, shared by the built-in policies: `B·G` rows (row `b·G + i` is
 * response `i` to prompt `b`) of at most `T` tokens, drawn one position at a time for every
 * unfinished row until each has drawn EOS or `T` tokens.
 */
export class SampleBatch {
  readonly rows: number;
  readonly tokens: Int32Array;
  readonly lengths: Int32Array;
  readonly logProbs: Float32Array;
  readonly entropy: Float32Array;
  private readonly done: Uint8Array;
  private readonly order: Int32Array;

  constructor(
    private readonly prompts: readonly Tokens[],
    private readonly o: ResolvedSampleOptions,
    private readonly vocab: number,
    private readonly rng: Rng,
  ) {
    this.rows = prompts.length * o.groupSize;
    const NT = this.rows * o.maxLength;
    this.tokens = new Int32Array(NT);
    this.lengths = new Int32Array(this.rows);
    this.logProbs = new Float32Array(NT);
    this.entropy = new Float32Array(NT);
    this.done = new Uint8Array(this.rows);
    this.order = new Int32Array(vocab);
  }

  /** The prompt of every row (each prompt repeated `groupSize` times). */
  rowPrompts(): Tokens[] {
    const rows: Tokens[] = [];
    for (const p of this.prompts) for (let i = 0; i < this.o.groupSize; i++) rows.push(p);
    return rows;
  }

  /** The tokens row `n` has drawn so far. */
  drawn(n: number): number[] {
    const T = this.o.maxLength;
    return Array.from(this.tokens.subarray(n * T, n * T + this.lengths[n]!));
  }

  /**
   * Draw token `t` of every unfinished row, in row order, from `logp` (`[rows][vocab]`, tempered and
   * normalized) with entropies `ent` (`[rows]`). Returns the tokens drawn (0 for finished rows) and
   * whether sampling goes on: some row is unfinished and `t` is not the last position.
   */
  draw(t: number, logp: Float32Array, ent: Float32Array): { step: Int32Array; more: boolean } {
    const { rows, vocab: V, o } = this;
    const T = o.maxLength;
    const step = new Int32Array(rows);
    let active = 0;
    for (let n = 0; n < rows; n++) {
      if (this.done[n]) continue;
      const tok = drawToken(logp, n * V, V, o.topP, this.rng, this.order);
      step[n] = tok;
      this.tokens[n * T + t] = tok;
      this.logProbs[n * T + t] = logp[n * V + tok]!;
      this.entropy[n * T + t] = ent[n]!;
      this.lengths[n] = t + 1;
      if (o.eosToken !== null && tok === o.eosToken) this.done[n] = 1;
      else active++;
    }
    return { step, more: active > 0 && t < T - 1 };
  }

  result(): SampleResult {
    const responses: number[][] = [];
    for (let n = 0; n < this.rows; n++) responses.push(this.drawn(n));
    const { tokens, lengths, logProbs, entropy } = this;
    return { groups: this.prompts.length, groupSize: this.o.groupSize, maxLength: this.o.maxLength, responses, tokens, lengths, logProbs, entropy };
  }
}
