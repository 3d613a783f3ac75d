/**
 * Policy throughput: tokens per second for sampling and for one training step, `GruPolicy` vs
 * `TransformerPolicy`, two sizes each, on every tfjs backend asked for.
 *
 * Workload (fixed, seeded): vocabulary V = 256, B = 4 prompts of 8 tokens × G = 8 responses of
 * T = 32 tokens (N = 32 sequences, 1024 response tokens).
 * - `sample`: `policy.sample(prompts, { groupSize: 8, maxLength: 32 })` with no EOS, so every
 *   response has 32 tokens (the transformer with its KV cache). Tokens/s = N·T / median time.
 * - `train-step`: one Adam step on the teacher-forcing loss of the same N responses
 *   (`policy.logProbs` with gradient, backward pass, `applyGradients`): the cost of one optimizer pass of
 *   the trainer, without the policy-loss op (which is O(N·T) and negligible here). Tokens/s = N·T / median time.
 * Sizes: GRU H = 64 / 256 (embedding = H); transformer d = 64, 2 layers, 2 heads, FFN 256 /
 * d = 128, 4 layers, 4 heads, FFN 512. Each measurement: one warm-up call, then `reps` timed calls
 * (5; `--quick`: 2): median wall time, spread = inter-quartile range / median, and process CPU time
 * per call (user + system, all threads), with tokens per wall second and per CPU second.
 *
 * Backends: `POLICY_BENCH_BACKENDS` (comma-separated; default `wasm,cpu,tensorflow`). `tensorflow`
 * needs `@tensorflow/tfjs-node`; where it does not load, its rows say why and carry no numbers.
 */
import { completeContext, isMain, runStandalone, type BenchContext, type BenchRow } from './harness.js';
import { enableTfjsEsmResolution } from '../src/tfjs/gradients.js';
import { tf, setTfBackend, type TfBackendName } from '../src/tf.js';
import { Rng } from '../src/random.js';
import { GruPolicy } from '../src/policy/gruPolicy.js';
import { TransformerPolicy } from '../src/policy/transformerPolicy.js';
import type { Policy } from '../src/policy/policy.js';

const STEM = 'policy';
const V = 256, B = 4, G = 8, P = 8, T = 32, N = B * G;

interface PolicySpec {
  label: string;
  make: () => Policy;
  params: Record<string, number>;
}

export const POLICY_SPECS: readonly PolicySpec[] = [
  { label: 'gru-H64', make: () => new GruPolicy({ vocabSize: V, hiddenSize: 64, seed: 1 }), params: { hidden: 64 } },
  { label: 'gru-H256', make: () => new GruPolicy({ vocabSize: V, hiddenSize: 256, seed: 1 }), params: { hidden: 256 } },
  { label: 'transformer-d64-L2', make: () => new TransformerPolicy({ vocabSize: V, dModel: 64, heads: 2, layers: 2, ffnSize: 256, maxLength: P + T, seed: 1 }), params: { dModel: 64, layers: 2, heads: 2, ffn: 256 } },
  { label: 'transformer-d128-L4', make: () => new TransformerPolicy({ vocabSize: V, dModel: 128, heads: 4, layers: 4, ffnSize: 512, maxLength: P + T, seed: 1 }), params: { dModel: 128, layers: 4, heads: 4, ffn: 512 } },
];

export const DEFAULT_BACKENDS: readonly TfBackendName[] = ['wasm', 'cpu', 'tensorflow'];

/** The backends to run: `POLICY_BENCH_BACKENDS` or the default list. */
export function backendsFromEnv(): TfBackendName[] {
  const raw = process.env.POLICY_BENCH_BACKENDS;
  if (!raw) return [...DEFAULT_BACKENDS];
  return raw.split(',').map((s) => s.trim()).filter(Boolean) as TfBackendName[];
}

/** Make `name` the active backend; returns why it cannot be used, or null. */
async function activate(name: TfBackendName): Promise<string | null> {
  if (name === 'tensorflow' && tf.findBackendFactory('tensorflow') === null) {
    enableTfjsEsmResolution();
    const pkg = '@tensorflow/tfjs-node';
    try {
      await import(pkg);
    } catch (err) {
      // The first line of the loader's message, without the importing file's path.
      return `${pkg} is not installed or does not load (${(err as Error).message.split('\n')[0]!.replace(/ imported from \S+/, '')})`;
    }
  }
  try {
    await setTfBackend(name);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function stats(ms: number[]): { median: number; spreadPct: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => {
    const pos = (s.length - 1) * p, lo = Math.floor(pos), hi = Math.ceil(pos);
    return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
  };
  const median = q(0.5);
  return { median, spreadPct: ((q(0.75) - q(0.25)) / median) * 100 };
}

/** Time `fn` (one warm-up call, then `reps` calls). */
function time(fn: () => void, reps: number): { median: number; spreadPct: number; cpuMs: number; reps: number } {
  fn();
  const ms: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  return { ...stats(ms), cpuMs: (cpu.user + cpu.system) / 1e3 / reps, reps };
}

export async function run(partial?: Partial<BenchContext>, backends: readonly TfBackendName[] = backendsFromEnv()): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const reps = ctx.quick ? 2 : 5;
  const rng = new Rng(7);
  const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(V)));
  const expanded = prompts.flatMap((p) => Array.from({ length: G }, () => p));
  const targets = Array.from({ length: N }, () => Array.from({ length: T }, () => rng.int(V)));
  const rows: BenchRow[] = [];
  const shape = `V${V}-B${B}xG${G}-P${P}-T${T}`;
  const base = (policy: string, backend: string, phase: string): BenchRow => ({
    name: `${STEM}.${phase}`,
    backend: `${policy}@${backend}`,
    shape,
    dims: { vocab: V, prompts: B, groupSize: G, promptTokens: P, responseTokens: T },
    medianMs: null,
    spreadPct: null,
    rmePct: null,
    opsPerSec: null,
    samples: 0,
  });
  for (const backend of backends) {
    const why = await activate(backend);
    if (why !== null) {
      ctx.log(`  ${STEM}: ${backend} skipped: ${why}`);
      for (const spec of POLICY_SPECS) for (const phase of ['sample', 'train-step']) rows.push({ ...base(spec.label, backend, phase), note: `skipped: ${why}` });
      continue;
    }
    for (const spec of POLICY_SPECS) {
      const policy = spec.make();
      const optimizer = tf.train.adam(1e-3);
      const vars = policy.trainableVariables as tf.Variable[];
      const parameters = vars.reduce((s, v) => s + v.size, 0);
      const sample = time(() => void policy.sample(prompts, { groupSize: G, maxLength: T, seed: 1 }), reps);
      const train = time(() => {
        const loss = optimizer.minimize(() => tf.neg(tf.mean(policy.logProbs(expanded, targets).logp)) as tf.Scalar, true, vars);
        loss?.dataSync();
        loss?.dispose();
      }, reps);
      for (const [phase, m] of [['sample', sample], ['train-step', train]] as const) {
        rows.push({
          ...base(spec.label, backend, phase),
          medianMs: m.median,
          spreadPct: m.spreadPct,
          opsPerSec: 1000 / m.median,
          samples: m.reps,
          cpuMs: m.cpuMs,
          tokensPerSec: (N * T * 1000) / m.median,
          // Per second of process CPU time (all threads): robust to other load on the machine.
          tokensPerCpuSec: (N * T * 1000) / m.cpuMs,
          parameters,
          ...spec.params,
        });
        ctx.log(`  ${STEM}.${phase} ${spec.label}@${backend}: ${m.median.toFixed(1)} ms, ${((N * T * 1000) / m.median).toFixed(0)} tokens/s`);
      }
      optimizer.dispose();
      policy.dispose();
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, (ctx) => run(ctx));
