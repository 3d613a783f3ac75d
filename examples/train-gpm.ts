/**
 * Train a General Preference Model and its Bradley-Terry baseline on the bundled preference file,
 * report held-out accuracy, and score a group of responses as a preference matrix.
 *
 *   npx tsx examples/train-gpm.ts [path/to/prefs.jsonl]                  (in a clone)
 *   node node_modules/gprl/dist/examples/train-gpm.js [path/to/prefs.jsonl]  (after npm install gprl)
 *
 * The bundled `examples/data/prefs.jsonl` mixes two kinds of prompts (token ids, vocabulary 32):
 * prompts starting with token 0 prefer response styles cyclically (style A ≻ B ≻ C ≻ A, style marker
 * tokens 3, 4, 5), prompts starting with token 1 prefer responses with more "good" tokens (6–8)
 * than "bad" ones (9–11). No scalar reward can order a cycle: Bradley-Terry can memorize training
 * pairs through their filler tokens, but on held-out style prompts it stays far below the GPM,
 * and its matrix for the three styles is necessarily transitive; the GPM learns both kinds.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  BradleyTerryModel,
  Rng,
  setTfBackend,
  GeneralPreferenceModel,
  evaluatePreferenceModel,
  readPreferencePairs,
  saveModel,
  loadModel,
  tokenEncoder,
  trainPreferenceModel,
  type PreferenceModel,
  type PreferencePair,
} from 'gprl';

// The bundled data file ships in the package: found through the package's own exports, so this runs
// the same from a clone, from node_modules/gprl/examples/ and compiled in node_modules/gprl/dist/examples/.
const packageRoot = path.dirname(createRequire(import.meta.url).resolve('gprl/package.json'));
const file = process.argv[2] ?? path.join(packageRoot, 'examples', 'data', 'prefs.jsonl');

const backend = await setTfBackend();
const { pairs, invalid } = await readPreferencePairs(file, { kind: 'tokens', vocabSize: 32, onInvalid: 'skip' });
console.log(`tfjs backend: ${backend}; ${pairs.length} pairs from ${path.relative(process.cwd(), file)} (${invalid.length} invalid lines skipped)`);

// Seeded 80/20 split.
const order = new Rng(7).shuffle(pairs.map((_, i) => i));
const nTest = Math.floor(pairs.length / 5);
const test: PreferencePair[] = order.slice(0, nTest).map((i) => pairs[i]!);
const train: PreferencePair[] = order.slice(nTest).map((i) => pairs[i]!);
const encoderOptions = { vocabSize: 32, embeddingDim: 16, hiddenDim: 16, pooling: 'mean', activation: 'tanh', seed: 1 } as const;

async function fit(name: string, model: PreferenceModel): Promise<void> {
  const t0 = performance.now();
  const result = await trainPreferenceModel(model, train, { epochs: 40, batchSize: 32, learningRate: 0.02, validationSplit: 0.1, seed: 3 });
  const last = result.history.at(-1)!;
  const held = evaluatePreferenceModel(model, test);
  const styleOnly = evaluatePreferenceModel(model, test.filter((p) => p.prompt[0] === 0));
  console.log(
    `${name.padEnd(14)} epochs ${result.history.length}, train acc ${last.accuracy.toFixed(3)}, ` +
      `held-out acc ${held.accuracy.toFixed(3)} (style prompts ${styleOnly.accuracy.toFixed(3)}), ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

const gpm = new GeneralPreferenceModel({ encoder: tokenEncoder(encoderOptions), dims: 2, seed: 2 });
const bt = new BradleyTerryModel({ encoder: tokenEncoder(encoderOptions), seed: 2 });
await fit('GPM (k = 2)', gpm);
await fit('Bradley-Terry', bt);

// A group of three responses to a style prompt: one per style, same filler tokens.
const prompt = [0, 25, 27];
const responses = [
  [3, 12, 13],
  [4, 12, 13],
  [5, 12, 13],
];
const labels = ['A', 'B', 'C'];
const show = (name: string, P: Float32Array): void => {
  console.log(`\n${name}: P(row ≻ column) for styles A, B, C`);
  console.log('      ' + labels.map((l) => l.padStart(6)).join(''));
  labels.forEach((l, i) => console.log(`  ${l}   ` + labels.map((_, j) => P[i * 3 + j]!.toFixed(3).padStart(6)).join('')));
};
show('GPM', gpm.preferenceMatrix({ prompt, responses }));
show('Bradley-Terry', bt.preferenceMatrix({ prompt, responses }));
console.log(`\nGPM eigenvalues λ(x) for this prompt: [${Array.from(gpm.eigenvalues([prompt])).map((v) => v.toFixed(3)).join(', ')}]`);

// Round trip through the on-disk format.
const { mkdtemp, rm } = await import('node:fs/promises');
const os = await import('node:os');
const dir = await mkdtemp(path.join(os.tmpdir(), 'gprl-gpm-'));
await saveModel(gpm, dir);
const reloaded = await loadModel(dir);
const same = reloaded.preferenceMatrix({ prompt, responses }).every((v, i) => v === gpm.preferenceMatrix({ prompt, responses })[i]);
console.log(`saved to and reloaded from a temporary directory: identical matrix = ${same}`);
await rm(dir, { recursive: true, force: true });
reloaded.dispose();
gpm.dispose();
bt.dispose();
