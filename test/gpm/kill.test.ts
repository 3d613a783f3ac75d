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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTfBackend } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { GeneralPreferenceModel, featureEncoder, loadModel, saveModel } from '../../src/gpm/index.js';
import { killTrials, saveValues } from '../killWorkload.js';

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
    const r = await killTrials({
      script,
      root,
      prefix: 'm',
      tries: TRIES,
      triesPerDir: TRIES_PER_DIR,
      rng: new Rng(9001),
      firstDelayMs: 45,
      maxDelayMs: MAX_DELAY_MS,
      load: async (dir, ids) => {
        const warnings: string[] = [];
        const m = (await loadModel(dir, { onWarning: (w) => warnings.push(w) })) as GeneralPreferenceModel;
        const id = identify(m, ids);
        m.dispose();
        return warnings.length > 0 ? { id, warning: warnings[0]! } : { id };
      },
      cleanSave: async (dir) => {
        const m = new GeneralPreferenceModel({ encoder: featureEncoder(INPUT_DIM), dims: DIMS, seed: 1 });
        await saveModel(m, dir);
        m.dispose();
      },
    });
    console.log(`model kill test: ${TRIES} kills, ${r.savesDone} saves completed in the children, outcomes ${JSON.stringify(r.outcomes)}, at most ${r.maxEntries} directory entries after a kill, ${r.failures.length} failures`);
    expect(r.failures).toEqual([]);
    expect(r.outcomes.lastComplete + r.outcomes.inProgress + r.outcomes.nothingSavedError).toBe(TRIES);
  });
});
