/**
 * Overhead of DriftMonitor.update() per training step.
 *
 * One call reads the per-dimension scores ŝ (B·G·k), λ (B·k), response lengths (B·G), k reference
 * scores, KL and entropy, and computes ν, α, ᾱ, D, the within-group length correlation and the
 * secondary detectors. Contenders, on the same inputs:
 *   - `js`        the full input, no drift (the steady state of a healthy run);
 *   - `js-drift`  the full input, every step a drift step (entropy-collapse configured as a trigger),
 *                 so the reweighting projection and the trust-region update run each call;
 *   - `js-scores` scores only (no λ, lengths, reference scores, KL or entropy).
 * Rows report wall-clock µs per step (`usPerStep`, the median) and process CPU µs per step
 * (`cpuUsPerStep`); relate them to the time of one policy update at the same B, G.
 */
import { compare, completeContext, isMain, runStandalone, type BenchContext, type BenchRow, type Contender } from './harness.js';
import { DriftMonitor, type DriftStepInput } from '../src/monitor/driftMonitor.js';
import { Rng } from '../src/random.js';
import type { GroupShape } from '../src/types.js';

const STEM = 'driftMonitor';

const BENCH_SHAPES: readonly { label: string; shape: GroupShape }[] = [
  { label: 'B64-G8-k3', shape: { groups: 64, groupSize: 8, dims: 3 } },
  { label: 'B1024-G16-k8', shape: { groups: 1024, groupSize: 16, dims: 8 } },
  { label: 'B4096-G16-k4', shape: { groups: 4096, groupSize: 16, dims: 4 } },
];

function makeInput(shape: GroupShape, seed: number): DriftStepInput {
  const { groups: B, groupSize: G, dims: k } = shape;
  const rng = new Rng(seed);
  const lambdas = new Float32Array(B * k);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let l = 0; l < k; l++) s += (lambdas[b * k + l] = Math.exp(rng.normal()));
    for (let l = 0; l < k; l++) lambdas[b * k + l]! /= s;
  }
  const lengths = new Float32Array(B * G);
  for (let i = 0; i < lengths.length; i++) lengths[i] = Math.max(1, Math.round(rng.normal(200, 60)));
  return {
    groups: B,
    groupSize: G,
    dims: k,
    scores: rng.normalArray(B * G * k),
    lambdas,
    lengths,
    referenceScores: rng.normalArray(k, 0, 0.01),
    kl: 0.05,
    entropy: 2,
  };
}

/** ν straight from the definition (float64), to check the monitor before timing it. */
function refNu(input: DriftStepInput): number[] {
  const { groups: B, groupSize: G, dims: k, scores, lambdas } = input;
  const nu = new Array<number>(k).fill(0);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < k; l++) {
      const xs = Array.from({ length: G }, (_, i) => scores[(b * G + i) * k + l]!);
      const m = xs.reduce((s, x) => s + x, 0) / G;
      const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / (G - 1);
      const lam = lambdas ? lambdas[b * k + l]! : 1;
      nu[l]! += (lam * lam * v) / B;
    }
  }
  return nu;
}

function checkNu(monitorNu: number[], want: number[]): void {
  monitorNu.forEach((v, l) => {
    // both float64 over the same float32 inputs: only the summation order differs
    if (Math.abs(v - want[l]!) > 1e-10 * Math.abs(want[l]!)) throw new Error(`nu[${l}] = ${v}, want ${want[l]}`);
  });
}

/**
 * Process CPU time (user + system) per call over ~0.3 s of calls: update() is single-threaded, so on a
 * machine shared with other work this separates the monitor's own cost from time spent descheduled.
 */
function cpuMicrosPerCall(fn: () => unknown, medianMs: number | null): number | null {
  if (medianMs === null) return null;
  const n = Math.max(5, Math.min(20000, Math.round(300 / Math.max(medianMs, 1e-3))));
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const d = process.cpuUsage(before);
  return (d.user + d.system) / n;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const rows: BenchRow[] = [];
  for (const { label, shape } of BENCH_SHAPES) {
    const input = makeInput(shape, 1);
    const lowEntropy: DriftStepInput = { ...input, entropy: 0.1 };
    const scoresOnly: DriftStepInput = { groups: shape.groups, groupSize: shape.groupSize, dims: shape.dims, scores: input.scores };
    const want = refNu(input);
    const k = shape.dims;

    const quiet = new DriftMonitor({ dims: k });
    const drifting = new DriftMonitor({ dims: k, driftTriggers: ['entropy-collapse'] });
    const bare = new DriftMonitor({ dims: k });
    // past the warm-up, so every timed call takes the steady-state path
    for (let i = 0; i < 6; i++) {
      quiet.update(input);
      drifting.update(input);
      bare.update(scoresOnly);
    }
    const contenders: Contender[] = [
      {
        backend: 'js',
        fn: () => quiet.update(input),
        check: () => {
          const d = quiet.update(input);
          checkNu(d.nu, want);
          if (d.drifted) throw new Error('js: unexpected drift');
        },
      },
      {
        backend: 'js-drift',
        fn: () => drifting.update(lowEntropy),
        check: () => {
          const d = drifting.update(lowEntropy);
          checkNu(d.nu, want);
          if (!d.drifted) throw new Error('js-drift: expected a drift step');
        },
      },
      {
        backend: 'js-scores',
        fn: () => bare.update(scoresOnly),
        check: () => checkNu(bare.update(scoresOnly).nu, refNu(scoresOnly)),
        bytes: shape.groups * shape.groupSize * k * 4,
      },
    ];
    const { groups: B, groupSize: G } = shape;
    const bytes = (B * G * k + B * k + B * G + k) * 4;
    const got = await compare(ctx, { name: STEM, shapeLabel: label, dims: { ...shape }, bytes, contenders });
    for (const [i, r] of got.entries()) {
      r.usPerStep = r.medianMs === null ? null : r.medianMs * 1e3;
      r.cpuUsPerStep = cpuMicrosPerCall(contenders[i]!.fn, r.medianMs);
    }
    rows.push(...got);
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
