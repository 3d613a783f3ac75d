/**
 * The demo's open-ended toy task: prompts ask for a short text about a topic with a requested
 * length; responses are token sequences over a 16-word vocabulary; quality is hidden and
 * multi-dimensional (relevance, fluency under a hidden grammar, length fit), weighted differently
 * per prompt. Every constant is documented in docs/demo.md and fixed here (the task is the same for
 * every seed; seeds change the data, the models' initialization and the sampling).
 */
import { assertPositiveInt, invalidValue } from '../errors.js';

/** The 16 words. Topic words come in blocks of three; the last four are function words. */
export const WORDS = [
  'wave', 'salt', 'boat', // sea
  'cloud', 'star', 'wind', // sky
  'street', 'tower', 'train', // city
  'tree', 'moss', 'fox', // forest
  'the', 'and', 'of', 'truly',
] as const;

/** Number of word tokens (ids 0..15). */
export const VOCAB = WORDS.length;
/** End-of-sequence action id (a policy samples it to stop; it is not part of the response). */
export const EOS = VOCAB;
/** Prompt marker tokens: one per topic (ids 17..20), then one per requested length (ids 21..23). */
export const TOPIC_MARKER = VOCAB + 1;
export const LENGTH_MARKER = TOPIC_MARKER + 4;
/** Size of the policy's token vocabulary: the words, EOS and the prompt markers. */
export const POLICY_VOCAB = LENGTH_MARKER + 3;
/** Longest response, in tokens. A policy that has not stopped by then is cut there. */
export const MAX_LEN = 16;

export const TOPICS = ['sea', 'sky', 'city', 'forest'] as const;
export const TOPIC_WORDS = 3;
/** Requested lengths a prompt can ask for. */
export const LENGTHS = [4, 8, 12] as const;
/** Id of the annotators' pet token (`truly`). */
export const PET_TOKEN = 15;
/** Function words (`the`, `and`, `of`, `truly`). */
export const FUNCTION_WORDS: readonly number[] = [12, 13, 14, 15];

/** The gold axes, in this order everywhere. */
export const GOLD_AXES = ['relevance', 'fluency', 'lengthFit'] as const;
export type GoldAxis = (typeof GOLD_AXES)[number];

/**
 * Hidden per-topic weights of the gold axes (relevance, fluency, length fit). Each row sums to 1.
 * Context-dependent on purpose: on `sea` prompts relevance matters most, on `sky` fluency, on
 * `city` the length, on `forest` all three equally.
 */
export const GOLD_WEIGHTS: readonly (readonly [number, number, number])[] = [
  [0.6, 0.25, 0.15],
  [0.15, 0.6, 0.25],
  [0.25, 0.15, 0.6],
  [1 / 3, 1 / 3, 1 / 3],
];

/** A prompt: a topic index and a requested length. */
export interface Prompt {
  topic: number;
  length: number;
}

/** Every distinct prompt (4 topics × 3 lengths = 12), in a fixed order. */
export function allPrompts(): Prompt[] {
  const out: Prompt[] = [];
  for (let t = 0; t < TOPICS.length; t++) for (const length of LENGTHS) out.push({ topic: t, length });
  return out;
}

/** The topic of a topic word; -1 for a function word; -2 for anything else (EOS, a marker). */
export function topicOf(token: number): number {
  if (token >= 0 && token < TOPICS.length * TOPIC_WORDS) return Math.floor(token / TOPIC_WORDS);
  return token >= 0 && token < VOCAB ? -1 : -2;
}

/**
 * The hidden grammar: may `next` follow `prev`?
 * - after a function word: any topic word, no function word;
 * - after a topic word: the next word of its topic's cycle (wave→salt→boat→wave, ...) or any
 *   function word.
 * - the pet word `truly` is a filler that never fits: no bigram into or out of it is grammatical,
 *   so every `truly` costs fluency (and relevance: it is not a topic word). This is what makes the
 *   biased annotators' pet word a real cost on the gold axes.
 * The first token is always allowed.
 */
export function allowedBigram(prev: number, next: number): boolean {
  const tp = topicOf(prev);
  const tn = topicOf(next);
  if (tp === -2 || tn === -2) return false;
  if (prev === PET_TOKEN || next === PET_TOKEN) return false;
  if (tp < 0) return tn >= 0;
  if (tn < 0) return true;
  return next === tp * TOPIC_WORDS + ((prev - tp * TOPIC_WORDS + 1) % TOPIC_WORDS);
}

/**
 * The three gold axes of a response to a prompt, each in [0, 1]. An empty response scores 0. A
 * token that is not a word (a prompt marker a policy emitted) counts as irrelevant and breaks the
 * grammar on both sides.
 */
export function goldAxes(prompt: Prompt, response: ArrayLike<number>): [number, number, number] {
  const n = response.length;
  if (n === 0) return [0, 0, 0];
  let relevant = 0;
  let fluent = 0;
  for (let i = 0; i < n; i++) {
    const t = response[i]!;
    if (topicOf(t) === prompt.topic) relevant++;
    if (i > 0 && allowedBigram(response[i - 1]!, t)) fluent++;
  }
  const relevance = relevant / n;
  const fluency = n === 1 ? 1 : fluent / (n - 1);
  const lengthFit = Math.max(0, 1 - Math.abs(n - prompt.length) / prompt.length);
  return [relevance, fluency, lengthFit];
}

/** Gold quality: the prompt's weighted sum of the gold axes, in [0, 1]. */
export function goldQuality(prompt: Prompt, response: ArrayLike<number>): number {
  const a = goldAxes(prompt, response);
  const w = GOLD_WEIGHTS[prompt.topic]!;
  return w[0] * a[0] + w[1] * a[1] + w[2] * a[2];
}

export function countToken(response: ArrayLike<number>, token: number): number {
  let c = 0;
  for (let i = 0; i < response.length; i++) if (response[i] === token) c++;
  return c;
}

/** Human-readable response (`∅` for the empty one). */
export function render(response: ArrayLike<number>): string {
  if (response.length === 0) return '∅';
  return Array.from(response, (t) => WORDS[t] ?? (t === EOS ? '</s>' : `<${t}>`)).join(' ');
}

/** The policy's prompt tokens: the topic marker and the length marker. */
export function promptTokens(p: Prompt): number[] {
  const li = LENGTHS.indexOf(p.length as (typeof LENGTHS)[number]);
  return [TOPIC_MARKER + p.topic, LENGTH_MARKER + Math.max(0, li)];
}

/** The prompt that {@link promptTokens} encoded. */
export function parsePromptTokens(tokens: ArrayLike<number>): Prompt {
  const topic = (tokens[0] ?? -1) - TOPIC_MARKER;
  const li = (tokens[1] ?? -1) - LENGTH_MARKER;
  if (tokens.length !== 2 || topic < 0 || topic >= TOPICS.length || li < 0 || li >= LENGTHS.length) {
    throw invalidValue('prompt', 'the tokens [topic marker, length marker]', tokens);
  }
  return { topic, length: LENGTHS[li]! };
}

/** The response a policy sample stands for: its tokens before the first EOS. */
export function responseWords(tokens: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === EOS) break;
    out.push(tokens[i]!);
  }
  return out;
}

export function describePrompt(p: Prompt): string {
  return `${TOPICS[p.topic]}, ${p.length} words`;
}

export function assertPrompt(name: string, p: Prompt): void {
  if (!Number.isInteger(p.topic) || p.topic < 0 || p.topic >= TOPICS.length) throw invalidValue(`${name}.topic`, `an integer in [0, ${TOPICS.length})`, p.topic);
  assertPositiveInt(`${name}.length`, p.length);
}

export function assertResponse(name: string, r: ArrayLike<number>): void {
  if (r.length > MAX_LEN) throw invalidValue(`${name}.length`, `at most ${MAX_LEN}`, r.length);
  for (let i = 0; i < r.length; i++) {
    const t = r[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= POLICY_VOCAB || t === EOS) {
      throw invalidValue(`${name}[${i}]`, `a token id in [0, ${POLICY_VOCAB}) other than EOS`, t);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Verifier features. The verifiers (GPM and Bradley-Terry) see a fixed feature vector of the
// prompt and the response; these features can express every gold axis and every annotator bias, so
// what a verifier learns is decided by the preference data, not by what it is allowed to see.

/** Width of the prompt features: topic one-hot (4), requested-length one-hot (3), constant 1. */
export const PROMPT_FEATURES = TOPICS.length + LENGTHS.length + 1;

/**
 * Width of the prompt+response features: the prompt features, then length/16, non-word count/16, unigram counts/16
 * (16), topic×unigram counts/16 (4·16), bigram counts/16 (16·16), requested-length one-hot × length/16
 * (3), requested-length one-hot × |length − requested|/16 (3), then the ratio features: relevance,
 * fluency, length fit, pet-word share (4), and topic one-hot × those four (16). The ratio features let
 * a linear head express every annotator type's utility exactly (they are ratios, not counts).
 */
export const RATIO_FEATURES = 4 + TOPICS.length * 4;
export const RESPONSE_FEATURES = PROMPT_FEATURES + 2 + VOCAB + TOPICS.length * VOCAB + VOCAB * VOCAB + 2 * LENGTHS.length + RATIO_FEATURES;

export function promptFeatures(p: Prompt, out: Float32Array = new Float32Array(PROMPT_FEATURES), offset = 0): Float32Array {
  out.fill(0, offset, offset + PROMPT_FEATURES);
  out[offset + p.topic] = 1;
  const li = LENGTHS.indexOf(p.length as (typeof LENGTHS)[number]);
  if (li >= 0) out[offset + TOPICS.length + li] = 1;
  out[offset + PROMPT_FEATURES - 1] = 1;
  return out;
}

export function responseFeatures(p: Prompt, r: ArrayLike<number>, out: Float32Array = new Float32Array(RESPONSE_FEATURES), offset = 0): Float32Array {
  out.fill(0, offset, offset + RESPONSE_FEATURES);
  promptFeatures(p, out, offset);
  const s = 1 / MAX_LEN;
  const n = r.length;
  let o = offset + PROMPT_FEATURES;
  out[o] = n * s;
  const junk = o + 1;
  o += 2;
  const uni = o;
  const topical = uni + VOCAB;
  const bigram = topical + TOPICS.length * VOCAB;
  const lens = bigram + VOCAB * VOCAB;
  for (let i = 0; i < n; i++) {
    const t = r[i]!;
    if (t >= VOCAB) {
      out[junk]! += s;
      continue;
    }
    out[uni + t]! += s;
    out[topical + p.topic * VOCAB + t]! += s;
    const prev = i > 0 ? r[i - 1]! : -1;
    if (prev >= 0 && prev < VOCAB) out[bigram + prev * VOCAB + t]! += s;
  }
  const li = LENGTHS.indexOf(p.length as (typeof LENGTHS)[number]);
  if (li >= 0) {
    out[lens + li] = n * s;
    out[lens + LENGTHS.length + li] = Math.abs(n - p.length) * s;
  }
  const ratio = lens + 2 * LENGTHS.length;
  const axes = goldAxes(p, r);
  const pet = n > 0 ? countToken(r, PET_TOKEN) / n : 0;
  const values = [axes[0], axes[1], axes[2], pet];
  for (let a = 0; a < 4; a++) {
    out[ratio + a] = values[a]!;
    out[ratio + 4 + p.topic * 4 + a] = values[a]!;
  }
  return out;
}
