/**
 * kill -9 during saves: a child process saves a model over and over into one directory and is
 * killed with SIGKILL after a seeded random delay. After every kill, loading the directory must give
 * the last complete save or the one in progress (bit for bit), or, only when no save was ever
 * completed there, a `gprl:` error; never a mixed model or a raw error. Leftovers of interrupted
 * saves stay bounded and the next save removes them.
 *
 * `GPRL_KILL_TRIES` sets the number of kills (default 30; 100 or more for a full run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTfBackend } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { GeneralPreferenceModel, featureEncoder, loadModel, saveModel } from '../../src/gpm/index.js';
import { runAndKill, saveValues } from '../killWorkload.js';

const TRIES = Math.max(1, Number(process.env.GPRL_KILL_TRIES ?? 30));
const TRIES_PER_DIR = 6;
// 196 608 weights (768 KiB): a save takes ~10 ms here, so kills land in every phase of it and the
// children complete several saves per try.
const INPUT_DIM = 512;
const DIMS = 128;
const MAX_DELAY_MS = 150;

let root: string;
beforeAll(async () => {
  await setTfBackend('cpu');
  root = await mkdtemp(path.join(os.tmpdir(), 'gprl-kill-gpm-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const src = (rel: string): string => JSON.stringify(new URL(`../../src/${rel}`, import.meta.url).href);
const CHILD = `import { tf, setTfBackend } from ${src('tf.ts')};
import { GeneralPreferenceModel } from ${src('gpm/model.ts')};
import { featureEncoder } from ${src('gpm/encoder.ts')};
import { saveModel } from ${src('gpm/persist.ts')};
import { saveValues } from ${JSON.stringify(new URL('../killWorkload.ts', import.meta.url).href)};
const [dir, first] = process.argv.slice(2);
await setTfBackend('cpu');
const model = new GeneralPreferenceModel({ encoder: featureEncoder(${INPUT_DIM}), dims: ${DIMS}, seed: 1 });
const vars = [...model.variables().values()];
process.stdout.write('start\\n');
for (let id = Number(first); ; id++) {
  vars.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(saveValues(id, i, v.size), v.shape))));
  await saveModel(model, dir);
  process.stdout.write('saved ' + id + '\\n');
}
`;

/** Which of `ids` the loaded model holds, bit for bit (null: none). */
function identify(model: GeneralPreferenceModel, ids: number[]): number | null {
  const vars = [...model.variables().values()];
  for (const id of ids) {
    const same = vars.every((v, i) => Buffer.from((v.dataSync() as Float32Array).buffer).equals(Buffer.from(saveValues(id, i, v.size).buffer)));
    if (same) return id;
  }
  return null;
}

describe('kill -9 while saving a model', () => {
  it(`every kill (${TRIES}) leaves the last complete save or the new one loadable, never a mixed model`, async () => {
    const script = path.join(root, 'saver.mts');
    await writeFile(script, CHILD);
    const rng = new Rng(9001);
    const outcomes = { lastComplete: 0, inProgress: 0, nothingSavedError: 0, withWarning: 0 };
    const failures: string[] = [];
    let maxEntries = 0;
    let savesDone = 0;
    let dir = '';
    let lastComplete: number | null = null;
    // Whether some save in this directory committed (returned, or loaded through LATEST).
    let committed = false;
    for (let t = 0; t < TRIES; t++) {
      if (t % TRIES_PER_DIR === 0) {
        dir = path.join(root, `m${t}`);
        lastComplete = null;
        committed = false;
      }
      const first = (t + 1) * 100_000;
      // The first try in a directory is killed early, often before its first save completes.
      const delay = t % TRIES_PER_DIR === 0 ? rng.uniform(0, 45) : rng.uniform(0, MAX_DELAY_MS);
      const done = await runAndKill(script, dir, first, delay);
      savesDone += done.length;
      if (done.length > 0) {
        lastComplete = done[done.length - 1]!;
        committed = true;
      }
      const inProgress = done.length > 0 ? lastComplete! + 1 : first;
      const label = `try ${t} (delay ${delay.toFixed(1)} ms, ${done.length} saves, last complete ${lastComplete}, in progress ${inProgress})`;
      const warnings: string[] = [];
      try {
        const m = (await loadModel(dir, { onWarning: (w) => warnings.push(w) })) as GeneralPreferenceModel;
        const id = identify(m, lastComplete === null ? [inProgress] : [lastComplete, inProgress]);
        m.dispose();
        // A warning (a fallback) is only legitimate while nothing was committed: a first save's
        // directory complete, LATEST not yet written.
        if (warnings.length > 0) {
          outcomes.withWarning++;
          if (committed) failures.push(`${label}: warning ${warnings[0]}`);
        } else committed = true;
        if (id === null) failures.push(`${label}: loaded a model that is neither save`);
        else if (id === lastComplete) outcomes.lastComplete++;
        else {
          // Committed just before the kill, before its 'saved' line: now the last complete save.
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
      // LATEST, the current and previous saves, and at most one of each kind of leftover of the killed save.
      if (entries.length > 6) failures.push(`${label}: ${entries.length} entries: ${entries.join(' ')}`);
      if (t % TRIES_PER_DIR === TRIES_PER_DIR - 1 || t === TRIES - 1) {
        // A complete save cleans up: LATEST and at most two saves remain.
        const m = new GeneralPreferenceModel({ encoder: featureEncoder(INPUT_DIM), dims: DIMS, seed: 1 });
        await saveModel(m, dir);
        m.dispose();
        const after = await readdir(dir);
        if (after.length > 3 || after.some((e) => e.startsWith('.'))) failures.push(`${label}: after a clean save: ${after.join(' ')}`);
      }
    }
    console.log(`model kill test: ${TRIES} kills, ${savesDone} saves completed in the children, outcomes ${JSON.stringify(outcomes)}, at most ${maxEntries} directory entries after a kill, ${failures.length} failures`);
    expect(failures).toEqual([]);
    expect(outcomes.lastComplete + outcomes.inProgress + outcomes.nothingSavedError).toBe(TRIES);
  });
});
