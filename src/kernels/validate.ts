/**
 * Shape and option validation shared by the four kernels (docs/kernels.md).
 *
 * Everything here runs before any native work, so every backend sees the same, already-checked
 * arguments, and every problem is reported through the one error format of `src/errors.ts`:
 * `TypeError` for a wrong type, `RangeError` for a wrong value, both naming the argument.
 */
import { constants as bufferConstants } from 'node:buffer';
import {
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertOptionsObject,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';
import type { GroupShape, NormalizeMode, ScoreMode } from '../types.js';

/** Largest element count allowed for any input or output array. */
export const MAX_ELEMENTS: number = bufferConstants.MAX_LENGTH;

export const SCORE_MODES: readonly ScoreMode[] = ['logit', 'winrate'];
export const NORMALIZE_MODES: readonly NormalizeMode[] = ['per-dimension', 'scalar', 'gdpo'];
export const STD_MODES = ['unbiased', 'biased'] as const;

export const DEFAULT_TAU = 0.1;
export const DEFAULT_EPS = 1e-4;
export const DEFAULT_STD_FLOOR = 1e-6;

/** Options of `groupScores`, resolved to concrete values. */
export interface ResolvedScoreOptions {
  mode: ScoreMode;
  tau: number;
  mask: Uint8Array | null;
}

/** Options of `groupAdvantages`, resolved to concrete values. */
export interface ResolvedAdvantageOptions {
  lambdas: Float32Array | null;
  dimWeights: Float32Array | null;
  mask: Uint8Array | null;
  eps: number;
  stdFloor: number;
  unbiased: boolean;
  normalize: NormalizeMode;
}

/** Options of `gprlAdvantages`, resolved to concrete values. */
export interface ResolvedGprlOptions extends ResolvedAdvantageOptions {
  mode: ScoreMode;
  tau: number;
}

/** Options of `preferenceMatrix`, resolved to concrete values. */
export interface ResolvedPreferenceOptions {
  lambdas: Float32Array | null;
  tau: number;
}

/**
 * Check a shape object and the sizes it implies; returns a plain copy.
 * `extraOutput` is the element count of an output that is larger than the embeddings (B·G·G for
 * the preference matrix), checked against the same limit.
 */
export function validateShape(shape: unknown, extraOutput?: (s: GroupShape) => number): GroupShape {
  if (shape === null || typeof shape !== 'object' || Array.isArray(shape)) {
    throw invalidType('shape', 'an object { groups, groupSize, dims }', shape);
  }
  const s = shape as Record<string, unknown>;
  const { groups, groupSize, dims } = s;
  assertPositiveInt('shape.groups', groups);
  assertPositiveInt('shape.groupSize', groupSize);
  assertPositiveInt('shape.dims', dims);
  const out: GroupShape = { groups, groupSize, dims };
  const embeddingCount = groups * groupSize * 2 * dims;
  if (!Number.isSafeInteger(embeddingCount) || embeddingCount > MAX_ELEMENTS) {
    throw invalidValue('shape', `groups·groupSize·2·dims <= ${MAX_ELEMENTS} elements`, embeddingCount);
  }
  if (extraOutput) {
    const n = extraOutput(out);
    if (!Number.isSafeInteger(n) || n > MAX_ELEMENTS) {
      throw invalidValue('shape', `groups·groupSize·groupSize <= ${MAX_ELEMENTS} elements`, n);
    }
  }
  return out;
}

/** A Float32Array of an exact length; `formula` explains the expected length in the message. */
export function validateFloat32(name: string, value: unknown, length: number, formula: string): Float32Array {
  if (!(value instanceof Float32Array)) throw invalidType(name, `a Float32Array of length ${length} (${formula})`, value);
  if (value.length !== length) throw invalidValue(name, `a Float32Array of length ${length} (${formula})`, value);
  return value;
}

/** The embeddings `[B][G][2k]`. */
export function validateEmbeddings(value: unknown, shape: GroupShape): Float32Array {
  const { groups, groupSize, dims } = shape;
  return validateFloat32('embeddings', value, groups * groupSize * 2 * dims, 'groups·groupSize·2·dims');
}

/** The per-dimension scores `[B][G][k]`. */
export function validateScores(value: unknown, shape: GroupShape): Float32Array {
  const { groups, groupSize, dims } = shape;
  return validateFloat32('scores', value, groups * groupSize * dims, 'groups·groupSize·dims');
}

function validateMask(value: unknown, shape: GroupShape): Uint8Array | null {
  if (value === undefined) return null;
  const n = shape.groups * shape.groupSize;
  if (!(value instanceof Uint8Array)) throw invalidType('options.mask', `a Uint8Array of length ${n} (groups·groupSize)`, value);
  if (value.length !== n) throw invalidValue('options.mask', `a Uint8Array of length ${n} (groups·groupSize)`, value);
  return value;
}

/** Entries finite and ≥ 0, checked one by one so the message names the offending index. */
function assertNonNegativeEntries(name: string, arr: Float32Array): void {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (!(v >= 0) || v === Infinity) assertNumber(`${name}[${i}]`, v, { min: 0 });
  }
}

function validateLambdas(value: unknown, shape: GroupShape): Float32Array | null {
  if (value === undefined) return null;
  const { groups, dims } = shape;
  const arr = validateFloat32('options.lambdas', value, groups * dims, 'groups·dims');
  assertNonNegativeEntries('options.lambdas', arr);
  for (let b = 0; b < groups; b++) {
    let sum = 0;
    for (let l = 0; l < dims; l++) sum += arr[b * dims + l]!;
    if (!(sum > 0)) throw invalidValue(`options.lambdas (group ${b})`, 'a positive sum over the dimensions', sum);
  }
  return arr;
}

function validateDimWeights(value: unknown, shape: GroupShape): Float32Array | null {
  if (value === undefined) return null;
  const arr = validateFloat32('options.dimWeights', value, shape.dims, 'dims');
  assertNonNegativeEntries('options.dimWeights', arr);
  let sum = 0;
  for (let l = 0; l < arr.length; l++) sum += arr[l]!;
  if (!(sum > 0)) throw invalidValue('options.dimWeights', 'a positive sum', sum);
  return arr;
}

/** The aggregation weights m·λ must not vanish in any group (each array alone may be fine). */
function validateWeightOverlap(lambdas: Float32Array | null, dimWeights: Float32Array | null, shape: GroupShape): void {
  if (!lambdas || !dimWeights) return;
  const { groups, dims } = shape;
  for (let b = 0; b < groups; b++) {
    let sum = 0;
    for (let l = 0; l < dims; l++) sum += dimWeights[l]! * lambdas[b * dims + l]!;
    if (!(sum > 0)) {
      throw invalidValue(`options.dimWeights·options.lambdas (group ${b})`, 'a positive sum over the dimensions', sum);
    }
  }
}

function validateTau(value: unknown): number {
  if (value === undefined) return DEFAULT_TAU;
  assertNumber('options.tau', value, { min: 0, exclusiveMin: true });
  return value;
}

function validateScoreMode(value: unknown): ScoreMode {
  if (value === undefined) return 'logit';
  assertOneOf('options.mode', value, SCORE_MODES);
  return value;
}

const SCORE_KEYS = ['mode', 'tau', 'mask', 'backend'] as const;
const ADVANTAGE_KEYS = ['lambdas', 'dimWeights', 'mask', 'eps', 'stdFloor', 'std', 'normalize', 'backend', 'out'] as const;
const GPRL_KEYS = [...ADVANTAGE_KEYS, 'mode', 'tau'] as const;
const PREFERENCE_KEYS = ['lambdas', 'tau', 'backend'] as const;

function checkOptions(options: unknown, known: readonly string[]): Record<string, unknown> {
  assertOptionsObject('options', options);
  assertKnownKeys('options', options, known);
  return options ?? {};
}

export function resolveScoreOptions(options: unknown, shape: GroupShape): ResolvedScoreOptions {
  const o = checkOptions(options, SCORE_KEYS);
  return { mode: validateScoreMode(o.mode), tau: validateTau(o.tau), mask: validateMask(o.mask, shape) };
}

function resolveAdvantageFields(o: Record<string, unknown>, shape: GroupShape): ResolvedAdvantageOptions {
  const lambdas = validateLambdas(o.lambdas, shape);
  const dimWeights = validateDimWeights(o.dimWeights, shape);
  validateWeightOverlap(lambdas, dimWeights, shape);
  const mask = validateMask(o.mask, shape);
  let eps = DEFAULT_EPS;
  if (o.eps !== undefined) {
    assertNumber('options.eps', o.eps, { min: 0 });
    eps = o.eps;
  }
  let stdFloor = DEFAULT_STD_FLOOR;
  if (o.stdFloor !== undefined) {
    assertNumber('options.stdFloor', o.stdFloor, { min: 0 });
    stdFloor = o.stdFloor;
  }
  let unbiased = true;
  if (o.std !== undefined) {
    assertOneOf('options.std', o.std, STD_MODES);
    unbiased = o.std === 'unbiased';
  }
  let normalize: NormalizeMode = 'per-dimension';
  if (o.normalize !== undefined) {
    assertOneOf('options.normalize', o.normalize, NORMALIZE_MODES);
    normalize = o.normalize;
  }
  return { lambdas, dimWeights, mask, eps, stdFloor, unbiased, normalize };
}

export function resolveAdvantageOptions(options: unknown, shape: GroupShape): ResolvedAdvantageOptions {
  return resolveAdvantageFields(checkOptions(options, ADVANTAGE_KEYS), shape);
}

export function resolveGprlOptions(options: unknown, shape: GroupShape): ResolvedGprlOptions {
  const o = checkOptions(options, GPRL_KEYS);
  const mode = validateScoreMode(o.mode);
  const tau = validateTau(o.tau);
  return { ...resolveAdvantageFields(o, shape), mode, tau };
}

export function resolvePreferenceOptions(options: unknown, shape: GroupShape): ResolvedPreferenceOptions {
  const o = checkOptions(options, PREFERENCE_KEYS);
  return { lambdas: validateLambdas(o.lambdas, shape), tau: validateTau(o.tau) };
}

const OUTPUT_KEYS = ['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'] as const;
type OutputKey = (typeof OUTPUT_KEYS)[number];

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/**
 * The advantage kernels' output arrays: the caller's `options.out` arrays where given (checked for
 * type, length and overlap with each other and with `inputs`), fresh ones otherwise.
 */
export function resolveOutputs(
  options: unknown,
  shape: GroupShape,
  withScores: boolean,
  inputs: readonly ArrayBufferView[],
): Record<OutputKey, Float32Array> {
  const { groups: B, groupSize: G, dims: k } = shape;
  const lengths: Record<OutputKey, [number, string]> = {
    advantages: [B * G, 'groups·groupSize'],
    dimAdvantages: [B * G * k, 'groups·groupSize·dims'],
    dimMean: [B * k, 'groups·dims'],
    dimStd: [B * k, 'groups·dims'],
    scores: [B * G * k, 'groups·groupSize·dims'],
  };
  const given = options === undefined ? undefined : (options as Record<string, unknown>).out;
  assertOptionsObject('options.out', given);
  const known: OutputKey[] = withScores ? [...OUTPUT_KEYS] : OUTPUT_KEYS.filter((key) => key !== 'scores');
  assertKnownKeys('options.out', given, known);
  const out = {} as Record<OutputKey, Float32Array>;
  const taken: ArrayBufferView[] = [...inputs];
  for (const key of OUTPUT_KEYS) {
    const [n, formula] = lengths[key];
    const value = given?.[key];
    if (value === undefined) {
      out[key] = new Float32Array(key === 'scores' && !withScores ? 0 : n);
      continue;
    }
    const arr = validateFloat32(`options.out.${key}`, value, n, formula);
    if (taken.some((t) => overlaps(t, arr))) {
      throw invalidValue(`options.out.${key}`, 'an array that overlaps no input and no other output', arr);
    }
    taken.push(arr);
    out[key] = arr;
  }
  return out;
}

/** The `backend` option as given (resolved later by `resolveBackend`), once options are known to be an object. */
export function backendOption(options: unknown): unknown {
  return options === undefined ? undefined : (options as Record<string, unknown>).backend;
}
