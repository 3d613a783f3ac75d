/**
 * Crash-safe checkpoints: a directory that always holds at least one complete checkpoint.
 *
 * Layout of `dir`:
 *   LATEST                     the name of the current checkpoint and the SHA-256 of its meta.json (one line)
 *   ckpt-00000012-<id>/        one checkpoint
 *     meta.json                sealed JSON (its first key is a checksum of the file itself, see
 *                              `fs/sealedJson.ts`): format, version, step, the JSON state, the tensor
 *                              index, the size and SHA-256 of weights.bin
 *     weights.bin              every tensor's values, little-endian 4-byte floats/ints, concatenated
 *
 * A write builds the new checkpoint in a hidden temporary directory (files fsynced), renames it into
 * place, then replaces `LATEST` by writing a temporary file and renaming it over the old one (an atomic
 * replace on POSIX file systems and NTFS). A write that dies at any point leaves `LATEST` pointing to
 * the previous complete checkpoint; leftovers are removed by the next successful write. Reading
 * verifies every byte it uses: `LATEST` against meta.json's hash, meta.json against its own checksum
 * (so an edited step, learning rate or tensor index is detected), the tensor index against the shapes
 * and the size of weights.bin, and weights.bin against its checksum; a damaged checkpoint fails with an
 * Error naming the file and what is wrong. Version 1 checkpoints (gprl 0.1: meta.json without its own
 * checksum, `LATEST` holding the name only) are still read, with the same structural checks.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalidType, invalidValue } from '../errors.js';
import { replaceFileAtomic, sha256Hex, syncDir, writeFileSynced } from '../fs/atomic.js';
import { checkSeal, sealJson } from '../fs/sealedJson.js';
import { decodeUtf8 } from '../fs/utf8.js';

export const CHECKPOINT_FORMAT = 'gprl-checkpoint';
/** Version written by {@link writeCheckpoint}; version 1 (gprl 0.1) is still read. */
export const CHECKPOINT_VERSION = 2;
const LATEST = 'LATEST';

/** One stored tensor. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** What a checkpoint holds: tensors in named groups, and any JSON-serializable state. */
export interface CheckpointData {
  step: number;
  tensors: Record<string, CheckpointTensor[]>;
  state: Record<string, unknown>;
}

export interface WriteCheckpointOptions {
  /** Checkpoints kept in the directory (the newest ones), ≥ 1. Defaults to `2`. */
  keep?: number;
  /** Called after the files of the new checkpoint are written and before it is committed (tests use it to simulate a crash). Defaults to none. */
  beforeCommit?: () => void | Promise<void>;
}

interface IndexEntry {
  group: string;
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  length: number;
}

interface Meta {
  checksum?: string;
  format: string;
  version: number;
  step: number;
  state: Record<string, unknown>;
  tensors: IndexEntry[];
  weightsBytes: number;
  weightsSha256: string;
}

let writeCounter = 0;

function checkData(data: unknown): asserts data is CheckpointData {
  if (data === null || typeof data !== 'object') throw invalidType('data', 'checkpoint data', data);
  const d = data as Partial<CheckpointData>;
  if (typeof d.step !== 'number' || !Number.isSafeInteger(d.step) || d.step < 0) throw invalidValue('data.step', 'a non-negative integer', d.step);
  if (d.tensors === null || typeof d.tensors !== 'object') throw invalidType('data.tensors', 'an object of tensor lists', d.tensors);
  for (const [group, list] of Object.entries(d.tensors)) {
    if (!Array.isArray(list)) throw invalidType(`data.tensors.${group}`, 'an array of tensors', list);
    list.forEach((t: CheckpointTensor, i) => {
      const size = Array.isArray(t?.shape) ? t.shape.reduce((a, b) => a * b, 1) : -1;
      const ok = t?.dtype === 'float32' ? t.values instanceof Float32Array : t?.dtype === 'int32' ? t.values instanceof Int32Array : false;
      if (!ok || t.values.length !== size) throw invalidValue(`data.tensors.${group}[${i}]`, 'a tensor whose values match its dtype and shape', t?.name);
    });
  }
  if (d.state === null || typeof d.state !== 'object') throw invalidType('data.state', 'a JSON object', d.state);
}

/** Write a checkpoint into `dir` (created if needed). Returns the checkpoint's directory. */
export async function writeCheckpoint(dir: string, data: CheckpointData, options: WriteCheckpointOptions = {}): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidType('dir', 'a directory path', dir);
  checkData(data);
  const keep = options.keep ?? 2;
  if (!Number.isSafeInteger(keep) || keep < 1) throw invalidValue('options.keep', 'a positive integer', keep);
  // Serialize everything before touching the disk: a bad state fails here, with nothing written.
  const index: IndexEntry[] = [];
  let bytes = 0;
  for (const [group, list] of Object.entries(data.tensors)) {
    for (const t of list) {
      index.push({ group, name: t.name, shape: [...t.shape], dtype: t.dtype, offset: bytes, length: t.values.length });
      bytes += t.values.length * 4;
    }
  }
  const weights = new Uint8Array(bytes);
  const view = new DataView(weights.buffer);
  let k = 0;
  for (const list of Object.values(data.tensors)) {
    for (const t of list) {
      const e = index[k++]!;
      for (let i = 0; i < t.values.length; i++) {
        if (t.dtype === 'float32') view.setFloat32(e.offset + 4 * i, t.values[i]!, true);
        else view.setInt32(e.offset + 4 * i, t.values[i]!, true);
      }
    }
  }
  const meta: Omit<Meta, 'checksum'> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: data.step,
    state: data.state,
    tensors: index,
    weightsBytes: bytes,
    weightsSha256: sha256Hex(weights),
  };
  const metaText = sealJson(meta as unknown as Record<string, unknown>);

  await fsp.mkdir(dir, { recursive: true });
  const name = `ckpt-${String(data.step).padStart(8, '0')}-${process.pid}-${Date.now()}-${writeCounter++}`;
  const tmp = path.join(dir, `.tmp-${name}`);
  await fsp.mkdir(tmp);
  await writeFileSynced(path.join(tmp, 'weights.bin'), weights);
  await writeFileSynced(path.join(tmp, 'meta.json'), metaText);
  await syncDir(tmp);
  if (options.beforeCommit) await options.beforeCommit();
  await fsp.rename(tmp, path.join(dir, name));
  await syncDir(dir);
  // The commit: LATEST names the new checkpoint and binds its meta.json.
  await replaceFileAtomic(path.join(dir, LATEST), `${name} ${sha256Hex(metaText)}\n`);
  await prune(dir, name, keep);
  return path.join(dir, name);
}

/** Remove temporary leftovers and all but the newest `keep` checkpoints (never the current one). */
async function prune(dir: string, current: string, keep: number): Promise<void> {
  const entries = await fsp.readdir(dir);
  const ckpts = entries.filter((e) => e.startsWith('ckpt-') && e !== current).sort();
  const drop = [...entries.filter((e) => e.startsWith('.tmp-')), ...ckpts.slice(0, Math.max(0, ckpts.length - (keep - 1)))];
  for (const e of drop) await fsp.rm(path.join(dir, e), { recursive: true, force: true });
}

const LATEST_LINE = /^(ckpt-[\w-]+)(?: ([0-9a-f]{64}))?\n?$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** An Error for a damaged checkpoint file, pointing at the other checkpoints of the directory when there are any. */
async function damaged(dir: string, current: string | null, file: string, what: string): Promise<Error> {
  let others: string[] = [];
  try {
    others = (await fsp.readdir(dir)).filter((e) => e.startsWith('ckpt-') && e !== current).sort().reverse();
  } catch {
    /* the directory itself is unreadable: no hint */
  }
  const hint = others.length > 0 ? ` (other checkpoints in '${dir}': ${others.join(', ')}; to resume from one, write its name into ${LATEST})` : '';
  return new Error(`gprl: damaged checkpoint: ${file}: ${what}${hint}`);
}

/** Structure of meta.json: returns what is wrong, or null. The tensors must tile weights.bin exactly. */
function metaProblem(meta: unknown, sealed: boolean): string | null {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return 'not a JSON object';
  const m = meta as Partial<Meta>;
  if (m.format !== CHECKPOINT_FORMAT) return `format is ${JSON.stringify(m.format)}, expected '${CHECKPOINT_FORMAT}'`;
  if (m.version === CHECKPOINT_VERSION) {
    if (!sealed) return `checksum field missing or damaged (version ${CHECKPOINT_VERSION} files carry one as their first key)`;
  } else if (m.version === 1) {
    if ('checksum' in m) return `version 1 file with a checksum field: damaged or altered`;
  } else return `version ${JSON.stringify(m.version)} is not supported (expected ${CHECKPOINT_VERSION}, or 1)`;
  if (typeof m.step !== 'number' || !Number.isSafeInteger(m.step) || m.step < 0) return `step is ${JSON.stringify(m.step)}, not a non-negative integer`;
  if (m.state === null || typeof m.state !== 'object') return 'state is not a JSON object';
  if (typeof m.weightsBytes !== 'number' || !Number.isSafeInteger(m.weightsBytes) || m.weightsBytes < 0) return `weightsBytes is ${JSON.stringify(m.weightsBytes)}, not a byte count`;
  if (typeof m.weightsSha256 !== 'string' || !HEX64.test(m.weightsSha256)) return 'weightsSha256 missing or malformed';
  if (!Array.isArray(m.tensors)) return 'tensors is not a list';
  // Tensors are stored back to back in index order (as writeCheckpoint writes them), so none overlap or trade places.
  let end = 0;
  let prev = '';
  for (let i = 0; i < m.tensors.length; i++) {
    const e = m.tensors[i] as Partial<IndexEntry> | null;
    if (e === null || typeof e !== 'object' || typeof e.group !== 'string' || typeof e.name !== 'string') return `tensors[${i}]: group or name missing`;
    const label = `tensor '${e.group}/${e.name}'`;
    if (e.dtype !== 'float32' && e.dtype !== 'int32') return `${label} has dtype ${JSON.stringify(e.dtype)}, expected 'float32' or 'int32'`;
    if (!Array.isArray(e.shape) || !e.shape.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) return `${label} has shape ${JSON.stringify(e.shape)}, not a list of sizes`;
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (e.length !== size) return `${label} has length ${JSON.stringify(e.length)}, its shape [${e.shape.join(', ')}] holds ${size} values`;
    if (typeof e.offset !== 'number' || !Number.isSafeInteger(e.offset) || e.offset < 0 || e.offset % 4 !== 0) return `${label} has offset ${JSON.stringify(e.offset)}, not a multiple of 4`;
    if (e.offset + 4 * size > m.weightsBytes) return `${label} has byte range [${e.offset}, ${e.offset + 4 * size}) outside weights.bin (${m.weightsBytes} bytes)`;
    if (e.offset !== end) {
      const why = e.offset < end ? `it would overlap ${prev}` : `bytes [${end}, ${e.offset}) would belong to no tensor`;
      return `${label} starts at byte ${e.offset}, expected ${end}: tensors are stored back to back in index order, ${why}`;
    }
    end = e.offset + 4 * size;
    prev = label;
  }
  if (end !== m.weightsBytes) return `bytes [${end}, ${m.weightsBytes}) of weights.bin belong to no tensor`;
  return null;
}

/** Read the current checkpoint of `dir`. Throws a clear Error when there is none, or naming the damaged file and what is wrong. */
export async function readCheckpoint(dir: string): Promise<CheckpointData> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidType('dir', 'a directory path', dir);
  const latestFile = path.join(dir, LATEST);
  let latest: Buffer;
  try {
    latest = await fsp.readFile(latestFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`gprl: no checkpoint in '${dir}' (missing ${LATEST})`);
    throw await damaged(dir, null, latestFile, `cannot be read (${(err as Error).message})`);
  }
  let line: RegExpExecArray | null = null;
  try {
    line = LATEST_LINE.exec(decodeUtf8(latest));
  } catch {
    /* not UTF-8: reported below */
  }
  if (!line) throw await damaged(dir, null, latestFile, `does not hold a checkpoint name (${latest.length} bytes: ${JSON.stringify(latest.toString('latin1').slice(0, 100))})`);
  const name = line[1]!;
  const metaHash = line[2];
  const sub = path.join(dir, name);
  const metaFile = path.join(sub, 'meta.json');
  const weightsFile = path.join(sub, 'weights.bin');
  const fail = (file: string, what: string): Promise<Error> => damaged(dir, name, file, what);
  let metaBytes: Buffer;
  try {
    metaBytes = await fsp.readFile(metaFile);
  } catch (err) {
    const missingDir = await fsp.stat(sub).then(
      () => false,
      () => true,
    );
    if (missingDir) throw await fail(latestFile, `names '${name}', which does not exist`);
    throw await fail(metaFile, `cannot be read (${(err as Error).message})`);
  }
  const seal = checkSeal(metaBytes);
  if (seal.status === 'mismatch') throw await fail(metaFile, `checksum mismatch: the file was altered or is incomplete (${metaBytes.length} bytes)`);
  if (metaHash !== undefined && sha256Hex(metaBytes) !== metaHash) {
    if (seal.status === 'valid') throw await fail(latestFile, `expects ${name}/meta.json with sha256 ${metaHash}, but that intact file has sha256 ${sha256Hex(metaBytes)}: ${LATEST} was altered or the file replaced`);
    throw await fail(metaFile, `checksum field missing or damaged (${metaBytes.length} bytes, not the file ${LATEST} names)`);
  }
  let meta: Meta;
  try {
    meta = JSON.parse(decodeUtf8(metaBytes)) as Meta;
  } catch (err) {
    throw await fail(metaFile, `not valid JSON, truncated or corrupt (${(err as Error).message})`);
  }
  const problem = metaProblem(meta, seal.status === 'valid');
  if (problem !== null) throw await fail(metaFile, problem);
  let weights: Buffer;
  try {
    weights = await fsp.readFile(weightsFile);
  } catch (err) {
    throw await fail(weightsFile, `cannot be read (${(err as Error).message})`);
  }
  if (weights.length !== meta.weightsBytes) {
    throw await fail(weightsFile, `${weights.length < meta.weightsBytes ? 'truncated' : 'too long'}: ${weights.length} bytes, meta.json expects ${meta.weightsBytes}`);
  }
  if (sha256Hex(weights) !== meta.weightsSha256) throw await fail(weightsFile, 'checksum mismatch: the file was altered or does not belong to this meta.json');
  const view = new DataView(weights.buffer, weights.byteOffset, weights.byteLength);
  const tensors: Record<string, CheckpointTensor[]> = {};
  for (const e of meta.tensors) {
    const values = e.dtype === 'float32' ? new Float32Array(e.length) : new Int32Array(e.length);
    for (let i = 0; i < e.length; i++) {
      values[i] = e.dtype === 'float32' ? view.getFloat32(e.offset + 4 * i, true) : view.getInt32(e.offset + 4 * i, true);
    }
    (tensors[e.group] ??= []).push({ name: e.name, shape: e.shape, dtype: e.dtype, values });
  }
  return { step: meta.step, tensors, state: meta.state };
}
