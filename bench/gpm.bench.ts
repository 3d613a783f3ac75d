/**
 * Preference-model training throughput (pairs/s) on the tfjs backends, through the public API.
 *
 * One timed call is one epoch of `trainPreferenceModel` over a fixed set of pairs (forward pass,
 * loss, backward pass and an Adam update per batch, plus the per-call validation of the pairs and
 * the optimizer set-up), on fixed small models:
 *   - `gpm-features`: feature encoder d = 64, GPM k = 4, 1024 pairs, batch 128;
 *   - `bt-features`:  the same data, Bradley-Terry head;
 *   - `gpm-tokens`:   built-in token encoder (vocabulary 256, embedding 32, hidden 32, mean pooling),
 *                     prompts of 8–16 and responses of 8–24 tokens, k = 4, 256 pairs, batch 64.
 * Contenders `tfjs-cpu` and `tfjs-wasm` run the same calls in the same process. The call is
 * asynchronous, so it is timed here (warm-up, then repetitions; median, inter-quartile spread)
 * rather than by benchmark.js. Rows: `pairsPerSec` = pairs / median seconds, and process CPU
 * milliseconds per call (`cpuMs`), which is robust to other load on the machine.
 * Each model is checked before timing: a second epoch must lower its training loss.
 */
import { completeContext, isMain, runStandalone, type BenchContext, type BenchRow } from './harness.js';
import { setTfBackend, tf, type TfBackendName } from '../src/tf.js';
import { Rng } from '../src/random.js';
import {
  BradleyTerryModel,
  GeneralPreferenceModel,
  featureEncoder,
  tokenEncoder,
  trainPreferenceModel,
  type PreferenceModel,
  type PreferencePair,
} from '../src/gpm/index.js';

const STEM = 'gpm';

function featurePairs(n: number, d: number, seed: number): PreferencePair[] {
  const rng = new Rng(seed);
  const w = rng.normalArray(d);
  return Array.from({ length: n }, () => {
    const prompt = Array.from(rng.normalArray(d));
    const a = Array.from(rng.normalArray(d));
    const b = Array.from(rng.normalArray(d));
    const score = (x: number[]): number => x.reduce((s, v, i) => s + v * w[i]!, 0);
    return score(a) >= score(b) ? { prompt, chosen: a, rejected: b } : { prompt, chosen: b, rejected: a };
  });
}

function tokenPairs(n: number, vocab: number, seed: number): PreferencePair[] {
  const rng = new Rng(seed);
  const seq = (lo: number, hi: number): number[] => Array.from({ length: lo + rng.int(hi - lo + 1) }, () => rng.int(vocab));
  return Array.from({ length: n }, () => {
    const a = seq(8, 24);
    const b = seq(8, 24);
    // Longer response preferred: a learnable rule.
    return a.length >= b.length ? { prompt: seq(8, 16), chosen: a, rejected: b } : { prompt: seq(8, 16), chosen: b, rejected: a };
  });
}

interface Case {
  label: string;
  dims: Record<string, number>;
  pairs: PreferencePair[];
  batchSize: number;
  make: () => PreferenceModel;
}

const quantile = (s: number[], q: number): number => {
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
};

async function timeCase(ctx: BenchContext, c: Case, backend: TfBackendName): Promise<BenchRow> {
  const row: BenchRow = {
    name: STEM,
    backend: `tfjs-${backend}`,
    shape: c.label,
    dims: c.dims,
    medianMs: null,
    spreadPct: null,
    rmePct: null,
    opsPerSec: null,
    samples: 0,
  };
  try {
    await setTfBackend(backend);
    const model = c.make();
    try {
      const epoch = () => trainPreferenceModel(model, c.pairs, { epochs: 1, batchSize: c.batchSize, learningRate: 0.01, seed: 1 });
      // Check: training does something (the loss of a later epoch is lower than the first).
      const first = (await epoch()).history[0]!.loss;
      const second = (await epoch()).history[0]!.loss;
      if (!(second < first)) throw new Error(`training loss did not decrease (${first} → ${second})`);
      const reps = ctx.quick ? 3 : 7;
      const times: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        await epoch();
        times.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      times.sort((a, b) => a - b);
      const median = quantile(times, 0.5);
      row.medianMs = median;
      row.spreadPct = ((quantile(times, 0.75) - quantile(times, 0.25)) / median) * 100;
      row.opsPerSec = 1000 / median;
      row.samples = reps;
      row.pairsPerSec = (c.pairs.length * 1000) / median;
      row.cpuMs = (cpu.user + cpu.system) / 1e3 / reps;
      row.tensorsAfter = tf.memory().numTensors;
    } finally {
      model.dispose();
    }
  } catch (err) {
    row.note = (err as Error).message;
  }
  ctx.log(`${STEM} ${c.label} tfjs-${backend}: ${row.medianMs === null ? row.note : `${(row.pairsPerSec as number).toFixed(0)} pairs/s`}`);
  return row;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const previous = tf.getBackend() as TfBackendName | null;
  const d = 64;
  const feats = featurePairs(1024, d, 1);
  const toks = tokenPairs(256, 256, 2);
  const cases: Case[] = [
    {
      label: 'gpm-features',
      dims: { pairs: 1024, d, k: 4, batch: 128 },
      pairs: feats,
      batchSize: 128,
      make: () => new GeneralPreferenceModel({ encoder: featureEncoder(d), dims: 4, seed: 1 }),
    },
    {
      label: 'bt-features',
      dims: { pairs: 1024, d, k: 1, batch: 128 },
      pairs: feats,
      batchSize: 128,
      make: () => new BradleyTerryModel({ encoder: featureEncoder(d), seed: 1 }),
    },
    {
      label: 'gpm-tokens',
      dims: { pairs: 256, vocab: 256, embedding: 32, hidden: 32, k: 4, batch: 64 },
      pairs: toks,
      batchSize: 64,
      make: () =>
        new GeneralPreferenceModel({ encoder: tokenEncoder({ vocabSize: 256, embeddingDim: 32, hiddenDim: 32, seed: 1 }), dims: 4, seed: 1 }),
    },
  ];
  const rows: BenchRow[] = [];
  try {
    for (const c of cases) for (const backend of ['cpu', 'wasm'] as const) rows.push(await timeCase(ctx, c, backend));
  } finally {
    if (previous) await setTfBackend(previous);
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
