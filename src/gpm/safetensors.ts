/**
 * A small reader for the safetensors format: an 8-byte little-endian unsigned header length `N`,
 * an `N`-byte JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`,
 * then the data buffer; offsets are relative to the start of the data buffer (byte `8 + N`).
 * Supported dtypes: F32, F16, BF16 and F64, all little-endian, converted to Float32Array.
 * Every structural problem is an Error naming the source and what is wrong.
 */

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

/** Parse a safetensors file's bytes. `source` names the file in error messages. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors'): Map<string, SafetensorsTensor> {
  const fail = (what: string): Error => new Error(`gprl: ${source}: ${what}`);
  if (!(bytes instanceof Uint8Array)) throw fail('expected the file contents as a Uint8Array');
  if (bytes.length < 8) throw fail(`truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw fail(`truncated or not safetensors: header length ${headerLen} exceeds the ${bytes.length - 8} bytes after it`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw fail(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('the header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (t === null || typeof t !== 'object') throw fail(`tensor '${name}': entry is not an object`);
    const dtype = t.dtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw fail(`tensor '${name}': unsupported dtype ${JSON.stringify(dtype)} (supported: F32, F16, BF16, F64)`);
    const dt = dtype as SafetensorsTensor['dtype'];
    if (!Array.isArray(t.shape) || !t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw fail(`tensor '${name}': invalid shape ${JSON.stringify(t.shape)}`);
    const shape = t.shape as number[];
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => Number.isSafeInteger(v) && v >= 0) || off[1] < off[0]) {
      throw fail(`tensor '${name}': invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const numel = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== numel * BYTES[dt]) throw fail(`tensor '${name}': data_offsets span ${end - begin} bytes, shape [${shape.join(', ')}] of ${dt} needs ${numel * BYTES[dt]}`);
    if (end > dataLen) throw fail(`truncated: tensor '${name}' ends at data byte ${end}, the data buffer has ${dataLen}`);
    const data = new Float32Array(numel);
    const base = dataStart + begin;
    for (let i = 0; i < numel; i++) {
      const p = base + i * BYTES[dt];
      if (dt === 'F32') data[i] = view.getFloat32(p, true);
      else if (dt === 'F64') data[i] = view.getFloat64(p, true);
      else if (dt === 'F16') data[i] = halfToFloat(view.getUint16(p, true));
      else {
        // BF16 is the upper half of an F32.
        const tmp = new DataView(new ArrayBuffer(4));
        tmp.setUint32(0, view.getUint16(p, true) << 16, true);
        data[i] = tmp.getFloat32(0, true);
      }
    }
    out.set(name, { dtype: dt, shape, data });
  }
  return out;
}
