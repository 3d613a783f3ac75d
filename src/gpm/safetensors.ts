/**
 * A small reader for the safetensors format: an 8-byte little-endian unsigned header length `N`,
 * an `N`-byte JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`,
 * then the data buffer; offsets are relative to the start of the data buffer (byte `8 + N`).
 * Supported dtypes: F32, F16, BF16 and F64, all little-endian, converted to Float32Array.
 * Every structural problem is an Error naming the source and what is wrong.
 */
import { open } from 'node:fs/promises';

export interface SafetensorsTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  shape: number[];
  /** Values converted to float32, row-major. */
  data: Float32Array;
}

const BYTES: Record<SafetensorsTensor['dtype'], number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** IEEE half → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** One header entry: where a tensor's bytes are, relative to the start of the file. */
export interface SafetensorsEntry {
  dtype: SafetensorsTensor['dtype'];
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

/**
 * Parse and check a safetensors header: `prefix` holds at least the first `8 + N` bytes of the
 * file, `fileSize` is the size of the whole file (every tensor must lie inside it).
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, source = 'safetensors'): Map<string, SafetensorsEntry> {
  const fail = (what: string): Error => new Error(`gprl: ${source}: ${what}`);
  if (!(prefix instanceof Uint8Array)) throw fail('expected the file contents as a Uint8Array');
  if (fileSize < 8 || prefix.length < 8) throw fail(`truncated: ${fileSize} bytes, fewer than the 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > fileSize - 8) throw fail(`truncated or not safetensors: header length ${headerLen} exceeds the ${fileSize - 8} bytes after it`);
  if (prefix.length < 8 + headerLen) throw fail(`expected the first ${8 + headerLen} bytes of the file, got ${prefix.length}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw fail(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('the header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const out = new Map<string, SafetensorsEntry>();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (t === null || typeof t !== 'object') throw fail(`tensor '${name}': entry is not an object`);
    const dtype = t.dtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw fail(`tensor '${name}': unsupported dtype ${JSON.stringify(dtype)} (supported: F32, F16, BF16, F64)`);
    const dt = dtype as SafetensorsTensor['dtype'];
    if (!Array.isArray(t.shape) || !t.shape.every((v) => Number.isSafeInteger(v) && v >= 0)) throw fail(`tensor '${name}': invalid shape ${JSON.stringify(t.shape)}`);
    const shape = t.shape as number[];
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => Number.isSafeInteger(v) && v >= 0) || off[1] < off[0]) {
      throw fail(`tensor '${name}': invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const numel = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== numel * BYTES[dt]) throw fail(`tensor '${name}': data_offsets span ${end - begin} bytes, shape [${shape.join(', ')}] of ${dt} needs ${numel * BYTES[dt]}`);
    if (end > dataLen) throw fail(`truncated: tensor '${name}' ends at data byte ${end}, the data buffer has ${dataLen}`);
    out.set(name, { dtype: dt, shape, begin: dataStart + begin, end: dataStart + end });
  }
  return out;
}

/** Decode one tensor's bytes (little-endian `entry.dtype`) to float32. */
export function decodeSafetensor(bytes: Uint8Array, entry: Pick<SafetensorsEntry, 'dtype' | 'shape'>): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = BYTES[entry.dtype];
  const numel = entry.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(numel);
  const tmp = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < numel; i++) {
    const p = i * size;
    if (entry.dtype === 'F32') data[i] = view.getFloat32(p, true);
    else if (entry.dtype === 'F64') data[i] = view.getFloat64(p, true);
    else if (entry.dtype === 'F16') data[i] = halfToFloat(view.getUint16(p, true));
    else {
      // BF16 is the upper half of an F32.
      tmp.setUint32(0, view.getUint16(p, true) << 16, true);
      data[i] = tmp.getFloat32(0, true);
    }
  }
  return data;
}

/**
 * Parse a whole safetensors file held in memory. `names` limits decoding to those tensors (the
 * header is still checked in full). `source` names the file in error messages.
 */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors', names?: readonly string[]): Map<string, SafetensorsTensor> {
  const entries = parseSafetensorsHeader(bytes, bytes instanceof Uint8Array ? bytes.length : 0, source);
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, e] of entries) {
    if (names && !names.includes(name)) continue;
    out.set(name, { dtype: e.dtype, shape: e.shape, data: decodeSafetensor(bytes.subarray(e.begin, e.end), e) });
  }
  return out;
}

/**
 * Read selected tensors from a safetensors file without loading the rest: the header, then only the
 * byte ranges of `names` (e.g. two small heads out of a multi-gigabyte checkpoint shard).
 */
export async function readSafetensors(path: string, names: readonly string[]): Promise<Map<string, SafetensorsTensor>> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const lenBytes = new Uint8Array(8);
    await fh.read(lenBytes, 0, Math.min(8, size), 0);
    const headerLen = size >= 8 ? Number(new DataView(lenBytes.buffer).getBigUint64(0, true)) : 0;
    const prefixLen = headerLen <= size - 8 ? 8 + headerLen : Math.min(size, 8);
    const prefix = new Uint8Array(prefixLen);
    await fh.read(prefix, 0, prefixLen, 0);
    const entries = parseSafetensorsHeader(prefix, size, path);
    const out = new Map<string, SafetensorsTensor>();
    for (const name of names) {
      const e = entries.get(name);
      if (!e) continue;
      const buf = new Uint8Array(e.end - e.begin);
      const { bytesRead } = await fh.read(buf, 0, buf.length, e.begin);
      if (bytesRead !== buf.length) throw new Error(`gprl: ${path}: truncated while reading tensor '${name}'`);
      out.set(name, { dtype: e.dtype, shape: e.shape, data: decodeSafetensor(buf, e) });
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Names of the tensors in a safetensors file (reads the header only). */
export async function safetensorsNames(path: string): Promise<string[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const lenBytes = new Uint8Array(8);
    await fh.read(lenBytes, 0, Math.min(8, size), 0);
    const headerLen = size >= 8 ? Number(new DataView(lenBytes.buffer).getBigUint64(0, true)) : 0;
    const prefixLen = headerLen <= size - 8 ? 8 + headerLen : Math.min(size, 8);
    const prefix = new Uint8Array(prefixLen);
    await fh.read(prefix, 0, prefixLen, 0);
    return [...parseSafetensorsHeader(prefix, size, path).keys()];
  } finally {
    await fh.close();
  }
}
