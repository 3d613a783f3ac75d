/**
 * Loading a GPM head exported by the public reference implementation (general-preference-model).
 *
 * Its layout is two bias-free `nn.Linear` weights in PyTorch orientation:
 * - `value_head.weight` `[2k, d]`: embedding `e = W h` from the last hidden state of the response
 *   sequence, then `F.normalize(e, p=2, dim=-1)` = `e / max(‖e‖₂, 1e-12)` over all `2k` values;
 * - `prompt_head.weight` `[k, d]` (optional): `λ = softmax(W h(x))` from the hidden state at the
 *   end of the prompt (a later revision uses `k · softmax(W h(x) / √d)`: pass
 *   `gate: 'scaled-softmax'`).
 * Its score is `eᵢᵀ Rᵀ eⱼ` with the block-diagonal `R`, `R[2l, 2l+1] = −λ_l`, `R[2l+1, 2l] = λ_l`,
 * which expands to `Σ_l λ_l (a_l(i) b_l(j) − b_l(i) a_l(j))`: the convention of design §2.1, so the
 * head transfers as is (our weights are the transposes: `[d, 2k]`, `[d, k]`). Without a prompt
 * head the reference uses `R` with ±1 entries, i.e. λ = 1: gate `'none'`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assertKnownKeys, assertOneOf, assertOptionsObject, invalidType } from '../errors.js';
import { GpmHead, type GateKind } from './head.js';
import { parseSafetensors, parseSafetensorsHeader, readSafetensors, safetensorsNames, type SafetensorsTensor } from './safetensors.js';

export interface ReferenceHeadOptions {
  /** Temperature τ > 0. Defaults to `0.1`. */
  tau?: number;
  /** Gate when `prompt_head.weight` is present: `'softmax'` or `'scaled-softmax'`. Without a prompt head the gate is always `'none'`. Defaults to `'softmax'`. */
  gate?: Exclude<GateKind, 'none'>;
  /** L2-normalize embeddings, as the reference does. Defaults to `true`. */
  l2Normalize?: boolean;
}

/** The JSON form: `{"value_head.weight": [[...], ...], "prompt_head.weight": [[...], ...]}`. */
export type ReferenceHeadJson = Record<string, number[][]>;

interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

function transpose(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) out[c * m.rows + r] = m.data[r * m.cols + c] as number;
  return out;
}

function buildHead(value: Matrix, prompt: Matrix | undefined, options: ReferenceHeadOptions | undefined, source: string): GpmHead {
  const o: ReferenceHeadOptions = options ?? {};
  assertOptionsObject('options', options);
  assertKnownKeys('options', options as Record<string, unknown> | undefined, ['tau', 'gate', 'l2Normalize']);
  if (o.gate !== undefined) assertOneOf('options.gate', o.gate, ['softmax', 'scaled-softmax']);
  const fail = (what: string): Error => new Error(`gprl: ${source}: ${what}`);
  if (value.rows % 2 !== 0 || value.rows === 0) throw fail(`value_head.weight has ${value.rows} rows; expected an even number 2k > 0`);
  const k = value.rows / 2;
  const d = value.cols;
  for (const [name, m] of [['value_head.weight', value], ['prompt_head.weight', prompt]] as const) {
    if (m && !m.data.every(Number.isFinite)) throw fail(`${name} contains non-finite values`);
  }
  if (prompt && (prompt.rows !== k || prompt.cols !== d)) {
    throw fail(`prompt_head.weight has shape [${prompt.rows}, ${prompt.cols}]; expected [${k}, ${d}] (k = value_head rows / 2, d = value_head columns)`);
  }
  const gate: GateKind = prompt ? (o.gate ?? 'softmax') : 'none';
  const headOpts = { inputDim: d, dims: k, gate, l2Normalize: o.l2Normalize ?? true, tau: o.tau ?? 0.1 };
  return new GpmHead(headOpts, prompt ? { value: transpose(value), prompt: transpose(prompt) } : { value: transpose(value) });
}

const HEAD_TENSORS = ['value_head.weight', 'prompt_head.weight'] as const;

function headFromTensors(tensors: Map<string, SafetensorsTensor>, options: ReferenceHeadOptions | undefined, source: string, found: readonly string[]): GpmHead {
  const get = (name: string): Matrix | undefined => {
    const t = tensors.get(name);
    if (!t) return undefined;
    if (t.shape.length !== 2) throw new Error(`gprl: ${source}: ${name} has shape [${t.shape.join(', ')}]; expected a matrix`);
    return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: t.data };
  };
  const value = get('value_head.weight');
  if (!value) throw new Error(`gprl: ${source}: no 'value_head.weight' tensor (found: ${found.slice(0, 8).join(', ') || 'none'}${found.length > 8 ? ', …' : ''})`);
  return buildHead(value, get('prompt_head.weight'), options, source);
}

/** A head from safetensors bytes (`value_head.weight`, optional `prompt_head.weight`; F32, F16, BF16 or F64). */
export function referenceHeadFromSafetensors(bytes: Uint8Array, options?: ReferenceHeadOptions, source = 'safetensors'): GpmHead {
  const tensors = parseSafetensors(bytes, source, HEAD_TENSORS);
  return headFromTensors(tensors, options, source, [...parseSafetensorsHeader(bytes, bytes.length, source).keys()]);
}

/** A head from the JSON form (nested arrays in PyTorch orientation). */
export function referenceHeadFromJson(json: ReferenceHeadJson, options?: ReferenceHeadOptions, source = 'JSON'): GpmHead {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw invalidType('json', 'an object with value_head.weight', json);
  const get = (name: string): Matrix | undefined => {
    const rows = json[name];
    if (rows === undefined) return undefined;
    if (!Array.isArray(rows) || rows.length === 0 || !rows.every((r) => Array.isArray(r))) throw new Error(`gprl: ${source}: ${name} is not a non-empty array of rows`);
    const cols = (rows[0] as number[]).length;
    const data = new Float32Array(rows.length * cols);
    rows.forEach((r, i) => {
      if (r.length !== cols) throw new Error(`gprl: ${source}: ${name} row ${i} has ${r.length} values; expected ${cols}`);
      r.forEach((v, j) => {
        if (typeof v !== 'number') throw new Error(`gprl: ${source}: ${name}[${i}][${j}] is not a number`);
        data[i * cols + j] = v;
      });
    });
    return { rows: rows.length, cols, data };
  };
  const value = get('value_head.weight');
  if (!value) throw new Error(`gprl: ${source}: no 'value_head.weight' entry (found: ${Object.keys(json).join(', ') || 'none'})`);
  return buildHead(value, get('prompt_head.weight'), options, source);
}

/**
 * Load a reference head from a `.json` file, a `.safetensors` file, or a directory of
 * `*.safetensors` shards (a checkpoint directory: the heads are looked up across all shards, as the
 * reference pipeline merges them). Only the headers and the two head tensors are read, so large
 * checkpoint shards are not loaded.
 */
export async function loadReferenceHead(path: string, options?: ReferenceHeadOptions): Promise<GpmHead> {
  if (typeof path !== 'string') throw invalidType('path', 'a file or directory path', path);
  const info = await stat(path);
  if (info.isDirectory()) {
    const shards = (await readdir(path)).filter((f) => f.endsWith('.safetensors')).sort();
    if (shards.length === 0) throw new Error(`gprl: ${path}: no .safetensors files in the directory`);
    const tensors = new Map<string, SafetensorsTensor>();
    const names: string[] = [];
    for (const shard of shards) {
      const file = join(path, shard);
      for (const [name, t] of await readSafetensors(file, HEAD_TENSORS)) tensors.set(name, t);
      names.push(...(await safetensorsNames(file)));
    }
    return headFromTensors(tensors, options, path, names);
  }
  if (path.toLowerCase().endsWith('.json')) {
    const bytes = await readFile(path);
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new Error(`gprl: ${path}: not valid JSON (${(err as Error).message})`);
    }
    return referenceHeadFromJson(json as ReferenceHeadJson, options, path);
  }
  const tensors = await readSafetensors(path, HEAD_TENSORS);
  return headFromTensors(tensors, options, path, tensors.has('value_head.weight') ? [] : await safetensorsNames(path));
}
