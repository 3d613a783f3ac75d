/**
 * Saving and loading preference models. A model directory holds
 * - `LATEST`: a small sealed JSON pointer (see `fs/sealedJson.ts`) naming the current save and the
 *   SHA-256 of its `model.json`;
 * - `save-<seq>-<id>/`: one complete save, `model.json` (format tag and version, model kind, head
 *   and encoder configuration, weight manifest, size and SHA-256 of the binary; sealed by its own
 *   checksum) and `weights.bin` (the weights, float32 little-endian, in manifest order). The current
 *   save and the one before it are kept.
 *
 * A save writes both files into a hidden temporary directory (fsynced), renames it to its
 * `save-…` name, then replaces `LATEST` (temporary file, fsync, rename): that last rename is the
 * commit. A save killed at any point leaves `LATEST` naming the previous complete save; the next
 * save removes what it left. {@link loadModel} verifies every byte it uses (pointer, `model.json`
 * and `weights.bin` checksums; manifest offsets aligned, in bounds, non-overlapping, covering the
 * file); when the current save is damaged it loads the newest earlier save that verifies, with a
 * warning, or throws an Error naming the damaged file.
 *
 * Directories written by gprl 0.1 (format version 1: `model.json` and `weights.bin` directly in the
 * directory, with `.prev` copies during a save) still load, with the same checks except that their
 * `model.json` has no checksum of its own; the next save into such a directory converts it.
 * Loading needs only `node:fs` (no tfjs-node). Models with a user-supplied encoder (function or
 * LayersModel) save their head only; pass the same encoder to {@link loadModel}.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { tf } from '../tf.js';
import { invalidType } from '../errors.js';
import { removeTree, replaceFileAtomic, sha256Hex, syncDir, tempName, writeFileSynced } from '../fs/atomic.js';
import { checkSeal, sealJson, type SealCheck } from '../fs/sealedJson.js';
import { decodeUtf8 } from '../fs/utf8.js';
import { featureEncoder, resolveTokenEncoderOptions, tokenEncoder, type Encoder, type EncoderConfig } from './encoder.js';
import { resolveHeadOptions, type GpmHeadConfig } from './head.js';
import { BradleyTerryModel, GeneralPreferenceModel, type BradleyTerryModelOptions, type PreferenceModel } from './model.js';

export const MODEL_FORMAT = 'gprl-preference-model';
/** Version written by {@link saveModel}; version 1 (gprl 0.1) is still read. */
export const MODEL_FORMAT_VERSION = 2;
export const MODEL_POINTER_FORMAT = 'gprl-preference-model-pointer';
const POINTER = 'LATEST';
const SAVE_RE = /^save-(\d{8,})-[0-9a-f]{8}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** Byte offset in `weights.bin` (a multiple of 4). */
  offset: number;
  /** Byte length (4 · number of values). */
  byteLength: number;
}

type ExternalEncoderConfig = { type: 'external'; input: 'tokens' | 'features'; outputDim: number };

export interface ModelJson {
  /** `sha256:<hex>` of the file with these digits zeroed (version 2; see `fs/sealedJson.ts`). */
  checksum?: string;
  format: typeof MODEL_FORMAT;
  version: number;
  kind: 'gpm' | 'bt';
  /** GPM: the head configuration. BT: `{ inputDim, tau, embeddingConstant, seed }`. */
  config: Record<string, unknown>;
  encoder: EncoderConfig | ExternalEncoderConfig;
  weightsFile: 'weights.bin';
  weightsByteLength: number;
  weightsSha256: string;
  weights: WeightEntry[];
}

interface PointerJson {
  checksum: string;
  format: typeof MODEL_POINTER_FORMAT;
  version: number;
  /** The current save's directory name. */
  save: string;
  /** SHA-256 of that save's `model.json` bytes. */
  modelJsonSha256: string;
}

function checkModelArg(model: unknown): asserts model is GeneralPreferenceModel | BradleyTerryModel {
  if (!(model instanceof GeneralPreferenceModel) && !(model instanceof BradleyTerryModel)) {
    throw invalidType('model', 'a GeneralPreferenceModel or BradleyTerryModel', model);
  }
  if (model.isDisposed) throw new Error('gprl: cannot save a disposed model');
}

const bad = (file: string, what: string): Error => new Error(`gprl: ${file}: ${what}`);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function saveSeq(name: string): number {
  const m = SAVE_RE.exec(name);
  return m ? Number(m[1]) : -1;
}

/** What a directory holds before a save, as far as the save needs to know. */
interface DirState {
  /** The save `LATEST` names, when the pointer verifies and the save directory exists. */
  current: string | null;
  /** `save-…` directories, newest first. */
  saves: string[];
  /** A gprl 0.1 `model.json` + `weights.bin` pair directly in the directory. */
  legacy: boolean;
}

async function readPointer(dir: string): Promise<{ pointer: PointerJson } | { missing: true } | { error: Error }> {
  const file = path.join(dir, POINTER);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { error: bad(file, `cannot be read (${message(err)})`) };
  }
  const seal = checkSeal(bytes);
  if (seal.status === 'mismatch') return { error: bad(file, `checksum mismatch: the file was altered or is incomplete (${bytes.length} bytes)`) };
  if (seal.status === 'unsealed') return { error: bad(file, `damaged: not a sealed ${MODEL_POINTER_FORMAT} file (${bytes.length} bytes)`) };
  let p: PointerJson;
  try {
    p = JSON.parse(decodeUtf8(bytes)) as PointerJson;
  } catch (err) {
    return { error: bad(file, `not valid JSON (${message(err)})`) };
  }
  if (p?.format !== MODEL_POINTER_FORMAT) return { error: bad(file, `format is ${JSON.stringify(p?.format)}, expected '${MODEL_POINTER_FORMAT}'`) };
  if (p.version !== MODEL_FORMAT_VERSION) return { error: bad(file, `version ${JSON.stringify(p.version)} is not supported (expected ${MODEL_FORMAT_VERSION})`) };
  if (typeof p.save !== 'string' || !SAVE_RE.test(p.save)) return { error: bad(file, `names ${JSON.stringify(p.save)}, not a save directory name`) };
  if (typeof p.modelJsonSha256 !== 'string' || !HEX64.test(p.modelJsonSha256)) return { error: bad(file, 'modelJsonSha256 missing or malformed') };
  return { pointer: p };
}

async function listSaves(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  return entries.filter((e) => SAVE_RE.test(e)).sort((a, b) => saveSeq(b) - saveSeq(a) || (a < b ? 1 : -1));
}

async function isLegacyModelJson(file: string): Promise<boolean> {
  try {
    const j = JSON.parse(await readFile(file, 'utf8')) as { format?: unknown };
    return j?.format === MODEL_FORMAT;
  } catch {
    return false;
  }
}

async function inspectDir(dir: string): Promise<DirState> {
  const saves = await listSaves(dir);
  const p = await readPointer(dir);
  const current = 'pointer' in p && saves.includes(p.pointer.save) ? p.pointer.save : null;
  const legacy = await isLegacyModelJson(path.join(dir, 'model.json'));
  return { current, saves, legacy };
}

/**
 * Remove what earlier (possibly interrupted) saves left, keeping the new save `current` and the
 * previous one `keep`; `'legacy'`: the 0.1-format files (pair and `.prev` pair), removed by the save after.
 */
async function cleanUp(dir: string, current: string, keep: string | 'legacy' | null, legacy: boolean): Promise<void> {
  for (const e of await readdir(dir)) {
    if (e === POINTER || e === current || e === keep) continue;
    if (e.startsWith('.tmp-')) await rm(path.join(dir, e), { recursive: true, force: true });
    else if (SAVE_RE.test(e)) await removeTree(dir, e);
    else if (/^\.(model\.json|weights\.bin)\.tmp-/.test(e)) await rm(path.join(dir, e), { force: true });
    else if (keep !== 'legacy' && (e === 'model.json.prev' || e === 'weights.bin.prev' || (legacy && (e === 'model.json' || e === 'weights.bin')))) {
      await rm(path.join(dir, e), { force: true });
    }
  }
  await syncDir(dir);
}

/** Save `model` into directory `dir` (created if needed); see the module comment. One writer per directory at a time. */
export async function saveModel(model: PreferenceModel, dir: string): Promise<void> {
  checkModelArg(model);
  if (typeof dir !== 'string' || dir === '') throw invalidType('dir', 'a directory path', dir);
  const enc = model.encoder;
  const encoderConfig: EncoderConfig | ExternalEncoderConfig = enc.config ?? { type: 'external', input: enc.input, outputDim: enc.outputDim };
  const vars = model.variables();
  const owned = [...vars].filter(([name]) => enc.config !== null || !enc.variables.has(name));
  const weights: WeightEntry[] = [];
  let offset = 0;
  const chunks: Float32Array[] = [];
  for (const [name, v] of owned) {
    const values = Float32Array.from(v.dataSync() as Float32Array);
    weights.push({ name, shape: [...v.shape], dtype: 'float32', offset, byteLength: values.byteLength });
    offset += values.byteLength;
    chunks.push(values);
  }
  const bin = new Uint8Array(offset);
  const dv = new DataView(bin.buffer);
  let p = 0;
  for (const c of chunks) for (const x of c) {
    dv.setFloat32(p, x, true);
    p += 4;
  }
  const config: Record<string, unknown> =
    model instanceof GeneralPreferenceModel
      ? { ...model.head.config }
      : { inputDim: enc.outputDim, tau: model.tau, embeddingConstant: model.embeddingConstant, seed: model.seed };
  const body: Omit<ModelJson, 'checksum'> = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    kind: model.kind,
    config,
    encoder: encoderConfig,
    weightsFile: 'weights.bin',
    weightsByteLength: bin.byteLength,
    weightsSha256: sha256Hex(bin),
    weights,
  };
  const modelText = sealJson(body, 2);

  await mkdir(dir, { recursive: true });
  const before = await inspectDir(dir);
  const seq = Math.max(0, ...before.saves.map(saveSeq)) + 1;
  const name = `save-${String(seq).padStart(8, '0')}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(dir, tempName(name));
  try {
    await mkdir(tmp);
    await writeFileSynced(path.join(tmp, 'weights.bin'), bin);
    await writeFileSynced(path.join(tmp, 'model.json'), modelText);
    await syncDir(tmp);
    await rename(tmp, path.join(dir, name));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await syncDir(dir);
  const pointer: Omit<PointerJson, 'checksum'> = { format: MODEL_POINTER_FORMAT, version: MODEL_FORMAT_VERSION, save: name, modelJsonSha256: sha256Hex(modelText) };
  await replaceFileAtomic(path.join(dir, POINTER), sealJson(pointer)); // the commit
  // Keep the previous complete save as the fallback: the one LATEST named, else the newest other save, else a 0.1-format pair.
  const keep = before.current ?? before.saves[0] ?? (before.legacy ? 'legacy' : null);
  await cleanUp(dir, name, keep, before.legacy);
}

export interface LoadModelOptions {
  /** The encoder, required when the model was saved with a user-supplied encoder (its weights are not in the directory). Defaults to the saved built-in encoder. */
  encoder?: Encoder;
  /** When the current save is damaged, load the newest earlier save that verifies (with a warning) instead of throwing. Defaults to `true`. */
  fallback?: boolean;
  /** Receives the warning of a fallback load. Defaults to `process.emitWarning` (type `GprlWarning`, code `GPRL_MODEL_FALLBACK`). */
  onWarning?: (message: string) => void;
}

/** A save that could be loaded: its files, and what must hold for them. */
interface Candidate {
  /** How messages name it. */
  label: string;
  jsonPath: string;
  binPath: string;
  /** A `save-…` directory: `model.json` must be sealed (version 2). */
  sealed: boolean;
  /** From `LATEST`: the SHA-256 `model.json` must have. */
  expect?: { sha: string; pointerFile: string };
}

/** A problem with the arguments rather than the files: never a reason to fall back. */
class UsageError extends Error {}

/** Load a model saved by {@link saveModel}; see the module comment. Problems give an Error naming the file and what is wrong. */
export async function loadModel(dir: string, options?: LoadModelOptions): Promise<GeneralPreferenceModel | BradleyTerryModel> {
  if (typeof dir !== 'string' || dir === '') throw invalidType('dir', 'a directory path', dir);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidType('options', 'an options object', options);
  if (options?.onWarning !== undefined && typeof options.onWarning !== 'function') throw invalidType('options.onWarning', 'a function', options.onWarning);
  const fallback = options?.fallback ?? true;
  const warn = options?.onWarning ?? ((msg: string) => process.emitWarning(msg, { type: 'GprlWarning', code: 'GPRL_MODEL_FALLBACK' }));

  const pointerFile = path.join(dir, POINTER);
  const candidates: Candidate[] = [];
  let firstError: Error | null = null;
  const saves = await listSaves(dir);
  const save = (name: string, expect?: Candidate['expect']): Candidate => ({
    label: name,
    jsonPath: path.join(dir, name, 'model.json'),
    binPath: path.join(dir, name, 'weights.bin'),
    sealed: true,
    ...(expect ? { expect } : {}),
  });
  const legacy: Candidate[] = [];
  if (await exists(path.join(dir, 'model.json'))) legacy.push({ label: 'model.json', jsonPath: path.join(dir, 'model.json'), binPath: path.join(dir, 'weights.bin'), sealed: false });
  if ((await exists(path.join(dir, 'model.json.prev'))) && (await exists(path.join(dir, 'weights.bin.prev')))) {
    legacy.push({ label: 'model.json.prev', jsonPath: path.join(dir, 'model.json.prev'), binPath: path.join(dir, 'weights.bin.prev'), sealed: false });
  }
  const p = await readPointer(dir);
  if ('pointer' in p) {
    const { save: current, modelJsonSha256 } = p.pointer;
    if (!saves.includes(current)) firstError = bad(pointerFile, `names ${current}, which does not exist in ${dir}`);
    else candidates.push(save(current, { sha: modelJsonSha256, pointerFile }));
    // Fallbacks: the saves before the current one, newest first, then any that never committed.
    const others = saves.filter((s) => s !== current);
    const older = others.filter((s) => saveSeq(s) < saveSeq(current));
    candidates.push(...[...older, ...others.filter((s) => !older.includes(s))].map((s) => save(s)), ...legacy);
  } else if ('error' in p) {
    firstError = p.error;
    candidates.push(...saves.map((s) => save(s)), ...legacy);
  } else {
    // No pointer: a 0.1-format directory (or a copied save directory), or a first save that never committed.
    candidates.push(...legacy);
    if (legacy.length === 0 && saves.length > 0) firstError = bad(pointerFile, `missing: no save in ${dir} was completed`);
    candidates.push(...saves.map((s) => save(s)));
  }
  if (candidates.length === 0 && firstError === null) {
    throw bad(pointerFile, `cannot be read, and there is no model.json either: no model saved in ${dir}`);
  }
  if (firstError !== null && !fallback) throw firstError;
  const failures: string[] = [];
  for (const c of candidates) {
    try {
      const model = buildModel(await readSave(c), options?.encoder, c.jsonPath);
      if (firstError !== null) {
        warn(`gprl: loaded ${path.join(dir, c.label)} instead of the current save, which cannot be used: ${firstError.message.replace(/^gprl: /, '')}`);
      }
      return model;
    } catch (err) {
      if (err instanceof UsageError) throw new Error(err.message);
      if (firstError === null) firstError = err as Error;
      else failures.push(message(err).replace(/^gprl: /, ''));
      if (!fallback) break;
    }
  }
  const first = firstError!;
  const rest = !fallback
    ? ''
    : failures.length === 0
      ? '; no earlier complete save to fall back on'
      : `; the earlier saves are damaged too (${failures.join('; ')})`;
  throw new Error(first.message + rest);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Read and verify one save's files: checksums, format, and a manifest that tiles `weights.bin` exactly. */
async function readSave(c: Candidate): Promise<{ json: ModelJson; bin: Buffer }> {
  const { jsonPath, binPath } = c;
  let bytes: Buffer;
  try {
    bytes = await readFile(jsonPath);
  } catch (err) {
    throw bad(jsonPath, `cannot be read (${message(err)})`);
  }
  const seal: SealCheck = checkSeal(bytes);
  if (seal.status === 'mismatch') {
    throw bad(jsonPath, `checksum mismatch: the file was altered or is incomplete (${bytes.length} bytes; sha256:${seal.found} in the file, computed ${seal.computed})`);
  }
  if (c.expect && sha256Hex(bytes) !== c.expect.sha) {
    // Blame the file whose own checksum does not hold: model.json when its seal is damaged, else the pointer.
    if (seal.status !== 'valid') throw bad(jsonPath, `checksum field missing or damaged (${bytes.length} bytes, not the file ${POINTER} names)`);
    throw bad(c.expect.pointerFile, `expects ${c.label}/model.json with sha256 ${c.expect.sha}, but that intact file has sha256 ${sha256Hex(bytes)}: the pointer was altered or the file replaced`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(decodeUtf8(bytes)) as ModelJson;
  } catch (err) {
    throw bad(jsonPath, `not valid JSON, truncated or corrupt (${message(err)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad(jsonPath, 'not a JSON object');
  if (json.format !== MODEL_FORMAT) throw bad(jsonPath, `format is ${JSON.stringify(json.format)}, expected '${MODEL_FORMAT}'`);
  if (json.version === MODEL_FORMAT_VERSION) {
    if (seal.status !== 'valid') throw bad(jsonPath, `checksum field missing or damaged (version ${MODEL_FORMAT_VERSION} files carry one as their first key)`);
  } else if (json.version === 1) {
    if (c.sealed || 'checksum' in json) throw bad(jsonPath, `version 1 file where a sealed version ${MODEL_FORMAT_VERSION} file is expected: damaged or altered`);
  } else {
    throw bad(jsonPath, `format version ${JSON.stringify(json.version)} is not supported (expected ${MODEL_FORMAT_VERSION}, or 1)`);
  }
  if (json.kind !== 'gpm' && json.kind !== 'bt') throw bad(jsonPath, `kind is ${JSON.stringify(json.kind)}, expected 'gpm' or 'bt'`);
  if (json.weightsFile !== 'weights.bin') throw bad(jsonPath, `weightsFile is ${JSON.stringify(json.weightsFile)}, expected 'weights.bin'`);
  if (!Number.isSafeInteger(json.weightsByteLength) || json.weightsByteLength < 0) throw bad(jsonPath, `weightsByteLength ${JSON.stringify(json.weightsByteLength)} is not a byte count`);
  if (typeof json.weightsSha256 !== 'string' || !HEX64.test(json.weightsSha256)) throw bad(jsonPath, 'weightsSha256 missing or malformed');
  if (!Array.isArray(json.weights)) throw bad(jsonPath, 'weights manifest missing');
  checkManifest(json.weights, json.weightsByteLength, jsonPath);

  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch (err) {
    throw bad(binPath, `cannot be read (${message(err)})`);
  }
  if (bin.byteLength !== json.weightsByteLength) {
    throw bad(binPath, `${bin.byteLength < json.weightsByteLength ? 'truncated' : 'too long'}: ${bin.byteLength} bytes, ${jsonPath} expects ${json.weightsByteLength}`);
  }
  const sha = sha256Hex(bin);
  if (sha !== json.weightsSha256) {
    throw bad(binPath, `checksum mismatch (sha256 ${sha}, ${jsonPath} expects ${json.weightsSha256}): the file is corrupt or does not belong to this model.json`);
  }
  return { json, bin };
}

/**
 * Every weight a float32 array at a 4-byte-aligned offset inside `weights.bin`, stored back to back
 * in manifest order (as every version of {@link saveModel} writes them), covering the file exactly:
 * so no two weights overlap, no bytes are left over, and no two weights have traded places.
 */
function checkManifest(weights: unknown[], byteLength: number, jsonPath: string): void {
  const names = new Set<string>();
  let end = 0;
  let prev = '';
  weights.forEach((w, i) => {
    const e = w as Partial<WeightEntry> | null;
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string') throw bad(jsonPath, `weights[${i}]: name missing`);
    const label = `weight '${e.name}'`;
    if (names.has(e.name)) throw bad(jsonPath, `${label} is listed twice`);
    names.add(e.name);
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw bad(jsonPath, `${label} has shape ${JSON.stringify(e.shape)}, not a list of sizes`);
    if (e.dtype !== 'float32') throw bad(jsonPath, `${label} has dtype ${JSON.stringify(e.dtype)}, expected 'float32'`);
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (e.byteLength !== 4 * size) throw bad(jsonPath, `${label} has byteLength ${JSON.stringify(e.byteLength)}, its shape [${e.shape.join(', ')}] needs ${4 * size}`);
    const offset = e.offset;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0) throw bad(jsonPath, `${label} has offset ${JSON.stringify(offset)}, not a multiple of 4 (float32 alignment)`);
    if (offset + e.byteLength > byteLength) throw bad(jsonPath, `${label} has byte range [${offset}, ${offset + e.byteLength}) outside weights.bin (${byteLength} bytes)`);
    if (offset !== end) {
      const why = offset < end ? `it would overlap weight '${prev}'` : `bytes [${end}, ${offset}) would belong to no weight`;
      throw bad(jsonPath, `${label} starts at byte ${offset}, expected ${end}: weights are stored back to back in manifest order, ${why}`);
    }
    end = offset + e.byteLength;
    prev = e.name;
  });
  if (end !== byteLength) throw bad(jsonPath, `bytes [${end}, ${byteLength}) of weights.bin belong to no weight`);
}

/** Rebuild the encoder and model from verified files, then overwrite the initial weights with the saved ones. */
function buildModel({ json, bin }: { json: ModelJson; bin: Buffer }, userEncoder: Encoder | undefined, jsonPath: string): GeneralPreferenceModel | BradleyTerryModel {
  let encoder: Encoder;
  const ec = json.encoder as EncoderConfig | ExternalEncoderConfig | undefined;
  try {
    if (ec?.type === 'features') encoder = featureEncoder(ec.inputDim);
    else if (ec?.type === 'tokens') {
      const { type: _type, ...opts } = ec;
      encoder = tokenEncoder(resolveTokenEncoderOptions(opts));
    } else if (ec?.type === 'external') {
      if (!userEncoder) throw new UsageError(`the model was saved with a user-supplied encoder (${ec.input}, outputDim ${ec.outputDim}); pass it as options.encoder`);
      encoder = userEncoder;
      if (encoder.outputDim !== ec.outputDim) throw new UsageError(`options.encoder.outputDim is ${encoder.outputDim}, the saved head expects ${ec.outputDim}`);
    } else throw new Error(`unknown encoder type ${JSON.stringify((ec as { type?: unknown } | undefined)?.type)}`);
  } catch (err) {
    const text = `gprl: ${jsonPath}: ${message(err).replace(/^gprl: /, '')}`;
    throw err instanceof UsageError ? new UsageError(text) : new Error(text);
  }
  let model: GeneralPreferenceModel | BradleyTerryModel;
  try {
    if (json.kind === 'gpm') {
      const cfg: GpmHeadConfig = resolveHeadOptions(json.config, 'config');
      if (cfg.inputDim !== encoder.outputDim) throw new Error(`config.inputDim ${cfg.inputDim} does not match the encoder width ${encoder.outputDim}`);
      const { inputDim: _d, ...headOpts } = cfg;
      model = new GeneralPreferenceModel({ encoder, ...headOpts });
    } else {
      const c = (json.config ?? {}) as { tau?: number; embeddingConstant?: number; seed?: number };
      const opts: BradleyTerryModelOptions = { encoder };
      if (c.tau !== undefined) opts.tau = c.tau;
      if (c.embeddingConstant !== undefined) opts.embeddingConstant = c.embeddingConstant;
      if (c.seed !== undefined) opts.seed = c.seed;
      model = new BradleyTerryModel(opts);
    }
  } catch (err) {
    if (ec?.type !== 'external') encoder.dispose();
    throw bad(jsonPath, message(err).replace(/^gprl: /, ''));
  }
  try {
    const vars = model.variables();
    const expected = new Set([...vars.keys()].filter((name) => ec.type !== 'external' || !encoder.variables.has(name)));
    const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
    for (const w of json.weights) {
      const v = vars.get(w.name);
      if (!v || !expected.has(w.name)) throw bad(jsonPath, `weight ${JSON.stringify(w.name)} is not part of this model`);
      expected.delete(w.name);
      if (w.shape.length !== v.shape.length || w.shape.some((s, i) => s !== v.shape[i])) {
        throw bad(jsonPath, `weight '${w.name}' has shape [${String(w.shape)}], the model expects [${v.shape.join(', ')}]`);
      }
      const values = new Float32Array(v.size);
      for (let i = 0; i < v.size; i++) values[i] = dv.getFloat32(w.offset + 4 * i, true);
      tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
    }
    if (expected.size > 0) throw bad(jsonPath, `missing weights: ${[...expected].join(', ')}`);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
