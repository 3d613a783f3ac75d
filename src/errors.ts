/**
 * One error format for every public entry point.
 *
 * Messages read: `gprl: invalid <argument>: expected <expected>, got <received>`.
 * Type problems throw `TypeError`, value/shape problems throw `RangeError`.
 */

/** Short, safe description of any received value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    const len = 'length' in value ? (value as unknown as { length: number }).length : value.byteLength;
    return `${name}(${len})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'function') return 'function';
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

export function invalidType(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(`gprl: invalid ${name}: expected ${expected}, got ${describe(received)}`);
}

export function invalidValue(name: string, expected: string, received: unknown): RangeError {
  return new RangeError(`gprl: invalid ${name}: expected ${expected}, got ${describe(received)}`);
}

export function assertFloat32Array(name: string, value: unknown, length?: number): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) throw invalidType(name, 'a Float32Array', value);
  if (length !== undefined && value.length !== length) {
    throw invalidValue(name, `length ${length}`, value);
  }
}

export function assertUint8Array(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidType(name, 'a Uint8Array', value);
  if (length !== undefined && value.length !== length) {
    throw invalidValue(name, `length ${length}`, value);
  }
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

export function assertOptionsObject(name: string, value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(name, 'an options object', value);
}

/** Reject unknown option keys so typos do not pass silently. */
export function assertKnownKeys(name: string, value: Record<string, unknown> | undefined, known: readonly string[]): void {
  if (value === undefined) return;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw invalidValue(`${name}.${key}`, `a known option (${known.join(', ')})`, key);
    }
  }
}
