/**
 * Checkpoint integrity: meta.json is covered by its own checksum (and LATEST binds it), the tensor
 * index is validated against the shapes and weights.bin, and every damaged file gives a `gprl:`
 * error naming the file. The corruption matrix truncates every file at several points, flips single
 * bits at several positions and edits metadata fields: nothing may load silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readCheckpoint, writeCheckpoint, type CheckpointData } from '../../src/trainer/checkpoint.js';
import { sealJson } from '../../src/fs/sealedJson.js';
import { damages, type JsonEdit } from '../gpm/damage.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gprl-ckpt-integrity-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function data(step: number): CheckpointData {
  return {
    step,
    tensors: {
      policy: [
        { name: 'w', shape: [4], dtype: 'float32', values: new Float32Array([step, 0.5, -1.25, 3]) },
        { name: 'b', shape: [2, 3], dtype: 'float32', values: new Float32Array([1, 2, 3, 4, 5, step]) },
      ],
      optimizer: [{ name: 'iter', shape: [], dtype: 'int32', values: new Int32Array([step]) }],
    },
    state: { config: { lr: 0.001, beta: 0.04 }, step, rng: { s: [1, 2, 3, 4], spare: null } },
  };
}

/** A canonical, bitwise view of checkpoint data. */
function view(c: CheckpointData): string {
  const tensors = Object.entries(c.tensors).map(([g, list]) => [g, list.map((t) => [t.name, t.shape, t.dtype, Array.from(new Uint32Array(t.values.buffer, t.values.byteOffset, t.values.length))])]);
  return JSON.stringify({ step: c.step, state: c.state, tensors });
}

async function latestName(dir: string): Promise<string> {
  return (await readFile(path.join(dir, 'LATEST'), 'utf8')).split(/[ \n]/)[0]!;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('checkpoint metadata integrity', () => {
  // The edits from the reliability issue: loaded silently (lr, step, length) or failed with raw errors (the rest).
  const edits: [string, (text: string) => string, RegExp][] = [
    ['lr 0.001 → 0.009', (t) => t.replace('"lr":0.001', '"lr":0.009'), /meta\.json: checksum mismatch/],
    ['step 5 → 7', (t) => t.replace('"step":5', '"step":7'), /meta\.json: checksum mismatch/],
    ['tensor length 4 → 3', (t) => t.replace('"shape":[4],"dtype":"float32","offset":0,"length":4', '"shape":[4],"dtype":"float32","offset":0,"length":3'), /meta\.json: checksum mismatch/],
    ['tensors → null', (t) => t.replace(/"tensors":\[.*?\],"weightsBytes"/, '"tensors":null,"weightsBytes"'), /meta\.json: checksum mismatch/],
    ['offset far out of bounds', (t) => t.replace('"offset":16', '"offset":1600'), /meta\.json: checksum mismatch/],
  ];

  it.each(edits)('an edited meta.json (%s) fails naming meta.json', async (_name, edit, want) => {
    const dir = path.join(root, `edit-${_name.replace(/\W+/g, '-')}`);
    const sub = await writeCheckpoint(dir, data(5));
    const file = path.join(sub, 'meta.json');
    const text = await readFile(file, 'utf8');
    const edited = edit(text);
    expect(edited).not.toBe(text);
    await writeFile(file, edited);
    await expect(readCheckpoint(dir)).rejects.toThrow(new RegExp(`^gprl: damaged checkpoint: ${esc(file)}: `));
    await expect(readCheckpoint(dir)).rejects.toThrow(want);
  });

  // Re-sealed edits (deliberate, not damage): the structure is still checked.
  const structural: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ['tensor length 4 → 3', (m) => void (tensorsOf(m)[0]!.length = 3), /tensor 'policy\/w' has length 3, its shape \[4\] holds 4 values/],
    ['shape [4] → [5]', (m) => void (tensorsOf(m)[0]!.shape = [5]), /tensor 'policy\/w' has length 4, its shape \[5\] holds 5 values/],
    ['tensors → null', (m) => void (m.tensors = null), /tensors is not a list/],
    ['offset far out of bounds', (m) => void (tensorsOf(m)[1]!.offset = 1600), /tensor 'policy\/b' has byte range \[1600, 1624\) outside weights\.bin \(44 bytes\)/],
    ['offset misaligned', (m) => void (tensorsOf(m)[1]!.offset = 18), /tensor 'policy\/b' has offset 18, not a multiple of 4/],
    ['offset overlapping', (m) => void (tensorsOf(m)[1]!.offset = 12), /tensor 'policy\/b' starts at byte 12, expected 16: .* it would overlap tensor 'policy\/w'/],
    ['tensors trading places', (m) => void ([tensorsOf(m)[0]!.offset, tensorsOf(m)[1]!.offset] = [24, 0]), /tensor 'policy\/w' starts at byte 24, expected 0/],
    ['weightsBytes + 4', (m) => void ((m.weightsBytes as number) += 4), /bytes \[44, 48\) of weights\.bin belong to no tensor/],
    ['dtype', (m) => void (tensorsOf(m)[2]!.dtype = 'float64'), /tensor 'optimizer\/iter' has dtype "float64"/],
    ['name missing', (m) => void delete tensorsOf(m)[2]!.name, /tensors\[2\]: group or name missing/],
    ['step negative', (m) => void (m.step = -1), /step is -1, not a non-negative integer/],
    ['state', (m) => void (m.state = 'x'), /state is not a JSON object/],
    ['version 3', (m) => void (m.version = 3), /version 3 is not supported/],
  ];
  type T = { name?: string; shape: number[]; offset: number; length: number; dtype: string };
  const tensorsOf = (m: Record<string, unknown>): T[] => m.tensors as T[];

  it.each(structural)('a re-sealed meta.json with %s fails naming meta.json', async (_name, edit, want) => {
    const dir = path.join(root, `sealed-${_name.replace(/\W+/g, '-')}`);
    const sub = await writeCheckpoint(dir, data(5));
    const file = path.join(sub, 'meta.json');
    const m = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    delete m.checksum;
    edit(m);
    const text = sealJson(m);
    await writeFile(file, text);
    // LATEST binds the old meta.json: as written, it is blamed ...
    await expect(readCheckpoint(dir)).rejects.toThrow(new RegExp(`^gprl: damaged checkpoint: ${esc(path.join(dir, 'LATEST'))}: expects .*meta\\.json with sha256`));
    // ... and pointed at the new one, the structure check names meta.json.
    await writeFile(path.join(dir, 'LATEST'), `${path.basename(sub)} ${createHash('sha256').update(text).digest('hex')}\n`);
    await expect(readCheckpoint(dir)).rejects.toThrow(new RegExp(`^gprl: damaged checkpoint: ${esc(file)}: `));
    await expect(readCheckpoint(dir)).rejects.toThrow(want);
  });

  it('version 1 checkpoints (no checksum of meta.json, LATEST with the name only) still load, with the structure checks', async () => {
    const dir = path.join(root, 'v1');
    const d = data(3);
    const weights = Buffer.alloc(44);
    const tensors: Record<string, unknown>[] = [];
    let offset = 0;
    for (const [group, list] of Object.entries(d.tensors)) {
      for (const t of list) {
        t.values.forEach((v, i) => (t.dtype === 'float32' ? weights.writeFloatLE(v, offset + 4 * i) : weights.writeInt32LE(v, offset + 4 * i)));
        tensors.push({ group, name: t.name, shape: t.shape, dtype: t.dtype, offset, length: t.values.length });
        offset += 4 * t.values.length;
      }
    }
    const meta = { format: 'gprl-checkpoint', version: 1, step: 3, state: d.state, tensors, weightsBytes: 44, weightsSha256: createHash('sha256').update(weights).digest('hex') };
    const name = 'ckpt-00000003-1-1700000000000-0';
    await mkdir(path.join(dir, name), { recursive: true });
    await writeFile(path.join(dir, name, 'weights.bin'), weights);
    await writeFile(path.join(dir, name, 'meta.json'), JSON.stringify(meta));
    await writeFile(path.join(dir, 'LATEST'), `${name}\n`);
    expect(view(await readCheckpoint(dir))).toBe(view(d));
    (meta.tensors[0] as { length: number }).length = 3;
    await writeFile(path.join(dir, name, 'meta.json'), JSON.stringify(meta));
    await expect(readCheckpoint(dir)).rejects.toThrow(/meta\.json: tensor 'policy\/w' has length 3, its shape \[4\] holds 4 values/);
    // A newer write converts: the next checkpoint is version 2.
    await writeCheckpoint(dir, data(4));
    const cur = path.join(dir, await latestName(dir));
    expect((JSON.parse(await readFile(path.join(cur, 'meta.json'), 'utf8')) as { version: number }).version).toBe(2);
    expect(view(await readCheckpoint(dir))).toBe(view(data(4)));
  });

  it('the error names other checkpoints to resume from, and writing one into LATEST works', async () => {
    const dir = path.join(root, 'hint');
    await writeCheckpoint(dir, data(1));
    const prev = await latestName(dir);
    const sub = await writeCheckpoint(dir, data(2));
    await writeFile(path.join(sub, 'weights.bin'), 'x');
    await expect(readCheckpoint(dir)).rejects.toThrow(`(other checkpoints in '${dir}': ${prev}; to resume from one, write its name into LATEST)`);
    await writeFile(path.join(dir, 'LATEST'), `${prev}\n`);
    expect(view(await readCheckpoint(dir))).toBe(view(data(1)));
  });
});

describe('corrupted checkpoint directories', () => {
  const META_EDITS: JsonEdit[] = [
    ['state.config.lr', (o) => void (((o.state as Record<string, unknown>).config as Record<string, number>).lr = 0.009)],
    ['step + 2', (o) => void ((o.step as number) += 2)],
    ['state.rng', (o) => void (((o.state as Record<string, unknown>).rng as { s: number[] }).s[0] = 9)],
    ['tensors[0].length − 1', (o) => void ((o.tensors as { length: number }[])[0]!.length -= 1)],
    ['tensors[0].shape', (o) => void ((o.tensors as { shape: number[] }[])[0]!.shape = [2, 2])],
    ['tensors[1].offset + 4', (o) => void ((o.tensors as { offset: number }[])[1]!.offset += 4)],
    ['tensors[1].offset 16 → 17', (o) => void ((o.tensors as { offset: number }[])[1]!.offset = 17)],
    ['tensors[0].name', (o) => void ((o.tensors as { name: string }[])[0]!.name = 'v')],
    ['tensors[2].group', (o) => void ((o.tensors as { group: string }[])[2]!.group = 'policy')],
    ['tensors[2].dtype', (o) => void ((o.tensors as { dtype: string }[])[2]!.dtype = 'float32')],
    ['tensors → null', (o) => void (o.tensors = null)],
    ['weightsBytes − 4', (o) => void ((o.weightsBytes as number) -= 4)],
    ['weightsSha256', (o) => void (o.weightsSha256 = '0'.repeat(64))],
    ['version 2 → 1', (o) => void (o.version = 1)],
    ['checksum removed', (o) => void delete o.checksum],
    ['format', (o) => void (o.format = 'other')],
  ];

  it('every damage is an error naming the damaged file, or (damage to the older checkpoint) the identical current checkpoint', async () => {
    const dir = path.join(root, 'matrix');
    await writeCheckpoint(dir, data(5));
    const prev = await latestName(dir);
    await writeCheckpoint(dir, data(6));
    const cur = await latestName(dir);
    expect((await readdir(dir)).sort()).toEqual(['LATEST', prev, cur].sort());
    const want = view(data(6));
    const files: { rel: string; json: boolean; needed: boolean }[] = [
      { rel: 'LATEST', json: false, needed: true },
      { rel: `${cur}/meta.json`, json: true, needed: true },
      { rel: `${cur}/weights.bin`, json: false, needed: true },
      { rel: `${prev}/meta.json`, json: true, needed: false },
      { rel: `${prev}/weights.bin`, json: false, needed: false },
    ];
    const tally = { cases: 0, errors: 0, identical: 0 };
    const failures: string[] = [];
    for (const [fi, f] of files.entries()) {
      const file = path.join(dir, f.rel);
      const original = await readFile(file);
      for (const d of damages(original, { seed: 700 + fi, edits: f.json ? META_EDITS : [] })) {
        const label = `${f.rel}: ${d.what}`;
        await writeFile(file, d.bytes);
        tally.cases++;
        try {
          const got = view(await readCheckpoint(dir));
          if (got !== want) failures.push(`${label}: loaded a different checkpoint`);
          // Only damage the read does not need may leave the load unaffected; for LATEST, a newline cut off.
          else if (f.needed && !(f.rel === 'LATEST' && d.bytes.toString() === original.toString().trimEnd())) failures.push(`${label}: loaded silently`);
          else tally.identical++;
        } catch (err) {
          const msg = (err as Error).message;
          if (!msg.startsWith('gprl: damaged checkpoint: ') || !msg.includes(file)) failures.push(`${label}: ${msg}`);
          else if (!f.needed) failures.push(`${label}: damage to the older checkpoint broke the load: ${msg}`);
          else tally.errors++;
        }
      }
      await writeFile(file, original);
    }
    console.log(`checkpoint corruption cases: ${JSON.stringify(tally)}`);
    expect(failures).toEqual([]);
    expect(tally.cases).toBeGreaterThan(100);
  });
});
