/**
 * `gprlAdvantages` (logit scores, per-dimension normalization, with λ): every kernel backend, the C++
 * path on one thread, the public call with caller-owned outputs (`-out`) and with fresh outputs in a
 * loop that yields between calls (`cpu-fresh`, all five outputs; `cpu-fresh3`, `options.outputs` =
 * advantages, dimMean, dimStd), the same computation as a tfjs op composition on the `cpu` and `wasm`
 * backends, and as PyTorch code, eager and under `torch.compile` (bench/torch/), when importable.
 *
 * Bytes moved per call (minimum): read embeddings 8·B·G·k + λ 4·B·k; write scores 4·B·G·k,
 * dimAdvantages 4·B·G·k, advantages 4·B·G, dimMean and dimStd 8·B·k
 * = 16·B·G·k + 4·B·G + 12·B·k. Each row's streaming floor (docs/benchmarks.md) is the bytes it
 * reads at the probe's read rate plus the bytes it writes at its `memset` rate, all threads.
 */
import { gprlAdvantages } from '../src/kernels/gprlAdvantages.js';
import { loadAddon } from '../src/native/addon.js';
import { setTfBackend, type TfBackendName } from '../src/tf.js';
import type { GprlAdvantageResult, GprlOutputName, GroupShape } from '../src/types.js';
import {
  assertClose,
  backendContenders,
  compare,
  completeContext,
  gprlInputs,
  isMain,
  runStandalone,
  selectedShapes,
  type BenchContext,
  type BenchRow,
  type Contender,
  floorMs,
  floorProbe,
  type BandwidthProbe,
} from './harness.js';
import { gprlAdvantagesComposed, type ComposedResult } from './tfjs/gprlAdvantagesComposed.js';
import { runTorch, torchPython } from './torch/peer.js';

export const STEM = 'gprlAdvantages';

export function gprlAdvantagesBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 16 * B * G * k + 4 * B * G + 12 * B * k;
}

/** Bytes read per call: embeddings and λ. */
export function gprlAdvantagesReadBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 8 * B * G * k + 4 * B * k;
}

/** Bytes written per call for the given outputs (all five by default). */
export function gprlAdvantagesWriteBytes(shape: GroupShape, outputs: readonly GprlOutputName[] = FIVE): number {
  const { groups: B, groupSize: G, dims: k } = shape;
  const size: Record<GprlOutputName, number> = { advantages: B * G, dimAdvantages: B * G * k, dimMean: B * k, dimStd: B * k, scores: B * G * k };
  return outputs.reduce((t, o) => t + 4 * size[o], 0);
}

const FIVE: readonly GprlOutputName[] = ['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'];
/** What a training step needs: the advantages and the per-group statistics. */
const THREE: readonly GprlOutputName[] = ['advantages', 'dimMean', 'dimStd'];

export type Outputs = Pick<GprlAdvantageResult, 'advantages' | 'dimAdvantages' | 'dimMean' | 'dimStd' | 'degenerate' | 'masked'> & {
  scores?: Float32Array;
};

/**
 * Check every output against the reference (the `js` path). Scores, means and standard deviations
 * are O(1) here and must agree to `atol + rtol·|want|`. The normalized advantages divide the score
 * difference by σ + ε, so a score error δ ≤ atol becomes up to 2·atol/(σ + ε) in Â (and in their
 * weighted sum A): those tolerances are scaled per group and dimension. Kernel backends accumulate in
 * float64 and round once to float32 (docs/kernels.md): rtol 1e-5, atol 1e-6. The tfjs composition works in
 * float32 throughout, and the cancellation in `a·b̄ − b·ā` and the sums over G terms cost a few
 * ulps of the O(1) inputs: rtol 1e-4, atol 1e-5.
 */
export function checkOutputs(what: string, got: Outputs, want: Outputs, shape: GroupShape, rtol: number, atol: number): void {
  const { groupSize: G, dims: k } = shape;
  const eps = 1e-4;
  const dimTol = (b: number, l: number) => (2 * atol) / (want.dimStd[b * k + l]! + eps);
  if (want.scores) assertClose(`${what} scores`, got.scores ?? new Float32Array(0), want.scores, rtol, atol);
  assertClose(`${what} dimMean`, got.dimMean, want.dimMean, rtol, atol);
  assertClose(`${what} dimStd`, got.dimStd, want.dimStd, rtol, atol);
  assertClose(`${what} dimAdvantages`, got.dimAdvantages, want.dimAdvantages, rtol, (i) => dimTol(Math.floor(i / (G * k)), i % k));
  assertClose(`${what} advantages`, got.advantages, want.advantages, rtol, (i) => {
    const b = Math.floor(i / G);
    let t = 0;
    for (let l = 0; l < k; l++) t = Math.max(t, dimTol(b, l));
    return t;
  });
  if (got.degenerate !== want.degenerate || got.masked !== want.masked) {
    throw new Error(`${what}: counts degenerate ${got.degenerate}/masked ${got.masked}, want ${want.degenerate}/${want.masked}`);
  }
}

function tfjsContender(backend: TfBackendName, embeddings: Float32Array, shape: GroupShape, lambdas: Float32Array, ref: Outputs): Contender {
  const call = (): ComposedResult => gprlAdvantagesComposed(embeddings, shape, { lambdas });
  return {
    backend: `tfjs-${backend}`,
    setup: async () => {
      await setTfBackend(backend);
    },
    fn: call,
    check: () => checkOutputs(`tfjs-${backend}`, call(), ref, shape, 1e-4, 1e-5),
    threads: 1,
  };
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const { addon } = loadAddon();
  const rows: BenchRow[] = [];
  for (const { label, shape } of selectedShapes(ctx)) {
    ctx.log(`${STEM} ${label} (B=${shape.groups}, G=${shape.groupSize}, k=${shape.dims})`);
    const { embeddings, lambdas } = gprlInputs(shape);
    const ref = gprlAdvantages(embeddings, shape, { lambdas, backend: 'js' });
    const contenders = backendContenders(
      ctx,
      (backend) => gprlAdvantages(embeddings, shape, { lambdas, backend }),
      (got, backend) => checkOutputs(backend, got, ref, shape, 1e-5, 1e-6),
    );
    if (addon) {
      const threads = addon.getNumThreads();
      contenders.push({
        backend: 'cpu-1t',
        setup: () => addon.setNumThreads(1),
        teardown: () => addon.setNumThreads(threads),
        fn: () => gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu' }),
        check: () => checkOutputs('cpu-1t', gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu' }), ref, shape, 1e-5, 1e-6),
        threads: 1,
        note: 'C++ path, 1 thread',
      });
    }
    // The public API with caller-owned outputs (`options.out`), as a training loop calls it every
    // step: same validation, no fresh multi-megabyte arrays (whose first-write page faults
    // otherwise dominate the large shape).
    for (const backend of (addon ? ['js', 'cpu'] : ['js']) as ('js' | 'cpu')[]) {
      const out = {
        advantages: new Float32Array(shape.groups * shape.groupSize),
        dimAdvantages: new Float32Array(shape.groups * shape.groupSize * shape.dims),
        dimMean: new Float32Array(shape.groups * shape.dims),
        dimStd: new Float32Array(shape.groups * shape.dims),
        scores: new Float32Array(shape.groups * shape.groupSize * shape.dims),
      };
      const call = () => gprlAdvantages(embeddings, shape, { lambdas, backend, out });
      contenders.push({
        backend: `${backend}-out`,
        fn: call,
        check: () => checkOutputs(`${backend}-out`, call(), ref, shape, 1e-5, 1e-6),
        threads: backend === 'cpu' ? addon!.getNumThreads() : 1,
        note: 'public API, options.out (preallocated outputs)',
      });
    }
    // Fresh outputs every call, in a loop that turns the event loop between calls (as a training
    // loop does): large outputs come from the addon's recycled output memory.
    if (addon) {
      for (const [backend, outputs] of [['cpu-fresh', FIVE], ['cpu-fresh3', THREE]] as const) {
        const call = () => gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu', outputs });
        const writeBytes = gprlAdvantagesWriteBytes(shape, outputs);
        contenders.push({
          backend,
          fn: call,
          check: () => checkRequested(backend, call(), ref, shape, outputs),
          threads: addon.getNumThreads(),
          bytes: gprlAdvantagesReadBytes(shape) + writeBytes,
          writeBytes,
          yieldBetweenCalls: true,
          note: `public API, fresh outputs (${outputs.length === 5 ? 'all five' : `outputs: ${outputs.join(', ')}`}), event loop turns between calls`,
        });
      }
    }
    contenders.push(tfjsContender('cpu', embeddings, shape, lambdas, ref));
    contenders.push(tfjsContender('wasm', embeddings, shape, lambdas, ref));
    // The floor's bandwidths: the start probe and one measured now, the higher of each.
    const probe = label === 'small' ? ctx.probe : floorProbe(ctx.probe);
    const shapeRows = await compare(ctx, {
      probe,
      name: STEM,
      shapeLabel: label,
      dims: { ...shape },
      bytes: gprlAdvantagesBytes(shape),
      readBytes: gprlAdvantagesReadBytes(shape),
      writeBytes: gprlAdvantagesWriteBytes(shape),
      contenders,
    });
    if (label !== 'small') shapeRows.push(...torchRows(ctx, probe, label, shape, embeddings, lambdas, ref, addon?.getNumThreads() ?? 1));
    const first = shapeRows[0];
    if (first && first.floorMs !== undefined) {
      first.floorProbe = `floor ${first.floorMs.toPrecision(3)} ms from read ${probe.readAll.toFixed(1)} GB/s, write ${probe.writeAll.toFixed(1)} GB/s (${probe.threads} threads)`;
    }
    // The ratio's reference: the faster torch.compile row (its 1-thread and multi-thread runs).
    const compiledMs = shapeRows.filter((r) => r.backend.startsWith('torch-compile') && r.medianMs !== null).map((r) => r.medianMs!);
    const compiled = compiledMs.length > 0 ? Math.min(...compiledMs) : null;
    if (compiled !== null) {
      for (const r of shapeRows) if (r.medianMs !== null) r.xTorchCompile = compiled / r.medianMs;
    }
    rows.push(...shapeRows);
  }
  return rows;
}

/** The outputs requested were computed (and agree with the reference); the others are empty. */
function checkRequested(what: string, got: GprlAdvantageResult, ref: Outputs, shape: GroupShape, outputs: readonly GprlOutputName[]): void {
  const completed = { ...got };
  for (const key of FIVE) {
    if (outputs.includes(key)) continue;
    if (got[key].length !== 0) throw new Error(`${what}: ${key} was not requested but has ${got[key].length} values`);
    completed[key] = ref[key]!; // not requested: only the requested outputs are compared
  }
  checkOutputs(what, completed, ref, shape, 1e-5, 1e-6);
}

/**
 * PyTorch eager and `torch.compile` rows (fresh output tensors each call) on 1 thread (`-1t`) and on
 * the C++ path's threads, checked against gprl's outputs on the first values of each output
 * (float32 throughout: rtol 1e-4, atol 1e-5); one row with the reason when PyTorch is not importable.
 */
function torchRows(
  ctx: BenchContext,
  probe: BandwidthProbe,
  label: string,
  shape: GroupShape,
  embeddings: Float32Array,
  lambdas: Float32Array,
  ref: Outputs,
  threads: number,
): BenchRow[] {
  const base = (backend: string): BenchRow => ({
    name: STEM,
    backend,
    shape: label,
    dims: { ...shape },
    medianMs: null,
    spreadPct: null,
    rmePct: null,
    opsPerSec: null,
    samples: 0,
    bytes: gprlAdvantagesBytes(shape),
    threads,
    floorMs: floorMs(probe, gprlAdvantagesReadBytes(shape), gprlAdvantagesWriteBytes(shape)),
    pctFloor: null,
  });
  const py = torchPython();
  if ('skip' in py) return [{ ...base('torch'), note: `skipped: ${py.skip}` }];
  ctx.log(`  ${STEM} ${label} torch (eager and torch.compile, 1 and ${threads} threads, child process)...`);
  let r;
  try {
    r = runTorch(py.exe, embeddings, lambdas, shape, threads, ctx.maxTime * 2, ctx.minSamples);
    for (const key of FIVE) {
      const want = ref[key]!.subarray(0, 8);
      const got = r.check[key];
      want.forEach((w, i) => {
        if (!(Math.abs(got[i]! - w) <= 1e-5 + 1e-4 * Math.abs(w))) throw new Error(`torch ${key}[${i}] = ${got[i]}, gprl ${w}`);
      });
    }
  } catch (err) {
    return [{ ...base('torch'), note: `failed: ${(err as Error).message.split('\n')[0]}` }];
  }
  const rows: BenchRow[] = [];
  for (const run of r.runs) {
    const suffix = run.threads === 1 && threads > 1 ? '-1t' : '';
    const fill = (backend: string, ms: number | undefined, samples: number | undefined, note: string): BenchRow => {
      const row: BenchRow = { ...base(backend + suffix), threads: run.threads };
      if (ms === undefined) return { ...row, note };
      row.medianMs = ms;
      row.opsPerSec = 1e3 / ms;
      row.samples = samples ?? 0;
      row.gbPerSec = row.bytes! / (ms / 1e3) / 1e9;
      row.pctRead = (row.gbPerSec / (run.threads > 1 ? probe.readAll : probe.read1)) * 100;
      row.pctFloor = (row.floorMs! / ms) * 100;
      row.note = note;
      row.torchCheck = 'first 8 values of each output match gprl';
      return row;
    };
    rows.push(fill('torch-eager', run.eagerMs, run.eagerSamples, `PyTorch ${r.torch} eager, ${run.threads} thread(s), fresh outputs`));
    rows.push(
      fill(
        'torch-compile',
        run.compiledMs,
        run.compiledSamples,
        run.compiledMs === undefined
          ? `torch.compile failed: ${run.compileError ?? 'unknown'}`
          : `PyTorch ${r.torch} torch.compile (inductor), ${run.threads} thread(s), fresh outputs; first call ${(run.compileSeconds ?? 0).toFixed(1)} s`,
      ),
    );
    ctx.log(`  ${STEM} ${label} torch ${run.threads} thread(s): eager ${run.eagerMs.toPrecision(4)} ms, torch.compile ${run.compiledMs?.toPrecision(4) ?? run.compileError} ms`);
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
