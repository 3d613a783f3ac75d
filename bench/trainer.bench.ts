/**
 * What GPRL costs on top of a plain GRPO step.
 *
 * A small realistic step: GruPolicy (V = 32, H = 64), B = 8 prompts × G = 8 responses of up to
 * T = 16 tokens, a k = 4 verifier (precomputed embeddings, so the verifier costs nothing), one
 * optimizer pass, on the tfjs `wasm` backend (and `cpu` in a full run). Two measurements, same process:
 *
 * 1. `trainer.step`: whole trainer steps under three configurations, each timed over the same number
 *    of steps from the same seed — `grpo-scalar` (normalize 'scalar', no monitor: GRPO on the
 *    aggregate score), `gprl` (per-dimension, no monitor) and `gprl+drift` (per-dimension and the
 *    drift monitor). Rows give the median step time and the median time of the advantage phase
 *    (advantages + monitor, `advantageMs`) and its share of the step (`advantageSharePct`).
 * 2. `trainer.advantages`: the advantage work alone at the same shape, timed with benchmark.js:
 *    `gprlAdvantages` scalar, per-dimension, and `DriftMonitor.update`. `overheadPctOfStep` relates
 *    the extra time of per-dimension over scalar, and of the monitor, to the median `grpo-scalar`
 *    step (the target is ≤ 5 %).
 */
import { compare, completeContext, isMain, runStandalone, type BenchContext, type BenchRow, type Contender } from './harness.js';
import { tf, setTfBackend, type TfBackendName } from '../src/tf.js';
import { Rng } from '../src/random.js';
import { GruPolicy } from '../src/policy/gruPolicy.js';
import { GPRLTrainer, type VerifierFn } from '../src/trainer/trainer.js';
import type { GPRLTrainerConfig } from '../src/trainer/config.js';
import { gprlAdvantages } from '../src/kernels/gprlAdvantages.js';
import { DriftMonitor } from '../src/monitor/driftMonitor.js';

const STEM = 'trainer';
const V = 32, H = 64, B = 8, G = 8, T = 16, K = 4;

function syntheticVerifier(seed: number): VerifierFn {
  const rng = new Rng(seed);
  return (prompts, groups) => {
    // Scores depend on the responses (token counts), plus noise, so groups are not degenerate.
    const e = new Float32Array(prompts.length * G * 2 * K);
    groups.forEach((g, b) =>
      g.forEach((r, i) => {
        for (let l = 0; l < K; l++) {
          const at = ((b * G + i) * K + l) * 2;
          e[at] = r.filter((t) => t % K === l).length / r.length + 0.1 * rng.normal();
          e[at + 1] = 1 + 0.1 * rng.normal();
        }
      }),
    );
    const lambdas = new Float32Array(prompts.length * K).fill(1 / K);
    return { embeddings: e, lambdas };
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function stepRows(ctx: BenchContext, steps: number): Promise<BenchRow[]> {
  const rng = new Rng(3);
  const prompts = Array.from({ length: 32 }, () => Array.from({ length: 1 + rng.int(6) }, () => rng.int(V)));
  const configs: [string, GPRLTrainerConfig][] = [
    ['grpo-scalar', { normalize: 'scalar', drift: false }],
    ['gprl', { normalize: 'per-dimension', drift: false }],
    ['gprl+drift', { normalize: 'per-dimension', drift: { warmupSteps: 2 } }],
  ];
  const rows: BenchRow[] = [];
  for (const [label, extra] of configs) {
    const policy = new GruPolicy({ vocabSize: V, hiddenSize: H, seed: 1 });
    const trainer = new GPRLTrainer({
      policy,
      verifier: syntheticVerifier(5),
      prompts,
      config: { batchSize: B, numGenerations: G, maxCompletionLength: T, learningRate: 1e-3, seed: 1, ...extra },
    });
    await trainer.train(2); // warm-up: kernels compiled, Adam slots created
    const stepMs: number[] = [];
    const advMs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const m = await trainer.step();
      stepMs.push(m.timing.stepMs);
      advMs.push(m.timing.advantageMs);
    }
    const cpu = process.cpuUsage(cpu0);
    const med = median(stepMs);
    const q = [...stepMs].sort((a, b) => a - b);
    rows.push({
      name: `${STEM}.step`,
      backend: `${label}@${tf.getBackend()}`,
      shape: `B${B}-G${G}-T${T}-k${K}`,
      dims: { groups: B, groupSize: G, tokens: T, dims: K, vocab: V, hidden: H },
      medianMs: med,
      spreadPct: ((q[Math.floor(0.75 * (q.length - 1))]! - q[Math.floor(0.25 * (q.length - 1))]!) / med) * 100,
      rmePct: null,
      opsPerSec: 1000 / med,
      samples: steps,
      cpuMs: (cpu.user + cpu.system) / 1e3 / steps,
      advantageMs: median(advMs),
      advantageSharePct: (median(advMs) / med) * 100,
      tfBackend: tf.getBackend(),
    });
    ctx.log(`  ${STEM}.step ${label} (${tf.getBackend()}): ${med.toFixed(1)} ms/step, advantages ${median(advMs).toFixed(3)} ms`);
    trainer.dispose();
    policy.dispose();
  }
  return rows;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const steps = ctx.quick ? 4 : 12;
  const tfBackends: TfBackendName[] = ctx.quick ? ['wasm'] : ['wasm', 'cpu'];
  const rows: BenchRow[] = [];
  for (const b of tfBackends) {
    await setTfBackend(b);
    rows.push(...(await stepRows(ctx, steps)));
  }
  // The fastest plain GRPO step is the denominator: the overhead share is largest there.
  const grpoStep = Math.min(...rows.filter((r) => r.backend.startsWith('grpo-scalar@')).map((r) => r.medianMs!));

  const rng = new Rng(9);
  const shape = { groups: B, groupSize: G, dims: K };
  const embeddings = rng.normalArray(B * G * 2 * K);
  const lambdas = new Float32Array(B * K).fill(1 / K);
  const lengths = new Float32Array(B * G).map(() => 1 + rng.int(T));
  const monitor = new DriftMonitor({ dims: K });
  const scores = gprlAdvantages(embeddings, shape, { lambdas }).scores;
  for (let i = 0; i < 6; i++) monitor.update({ ...shape, scores, lambdas, lengths, kl: 0.01, entropy: 2 });
  const contenders: Contender[] = [
    { backend: 'scalar', fn: () => gprlAdvantages(embeddings, shape, { lambdas, normalize: 'scalar' }) },
    { backend: 'per-dimension', fn: () => gprlAdvantages(embeddings, shape, { lambdas, normalize: 'per-dimension' }) },
    { backend: 'drift-monitor', fn: () => monitor.update({ ...shape, scores, lambdas, lengths, kl: 0.01, entropy: 2 }) },
  ];
  const bytes = (B * G * 2 * K + B * K + B * G) * 4;
  const micro = await compare(ctx, { name: `${STEM}.advantages`, shapeLabel: `B${B}-G${G}-k${K}`, dims: { ...shape }, bytes, contenders });
  const scalarMs = micro.find((r) => r.backend === 'scalar')?.medianMs ?? null;
  for (const r of micro) {
    if (r.medianMs === null) continue;
    const extra = r.backend === 'per-dimension' && scalarMs !== null ? r.medianMs - scalarMs : r.backend === 'drift-monitor' ? r.medianMs : 0;
    r.grpoStepMs = grpoStep;
    r.overheadPctOfStep = (extra / grpoStep) * 100;
  }
  return [...rows, ...micro];
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
