import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint, writeCheckpoint, type CheckpointData } from '../../src/trainer/checkpoint.js';

function data(step: number, n = 5): CheckpointData {
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = step + i / 8;
  return {
    step,
    tensors: {
      policy: [{ name: 'w', shape: [n], dtype: 'float32', values }],
      optimizer: [{ name: 'iter', shape: [], dtype: 'int32', values: new Int32Array([step]) }],
    },
    state: { step, note: `step ${step}`, nested: { a: [1, 2, 3] } },
  };
}

describe('checkpoints', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gprl-ckpt-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips tensors (bit-exact) and JSON state; keeps the newest checkpoints only', async () => {
    const d = path.join(dir, 'rt');
    for (let s = 1; s <= 4; s++) await writeCheckpoint(d, data(s), { keep: 2 });
    const back = await readCheckpoint(d);
    const want = data(4);
    expect(back.step).toBe(4);
    expect(back.state).toEqual(want.state);
    expect(Array.from(back.tensors.policy![0]!.values)).toEqual(Array.from(want.tensors.policy![0]!.values));
    expect(back.tensors.optimizer![0]!.values).toBeInstanceOf(Int32Array);
    expect(back.tensors.optimizer![0]!.values[0]).toBe(4);
    expect(readdirSync(d).filter((e) => e.startsWith('ckpt-'))).toHaveLength(2);
  });

  it('a write that dies before committing leaves the previous checkpoint current; the next write cleans up', async () => {
    const d = path.join(dir, 'crash');
    await writeCheckpoint(d, data(1));
    await expect(writeCheckpoint(d, data(2), { beforeCommit: () => { throw new Error('power cut'); } })).rejects.toThrow('power cut');
    expect(readdirSync(d).some((e) => e.startsWith('.tmp-'))).toBe(true);
    expect((await readCheckpoint(d)).step).toBe(1);
    await writeCheckpoint(d, data(3));
    expect((await readCheckpoint(d)).step).toBe(3);
    expect(readdirSync(d).some((e) => e.startsWith('.tmp-'))).toBe(false);
  });

  it('a process killed while writing checkpoints in a loop leaves a loadable checkpoint', async () => {
    const d = path.join(dir, 'killed');
    const here = path.dirname(fileURLToPath(import.meta.url));
    const script = path.join(dir, 'writer.mts');
    const modUrl = new URL('../../src/trainer/checkpoint.ts', import.meta.url).href;
    writeFileSync(
      script,
      `import { writeCheckpoint } from ${JSON.stringify(modUrl)};
const n = 200000;
for (let s = 1; ; s++) {
  const values = new Float32Array(n).fill(s);
  await writeCheckpoint(${JSON.stringify(d)}, { step: s, tensors: { w: [{ name: 'w', shape: [n], dtype: 'float32', values }] }, state: { s } });
  if (s === 2) process.stdout.write('ready\\n');
}
`,
    );
    // One process (node with the tsx loader), so SIGKILL hits the writer itself.
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: path.join(here, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          if (b.toString().includes('ready')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
      });
      // Let it get into further writes, then kill it without warning.
      await new Promise((r) => setTimeout(r, 150));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const back = await readCheckpoint(d);
    expect(back.step).toBeGreaterThanOrEqual(2);
    const w = back.tensors.w![0]!.values;
    expect(w.length).toBe(200000);
    expect(w.every((x) => x === back.step)).toBe(true);
  });

  it('damaged checkpoints fail with a clear error', async () => {
    const d = path.join(dir, 'damaged');
    await expect(readCheckpoint(d)).rejects.toThrow(/no checkpoint/);
    const sub = await writeCheckpoint(d, data(1));
    const file = path.join(sub, 'weights.bin');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 4));
    await expect(readCheckpoint(d)).rejects.toThrow(/gprl: damaged checkpoint: .*weights\.bin: truncated: 20 bytes, meta\.json expects 24/);
    rmSync(path.join(sub, 'meta.json'));
    await expect(readCheckpoint(d)).rejects.toThrow(/gprl: damaged checkpoint: .*meta\.json: cannot be read/);
    expect(existsSync(sub)).toBe(true);
  });

  it('validates its inputs before writing anything', async () => {
    const d = path.join(dir, 'bad');
    const bad = data(1);
    bad.tensors.policy![0]!.shape = [4];
    await expect(writeCheckpoint(d, bad)).rejects.toThrow(/data\.tensors\.policy\[0\]/);
    await expect(writeCheckpoint(d, { ...data(1), step: -1 })).rejects.toThrow(/data\.step/);
    expect(existsSync(d)).toBe(false);
  });
});
