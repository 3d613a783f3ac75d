/**
 * One error format for every public entry point.
 *
 * Messages read: `gprl: invalid <argument>: expected <expected>, got <received>`.
 * Type problems throw `TypeError`, value/shape problems throw `RangeError`.
 */

import { types } from 'node:util';

/**
 * Intrinsic accessors of typed arrays, DataViews and buffers, captured once. Reading `length`,
 * `buffer`, … through them (instead of `value.length`) cannot be redirected by a subclass getter,
 * never runs caller code; the typed-array ones return 0 instead of throwing on a detached buffer.
 */
function intrinsicGetter(proto: object, key: PropertyKey): (this: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
  if (!get) throw new Error(`gprl: internal: no intrinsic getter ${String(key)}`);
  return get;
}
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const taLength = intrinsicGetter(typedArrayProto, 'length');
const taByteOffset = intrinsicGetter(typedArrayProto, 'byteOffset');
const taByteLength = intrinsicGetter(typedArrayProto, 'byteLength');
const taBuffer = intrinsicGetter(typedArrayProto, 'buffer');
const taName = intrinsicGetter(typedArrayProto, Symbol.toStringTag);
const dvBuffer = intrinsicGetter(DataView.prototype, 'buffer');
const dvByteOffset = intrinsicGetter(DataView.prototype, 'byteOffset');
const dvByteLength = intrinsicGetter(DataView.prototype, 'byteLength');
const abByteLength = intrinsicGetter(ArrayBuffer.prototype, 'byteLength');
const abResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;
const sabGrowable = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')?.get;

/** What validation needs to know about a genuine `ArrayBufferView` (never a Proxy). */
export interface ViewInfo {
  /** `'Float32Array'`, `'Uint8Array'`, …, or `'DataView'`. */
  kind: string;
  /** Element count now (0 when detached or out of bounds); byte length for a DataView. */
  length: number;
  /** Byte range within `buffer` (0, 0 when detached or out of bounds). */
  byteOffset: number;
  byteLength: number;
  buffer: ArrayBufferLike;
  /** The underlying ArrayBuffer has been detached (transferred). */
  detached: boolean;
  /** The underlying buffer can change size: a resizable ArrayBuffer or a growable SharedArrayBuffer. */
  resizable: boolean;
  /** The underlying buffer is a SharedArrayBuffer. */
  shared: boolean;
}

/** Whether an ArrayBuffer has been detached (Node 20 has no `ArrayBuffer.prototype.detached`). */
function isDetached(buffer: ArrayBufferLike): boolean {
  if (!types.isArrayBuffer(buffer) || abByteLength.call(buffer) !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

function isResizable(buffer: ArrayBufferLike): boolean {
  if (types.isArrayBuffer(buffer)) return abResizable ? abResizable.call(buffer) === true : false;
  if (types.isSharedArrayBuffer(buffer)) return sabGrowable ? sabGrowable.call(buffer) === true : false;
  return false;
}

/**
 * Facts about `value` when it is a genuine typed array or DataView, read through the intrinsic
 * accessors; `null` for anything else (a Proxy around a typed array included).
 */
export function viewInfo(value: unknown): ViewInfo | null {
  if (types.isProxy(value) || !ArrayBuffer.isView(value)) return null;
  if (types.isDataView(value)) {
    const buffer = dvBuffer.call(value) as ArrayBufferLike;
    const detached = isDetached(buffer);
    let byteOffset = 0;
    let byteLength = 0;
    if (!detached) {
      try {
        // Throws when out of bounds of a shrunk resizable buffer.
        byteOffset = dvByteOffset.call(value) as number;
        byteLength = dvByteLength.call(value) as number;
      } catch {
        byteOffset = 0;
        byteLength = 0;
      }
    }
    return {
      kind: 'DataView',
      length: byteLength,
      byteOffset,
      byteLength,
      buffer,
      detached,
      resizable: isResizable(buffer),
      shared: types.isSharedArrayBuffer(buffer),
    };
  }
  const buffer = taBuffer.call(value) as ArrayBufferLike;
  return {
    kind: String(taName.call(value)),
    length: taLength.call(value) as number,
    byteOffset: taByteOffset.call(value) as number,
    byteLength: taByteLength.call(value) as number,
    buffer,
    detached: isDetached(buffer),
    resizable: isResizable(buffer),
    shared: types.isSharedArrayBuffer(buffer),
  };
}

/** The constructor name of an ordinary object, read without running caller code. */
function constructorName(value: object): string {
  try {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto === null || types.isProxy(proto)) return 'object';
    const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
    if (typeof ctor !== 'function') return 'object';
    const name = Object.getOwnPropertyDescriptor(ctor, 'name')?.value as unknown;
    return typeof name === 'string' && name !== '' ? name : 'object';
  } catch {
    return 'object';
  }
}

/**
 * Short, safe description of any received value for error messages. Total: it never throws and
 * never runs caller code (no getters, no Proxy traps), whatever it is given, a detached or
 * out-of-bounds view and a revoked Proxy included.
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'symbol') return 'symbol';
  if (typeof value === 'function') return types.isProxy(value) ? 'Proxy' : 'function';
  if (types.isProxy(value)) return 'Proxy';
  const view = viewInfo(value);
  if (view) {
    if (view.detached) return `${view.kind}(detached)`;
    if (!view.resizable) return `${view.kind}(${view.length})`;
    return `${view.kind}(${view.length}, ${view.shared ? 'growable' : 'resizable'})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  return constructorName(value);
}

/** A message `gprl: invalid <name>: expected <expected>, got <got>` with `got` already phrased. */
export function invalidValueText(name: string, expected: string, got: string, cause?: unknown): RangeError {
  const message = `gprl: invalid ${name}: expected ${expected}, got ${got}`;
  return cause === undefined ? new RangeError(message) : new RangeError(message, { cause });
}

/** A caller's getter or Proxy trap threw while `name` was read. */
export function invalidRead(name: string, error: unknown): TypeError {
  let why = 'an exception';
  try {
    why = types.isNativeError(error) ? `${String(error.name)}: ${String(error.message)}` : describe(error);
  } catch {
    // An error object whose own getters throw: keep the generic wording.
  }
  return new TypeError(`gprl: invalid ${name}: expected a readable value, got an exception from its getter (${why})`, {
    cause: error,
  });
}

export function invalidType(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(`gprl: invalid ${name}: expected ${expected}, got ${describe(received)}`);
}

export function invalidValue(name: string, expected: string, received: unknown): RangeError {
  return new RangeError(`gprl: invalid ${name}: expected ${expected}, got ${describe(received)}`);
}

/**
 * A genuine typed array of `kind` (checked by its internal slots, so a Proxy or a look-alike is
 * rejected and a subclass such as `Buffer` is accepted), attached, of exactly `length` elements.
 * With `fixedLength`, its buffer must not be resizable or growable (async calls: the buffer must
 * not be able to shrink while a worker thread reads it). `expected` phrases the requirement.
 */
export function checkTypedArray(
  name: string,
  value: unknown,
  kind: 'Float32Array' | 'Uint8Array',
  length: number,
  expected: string,
  opts: { fixedLength?: boolean } = {},
): ViewInfo {
  const info = viewInfo(value);
  if (!info || info.kind !== kind || info.detached) throw invalidType(name, expected, value);
  if (opts.fixedLength && info.resizable) {
    throw invalidType(name, `${expected} over a fixed-length buffer (async calls do not take resizable or growable buffers)`, value);
  }
  if (info.length !== length) throw invalidValue(name, expected, value);
  return info;
}

export function assertFloat32Array(name: string, value: unknown, length?: number): asserts value is Float32Array {
  const info = viewInfo(value);
  if (!info || info.kind !== 'Float32Array' || info.detached) throw invalidType(name, 'a Float32Array', value);
  if (length !== undefined && info.length !== length) throw invalidValue(name, `length ${length}`, value);
}

export function assertUint8Array(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  const info = viewInfo(value);
  if (!info || info.kind !== 'Uint8Array' || info.detached) throw invalidType(name, 'a Uint8Array', value);
  if (length !== undefined && info.length !== length) throw invalidValue(name, `length ${length}`, value);
}

/** A positive safe integer (shape entries). */
export function assertPositiveInt(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw invalidType(name, 'a positive integer', value);
  if (!Number.isSafeInteger(value) || value < 1) throw invalidValue(name, 'a positive integer', value);
}

/** A finite number, optionally bounded; `exclusiveMin` makes the lower bound strict. */
export function assertNumber(
  name: string,
  value: unknown,
  opts: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): asserts value is number {
  if (typeof value !== 'number') throw invalidType(name, 'a finite number', value);
  const { min, max, exclusiveMin } = opts;
  const range =
    min !== undefined && max !== undefined
      ? `a finite number in ${exclusiveMin ? '(' : '['}${min}, ${max}]`
      : min !== undefined
        ? `a finite number ${exclusiveMin ? '>' : '>='} ${min}`
        : max !== undefined
          ? `a finite number <= ${max}`
          : 'a finite number';
  if (!Number.isFinite(value)) throw invalidValue(name, range, value);
  if (min !== undefined && (exclusiveMin ? value <= min : value < min)) throw invalidValue(name, range, value);
  if (max !== undefined && value > max) throw invalidValue(name, range, value);
}

export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  const expected = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  if (typeof value !== 'string') throw invalidType(name, expected, value);
  if (!(allowed as readonly string[]).includes(value)) throw invalidValue(name, expected, value);
}

/** An object that can hold named fields: not null, not an array, not a revoked Proxy (never throws). */
export function isFieldObject(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  try {
    return !Array.isArray(value);
  } catch {
    return false; // a revoked Proxy
  }
}

/** `obj[key]`, read once; a getter or Proxy trap that throws becomes a `gprl:` TypeError naming `name`. */
export function readField(obj: object, key: string, name: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch (err) {
    throw invalidRead(name, err);
  }
}

export function assertOptionsObject(name: string, value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value === undefined) return;
  if (!isFieldObject(value)) throw invalidType(name, 'an options object', value);
}

/** Reject unknown option keys so typos do not pass silently. */
export function assertKnownKeys(name: string, value: object | undefined, known: readonly string[]): void {
  if (value === undefined) return;
  let keys: string[];
  try {
    keys = Object.keys(value);
  } catch (err) {
    throw invalidRead(name, err);
  }
  for (const key of keys) {
    if (!known.includes(key)) {
      throw invalidValue(`${name}.${key}`, `a known option (${known.join(', ')})`, key);
    }
  }
}

/**
 * Read an options object once: it must be an object (or undefined) with only `known` own keys;
 * then every known key is read exactly once (own or inherited, getters included) into a plain
 * object. Validation and every backend then work from that snapshot, so a getter cannot hand the
 * checks one value and the kernel another.
 */
export function readOptions(name: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  assertOptionsObject(name, value);
  if (value === undefined) return {};
  assertKnownKeys(name, value, known);
  const out: Record<string, unknown> = {};
  for (const key of known) {
    const v = readField(value, key, `${name}.${key}`);
    if (v !== undefined) out[key] = v;
  }
  return out;
}
