/**
 * Files: JSONL preference data, save/load of models, and reference-head interop (safetensors F32,
 * F16, BF16 and JSON) against a float64 re-implementation of the reference scoring formula.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTfBackend, tf } from '../../src/tf.js';
import { describeTf, TEST_TF_BACKENDS } from '../tfBackends.js';
import { Rng } from '../../src/random.js';
import {
  BradleyTerryModel,
  GeneralPreferenceModel,
  featureEncoder,
  functionEncoder,
  loadModel,
  loadReferenceHead,
  parsePreferencePairs,
  parseSafetensors,
  readPreferencePairs,
  referenceHeadFromJson,
  saveModel,
  tokenEncoder,
  type ModelJson,
} from '../../src/gpm/index.js';
import { sealJson } from '../../src/fs/sealedJson.js';
import { expectClose, randomMatrix, softmax } from './reference.js';
import { currentSave, writeLegacySave } from './persistHelpers.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'gprl-gpm-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('JSONL preference pairs', () => {
  it('parses token and feature lines, soft labels, blank lines; infers the kind', () => {
    const tokens = parsePreferencePairs('{"prompt":[1,2],"chosen":[3],"rejected":[4,5],"label":0.75,"id":"a"}\n\n{"prompt":[0],"chosen":[1],"rejected":[2]}\n');
    expect(tokens.kind).toBe('tokens');
    expect(tokens.pairs).toEqual([
      { prompt: [1, 2], chosen: [3], rejected: [4, 5], label: 0.75 },
      { prompt: [0], chosen: [1], rejected: [2] },
    ]);
    expect(tokens.lines).toEqual([1, 3]);
    const feats = parsePreferencePairs('{"prompt":[0.5,1],"chosen":[1,2],"rejected":[-1,0]}\r\n{"prompt":[1,1],"chosen":[2,2],"rejected":[3,3]}');
    expect(feats.kind).toBe('features');
    expect(feats.featureDim).toBe(2);
    expect(feats.pairs).toHaveLength(2);
  });

  it('rejects a bad line with its line number (throw) or skips and reports every bad line (skip)', () => {
    const text = [
      '{"prompt":[1],"chosen":[2],"rejected":[3]}',
      '{"prompt":[1],"chosen":[2],"rejected":[3]', // truncated JSON
      '{"prompt":[1],"chosen":[2]}', // missing field
      '{"prompt":[1],"chosen":[2.5],"rejected":[3]}', // non-integer token
      '{"prompt":[1],"chosen":[2],"rejected":[3],"label":2}', // label out of range
      '[1,2,3]', // not an object
      '{"prompt":[1],"chosen":[-1],"rejected":[3]}', // negative id
      '{"prompt":[4],"chosen":[5],"rejected":[6]}',
    ].join('\n');
    expect(() => parsePreferencePairs(text)).toThrow(/gprl: JSONL line 2: not valid JSON/);
    expect(() => parsePreferencePairs(text, { source: 'prefs.jsonl' })).toThrow(/prefs\.jsonl line 2/);
    const r = parsePreferencePairs(text, { onInvalid: 'skip', kind: 'tokens' });
    expect(r.pairs).toHaveLength(2);
    expect(r.lines).toEqual([1, 8]);
    expect(r.invalid.map((i) => i.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(r.invalid[1]!.reason).toMatch(/rejected/);
    expect(r.invalid[2]!.reason).toMatch(/chosen\[0\]: expected an integer >= 0, got 2\.5/);
    expect(r.invalid[3]!.reason).toMatch(/label: expected a number in \[0, 1\], got 2/);
    expect(() => parsePreferencePairs('{"prompt":[1],"chosen":[7],"rejected":[3]}', { vocabSize: 5 })).toThrow(/line 1: invalid chosen\[0\]: expected an integer in \[0, 5\), got 7/);
  });

  it('features: wrong widths and NaN-like values are rejected with the line number, never used', () => {
    const text = [
      '{"prompt":[0.5,1],"chosen":[1,2],"rejected":[3,4]}',
      '{"prompt":[0.5,1],"chosen":[1,2,3],"rejected":[3,4]}',
      '{"prompt":[0.5,1],"chosen":[1,null],"rejected":[3,4]}',
      '{"prompt":[0.5,1],"chosen":[1,"NaN"],"rejected":[3,4]}',
    ].join('\n');
    expect(() => parsePreferencePairs(text, { kind: 'features' })).toThrow(/line 2: invalid chosen\.length: expected 2 \(the feature width\), got 3/);
    const r = parsePreferencePairs(text, { kind: 'features', onInvalid: 'skip' });
    expect(r.pairs).toHaveLength(1);
    expect(r.invalid.map((i) => i.line)).toEqual([2, 3, 4]);
    expect(() => parsePreferencePairs(text, { kind: 'features', featureDim: 3 })).toThrow(/line 1/);
  });

  it('UTF-8: a byte order mark is skipped; invalid UTF-8 is a bad line with its number, never replaced', async () => {
    const d = await tempDir();
    const line = (extra = ''): Buffer => Buffer.from(`{"prompt":[1],"chosen":[2],"rejected":[3]${extra}}`);
    const bomFile = path.join(d, 'bom.jsonl');
    await writeFile(bomFile, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), line(), Buffer.from('\r\n'), line(), Buffer.from('\n')]));
    const bom = await readPreferencePairs(bomFile);
    expect(bom.pairs).toHaveLength(2);
    expect(bom.invalid).toEqual([]);
    expect(parsePreferencePairs('\ufeff{"prompt":[1],"chosen":[2],"rejected":[3]}').pairs).toHaveLength(1);

    // Line 3: a Latin-1 "é" inside an ignored key (it would parse as JSON after replacement);
    // line 4: genuine U+FFFD and "é" in UTF-8 (valid); line 5: an overlong "/"; line 6: a sequence cut off at the end of the file.
    const head = '{"prompt":[1],"chosen":[2],"rejected":[3],"note":"';
    const bad = path.join(d, 'bad-utf8.jsonl');
    await writeFile(
      bad,
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        line(), Buffer.from('\n'),
        line(), Buffer.from('\r\n'),
        Buffer.from(`${head}caf`), Buffer.from([0xe9]), Buffer.from('"}\n'),
        Buffer.from(`${head}\ufffd caf\u00e9"}\n`),
        Buffer.from(head), Buffer.from([0xc0, 0xaf]), Buffer.from('"}\n'),
        Buffer.from(`${head}x"}`), Buffer.from([0xc3]),
      ]),
    );
    const esc = bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const col = `${head}caf`.length + 1;
    await expect(readPreferencePairs(bad)).rejects.toThrow(new RegExp(`^gprl: ${esc} line 3: not valid UTF-8 \\(byte ${col} of the line: 0xe9 0x22 0x7d\\)$`));
    const r = await readPreferencePairs(bad, { onInvalid: 'skip' });
    expect(r.lines).toEqual([1, 2, 4]);
    expect(r.invalid.map((i) => i.line)).toEqual([3, 5, 6]);
    expect(r.invalid.every((i) => /^not valid UTF-8 \(byte \d+ of the line: 0x/.test(i.reason))).toBe(true);
    expect(r.invalid[1]!.reason).toMatch(/0xc0 0xaf/);
    expect(r.invalid[2]!.reason).toMatch(/: 0xc3\)$/);
  });

  it('readPreferencePairs names the file; the bundled example file parses cleanly', async () => {
    const d = await tempDir();
    const f = path.join(d, 'bad.jsonl');
    await writeFile(f, '{"prompt":[1],"chosen":[2],"rejected":[3]}\n{oops}\n');
    await expect(readPreferencePairs(f)).rejects.toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} line 2`));
    const bundled = await readPreferencePairs(path.join(import.meta.dirname, '../../examples/data/prefs.jsonl'), { kind: 'tokens' });
    expect(bundled.invalid).toEqual([]);
    expect(bundled.pairs.length).toBeGreaterThanOrEqual(100);
  });
});

// ---------------------------------------------------------------------------------------------
// Safetensors writer (test-side, independent of src): values chosen exactly representable in F16
// and BF16 (multiples of 1/64 in [-2, 2]), so the float64 reference sees the same numbers.

function toHalf(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** e - 1) * 1024);
  if (frac >= 1024 || e < -14 || e > 15) throw new Error(`not exactly representable as normal F16: ${v}`);
  return sign | ((e + 15) << 10) | frac;
}

function writeSafetensors(tensors: Record<string, { shape: number[]; data: number[] }>, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  const size = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] };
    offset += t.data.length * size;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  const f32 = new DataView(new ArrayBuffer(4));
  for (const t of Object.values(tensors)) {
    for (const v of t.data) {
      if (dtype === 'F32') dv.setFloat32(p, v, true);
      else if (dtype === 'F16') dv.setUint16(p, toHalf(v), true);
      else {
        f32.setFloat32(0, v, true);
        dv.setUint16(p, f32.getUint32(0, true) >>> 16, true);
      }
      p += size;
    }
  }
  return out;
}

/**
 * Float64 re-implementation of the reference scoring: e = normalize(W_v h) (PyTorch layout
 * [2k, d], F.normalize with eps 1e-12), block-diagonal R with R[2l,2l+1] = −λ_l, R[2l+1,2l] = λ_l,
 * λ = softmax(W_λ h(x)) (or k·softmax(W_λ h(x)/√d), or 1 without a prompt head), score eᵢᵀ Rᵀ eⱼ.
 */
function referenceScore(
  valueW: number[][],
  promptW: number[][] | null,
  gate: 'softmax' | 'scaled-softmax',
  hx: number[],
  hi: number[],
  hj: number[],
): number {
  const twoK = valueW.length;
  const k = twoK / 2;
  const embed = (h: number[]): number[] => {
    const e = valueW.map((row) => row.reduce((a, w, c) => a + w * h[c]!, 0));
    const n = Math.sqrt(e.reduce((a, v) => a + v * v, 0));
    return e.map((v) => v / Math.max(n, 1e-12));
  };
  let lam: number[];
  if (!promptW) lam = new Array<number>(k).fill(1);
  else {
    const z = promptW.map((row) => row.reduce((a, w, c) => a + w * hx[c]!, 0));
    lam = gate === 'softmax' ? softmax(z) : softmax(z.map((v) => v / Math.sqrt(hx.length))).map((v) => v * k);
  }
  const R = Array.from({ length: twoK }, () => new Array<number>(twoK).fill(0));
  for (let l = 0; l < k; l++) {
    R[2 * l]![2 * l + 1] = -lam[l]!;
    R[2 * l + 1]![2 * l] = lam[l]!;
  }
  const ei = embed(hi);
  const ej = embed(hj);
  // transformed = eᵢ · Rᵀ (row vector), result = transformed · eⱼ
  const transformed = Array.from({ length: twoK }, (_, c) => ei.reduce((a, v, r) => a + v * R[c]![r]!, 0));
  return transformed.reduce((a, v, c) => a + v * ej[c]!, 0);
}

describeTf.each(TEST_TF_BACKENDS)('GPM files on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  it.each(['F32', 'F16', 'BF16'] as const)('reference head from safetensors (%s) scores exactly as the reference formula', async (dtype) => {
    const rng = new Rng(31);
    const d = 6;
    const k = 3;
    const grid = (): number => Math.round(rng.uniform(-2, 2) * 64) / 64 || 1 / 64;
    const valueW = Array.from({ length: 2 * k }, () => Array.from({ length: d }, grid));
    const promptW = Array.from({ length: k }, () => Array.from({ length: d }, grid));
    const bytes = writeSafetensors(
      { 'value_head.weight': { shape: [2 * k, d], data: valueW.flat() }, 'prompt_head.weight': { shape: [k, d], data: promptW.flat() } },
      dtype,
    );
    const parsed = parseSafetensors(bytes);
    expect(parsed.get('value_head.weight')!.shape).toEqual([2 * k, d]);
    expect(Array.from(parsed.get('prompt_head.weight')!.data)).toEqual(promptW.flat());
    const file = path.join(await tempDir(), `head-${dtype}.safetensors`);
    await writeFile(file, bytes);
    const hx = randomMatrix(rng, 5, d);
    const hi = randomMatrix(rng, 5, d);
    const hj = randomMatrix(rng, 5, d);
    for (const gate of ['softmax', 'scaled-softmax'] as const) {
      const head = await loadReferenceHead(file, { gate });
      expect(head.config).toMatchObject({ inputDim: d, dims: k, gate, l2Normalize: true, tau: 0.1 });
      const want = hx.map((x, n) => referenceScore(valueW, promptW, gate, x, hi[n]!, hj[n]!));
      // float32 evaluation of O(1) scores: 1e-5 relative, 1e-6 absolute near 0.
      expectClose(head.scoreFeatures(hx, hi, hj), want, 1e-5, 1e-6, `${dtype} ${gate} scores`);
      head.dispose();
    }
  });

  it('reference head from a checkpoint directory of shards: only the heads are read, across shards', async () => {
    const rng = new Rng(33);
    const d = 8;
    const k = 2;
    const grid = (): number => Math.round(rng.uniform(-2, 2) * 64) / 64 || 1 / 64;
    const valueW = Array.from({ length: 2 * k }, () => Array.from({ length: d }, grid));
    const promptW = Array.from({ length: k }, () => Array.from({ length: d }, grid));
    const dir = await tempDir();
    const big = Array.from({ length: 64 * d }, grid);
    await writeFile(
      path.join(dir, 'model-00001-of-00002.safetensors'),
      writeSafetensors({ 'model.embed_tokens.weight': { shape: [64, d], data: big }, 'prompt_head.weight': { shape: [k, d], data: promptW.flat() } }, 'BF16'),
    );
    await writeFile(
      path.join(dir, 'model-00002-of-00002.safetensors'),
      writeSafetensors({ 'model.norm.weight': { shape: [d], data: new Array<number>(d).fill(1) }, 'value_head.weight': { shape: [2 * k, d], data: valueW.flat() } }, 'BF16'),
    );
    await writeFile(path.join(dir, 'config.json'), '{}');
    const head = await loadReferenceHead(dir);
    expect(head.config).toMatchObject({ inputDim: d, dims: k, gate: 'softmax' });
    const hx = randomMatrix(rng, 4, d);
    const hi = randomMatrix(rng, 4, d);
    const hj = randomMatrix(rng, 4, d);
    expectClose(head.scoreFeatures(hx, hi, hj), hx.map((x, n) => referenceScore(valueW, promptW, 'softmax', x, hi[n]!, hj[n]!)), 1e-5, 1e-6, 'sharded');
    head.dispose();
    // A shard cut short is reported even when the heads themselves are intact.
    const cut = path.join(dir, 'model-00001-of-00002.safetensors');
    const bytes = await readFile(cut);
    await writeFile(cut, bytes.subarray(0, bytes.length - 10));
    await expect(loadReferenceHead(dir)).rejects.toThrow(/model-00001-of-00002\.safetensors: truncated: tensor 'prompt_head\.weight' ends at data byte/);
    const empty = await tempDir();
    await expect(loadReferenceHead(empty)).rejects.toThrow(/no \.safetensors files in the directory/);
  });

  it('reference head from JSON, and without a prompt head (λ = 1); bad files give clear errors', async () => {
    const rng = new Rng(32);
    const d = 4;
    const valueW = randomMatrix(rng, 4, d);
    const promptW = randomMatrix(rng, 2, d);
    const hx = randomMatrix(rng, 3, d);
    const hi = randomMatrix(rng, 3, d);
    const hj = randomMatrix(rng, 3, d);
    const dir = await tempDir();
    const file = path.join(dir, 'head.json');
    await writeFile(file, JSON.stringify({ 'value_head.weight': valueW, 'prompt_head.weight': promptW }));
    const head = await loadReferenceHead(file);
    expectClose(head.scoreFeatures(hx, hi, hj), hx.map((x, n) => referenceScore(valueW, promptW, 'softmax', x, hi[n]!, hj[n]!)), 1e-5, 1e-6, 'JSON');
    head.dispose();
    const noGate = referenceHeadFromJson({ 'value_head.weight': valueW });
    expect(noGate.config.gate).toBe('none');
    expectClose(noGate.scoreFeatures(hx, hi, hj), hx.map((x, n) => referenceScore(valueW, null, 'softmax', x, hi[n]!, hj[n]!)), 1e-5, 1e-6, 'no gate');
    // A GPM around the imported head, with precomputed features.
    const model = GeneralPreferenceModel.fromHead(noGate, featureEncoder(d));
    expectClose(model.scores(hx, hi, hj), hx.map((x, n) => referenceScore(valueW, null, 'softmax', x, hi[n]!, hj[n]!)), 1e-5, 1e-6, 'model');
    model.dispose();

    const good = writeSafetensors({ 'value_head.weight': { shape: [4, d], data: valueW.flat().map((v) => Math.round(v * 64) / 64) } }, 'F32');
    expect(() => parseSafetensors(good.subarray(0, good.length - 3), 'x.safetensors')).toThrow(/gprl: x\.safetensors: truncated: tensor 'value_head\.weight' ends at data byte 64/);
    expect(() => parseSafetensors(good.subarray(0, 5), 'x.safetensors')).toThrow(/truncated: 5 bytes/);
    const hdrLen = Number(new DataView(good.buffer).getBigUint64(0, true));
    expect(() => parseSafetensors(good.subarray(0, 8 + hdrLen - 2), 'x.safetensors')).toThrow(/header length \d+ exceeds/);
    const i8 = new TextDecoder().decode(good).replace('"F32"', '"I8" ');
    expect(() => parseSafetensors(new TextEncoder().encode(i8), 'x.safetensors')).toThrow(/unsupported dtype "I8"/);
    const mismatch = writeSafetensors(
      { 'value_head.weight': { shape: [4, d], data: new Array<number>(4 * d).fill(0.5) }, 'prompt_head.weight': { shape: [2, d + 1], data: new Array<number>(2 * (d + 1)).fill(0.5) } },
      'F32',
    );
    const mf = path.join(dir, 'mismatch.safetensors');
    await writeFile(mf, mismatch);
    await expect(loadReferenceHead(mf)).rejects.toThrow(/mismatch\.safetensors: prompt_head\.weight has shape \[2, 5\]; expected \[2, 4\]/);
    const odd = writeSafetensors({ 'value_head.weight': { shape: [3, d], data: new Array<number>(3 * d).fill(0.5) } }, 'F32');
    expect(() => parseSafetensors(odd)).not.toThrow();
    const of = path.join(dir, 'odd.safetensors');
    await writeFile(of, odd);
    await expect(loadReferenceHead(of)).rejects.toThrow(/value_head\.weight has 3 rows; expected an even number/);
    const missing = writeSafetensors({ 'score.weight': { shape: [1, d], data: new Array<number>(d).fill(0.5) } }, 'F32');
    const msf = path.join(dir, 'missing.safetensors');
    await writeFile(msf, missing);
    await expect(loadReferenceHead(msf)).rejects.toThrow(/no 'value_head\.weight' tensor \(found: score\.weight\)/);
  });

  it('save → load gives identical scores (token GPM, feature BT); model.json carries the manifest and checksum', async () => {
    const dir = await tempDir();
    const gpm = new GeneralPreferenceModel({
      encoder: tokenEncoder({ vocabSize: 13, embeddingDim: 5, hiddenDim: 4, pooling: 'attention', activation: 'gelu', seed: 3 }),
      dims: 2,
      gate: 'scaled-softmax',
      tau: 0.2,
      seed: 4,
    });
    const prompts = [[1, 2], [3], [4, 5, 6]];
    const a = [[7], [8, 9], [10, 11, 12]];
    const b = [[0, 1], [2], [3, 3]];
    const before = gpm.scores(prompts, a, b);
    await saveModel(gpm, path.join(dir, 'gpm'));
    // The directory: LATEST (a sealed pointer) and one save directory holding the pair.
    const entries = (await readdir(path.join(dir, 'gpm'))).sort();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toBe('LATEST');
    expect(entries[1]).toMatch(/^save-00000001-[0-9a-f]{8}$/);
    const pointer = JSON.parse(await readFile(path.join(dir, 'gpm', 'LATEST'), 'utf8')) as { save: string; modelJsonSha256: string; checksum: string };
    expect(pointer.save).toBe(entries[1]);
    const saveDir = path.join(dir, 'gpm', pointer.save);
    expect((await readdir(saveDir)).sort()).toEqual(['model.json', 'weights.bin']);
    const jsonBytes = await readFile(path.join(saveDir, 'model.json'));
    expect(pointer.modelJsonSha256).toBe(createHash('sha256').update(jsonBytes).digest('hex'));
    const json = JSON.parse(jsonBytes.toString('utf8')) as ModelJson;
    expect(json.version).toBe(2);
    expect(json.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    const bin = await readFile(path.join(saveDir, 'weights.bin'));
    expect(json.weightsSha256).toBe(createHash('sha256').update(bin).digest('hex'));
    expect(json.weights.map((w) => w.name).sort()).toEqual([...gpm.variables().keys()].sort());
    let end = 0;
    for (const w of json.weights) {
      expect(w.offset).toBe(end);
      expect(w.byteLength).toBe(4 * w.shape.reduce((x, y) => x * y, 1));
      end += w.byteLength;
    }
    expect(end).toBe(bin.length);
    const loaded = await loadModel(path.join(dir, 'gpm'));
    expect(loaded).toBeInstanceOf(GeneralPreferenceModel);
    expect(loaded.tau).toBe(0.2);
    expect(Array.from(loaded.scores(prompts, a, b))).toEqual(Array.from(before));
    expect(Array.from(loaded.eigenvalues(prompts))).toEqual(Array.from(gpm.eigenvalues(prompts)));
    loaded.dispose();
    gpm.dispose();

    const bt = new BradleyTerryModel({ encoder: featureEncoder(3), tau: 0.3, embeddingConstant: 2, seed: 9 });
    const x = [[1, 2, 3], [0, -1, 0.5]];
    await saveModel(bt, path.join(dir, 'bt'));
    // Saving again over an existing model makes a new save, keeps the previous one as the fallback,
    // and leaves no temporary files.
    await saveModel(bt, path.join(dir, 'bt'));
    await saveModel(bt, path.join(dir, 'bt'));
    expect((await readdir(path.join(dir, 'bt'))).sort()).toEqual(['LATEST', expect.stringMatching(/^save-00000002-/), expect.stringMatching(/^save-00000003-/)]);
    const bt2 = await loadModel(path.join(dir, 'bt'));
    expect(bt2).toBeInstanceOf(BradleyTerryModel);
    expect(Array.from((bt2 as BradleyTerryModel).rewards(x, x))).toEqual(Array.from(bt.rewards(x, x)));
    expect((bt2 as BradleyTerryModel).embeddingConstant).toBe(2);
    bt2.dispose();
    bt.dispose();
  });

  it('truncated, corrupt or mismatched files fail to load with an Error naming the file and the problem', async () => {
    const dir = await tempDir();
    const model = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 1 });
    const src = path.join(dir, 'm');
    await saveModel(model, src);
    const saved = path.join(src, await currentSave(src));
    const jsonText = await readFile(path.join(saved, 'model.json'), 'utf8');
    const bin = await readFile(path.join(saved, 'weights.bin'));
    // A directory holding the pair directly (a copied save directory; no LATEST, so no fallback).
    const variant = async (name: string, json: string, weights: Uint8Array): Promise<string> => {
      const d = path.join(dir, name);
      await mkdir(d);
      await writeFile(path.join(d, 'model.json'), json);
      await writeFile(path.join(d, 'weights.bin'), weights);
      return d;
    };
    const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

    const intact = await loadModel(await variant('copy', jsonText, bin));
    expect(Array.from(intact.scores([[1, 2, 3]], [[0, 1, 0]], [[2, 0, 1]]))).toEqual(Array.from(model.scores([[1, 2, 3]], [[0, 1, 0]], [[2, 0, 1]])));
    intact.dispose();

    const truncated = await variant('truncated', jsonText, bin.subarray(0, bin.length - 4));
    await expect(loadModel(truncated)).rejects.toThrow(new RegExp(`${esc(path.join(truncated, 'weights.bin'))}: truncated: ${bin.length - 4} bytes, ${esc(path.join(truncated, 'model.json'))} expects ${bin.length}`));

    const flipped = Uint8Array.from(bin);
    flipped[5]! ^= 0xff;
    const corrupt = await variant('corrupt', jsonText, flipped);
    await expect(loadModel(corrupt)).rejects.toThrow(/weights\.bin: checksum mismatch/);

    // Weights of another model with the same size.
    const other = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 2 });
    const od = path.join(dir, 'other');
    await saveModel(other, od);
    other.dispose();
    const mixed = await variant('mixed', jsonText, await readFile(path.join(od, await currentSave(od), 'weights.bin')));
    await expect(loadModel(mixed)).rejects.toThrow(/checksum mismatch .* does not belong to this model\.json/);

    const halfJson = await variant('halfjson', jsonText.slice(0, jsonText.length / 2), bin);
    await expect(loadModel(halfJson)).rejects.toThrow(new RegExp(`${esc(path.join(halfJson, 'model.json'))}: checksum mismatch: the file was altered or is incomplete`));

    const j = JSON.parse(jsonText) as ModelJson;
    // Any edit of model.json breaks its own checksum ...
    const edited = await variant('edited', JSON.stringify({ ...j, config: { ...j.config, tau: 0.9 } }, null, 2) + '\n', bin);
    await expect(loadModel(edited)).rejects.toThrow(/model\.json: checksum mismatch/);
    // ... and a re-sealed file is still checked against the model and weights.bin.
    const reseal = (o: ModelJson): string => {
      const { checksum: _c, ...body } = o;
      return sealJson(body, 2);
    };
    const wrongShape = await variant('shape', reseal({ ...j, weights: j.weights.map((w) => (w.name === 'head.value' ? { ...w, shape: [4, 3] } : w)) }), bin);
    await expect(loadModel(wrongShape)).rejects.toThrow(/model\.json: weight 'head\.value' has shape \[4,3\], the model expects \[3, 4\]/);
    const wrongDims = await variant('dims', reseal({ ...j, config: { ...j.config, dims: 3 } }), bin);
    await expect(loadModel(wrongDims)).rejects.toThrow(/model\.json: weight 'head\.value' has shape/);
    const missing = await variant('missing', reseal({ ...j, weights: j.weights.filter((w) => w.name !== 'head.prompt') }), bin);
    await expect(loadModel(missing)).rejects.toThrow(/bytes \[\d+, \d+\) of weights\.bin belong to no weight/);
    const wrongFormat = await variant('format', reseal({ ...j, format: 'something-else' as ModelJson['format'] }), bin);
    await expect(loadModel(wrongFormat)).rejects.toThrow(/format is "something-else"/);
    const unsealed = await variant('unsealed', JSON.stringify({ ...j, checksum: undefined }), bin);
    await expect(loadModel(unsealed)).rejects.toThrow(/model\.json: checksum field missing or damaged/);
    await expect(loadModel(path.join(dir, 'nope'))).rejects.toThrow(/LATEST: cannot be read, and there is no model\.json either/);
    // Failed loads leave no tensors behind (checked after each test).
    model.dispose();
  });

  it('an interrupted 0.1-format save (new weights.bin, old model.json) loads the previous model by itself; the next save converts the directory', async () => {
    const dir = await tempDir();
    const a = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 1 });
    const b = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 2 });
    const x = [[1, 0, 2]];
    const y = [[0, 1, -1]];
    // The state a 0.1 saveModel(b, dir) over a 0.1 save of a was in after its first rename: the
    // previous pair linked aside, weights.bin already replaced, model.json not yet.
    await writeLegacySave(a, dir);
    await copyFile(path.join(dir, 'model.json'), path.join(dir, 'model.json.prev'));
    await copyFile(path.join(dir, 'weights.bin'), path.join(dir, 'weights.bin.prev'));
    const bDir = path.join(await tempDir(), 'b');
    await writeLegacySave(b, bDir);
    await copyFile(path.join(bDir, 'weights.bin'), path.join(dir, 'weights.bin'));
    await writeFile(path.join(dir, '.weights.bin.tmp-123-abcd'), 'leftover');
    await expect(loadModel(dir, { fallback: false })).rejects.toThrow(/weights\.bin: checksum mismatch .* does not belong to this model\.json$/);
    const warnings: string[] = [];
    const restored = await loadModel(dir, { onWarning: (m) => warnings.push(m) });
    expect(Array.from(restored.scores(x, x, y))).toEqual(Array.from(a.scores(x, x, y)));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/loaded .*model\.json\.prev instead of the current save, which cannot be used: .*weights\.bin: checksum mismatch/);
    restored.dispose();
    // A complete save converts the directory: leftovers go at once, the 0.1 files (the previous
    // model, as the fallback) with the save after.
    await saveModel(b, dir);
    expect((await readdir(dir)).sort()).toEqual(['LATEST', 'model.json', 'model.json.prev', expect.stringMatching(/^save-00000001-/), 'weights.bin', 'weights.bin.prev']);
    await saveModel(b, dir);
    expect((await readdir(dir)).sort()).toEqual(['LATEST', expect.stringMatching(/^save-00000001-/), expect.stringMatching(/^save-00000002-/)]);
    const back = await loadModel(dir);
    expect(Array.from(back.scores(x, x, y))).toEqual(Array.from(b.scores(x, x, y)));
    back.dispose();
    a.dispose();
    b.dispose();
  });

  it('a model with a user-supplied encoder saves its head; loading needs the encoder', async () => {
    const dir = await tempDir();
    const enc = functionEncoder((x) => tf.mul(x, 2) as tf.Tensor2D, { input: 'features', inputDim: 2, outputDim: 2 });
    const model = new GeneralPreferenceModel({ encoder: enc, dims: 1, seed: 5 });
    await saveModel(model, dir);
    await expect(loadModel(dir)).rejects.toThrow(/user-supplied encoder .* pass it as options\.encoder/);
    const loaded = await loadModel(dir, { encoder: enc });
    expect(Array.from(loaded.scores([[1, 0]], [[1, 2]], [[2, -1]]))).toEqual(Array.from(model.scores([[1, 0]], [[1, 2]], [[2, -1]])));
    loaded.dispose();
    model.dispose();
  });
});
