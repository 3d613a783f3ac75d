/**
 * Model directories: one atomic commit per save (a save directory and the sealed LATEST pointer),
 * fallback to the last complete save, cleanup of interrupted saves, validation of the weight
 * manifest (alignment, bounds, overlap, coverage), and reading the gprl 0.1 layout.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTfBackend, tf } from '../../src/tf.js';
import { GeneralPreferenceModel, featureEncoder, functionEncoder, loadModel, saveModel, type ModelJson } from '../../src/gpm/index.js';
import { sealJson } from '../../src/fs/sealedJson.js';
import { currentSave, weightBits } from './persistHelpers.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'v1');
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'gprl-persist-'));
  dirs.push(d);
  return d;
}
beforeAll(async () => {
  await setTfBackend('cpu');
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(0);
});

const model = (seed: number): GeneralPreferenceModel => new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed });

/** Load `dir`, collecting warnings; returns the bits of the loaded weights. */
async function load(dir: string): Promise<{ bits: Record<string, number[]>; warnings: string[] }> {
  const warnings: string[] = [];
  const m = await loadModel(dir, { onWarning: (w) => warnings.push(w) });
  const bits = weightBits(m);
  m.dispose();
  return { bits, warnings };
}

async function flipByte(file: string, at: number): Promise<void> {
  const b = await readFile(file);
  b[at]! ^= 0x10;
  await writeFile(file, b);
}

describe('model directories', () => {
  it('a damaged current save falls back to the previous complete one, with a warning; without fallback it throws naming the file', async () => {
    const dir = path.join(await tempDir(), 'm');
    const a = model(1);
    const b = model(2);
    await saveModel(a, dir);
    const first = await currentSave(dir);
    await saveModel(b, dir);
    const second = await currentSave(dir);
    expect(second).not.toBe(first);
    expect((await load(dir)).bits).toEqual(weightBits(b));
    await flipByte(path.join(dir, second, 'weights.bin'), 3);

    const { bits, warnings } = await load(dir);
    expect(bits).toEqual(weightBits(a));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`loaded ${path.join(dir, first)} instead of the current save`);
    expect(warnings[0]).toContain(`${path.join(dir, second, 'weights.bin')}: checksum mismatch`);
    await expect(loadModel(dir, { fallback: false })).rejects.toThrow(`gprl: ${path.join(dir, second, 'weights.bin')}: checksum mismatch`);

    // The default warning goes through process.emitWarning.
    const emitted = new Promise<Error>((resolve) => process.once('warning', resolve));
    const m = await loadModel(dir);
    const w = await emitted;
    expect(w.name).toBe('GprlWarning');
    expect((w as Error & { code?: string }).code).toBe('GPRL_MODEL_FALLBACK');
    m.dispose();

    // Both damaged: the error names the current save's file and says the earlier one is damaged too.
    await flipByte(path.join(dir, first, 'model.json'), 200);
    await expect(loadModel(dir)).rejects.toThrow(
      new RegExp(`^gprl: ${esc(path.join(dir, second, 'weights.bin'))}: checksum mismatch .*; the earlier saves are damaged too \\(${esc(path.join(dir, first, 'model.json'))}: checksum mismatch`),
    );
    // The next save starts over cleanly.
    await saveModel(a, dir);
    expect((await load(dir)).bits).toEqual(weightBits(a));
    a.dispose();
    b.dispose();
  });

  it('interrupted saves (partial temporary directory, uncommitted save, partial pointer) leave the last complete save current; the next save removes the leftovers', async () => {
    const root = await tempDir();
    const dir = path.join(root, 'm');
    const a = model(1);
    const b = model(2);
    const c = model(3);
    await saveModel(a, dir);
    const good = await currentSave(dir);
    // Leftovers of saves of b killed at different points, twice in a row.
    const other = path.join(root, 'other');
    await saveModel(b, other);
    const bSave = await currentSave(other);
    await mkdir(path.join(dir, '.tmp-save-00000002-0badcafe-77-1234abcd'));
    await writeFile(path.join(dir, '.tmp-save-00000002-0badcafe-77-1234abcd', 'weights.bin'), (await readFile(path.join(other, bSave, 'weights.bin'))).subarray(0, 10));
    await cp(path.join(other, bSave), path.join(dir, 'save-00000003-0badcafe'), { recursive: true });
    await writeFile(path.join(dir, '.tmp-LATEST-78-5678abcd'), '{"checksum":"sha256:');
    const before = await load(dir);
    expect(before.bits).toEqual(weightBits(a));
    expect(before.warnings).toEqual([]);
    // A save of c commits and cleans up: LATEST, the new save, the previous complete one.
    await saveModel(c, dir);
    const entries = (await readdir(dir)).sort();
    expect(entries).toEqual(['LATEST', good, await currentSave(dir)].sort());
    expect(await currentSave(dir)).toMatch(/^save-00000004-/);
    expect((await load(dir)).bits).toEqual(weightBits(c));
    a.dispose();
    b.dispose();
    c.dispose();
  });

  it('a damaged or missing pointer: the newest save that verifies loads, with a warning', async () => {
    const dir = path.join(await tempDir(), 'm');
    const a = model(1);
    const b = model(2);
    await saveModel(a, dir);
    await saveModel(b, dir);
    const cur = await currentSave(dir);
    const pointer = await readFile(path.join(dir, 'LATEST'), 'utf8');
    await flipByte(path.join(dir, 'LATEST'), pointer.indexOf('save-') + 8);
    let r = await load(dir);
    expect(r.bits).toEqual(weightBits(b));
    expect(r.warnings[0]).toMatch(/LATEST: checksum mismatch: the file was altered or is incomplete/);
    await expect(loadModel(dir, { fallback: false })).rejects.toThrow(`gprl: ${path.join(dir, 'LATEST')}: checksum mismatch`);
    // A pointer re-sealed with another model.json hash: LATEST is blamed, the earlier save loads.
    const p = JSON.parse(pointer) as Record<string, unknown>;
    const { checksum: _c, ...body } = p;
    await writeFile(path.join(dir, 'LATEST'), sealJson({ ...body, modelJsonSha256: '0'.repeat(64) }));
    r = await load(dir);
    expect(r.bits).toEqual(weightBits(a));
    expect(r.warnings[0]).toContain(`${path.join(dir, 'LATEST')}: expects ${cur}/model.json with sha256 ${'0'.repeat(64)}`);
    await writeFile(path.join(dir, 'LATEST'), sealJson({ ...body, save: 'save-00000009-00000000' }));
    r = await load(dir);
    expect(r.bits).toEqual(weightBits(b));
    expect(r.warnings[0]).toMatch(/LATEST: names save-00000009-00000000, which does not exist/);
    await rm(path.join(dir, 'LATEST'));
    r = await load(dir);
    expect(r.bits).toEqual(weightBits(b));
    expect(r.warnings[0]).toMatch(/LATEST: missing: no save .* was completed/);
    a.dispose();
    b.dispose();
  });

  it('a missing encoder is a usage error: no fallback', async () => {
    const dir = path.join(await tempDir(), 'm');
    const enc = functionEncoder((x) => tf.mul(x, 2) as tf.Tensor2D, { input: 'features', inputDim: 2, outputDim: 2 });
    const a = new GeneralPreferenceModel({ encoder: enc, dims: 1, seed: 5 });
    await saveModel(a, dir);
    await saveModel(a, dir);
    const warnings: string[] = [];
    await expect(loadModel(dir, { onWarning: (w) => warnings.push(w) })).rejects.toThrow(/user-supplied encoder .* pass it as options\.encoder$/);
    expect(warnings).toEqual([]);
    a.dispose();
  });
});

describe('weight manifest validation (offsets, lengths)', () => {
  const cases: [string, (j: ModelJson) => void, RegExp][] = [
    ['offset 0 → 7 (misaligned)', (j) => void (j.weights[0]!.offset = 7), /weight 'encoder\.tokenEmbedding' has offset 7, not a multiple of 4/],
    ['offset 0 → 8', (j) => void (j.weights[0]!.offset = 8), /weight 'encoder\.tokenEmbedding' starts at byte 8, expected 0: .* bytes \[0, 8\) would belong to no weight/],
    ['offset 84 → 80 (overlap)', (j) => void (j.weights[1]!.offset = 80), /weight 'encoder\.segmentEmbedding' starts at byte 80, expected 84: .* it would overlap weight 'encoder\.tokenEmbedding'/],
    ['two weights trading places', (j) => void ([j.weights[0]!.offset, j.weights[1]!.offset] = [24, 0]), /weight 'encoder\.tokenEmbedding' starts at byte 24, expected 0/],
    ['last weight moved past the end', (j) => void (j.weights[5]!.offset = 240), /weight 'head\.prompt' has byte range \[240, 272\) outside weights\.bin \(268 bytes\)/],
    ['offset negative', (j) => void (j.weights[2]!.offset = -4), /weight 'encoder\.dense\.kernel' has offset -4/],
    ['offset not a number', (j) => void ((j.weights[2] as unknown as Record<string, unknown>).offset = '108'), /has offset "108"/],
    ['byteLength 48 → 44', (j) => void (j.weights[2]!.byteLength = 44), /weight 'encoder\.dense\.kernel' has byteLength 44, its shape \[3, 4\] needs 48/],
    ['shape and byteLength shrunk together (gap)', (j) => void ((j.weights[3]!.shape = [3]), (j.weights[3]!.byteLength = 12)), /weight 'head\.value' starts at byte 172, expected 168/],
    ['last weight dropped', (j) => void j.weights.pop(), /bytes \[236, 268\) of weights\.bin belong to no weight/],
    ['a weight listed twice', (j) => void j.weights.push({ ...j.weights[0]! }), /weight 'encoder\.tokenEmbedding' is listed twice/],
    ['a name changed', (j) => void (j.weights[4]!.name = 'head.valeu'), /weight "head\.valeu" is not part of this model/],
    ['dtype', (j) => void ((j.weights[1] as unknown as Record<string, unknown>).dtype = 'float16'), /has dtype "float16", expected 'float32'/],
    ['weightsByteLength', (j) => void (j.weightsByteLength = 264), /outside weights\.bin \(264 bytes\)/],
  ];

  it('the 0.1-format fixtures load bit for bit (backward compatibility)', async () => {
    for (const kind of ['gpm', 'bt']) {
      const d = path.join(await tempDir(), kind);
      await cp(path.join(FIXTURES, kind), d, { recursive: true });
      const expected = JSON.parse(await readFile(path.join(d, 'expected.json'), 'utf8')) as { variables: Record<string, number[]> };
      const m = await loadModel(d);
      const bits = weightBits(m);
      for (const [name, values] of Object.entries(expected.variables)) {
        expect(bits[name], name).toEqual(Array.from(new Uint32Array(Float32Array.from(values).buffer)));
      }
      expect(Object.keys(bits).sort()).toEqual(Object.keys(expected.variables).sort());
      m.dispose();
    }
  });

  it.each(cases)('0.1-format model.json: %s is rejected naming model.json', async (_name, edit, want) => {
    const d = path.join(await tempDir(), 'gpm');
    await cp(path.join(FIXTURES, 'gpm'), d, { recursive: true });
    const j = JSON.parse(await readFile(path.join(d, 'model.json'), 'utf8')) as ModelJson;
    edit(j);
    await writeFile(path.join(d, 'model.json'), JSON.stringify(j, null, 2) + '\n');
    const err = await loadModel(d).then(
      (m) => {
        m.dispose();
        return null;
      },
      (e: Error) => e,
    );
    expect(err, 'loaded silently').not.toBeNull();
    expect(err!.message).toMatch(new RegExp(`^gprl: ${esc(path.join(d, 'model.json'))}: `));
    expect(err!.message).toMatch(want);
  });

  it.each(cases)('version 2: %s breaks the checksum; re-sealed, the same check rejects it', async (_name, edit, want) => {
    const root = await tempDir();
    const fixture = await loadModel(path.join(FIXTURES, 'gpm'));
    const dir = path.join(root, 'v2');
    await saveModel(fixture, dir);
    fixture.dispose();
    const save = path.join(dir, await currentSave(dir));
    const j = JSON.parse(await readFile(path.join(save, 'model.json'), 'utf8')) as ModelJson;
    expect(j.version).toBe(2);
    edit(j);
    await writeFile(path.join(save, 'model.json'), JSON.stringify(j, null, 2) + '\n');
    await expect(loadModel(dir)).rejects.toThrow(new RegExp(`^gprl: ${esc(path.join(save, 'model.json'))}: checksum mismatch`));
    // Re-sealed (a deliberate edit, not damage), as a plain pair directory.
    const pair = path.join(root, 'pair');
    await mkdir(pair);
    const { checksum: _c, ...body } = j;
    await writeFile(path.join(pair, 'model.json'), sealJson(body, 2));
    await cp(path.join(save, 'weights.bin'), path.join(pair, 'weights.bin'));
    const err = await loadModel(pair).then(
      (m) => {
        m.dispose();
        return null;
      },
      (e: Error) => e,
    );
    expect(err, 'loaded silently').not.toBeNull();
    expect(err!.message).toMatch(want);
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
