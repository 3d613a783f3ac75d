/**
 * Saving and loading preference models: a directory with
 * - `model.json`: format tag and version, model kind, head and encoder configuration, and a weight
 *   manifest (name, shape, dtype, byte offset, byte length per weight) with the size and SHA-256 of
 *   the binary;
 * - `weights.bin`: the weights, float32 little-endian, concatenated in manifest order.
 *
 * Writes are atomic per file (temporary file in the same directory, fsync, rename), `weights.bin`
 * first and `model.json` last; the checksum binds the two, so a directory caught between the two
 * renames fails to load with a checksum error instead of loading mismatched weights. While a save
 * replaces an existing model, the previous pair stays reachable as `model.json.prev` /
 * `weights.bin.prev` (hard links, or copies where links are not supported), removed once the new
 * pair is complete; a load that fails while they exist says how to restore them. Loading needs
 * only `node:fs` (no tfjs-node). Models with a user-supplied encoder (function or LayersModel) save
 * their head only; pass the same encoder to {@link loadModel}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, copyFile, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { tf } from '../tf.js';
import { invalidType } from '../errors.js';
import { featureEncoder, resolveTokenEncoderOptions, tokenEncoder, type Encoder, type EncoderConfig } from './encoder.js';
import { resolveHeadOptions, type GpmHeadConfig } from './head.js';
import { BradleyTerryModel, GeneralPreferenceModel, type BradleyTerryModelOptions, type PreferenceModel } from './model.js';

export const MODEL_FORMAT = 'gprl-preference-model';
export const MODEL_FORMAT_VERSION = 1;

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** Byte offset in `weights.bin`. */
  offset: number;
  /** Byte length (4 · number of values). */
  byteLength: number;
}

type ExternalEncoderConfig = { type: 'external'; input: 'tokens' | 'features'; outputDim: number };

export interface ModelJson {
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

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function checkModelArg(model: unknown): asserts model is GeneralPreferenceModel | BradleyTerryModel {
  if (!(model instanceof GeneralPreferenceModel) && !(model instanceof BradleyTerryModel)) {
    throw invalidType('model', 'a GeneralPreferenceModel or BradleyTerryModel', model);
  }
  if (model.isDisposed) throw new Error('gprl: cannot save a disposed model');
}

/** Save `model` into directory `dir` (created if needed); see the module comment. */
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
  const json: ModelJson = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    kind: model.kind,
    config,
    encoder: encoderConfig,
    weightsFile: 'weights.bin',
    weightsByteLength: bin.byteLength,
    weightsSha256: createHash('sha256').update(bin).digest('hex'),
    weights,
  };
  await mkdir(dir, { recursive: true });
  const files = ['model.json', 'weights.bin'].map((f) => path.join(dir, f));
  const prev = files.map((f) => `${f}.prev`);
  // Keep the current pair reachable until the new one is complete.
  if ((await exists(files[0]!)) && (await exists(files[1]!))) {
    for (let i = 0; i < 2; i++) {
      await rm(prev[i]!, { force: true });
      await link(files[i]!, prev[i]!).catch(() => copyFile(files[i]!, prev[i]!));
    }
  }
  await writeAtomic(files[1]!, bin);
  await writeAtomic(files[0]!, JSON.stringify(json, null, 2) + '\n');
  for (const p of prev) await rm(p, { force: true });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export interface LoadModelOptions {
  /** The encoder, required when the model was saved with a user-supplied encoder (its weights are not in the directory). Defaults to the saved built-in encoder. */
  encoder?: Encoder;
}

/** Load a model saved by {@link saveModel}. Problems give an Error naming the file and what is wrong. */
export async function loadModel(dir: string, options?: LoadModelOptions): Promise<GeneralPreferenceModel | BradleyTerryModel> {
  if (typeof dir !== 'string' || dir === '') throw invalidType('dir', 'a directory path', dir);
  const jsonPath = path.join(dir, 'model.json');
  const binPath = path.join(dir, 'weights.bin');
  const bad = (file: string, what: string): Error => new Error(`gprl: ${file}: ${what}`);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    throw bad(jsonPath, `cannot be read (${(err as Error).message})`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (err) {
    throw bad(jsonPath, `not valid JSON, truncated or corrupt (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object') throw bad(jsonPath, 'not a JSON object');
  if (json.format !== MODEL_FORMAT) throw bad(jsonPath, `format is ${JSON.stringify(json.format)}, expected '${MODEL_FORMAT}'`);
  if (json.version !== MODEL_FORMAT_VERSION) throw bad(jsonPath, `format version ${JSON.stringify(json.version)} is not supported (expected ${MODEL_FORMAT_VERSION})`);
  if (json.kind !== 'gpm' && json.kind !== 'bt') throw bad(jsonPath, `kind is ${JSON.stringify(json.kind)}, expected 'gpm' or 'bt'`);
  if (!Array.isArray(json.weights)) throw bad(jsonPath, 'weights manifest missing');
  if (!Number.isSafeInteger(json.weightsByteLength) || typeof json.weightsSha256 !== 'string') throw bad(jsonPath, 'weightsByteLength or weightsSha256 missing');

  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch (err) {
    throw bad(binPath, `cannot be read (${(err as Error).message})`);
  }
  if (bin.byteLength !== json.weightsByteLength) {
    throw bad(binPath, `${bin.byteLength < json.weightsByteLength ? 'truncated' : 'too long'}: ${bin.byteLength} bytes, model.json expects ${json.weightsByteLength}`);
  }
  const sha = createHash('sha256').update(bin).digest('hex');
  if (sha !== json.weightsSha256) {
    const hint = (await exists(`${jsonPath}.prev`)) && (await exists(`${binPath}.prev`))
      ? '; an interrupted save left the previous model as model.json.prev and weights.bin.prev: rename them to model.json and weights.bin to restore it'
      : '';
    throw bad(binPath, `checksum mismatch (sha256 ${sha}, model.json expects ${json.weightsSha256}): the file is corrupt or does not belong to this model.json${hint}`);
  }

  // Rebuild the encoder and model, then overwrite the initial weights with the saved ones.
  let encoder: Encoder;
  const ec = json.encoder as EncoderConfig | ExternalEncoderConfig | undefined;
  try {
    if (ec?.type === 'features') encoder = featureEncoder(ec.inputDim);
    else if (ec?.type === 'tokens') {
      const { type: _type, ...opts } = ec;
      encoder = tokenEncoder(resolveTokenEncoderOptions(opts));
    } else if (ec?.type === 'external') {
      if (!options?.encoder) throw new Error(`the model was saved with a user-supplied encoder (${ec.input}, outputDim ${ec.outputDim}); pass it as options.encoder`);
      encoder = options.encoder;
      if (encoder.outputDim !== ec.outputDim) throw new Error(`options.encoder.outputDim is ${encoder.outputDim}, the saved head expects ${ec.outputDim}`);
    } else throw new Error(`unknown encoder type ${JSON.stringify((ec as { type?: unknown } | undefined)?.type)}`);
  } catch (err) {
    throw bad(jsonPath, (err as Error).message.replace(/^gprl: /, ''));
  }
  let model: GeneralPreferenceModel | BradleyTerryModel;
  try {
    if (json.kind === 'gpm') {
      const cfg: GpmHeadConfig = resolveHeadOptions(json.config, 'config');
      if (cfg.inputDim !== encoder.outputDim) throw new Error(`config.inputDim ${cfg.inputDim} does not match the encoder width ${encoder.outputDim}`);
      const { inputDim: _d, ...headOpts } = cfg;
      model = new GeneralPreferenceModel({ encoder, ...headOpts });
    } else {
      const c = json.config as { tau?: number; embeddingConstant?: number; seed?: number };
      const opts: BradleyTerryModelOptions = { encoder };
      if (c.tau !== undefined) opts.tau = c.tau;
      if (c.embeddingConstant !== undefined) opts.embeddingConstant = c.embeddingConstant;
      if (c.seed !== undefined) opts.seed = c.seed;
      model = new BradleyTerryModel(opts);
    }
  } catch (err) {
    if (ec?.type !== 'external') encoder.dispose();
    throw bad(jsonPath, (err as Error).message.replace(/^gprl: /, ''));
  }
  try {
    const vars = model.variables();
    const expected = new Set([...vars.keys()].filter((name) => ec.type !== 'external' || !encoder.variables.has(name)));
    const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
    for (const w of json.weights) {
      const v = vars.get(w?.name);
      if (!v || !expected.has(w.name)) throw bad(jsonPath, `weight ${JSON.stringify(w?.name)} is not part of this model`);
      expected.delete(w.name);
      if (!Array.isArray(w.shape) || w.shape.length !== v.shape.length || w.shape.some((s, i) => s !== v.shape[i])) {
        throw bad(jsonPath, `weight '${w.name}' has shape [${String(w.shape)}], the model expects [${v.shape.join(', ')}]`);
      }
      if (w.dtype !== 'float32') throw bad(jsonPath, `weight '${w.name}' has dtype ${JSON.stringify(w.dtype)}, expected 'float32'`);
      if (!Number.isSafeInteger(w.offset) || w.offset < 0 || w.byteLength !== v.size * 4 || w.offset + w.byteLength > bin.byteLength) {
        throw bad(jsonPath, `weight '${w.name}' has byte range [${w.offset}, ${w.offset + w.byteLength}) outside weights.bin (${bin.byteLength} bytes) or of the wrong size`);
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
