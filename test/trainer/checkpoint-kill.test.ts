/**
 * kill -9 during checkpoint writes: a child process writes checkpoints in a loop into one
 * directory and is killed with SIGKILL after a seeded random delay. After every kill,
 * readCheckpoint must give the last complete checkpoint or the one in progress (bit for bit), or,
 * only when none was ever completed there, a `gprl:` error; never a mixed or raw-error result.
 *
 * `GPRL_KILL_TRIES` sets the number of kills (default 30; 100 or more for a full run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../src/random.js';
import { readCheckpoint, writeCheckpoint, type CheckpointData } from '../../src/trainer/checkpoint.js';
import { runAndKill, saveValues } from '../killWorkload.js';

const TRIES = Math.max(1, Number(process.env.GPRL_KILL_TRIES ?? 30));
const TRIES_PER_DIR = 6;
const N = 200_000;
const MAX_DELAY_MS = 120;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gprl-kill-ckpt-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Checkpoint number `id`: float and int tensors and state that all say which one it is. */
function checkpoint(id: number): CheckpointData {
  return {
    step: id,
    tensors: {
      policy: [{ name: 'w', shape: [N / 1000, 1000], dtype: 'float32', values: saveValues(id, 0, N) }],
      optimizer: [{ name: 'iter', shape: [], dtype: 'int32', values: new Int32Array([id]) }],
    },
    state: { id, lr: 0.001, note: `checkpoint ${id}` },
  };
}

const CHILD = `import { writeCheckpoint } from ${JSON.stringify(new URL('../../src/trainer/checkpoint.ts', import.meta.url).href)};
import { saveValues } from ${JSON.stringify(new URL('../killWorkload.ts', import.meta.url).href)};
const [dir, first] = process.argv.slice(2);
const N = ${N};
process.stdout.write('start\\n');
for (let id = Number(first); ; id++) {
  await writeCheckpoint(dir, {
    step: id,
    tensors: {
      policy: [{ name: 'w', shape: [N / 1000, 1000], dtype: 'float32', values: saveValues(id, 0, N) }],
      optimizer: [{ name: 'iter', shape: [], dtype: 'int32', values: new Int32Array([id]) }],
    },
    state: { id, lr: 0.001, note: 'checkpoint ' + id },
  });
  process.stdout.write('saved ' + id + '\\n');
}
`;

/** Which of `ids` the checkpoint is, bit for bit (null: none). */
function identify(c: CheckpointData, ids: number[]): number | null {
  for (const id of ids) {
    const want = checkpoint(id);
    const w = c.tensors.policy?.[0];
    const it = c.tensors.optimizer?.[0];
    const same =
      c.step === id &&
      JSON.stringify(c.state) === JSON.stringify(want.state) &&
      w?.values instanceof Float32Array &&
      JSON.stringify(w.shape) === JSON.stringify(want.tensors.policy![0]!.shape) &&
      Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength).equals(Buffer.from(want.tensors.policy![0]!.values.buffer)) &&
      it?.values instanceof Int32Array &&
      it.values.length === 1 &&
      it.values[0] === id;
    if (same) return id;
  }
  return null;
}

describe('kill -9 while writing checkpoints', () => {
  it(`every kill (${TRIES}) leaves the last complete checkpoint or the new one readable, never a mixed one`, async () => {
    const script = path.join(root, 'writer.mts');
    await writeFile(script, CHILD);
    const rng = new Rng(4242);
    const outcomes = { lastComplete: 0, inProgress: 0, nothingSavedError: 0 };
    const failures: string[] = [];
    let maxEntries = 0;
    let written = 0;
    let dir = '';
    let lastComplete: number | null = null;
    for (let t = 0; t < TRIES; t++) {
      if (t % TRIES_PER_DIR === 0) {
        dir = path.join(root, `c${t}`);
        lastComplete = null;
      }
      const first = (t + 1) * 100_000;
      const delay = t % TRIES_PER_DIR === 0 ? rng.uniform(0, 20) : rng.uniform(0, MAX_DELAY_MS);
      const done = await runAndKill(script, dir, first, delay);
      written += done.length;
      if (done.length > 0) lastComplete = done[done.length - 1]!;
      const inProgress = done.length > 0 ? lastComplete! + 1 : first;
      const label = `try ${t} (delay ${delay.toFixed(1)} ms, ${done.length} written, last complete ${lastComplete}, in progress ${inProgress})`;
      try {
        const c = await readCheckpoint(dir);
        const id = identify(c, lastComplete === null ? [inProgress] : [lastComplete, inProgress]);
        if (id === null) failures.push(`${label}: read a checkpoint that is neither (step ${c.step})`);
        else if (id === lastComplete) outcomes.lastComplete++;
        else {
          outcomes.inProgress++;
          lastComplete = id;
        }
      } catch (err) {
        const msg = (err as Error).message;
        if (lastComplete === null && /^gprl: /.test(msg)) outcomes.nothingSavedError++;
        else failures.push(`${label}: ${msg}`);
      }
      const entries = await readdir(dir).catch(() => [] as string[]);
      maxEntries = Math.max(maxEntries, entries.length);
      // LATEST, keep = 2 checkpoints, and at most one of each kind of leftover of the killed write.
      if (entries.length > 6) failures.push(`${label}: ${entries.length} entries: ${entries.join(' ')}`);
      if (t % TRIES_PER_DIR === TRIES_PER_DIR - 1 || t === TRIES - 1) {
        await writeCheckpoint(dir, checkpoint(1));
        const after = await readdir(dir);
        if (after.length > 3 || after.some((e) => e.startsWith('.'))) failures.push(`${label}: after a clean write: ${after.join(' ')}`);
      }
    }
    console.log(`checkpoint kill test: ${TRIES} kills, ${written} checkpoints completed in the children, outcomes ${JSON.stringify(outcomes)}, at most ${maxEntries} directory entries after a kill, ${failures.length} failures`);
    expect(failures).toEqual([]);
    expect(outcomes.lastComplete + outcomes.inProgress + outcomes.nothingSavedError).toBe(TRIES);
  });
});
