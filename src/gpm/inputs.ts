/**
 * Validation of model inputs: token-id sequences and precomputed feature vectors. Every check throws
 * a TypeError/RangeError from the one error factory, naming the argument (e.g. `responses[3]`).
 */
import { invalidType, invalidValue } from '../errors.js';

/**
 * One model input: a token-id sequence (for token encoders) or a feature vector (for feature
 * encoders). Plain arrays and typed arrays are accepted.
 */
export type ModelInput = ArrayLike<number>;

/** What an encoder consumes. */
export type InputKind = 'tokens' | 'features';

export function isArrayInput(value: unknown): value is ModelInput {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

/** A list of inputs (array of sequences or vectors). */
export function assertInputList(name: string, value: unknown, minLength = 1): asserts value is readonly ModelInput[] {
  if (!Array.isArray(value)) throw invalidType(name, 'an array of sequences', value);
  if (value.length < minLength) throw invalidValue(name, `at least ${minLength} entr${minLength === 1 ? 'y' : 'ies'}`, value);
}

/** A feature vector of exactly `width` finite numbers. */
export function assertFeatureVector(name: string, value: unknown, width: number): asserts value is ModelInput {
  if (!isArrayInput(value)) throw invalidType(name, `a feature vector (array of ${width} numbers)`, value);
  if (value.length !== width) throw invalidValue(`${name}.length`, `${width} (the feature width)`, value.length);
  for (let i = 0; i < width; i++) {
    const v = value[i];
    if (typeof v !== 'number') throw invalidType(`${name}[${i}]`, 'a number', v);
    if (!Number.isFinite(v)) throw invalidValue(`${name}[${i}]`, 'a finite number', v);
  }
}

/**
 * A token-id sequence, integers in `[0, vocabSize)` (no bound when vocabSize is undefined);
 * non-empty unless `allowEmpty` (responses may be empty: they are encoded after their prompt).
 */
export function assertTokenSequence(name: string, value: unknown, vocabSize?: number, allowEmpty = false): asserts value is ModelInput {
  if (!isArrayInput(value)) throw invalidType(name, 'a token-id sequence (array of integers)', value);
  if (value.length < 1 && !allowEmpty) throw invalidValue(`${name}.length`, 'a non-empty token-id sequence', value.length);
  const range = vocabSize === undefined ? 'an integer >= 0' : `an integer in [0, ${vocabSize})`;
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (typeof v !== 'number') throw invalidType(`${name}[${i}]`, range, v);
    if (!Number.isInteger(v) || v < 0 || (vocabSize !== undefined && v >= vocabSize)) throw invalidValue(`${name}[${i}]`, range, v);
  }
}

/** Whether an input is a prompt (token prompts must be non-empty) or a response (may be empty). */
export type InputRole = 'prompt' | 'response';

/** Validate one input against an encoder's kind. */
export function assertInput(name: string, value: unknown, kind: InputKind, width: number | undefined, vocabSize?: number, role: InputRole = 'prompt'): void {
  if (kind === 'features') assertFeatureVector(name, value, width as number);
  else assertTokenSequence(name, value, vocabSize, role === 'response');
}

/** Pack feature vectors into one row-major Float32Array `[rows.length, width]`. */
export function packFeatures(rows: readonly ModelInput[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, r) => {
    for (let i = 0; i < width; i++) out[r * width + i] = row[i] as number;
  });
  return out;
}

/**
 * Right-pad token sequences into an int32 id matrix `[N, T]`, with a 0/1 float mask and, when
 * `segments` is given, a segment id per position (0 for the first `segments[n]` tokens, 1 after).
 */
export function packTokens(
  rows: readonly ModelInput[],
  padId = 0,
  segments?: readonly number[],
): { ids: Int32Array; mask: Float32Array; segment: Int32Array; length: number; lengths: Int32Array } {
  let length = 1;
  for (const r of rows) length = Math.max(length, r.length);
  const n = rows.length;
  const ids = new Int32Array(n * length).fill(padId);
  const mask = new Float32Array(n * length);
  const segment = new Int32Array(n * length);
  const lengths = new Int32Array(n);
  rows.forEach((row, r) => {
    lengths[r] = row.length;
    const split = segments?.[r] ?? row.length;
    for (let t = 0; t < row.length; t++) {
      ids[r * length + t] = row[t] as number;
      mask[r * length + t] = 1;
      segment[r * length + t] = t < split ? 0 : 1;
    }
  });
  return { ids, mask, segment, length, lengths };
}

/** Concatenate prompt and response token sequences; returns the sequences and the prompt lengths. */
export function joinTokens(prompts: readonly ModelInput[], responses: readonly ModelInput[]): { rows: number[][]; split: number[] } {
  const rows: number[][] = [];
  const split: number[] = [];
  for (let i = 0; i < responses.length; i++) {
    const p = prompts[i] as ModelInput;
    const r = responses[i] as ModelInput;
    rows.push([...Array.from(p), ...Array.from(r)]);
    split.push(p.length);
  }
  return { rows, split };
}
