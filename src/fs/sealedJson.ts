/**
 * JSON files that carry their own checksum ("sealed"): the first key of the top-level object is
 * `"checksum": "sha256:<64 hex digits>"`, the SHA-256 of the file's exact bytes with those 64 digits
 * replaced by `0`. Any change to the file (a value, a key, whitespace, a truncation, one flipped bit)
 * is detected before the JSON is even parsed.
 */
import { sha256Hex } from './atomic.js';

const ZEROS = '0'.repeat(64);
// Everything before the digits is ASCII, so the match index is also the byte offset.
const SEAL = /^\{\s*"checksum"\s*:\s*"sha256:([0-9a-f]{64})"/;

/** Serialize `body` as a sealed JSON object (`space` as in `JSON.stringify`), with a final newline. */
export function sealJson(body: Record<string, unknown>, space?: number): string {
  if ('checksum' in body) throw new Error('gprl: internal: a sealed JSON body cannot have a checksum key');
  const text = JSON.stringify({ checksum: `sha256:${ZEROS}`, ...body }, null, space) + '\n';
  // The first occurrence of the zeros is the checksum field: it comes first.
  return text.replace(ZEROS, sha256Hex(text));
}

/** How a JSON file's seal reads. */
export type SealCheck = { status: 'valid' } | { status: 'unsealed' } | { status: 'mismatch'; found: string; computed: string };

/**
 * Check the seal of `bytes`: `'valid'`, `'mismatch'` (the file was altered or is incomplete), or
 * `'unsealed'` (no checksum field where a sealed file has it: an older format, or a damaged seal;
 * the caller decides from the parsed content).
 */
export function checkSeal(bytes: Uint8Array): SealCheck {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 256)).toString('latin1');
  const m = SEAL.exec(head);
  if (!m) return { status: 'unsealed' };
  const at = m.index + m[0].length - 65;
  const copy = Buffer.from(bytes);
  copy.write(ZEROS, at, 'latin1');
  const computed = sha256Hex(copy);
  return computed === m[1] ? { status: 'valid' } : { status: 'mismatch', found: m[1]!, computed };
}
