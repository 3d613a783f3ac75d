/**
 * Damage generator for corruption tests: truncations, single bit flips (seeded positions) and edits
 * of JSON fields, each as the bytes the damaged file would hold.
 */
import { Rng } from '../../src/random.js';

export interface Damage {
  /** What was done, for messages. */
  what: string;
  bytes: Buffer;
}

/** A JSON edit: a label and a function that changes the parsed object in place. */
export type JsonEdit = [string, (obj: Record<string, unknown>) => void];

export interface DamageOptions {
  seed: number;
  /** Bit flips at this many seeded positions, besides the first and last byte. Defaults to 8. */
  flips?: number;
  /** JSON files: field edits, written back in the file's own layout (`space`). */
  edits?: JsonEdit[];
  /** Indentation of the JSON file, as `JSON.stringify`'s `space`. */
  space?: number;
  /** Only the JSON edits (no truncations or bit flips). */
  editsOnly?: boolean;
}

/** Truncations at several points, bit flips at several positions, and the JSON edits. */
export function damages(original: Buffer, options: DamageOptions): Damage[] {
  const out: Damage[] = [];
  const n = original.length;
  const cuts = options.editsOnly ? [] : [...new Set([0, 1, Math.floor(n / 3), Math.floor(n / 2), n - 1].filter((c) => c >= 0 && c < n))];
  for (const c of cuts) out.push({ what: `truncated to ${c} of ${n} bytes`, bytes: Buffer.from(original.subarray(0, c)) });
  const rng = new Rng(options.seed);
  const positions = options.editsOnly ? [] : [0, n - 1];
  for (let i = 0; i < (options.editsOnly ? 0 : (options.flips ?? 8)); i++) positions.push(rng.int(n));
  for (const at of positions) {
    const bit = rng.int(8);
    const b = Buffer.from(original);
    b[at]! ^= 1 << bit;
    out.push({ what: `bit ${bit} of byte ${at} flipped`, bytes: b });
  }
  for (const [label, edit] of options.edits ?? []) {
    const obj = JSON.parse(original.toString('utf8')) as Record<string, unknown>;
    edit(obj);
    const text = JSON.stringify(obj, null, options.space) + (original.toString('utf8').endsWith('\n') ? '\n' : '');
    out.push({ what: `edited: ${label}`, bytes: Buffer.from(text) });
  }
  return out;
}
