/**
 * Shape and option validation shared by the four kernels (docs/kernels.md).
 *
 * Everything here runs before any native work, so every backend sees the same, already-checked
 * arguments, and every problem is reported through the one error format of `src/errors.ts`:
 * `TypeError` for a wrong type, `RangeError` for a wrong value, both naming the argument.
 */
import { constants as bufferConstants } from 'node:buffer';
import {
  assertNumber,
  assertOneOf,
  assertPositiveInt,
  checkTypedArray,
  invalidType,
  invalidValue,
  invalidValueText,
  isFieldObject,
  readField,
  readOptions,
  viewInfo,
} from '../errors.js';
import { didYouMean } from '../suggest.js';
import type { GprlOutputName, GroupShape, NormalizeMode, ScoreMode } from '../types.js';

/** Largest element count allowed for an input array (the embeddings count of a shape). */
export const MAX_ELEMENTS: number = bufferConstants.MAX_LENGTH;

/**
 * Largest element count of any output array a kernel allocates or accepts in `options.out`:
 * 2³¹ − 1 (8 GiB of float32). Checked from the shape before anything is allocated, so an
 * oversized call fails at once with a RangeError naming the shape instead of inside V8's allocator.
 */
export const MAX_OUTPUT_ELEMENTS = 2 ** 31 - 1;

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

/** One output array of a kernel: its name, its element count and the formula of that count. */
export type OutputSize = readonly [name: string, count: number, formula: string];

/** The output arrays of `groupScores`. */
export function scoreOutputs(s: GroupShape): OutputSize[] {
  return [['scores', s.groups * s.groupSize * s.dims, 'groups·groupSize·dims']];
}

/** The output arrays of `groupAdvantages` (and, `withScores`, of `gprlAdvantages`). */
export function advantageOutputs(withScores: boolean): (s: GroupShape) => OutputSize[] {
  return (s) => {
    const { groups: B, groupSize: G, dims: k } = s;
    const sizes: OutputSize[] = [
      ['advantages', B * G, 'groups·groupSize'],
      ['dimAdvantages', B * G * k, 'groups·groupSize·dims'],
      ['dimMean', B * k, 'groups·dims'],
      ['dimStd', B * k, 'groups·dims'],
    ];
    if (withScores) sizes.push(['scores', B * G * k, 'groups·groupSize·dims']);
    return sizes;
  };
}

/** The output array of `preferenceMatrix`. */
export function preferenceOutputs(s: GroupShape): OutputSize[] {
  return [['matrix', s.groups * s.groupSize * s.groupSize, 'groups·groupSize·groupSize']];
}

/** Throw when an output of `shapeText` would exceed `MAX_OUTPUT_ELEMENTS` (before anything is allocated). */
export function checkOutputSizes(sizes: readonly OutputSize[], shapeText: string): void {
  for (const [name, count, formula] of sizes) {
    if (!Number.isSafeInteger(count) || count > MAX_OUTPUT_ELEMENTS) {
      throw invalidValueText(
        'shape',
        `at most ${MAX_OUTPUT_ELEMENTS} elements per output array`,
        `${count} elements in the output ${name} (${formula} for ${shapeText})`,
      );
    }
  }
}

/**
 * A fresh, zeroed Float32Array of `n` elements (already checked against `MAX_OUTPUT_ELEMENTS`);
 * an allocation failure (out of memory) is reported as a `gprl:` RangeError naming the output.
 */
export function allocateOutput(n: number, name: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch (err) {
    throw invalidValueText('shape', 'outputs that fit in memory', `${n} elements for the output ${name} (allocation failed)`, err);
  }
}

/**
 * Check a shape object and the sizes it implies; returns a plain copy. Each field is read once.
 * `outputs` lists the kernel's output arrays; each must hold at most `MAX_OUTPUT_ELEMENTS`.
 */
export function validateShape(shape: unknown, outputs: (s: GroupShape) => readonly OutputSize[]): GroupShape {
  if (!isFieldObject(shape)) {
    throw invalidType('shape', 'an object { groups, groupSize, dims }', shape);
  }
  const groups = readField(shape, 'groups', 'shape.groups');
  const groupSize = readField(shape, 'groupSize', 'shape.groupSize');
  const dims = readField(shape, 'dims', 'shape.dims');
  assertPositiveInt('shape.groups', groups);
  assertPositiveInt('shape.groupSize', groupSize);
  assertPositiveInt('shape.dims', dims);
  const out: GroupShape = { groups, groupSize, dims };
  const embeddingCount = groups * groupSize * 2 * dims;
  if (!Number.isSafeInteger(embeddingCount) || embeddingCount > MAX_ELEMENTS) {
    throw invalidValue('shape', `groups·groupSize·2·dims <= ${MAX_ELEMENTS} elements`, embeddingCount);
  }
  checkOutputSizes(outputs(out), `{ groups: ${groups}, groupSize: ${groupSize}, dims: ${dims} }`);
  return out;
}

/**
 * A Float32Array of an exact length; `formula` explains the expected length in the message.
 * `fixedLength` (async calls): its buffer must not be resizable or growable.
 */
export function validateFloat32(name: string, value: unknown, length: number, formula: string, fixedLength = false): Float32Array {
  checkTypedArray(name, value, 'Float32Array', length, `a Float32Array of length ${length} (${formula})`, { fixedLength });
  return value as Float32Array;
}

/** The embeddings `[B][G][2k]`. */
export function validateEmbeddings(value: unknown, shape: GroupShape, fixedLength = false): Float32Array {
  const { groups, groupSize, dims } = shape;
  return validateFloat32('embeddings', value, groups * groupSize * 2 * dims, 'groups·groupSize·2·dims', fixedLength);
}

/** The per-dimension scores `[B][G][k]`. */
export function validateScores(value: unknown, shape: GroupShape, fixedLength = false): Float32Array {
  const { groups, groupSize, dims } = shape;
  return validateFloat32('scores', value, groups * groupSize * dims, 'groups·groupSize·dims', fixedLength);
}

function validateMask(value: unknown, shape: GroupShape, fixedLength: boolean): Uint8Array | null {
  if (value === undefined) return null;
  const n = shape.groups * shape.groupSize;
  checkTypedArray('options.mask', value, 'Uint8Array', n, `a Uint8Array of length ${n} (groups·groupSize)`, { fixedLength });
  return value as Uint8Array;
}

/** Entries finite and ≥ 0, checked one by one so the message names the offending index. */
function assertNonNegativeEntries(name: string, arr: Float32Array): void {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (!(v >= 0) || v === Infinity) assertNumber(`${name}[${i}]`, v, { min: 0 });
  }
}

function validateLambdas(value: unknown, shape: GroupShape, fixedLength: boolean): Float32Array | null {
  if (value === undefined) return null;
  const { groups, dims } = shape;
  const arr = validateFloat32('options.lambdas', value, groups * dims, 'groups·dims', fixedLength);
  assertNonNegativeEntries('options.lambdas', arr);
  for (let b = 0; b < groups; b++) {
    let sum = 0;
    for (let l = 0; l < dims; l++) sum += arr[b * dims + l]!;
    if (!(sum > 0)) throw invalidValue(`options.lambdas (group ${b})`, 'a positive sum over the dimensions', sum);
  }
  return arr;
}

function validateDimWeights(value: unknown, shape: GroupShape, fixedLength: boolean): Float32Array | null {
  if (value === undefined) return null;
  const arr = validateFloat32('options.dimWeights', value, shape.dims, 'dims', fixedLength);
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

export const SCORE_KEYS = ['mode', 'tau', 'mask', 'backend'] as const;
export const ADVANTAGE_KEYS = ['lambdas', 'dimWeights', 'mask', 'eps', 'stdFloor', 'std', 'normalize', 'backend', 'out'] as const;
export const GPRL_KEYS = [...ADVANTAGE_KEYS, 'mode', 'tau', 'outputs'] as const;
export const PREFERENCE_KEYS = ['lambdas', 'tau', 'backend'] as const;

const OUTPUT_KEYS = ['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'] as const satisfies readonly GprlOutputName[];
type OutputKey = (typeof OUTPUT_KEYS)[number];

/** Allocates one output array of `n` elements named `name` (see `allocateOutput`). */
export type OutputAllocator = (n: number, name: string) => Float32Array;

/**
 * `options.outputs` of `gprlAdvantages`: an array of output names (each entry read once), or
 * undefined for all of them. Unknown names are a RangeError with a suggestion.
 */
export function validateOutputNames(value: unknown): ReadonlySet<OutputKey> | null {
  if (value === undefined) return null;
  const expected = `an array of output names (${OUTPUT_KEYS.map((k) => `'${k}'`).join(', ')})`;
  let isArray = false;
  try {
    isArray = Array.isArray(value);
  } catch {
    isArray = false; // a revoked Proxy
  }
  if (!isArray) throw invalidType('options.outputs', expected, value);
  const arr = value as unknown[];
  const length = readField(arr, 'length', 'options.outputs.length');
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw invalidType('options.outputs', expected, value);
  }
  const names = new Set<OutputKey>();
  for (let i = 0; i < length; i++) {
    const name = readField(arr, String(i), `options.outputs[${i}]`);
    if (typeof name !== 'string') throw invalidType(`options.outputs[${i}]`, `one of ${OUTPUT_KEYS.map((k) => `'${k}'`).join(', ')}`, name);
    if (!(OUTPUT_KEYS as readonly string[]).includes(name)) {
      throw invalidValueText(
        `options.outputs[${i}]`,
        `one of ${OUTPUT_KEYS.map((k) => `'${k}'`).join(', ')}`,
        `${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name)}${didYouMean(name, OUTPUT_KEYS)}`,
      );
    }
    names.add(name as OutputKey);
  }
  return names;
}

/** The `options.out` keys of `groupAdvantages` (`withScores` false) or `gprlAdvantages`. */
function outputKeys(withScores: boolean): OutputKey[] {
  return withScores ? [...OUTPUT_KEYS] : OUTPUT_KEYS.filter((key) => key !== 'scores');
}

/**
 * The caller's options, read once (src/errors.ts `readOptions`): each known key, `options.out`
 * and each of its keys read exactly once into plain objects. The kernels take this snapshot before
 * they look at any input array, so no caller code (getter, Proxy trap) runs between the checks of
 * the arrays and the kernel: a synchronous call sees exactly the arrays it checked.
 */
export interface OptionSnapshot {
  fields: Record<string, unknown>;
  /** `options.out`, read once (empty when not given or not taken by the kernel). */
  out: Record<string, unknown>;
}

export function snapshotOptions(options: unknown, known: readonly string[], withScores = false): OptionSnapshot {
  const fields = readOptions('options', options, known);
  const out = known.includes('out') ? readOptions('options.out', fields.out, outputKeys(withScores)) : {};
  return { fields, out };
}

/**
 * Validate the options of `groupScores`. `options` is the caller's object or a snapshot of it;
 * `fixedLength` (async calls) rejects arrays over resizable or growable buffers.
 */
export function resolveScoreOptions(options: unknown, shape: GroupShape, fixedLength = false): ResolvedScoreOptions {
  const o = readOptions('options', options, SCORE_KEYS);
  return { mode: validateScoreMode(o.mode), tau: validateTau(o.tau), mask: validateMask(o.mask, shape, fixedLength) };
}

function resolveAdvantageFields(o: Record<string, unknown>, shape: GroupShape, fixedLength: boolean): ResolvedAdvantageOptions {
  const lambdas = validateLambdas(o.lambdas, shape, fixedLength);
  const dimWeights = validateDimWeights(o.dimWeights, shape, fixedLength);
  validateWeightOverlap(lambdas, dimWeights, shape);
  const mask = validateMask(o.mask, shape, fixedLength);
  // Each value is read once from the snapshot `o`, checked, and that same value is kept.
  const { eps: epsIn, stdFloor: floorIn, std: stdIn, normalize: normalizeIn } = o;
  let eps = DEFAULT_EPS;
  if (epsIn !== undefined) {
    assertNumber('options.eps', epsIn, { min: 0 });
    eps = epsIn;
  }
  let stdFloor = DEFAULT_STD_FLOOR;
  if (floorIn !== undefined) {
    assertNumber('options.stdFloor', floorIn, { min: 0 });
    stdFloor = floorIn;
  }
  let unbiased = true;
  if (stdIn !== undefined) {
    assertOneOf('options.std', stdIn, STD_MODES);
    unbiased = stdIn === 'unbiased';
  }
  let normalize: NormalizeMode = 'per-dimension';
  if (normalizeIn !== undefined) {
    assertOneOf('options.normalize', normalizeIn, NORMALIZE_MODES);
    normalize = normalizeIn;
  }
  return { lambdas, dimWeights, mask, eps, stdFloor, unbiased, normalize };
}

/** Validate the options of `groupAdvantages` (see `resolveScoreOptions`). */
export function resolveAdvantageOptions(options: unknown, shape: GroupShape, fixedLength = false): ResolvedAdvantageOptions {
  return resolveAdvantageFields(readOptions('options', options, ADVANTAGE_KEYS), shape, fixedLength);
}

/** Validate the options of `gprlAdvantages` (see `resolveScoreOptions`). */
export function resolveGprlOptions(options: unknown, shape: GroupShape, fixedLength = false): ResolvedGprlOptions {
  const o = readOptions('options', options, GPRL_KEYS);
  const mode = validateScoreMode(o.mode);
  const tau = validateTau(o.tau);
  return { ...resolveAdvantageFields(o, shape, fixedLength), mode, tau };
}

/** Validate the options of `preferenceMatrix` (see `resolveScoreOptions`). */
export function resolvePreferenceOptions(options: unknown, shape: GroupShape, fixedLength = false): ResolvedPreferenceOptions {
  const o = readOptions('options', options, PREFERENCE_KEYS);
  return { lambdas: validateLambdas(o.lambdas, shape, fixedLength), tau: validateTau(o.tau) };
}

/** Whether two views share bytes (byte ranges read through the intrinsic accessors). */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = viewInfo(a);
  const y = viewInfo(b);
  if (!x || !y || x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/**
 * The advantage kernels' output arrays: the caller's `options.out` arrays where given (`out` is
 * `options.out` or its snapshot; checked for type, length and overlap with each other and with
 * `inputs`, and with `fixedLength` for a fixed-length buffer), fresh ones otherwise.
 */
export function resolveOutputs(
  out: unknown,
  shape: GroupShape,
  withScores: boolean,
  inputs: readonly ArrayBufferView[],
  fixedLength = false,
  requested: ReadonlySet<OutputKey> | null = null,
  allocate: OutputAllocator = allocateOutput,
): Record<OutputKey, Float32Array> {
  const sizes = new Map(advantageOutputs(true)(shape).map(([name, count, formula]) => [name, { count, formula }]));
  const given = readOptions('options.out', out, outputKeys(withScores));
  const result = {} as Record<OutputKey, Float32Array>;
  const taken: ArrayBufferView[] = [...inputs];
  for (const key of OUTPUT_KEYS) {
    const { count, formula } = sizes.get(key)!;
    const value = given[key];
    const wanted = !(key === 'scores' && !withScores) && (requested === null || requested.has(key));
    if (!wanted && value !== undefined) {
      throw invalidValueText(`options.out.${key}`, `no array for an output missing from options.outputs`, 'an array');
    }
    if (value === undefined) {
      result[key] = wanted ? allocate(count, key) : new Float32Array(0);
      continue;
    }
    const arr = validateFloat32(`options.out.${key}`, value, count, formula, fixedLength);
    if (taken.some((t) => overlaps(t, arr))) {
      throw invalidValue(`options.out.${key}`, 'an array that overlaps no input and no other output', arr);
    }
    taken.push(arr);
    result[key] = arr;
  }
  return result;
}
