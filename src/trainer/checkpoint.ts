/**
 * Crash-safe checkpoints: a directory that always holds at least one complete checkpoint.
 *
 * Layout of `dir`:
 *   LATEST                     the name of the current checkpoint (one line)
 *   ckpt-00000012-<id>/        one checkpoint
 *     meta.json                format, version, step, the JSON state, the tensor index, the SHA-256 of weights.bin
 *     weights.bin              every tensor's values, little-endian 4-byte floats/ints, concatenated
 *
 * A write builds the new checkpoint in a hidden temporary directory (files fsynced), renames it into
 * place, then replaces `LATEST` by writing a temporary file and renaming it over the old one (an atomic
 * replace on POSIX file systems and NTFS). A write that dies at any point leaves `LATEST` pointing to
 * the previous complete checkpoint; leftovers are removed by the next successful write. A checkpoint
 * whose files are truncated or altered fails to load with a clear error (size and checksum checks).
 */
import { createHash } from 'node:crypto';
import { promises as fsp, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { invalidType, invalidValue } from '../errors.js';

export const CHECKPOINT_FORMAT = 'gprl-checkpoint';
export const CHECKPOINT_VERSION = 1;
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
  format: string;
  version: number;
  step: number;
  state: Record<string, unknown>;
  tensors: IndexEntry[];
  weightsBytes: number;
  weightsSha256: string;
}

let writeCounter = 0;

async function writeFileSynced(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  // Persist renames; some platforms cannot open directories, which is fine to skip.
  try {
    const fh = await fsp.open(dir, fsConstants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* not supported here */
  }
}

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
  const meta: Meta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: data.step,
    state: data.state,
    tensors: index,
    weightsBytes: bytes,
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
  };
  const metaText = JSON.stringify(meta);

  await fsp.mkdir(dir, { recursive: true });
  const name = `ckpt-${String(data.step).padStart(8, '0')}-${process.pid}-${Date.now()}-${writeCounter++}`;
  const tmp = path.join(dir, `.tmp-${name}`);
  await fsp.mkdir(tmp);
  await writeFileSynced(path.join(tmp, 'weights.bin'), weights);
  await writeFileSynced(path.join(tmp, 'meta.json'), metaText);
  await syncDir(tmp);
  if (options.beforeCommit) await options.beforeCommit();
  await fsp.rename(tmp, path.join(dir, name));
  const latestTmp = path.join(dir, `.tmp-${LATEST}-${name}`);
  await writeFileSynced(latestTmp, `${name}\n`);
  await fsp.rename(latestTmp, path.join(dir, LATEST));
  await syncDir(dir);
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

/** Read the current checkpoint of `dir`. Throws a clear Error when there is none or it is damaged. */
export async function readCheckpoint(dir: string): Promise<CheckpointData> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidType('dir', 'a directory path', dir);
  let name: string;
  try {
    name = (await fsp.readFile(path.join(dir, LATEST), 'utf8')).trim();
  } catch {
    throw new Error(`gprl: no checkpoint in '${dir}' (missing ${LATEST})`);
  }
  if (!/^ckpt-[\w-]+$/.test(name)) throw new Error(`gprl: damaged checkpoint in '${dir}': ${LATEST} names '${name}'`);
  const sub = path.join(dir, name);
  let meta: Meta;
  let weights: Buffer;
  try {
    meta = JSON.parse(await fsp.readFile(path.join(sub, 'meta.json'), 'utf8')) as Meta;
    weights = await fsp.readFile(path.join(sub, 'weights.bin'));
  } catch (err) {
    throw new Error(`gprl: damaged checkpoint '${sub}': ${(err as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== CHECKPOINT_VERSION) {
    throw new Error(`gprl: '${sub}' is not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION} checkpoint`);
  }
  if (weights.length !== meta.weightsBytes || createHash('sha256').update(weights).digest('hex') !== meta.weightsSha256) {
    throw new Error(`gprl: damaged checkpoint '${sub}': weights.bin does not match its checksum (truncated or altered)`);
  }
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
