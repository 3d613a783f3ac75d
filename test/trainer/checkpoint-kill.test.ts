/**
 * kill -9 during checkpoint writes: a child process writes checkpoints in a loop into one
 * directory and is killed with SIGKILL after a seeded random delay. After every kill,
 * readCheckpoint must give the last complete checkpoint or the one in progress (bit for bit), or,
 * only when none was ever completed there, a `gprl:` error; never a mixed or raw-error result.
 *
 * `GPRL_KILL_TRIES` sets the number of kills (default 30; 100 or more for a full run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../src/random.js';
import { readCheckpoint, writeCheckpoint, type CheckpointData } from '../../src/trainer/checkpoint.js';
import { killTrials, saveValues } from '../killWorkload.js';

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
    const r = await killTrials({
      script,
      root,
      prefix: 'c',
      tries: TRIES,
      triesPerDir: TRIES_PER_DIR,
      rng: new Rng(4242),
      firstDelayMs: 20,
      maxDelayMs: MAX_DELAY_MS,
      load: async (dir, ids) => ({ id: identify(await readCheckpoint(dir), ids) }),
      cleanSave: (dir) => writeCheckpoint(dir, checkpoint(1)).then(() => undefined),
    });
    console.log(`checkpoint kill test: ${TRIES} kills, ${r.savesDone} checkpoints completed in the children, outcomes ${JSON.stringify(r.outcomes)}, at most ${r.maxEntries} directory entries after a kill, ${r.failures.length} failures`);
    expect(r.failures).toEqual([]);
    expect(r.outcomes.withWarning).toBe(0);
    expect(r.outcomes.lastComplete + r.outcomes.inProgress + r.outcomes.nothingSavedError).toBe(TRIES);
  });
});
