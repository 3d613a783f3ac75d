/**
 * Benchmark harness: the contract of docs/benchmarks.md in code.
 *
 * - Timing: benchmark.js (explicit warm-up calls first, then its own calibrated cycles); we report the
 *   median of `bench.stats.sample`, the spread (inter-quartile range over the median), benchmark.js's
 *   relative margin of error, and ops/s (= 1000 / median ms).
 * - Every contender of a comparison runs in the same process, one after the other, on the same
 *   inputs; each is checked before it is timed (a contender that computes something else is an error,
 *   not a row).
 * - Bytes moved and GB/s against the memory-bandwidth probe measured at the start of the same run.
 * - Rows are plain JSON objects appended, with the environment, to `<out>/<stem>.jsonl`.
 *
 * A bench module is `bench/<stem>.bench.ts` exporting `run(ctx?: Partial<BenchContext>): Promise<BenchRow[]>`;
 * `bench/run.ts` discovers and runs them all. `runStandalone()` lets a module run on its own.
 */
import Benchmark from 'benchmark';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/native/addon.js';
import { backendInfo } from '../src/backend.js';
import { Rng } from '../src/random.js';
import { tf } from '../src/tf.js';
import type { GroupShape, ResolvedBackend } from '../src/types.js';

/** The three shapes of the contract (docs/benchmarks.md). */
export const SHAPES: readonly { label: 'small' | 'medium' | 'large'; shape: GroupShape }[] = [
  { label: 'small', shape: { groups: 64, groupSize: 8, dims: 3 } },
  { label: 'medium', shape: { groups: 4096, groupSize: 16, dims: 4 } },
  { label: 'large', shape: { groups: 65536, groupSize: 16, dims: 8 } },
];

export interface BenchOptions {
  /** Fewer samples and shorter cycles (a smoke run, well under a minute). Defaults to `false`. */
  quick: boolean;
  /** Seconds benchmark.js may spend sampling one contender (its `maxTime`). Defaults to `1` (`0.15` quick). */
  maxTime: number;
  /** Minimum number of samples per contender (benchmark.js `minSamples`). Defaults to `5` (`3` quick). */
  minSamples: number;
  /**
   * A contender whose estimated total time (one call × (minSamples + warm-up)) exceeds this many
   * seconds is skipped, and the row says so. Defaults to `25` (`4` quick).
   */
  skipAboveSeconds: number;
}

export function benchOptions(quick: boolean): BenchOptions {
  return quick
    ? { quick, maxTime: 0.15, minSamples: 3, skipAboveSeconds: 4 }
    : { quick, maxTime: 1, minSamples: 5, skipAboveSeconds: 25 };
}

/** Same-process memory-bandwidth probe (GB/s = 1e9 bytes/s). */
export interface BandwidthProbe {
  /** `addon.memoryBandwidth` (C++ streaming read-sum and copy), or a JS Float64Array fallback. */
  source: 'addon' | 'js-float64';
  /** Bytes of the streamed buffer (larger than the last-level cache). */
  bytes: number;
  /** Threads of the "all threads" measurement. */
  threads: number;
  read1: number;
  readAll: number;
  copy1: number;
  copyAll: number;
  /** `memset` bandwidth (bytes written per second / 1e9), 1 thread and all threads. */
  write1: number;
  writeAll: number;
  /** Wall ns per sigmoid (the kernels' float64 exp-based one, inputs in L1), 1 thread and all threads (addon only). */
  sigmoidNs1?: number;
  sigmoidNsAll?: number;
  /** Why the addon probe was not used, when it was not. */
  note?: string;
}

export interface Environment {
  date: string;
  node: string;
  os: string;
  cpu: string;
  cores: number;
  memGiB: number;
  /** 1-minute load average when the run started (other work on the machine skews wall times). */
  loadAvg: number;
  gitCommit: string;
  gitDirty: boolean;
  addon: { loaded: boolean; builder?: string; cuda?: boolean; version?: string; path?: string; threads?: number; error?: string };
  backends: string[];
  cudaDevice?: string;
  /** Why CUDA is not in `backends`, when it is not. */
  cudaError?: string;
  tfjs?: { version: string; backends: string[] };
}

export interface BenchContext extends BenchOptions {
  /** Shape labels to run (the kernel benches); empty = all (`quick`: small and medium). */
  shapes: string[];
  env: Environment;
  probe: BandwidthProbe;
  /** Progress lines (stderr), so stdout stays the tables. */
  log: (line: string) => void;
}

/** One result row (one contender × one shape). Extra fields are allowed. */
export interface BenchRow {
  /** Bench stem, e.g. `gprlAdvantages`. */
  name: string;
  /** Contender: `js`, `cpu`, `cuda`, `cpu-1t`, `js-out`, `cpu-out`, `tfjs-cpu`, `tfjs-wasm`, ... */
  backend: string;
  /** Shape label (`small`, `medium`, `large`) or free text. */
  shape: string;
  /** The shape's numbers. */
  dims?: Record<string, number>;
  medianMs: number | null;
  /** Inter-quartile range of the samples, as a percentage of the median. */
  spreadPct: number | null;
  /** benchmark.js relative margin of error (95%), percent. */
  rmePct: number | null;
  opsPerSec: number | null;
  samples: number;
  /** Median of the `js` contender of the same kernel and shape divided by this median (speed-up ×). */
  ratioToJs?: number | null;
  /** Minimum bytes moved per call (inputs read + outputs written). */
  bytes?: number;
  gbPerSec?: number | null;
  /** GB/s as a percentage of the probe's read bandwidth with the same thread count. */
  pctRead?: number | null;
  /** GB/s as a percentage of the probe's copy bandwidth (read + write bytes) with the same thread count. */
  pctCopy?: number | null;
  /** Threads the contender uses (for the bandwidth reference). */
  threads?: number;
  /**
   * Streaming floor, ms: bytes read / the probe's read GB/s + bytes written / its write (`memset`)
   * GB/s, both on all threads (when the comparison gives read and write bytes).
   */
  floorMs?: number;
  /** floorMs / medianMs, percent: how close the contender runs to the memory floor. */
  pctFloor?: number | null;
  /** Why a row has no numbers, or anything a reader must know. */
  note?: string;
  [extra: string]: unknown;
}

export interface Measurement {
  /** Process CPU time (user + system, all threads) per call, ms: robust to other load on the machine. */
  cpuMs: number;
  medianMs: number;
  meanMs: number;
  minMs: number;
  spreadPct: number;
  rmePct: number;
  opsPerSec: number;
  samples: number;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Time `fn` with benchmark.js after `warmup` untimed calls. */
export function measure(name: string, fn: () => unknown, opts: Pick<BenchOptions, 'maxTime' | 'minSamples'>, warmup = 2): Measurement {
  for (let i = 0; i < warmup; i++) fn();
  let calls = 0;
  const counted = () => {
    calls++;
    return fn();
  };
  const bench = new Benchmark(name, counted, { maxTime: opts.maxTime, minSamples: opts.minSamples, initCount: 1 });
  const cpu0 = process.cpuUsage();
  bench.run();
  const cpu = process.cpuUsage(cpu0);
  if (bench.error) throw bench.error;
  const sample = [...bench.stats.sample].sort((a, b) => a - b);
  if (sample.length === 0) throw new Error(`benchmark ${name}: no samples`);
  const median = quantile(sample, 0.5);
  return {
    cpuMs: (cpu.user + cpu.system) / 1e3 / Math.max(calls, 1),
    medianMs: median * 1e3,
    meanMs: bench.stats.mean * 1e3,
    minMs: sample[0]! * 1e3,
    spreadPct: ((quantile(sample, 0.75) - quantile(sample, 0.25)) / median) * 100,
    rmePct: bench.stats.rme,
    opsPerSec: 1 / median,
    samples: sample.length,
  };
}

/**
 * Time `fn` followed by one turn of the event loop (`setImmediate`), call by call, after `warmup`
 * such calls: at least `minSamples` samples and until `maxTime` seconds have passed (at most 2000).
 */
export async function measureYielding(fn: () => unknown, opts: Pick<BenchOptions, 'maxTime' | 'minSamples'>, warmup = 2): Promise<Measurement> {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  for (let i = 0; i < warmup; i++) {
    fn();
    await turn();
  }
  const sample: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (sample.length < opts.minSamples || (performance.now() - start < opts.maxTime * 1e3 && sample.length < 2000)) {
    const t = performance.now();
    fn();
    await turn();
    sample.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  const sorted = [...sample].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
  const sd = Math.sqrt(sample.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(sample.length - 1, 1));
  return {
    cpuMs: (cpu.user + cpu.system) / 1e3 / sample.length,
    medianMs: median,
    meanMs: mean,
    minMs: sorted[0]!,
    spreadPct: ((quantile(sorted, 0.75) - quantile(sorted, 0.25)) / median) * 100,
    rmePct: ((1.96 * sd) / Math.sqrt(sample.length) / mean) * 100,
    opsPerSec: 1e3 / median,
    samples: sample.length,
  };
}

export interface Contender {
  /** Label in the `backend` column. */
  backend: string;
  /** One call of the operation being timed. */
  fn: () => unknown;
  /** Runs before `check` and timing (e.g. set the thread count). */
  setup?: () => void | Promise<void>;
  /** Runs after timing, also when it failed. */
  teardown?: () => void | Promise<void>;
  /** Throws when the contender's output is wrong. Runs once, untimed, before timing. */
  check?: () => void;
  /** Threads the contender uses; selects the bandwidth reference. Defaults to `1`. */
  threads?: number;
  /** Minimum bytes moved per call for this contender, when different from the comparison's. */
  bytes?: number;
  /** Bytes written per call for this contender, when different from the comparison's (`bytes` should agree). */
  writeBytes?: number;
  /** Added to the row. */
  note?: string;
  /**
   * Each timed call is followed by one turn of the event loop (inside the timing), as in a training
   * loop that awaits between steps: finalizers (e.g. of pooled output memory) get to run. Timed by
   * `measureYielding` instead of benchmark.js.
   */
  yieldBetweenCalls?: boolean;
}

export interface Comparison {
  name: string;
  /** A variant of the same bench (e.g. a mode), added to the rows as `variant`. */
  variant?: string;
  shapeLabel: string;
  dims: Record<string, number>;
  /** Minimum bytes moved per call (inputs read + outputs written). */
  bytes: number;
  /**
   * Sigmoids one call evaluates (arithmetic-bound kernels): rows then report ns per sigmoid and the
   * probe's ns per sigmoid over it (`pctSigmoidBound`), instead of relying on GB/s.
   */
  sigmoids?: number;
  /** Of `bytes`, those read and those written: with them each row gets the streaming floor. */
  readBytes?: number;
  writeBytes?: number;
  /** The bandwidths of the floor, when not the run's start probe (see `floorProbe`). */
  probe?: BandwidthProbe;
  contenders: Contender[];
}

/**
 * The probe a comparison's floor uses: the run's start probe and one measured again just before the
 * comparison (same conditions as its contenders when other work on the machine comes and goes),
 * taking the higher of the two bandwidths each (the lower floor: % floor is never flattered by a
 * probe that happened to run while the machine was busy).
 */
export function floorProbe(start: BandwidthProbe): BandwidthProbe {
  const now = bandwidthProbe(true);
  return {
    ...start,
    read1: Math.max(start.read1, now.read1),
    readAll: Math.max(start.readAll, now.readAll),
    write1: Math.max(start.write1, now.write1),
    writeAll: Math.max(start.writeAll, now.writeAll),
    copy1: Math.max(start.copy1, now.copy1),
    copyAll: Math.max(start.copyAll, now.copyAll),
  };
}

/** The streaming floor of a call, ms (docs/benchmarks.md): read bytes at the read rate plus written bytes at the `memset` rate, all threads. */
export function floorMs(probe: BandwidthProbe, readBytes: number, writeBytes: number): number {
  return (readBytes / (probe.readAll * 1e9) + writeBytes / (probe.writeAll * 1e9)) * 1e3;
}

/** Last time per call of each (bench, contender), to skip a larger shape predicted to be too slow. */
const history = new Map<string, { seconds: number; bytes: number; shape: string }>();

/**
 * Run every contender of one comparison (same process, same inputs, one after the other) and return
 * one row each. A contender that throws (in setup, check or timing) gives a row with its error in
 * `note` and no numbers; one that would take longer than `skipAboveSeconds` (measured on its
 * checked call, or predicted from its time at a shape at most 64× smaller, scaled by bytes) is
 * skipped likewise.
 */
export async function compare(ctx: BenchContext, c: Comparison): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const k of c.contenders) {
    const threads = k.threads ?? 1;
    const bytes = k.bytes ?? c.bytes;
    const floor = c.readBytes !== undefined ? floorMs(c.probe ?? ctx.probe, c.readBytes, k.writeBytes ?? c.writeBytes ?? 0) : undefined;
    const row: BenchRow = {
      name: c.name,
      backend: k.backend,
      shape: c.shapeLabel,
      dims: c.dims,
      ...(c.variant ? { variant: c.variant } : {}),
      medianMs: null,
      spreadPct: null,
      rmePct: null,
      opsPerSec: null,
      samples: 0,
      bytes,
      threads,
      ...(floor !== undefined ? { floorMs: floor, pctFloor: null } : {}),
    };
    if (k.note) row.note = k.note;
    try {
      const key = `${c.name}|${c.variant ?? ''}|${k.backend}`;
      const seen = history.get(key);
      // Extrapolate at most 64× in bytes: a tiny shape's time is mostly fixed overhead.
      const predicted = seen && bytes <= 64 * seen.bytes ? (seen.seconds * bytes) / seen.bytes : 0;
      if (predicted * (ctx.minSamples + 2) > ctx.skipAboveSeconds) {
        row.note = `skipped: predicted ${predicted.toFixed(1)} s per call (scaled by bytes from the ${seen!.shape} shape; limit ${ctx.skipAboveSeconds} s per contender)`;
      } else {
        await k.setup?.();
        // The checked call doubles as warm-up and as the estimate of one call.
        const t0 = performance.now();
        if (k.check) k.check();
        else k.fn();
        const oneCall = (performance.now() - t0) / 1e3;
        history.set(key, { seconds: oneCall, bytes, shape: c.shapeLabel });
        if (oneCall * (ctx.minSamples + 1) > ctx.skipAboveSeconds) {
          row.note = `skipped: one call took ${oneCall.toFixed(2)} s (limit ${ctx.skipAboveSeconds} s per contender)`;
        } else {
          const m = k.yieldBetweenCalls
            ? await measureYielding(k.fn, ctx, oneCall < 0.05 ? 3 : 1)
            : measure(`${c.name} ${k.backend} ${c.shapeLabel}`, k.fn, ctx, oneCall < 0.05 ? 3 : 0);
          history.set(key, { seconds: m.medianMs / 1e3, bytes, shape: c.shapeLabel });
          row.medianMs = m.medianMs;
          row.spreadPct = m.spreadPct;
          row.rmePct = m.rmePct;
          row.opsPerSec = m.opsPerSec;
          row.samples = m.samples;
          row.meanMs = m.meanMs;
          row.minMs = m.minMs;
          row.cpuMs = m.cpuMs;
          row.gbPerSec = bytes / (m.medianMs / 1e3) / 1e9;
          const all = threads > 1;
          row.pctRead = (row.gbPerSec / (all ? ctx.probe.readAll : ctx.probe.read1)) * 100;
          row.pctCopy = (row.gbPerSec / (all ? ctx.probe.copyAll : ctx.probe.copy1)) * 100;
          if (floor !== undefined) row.pctFloor = (floor / m.medianMs) * 100;
          if (c.sigmoids !== undefined) {
            row.nsPerSigmoid = (m.medianMs * 1e6) / c.sigmoids;
            const probe = all ? ctx.probe.sigmoidNsAll : ctx.probe.sigmoidNs1;
            if (probe !== undefined) row.pctSigmoidBound = (probe / (row.nsPerSigmoid as number)) * 100;
          }
        }
      }
    } catch (err) {
      row.note = `failed: ${(err as Error).message.split('\n')[0]}`;
    } finally {
      try {
        await k.teardown?.();
      } catch (err) {
        row.note = `${row.note ? `${row.note}; ` : ''}teardown failed: ${(err as Error).message}`;
      }
    }
    ctx.log(`  ${c.name}${c.variant ? `[${c.variant}]` : ''} ${c.shapeLabel} ${k.backend}: ${row.medianMs === null ? row.note : `${row.medianMs.toPrecision(4)} ms`}`);
    rows.push(row);
  }
  const js = rows.find((r) => r.backend === 'js')?.medianMs ?? null;
  for (const r of rows) r.ratioToJs = js !== null && r.medianMs !== null ? js / r.medianMs : null;
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Bandwidth probe and environment
// ---------------------------------------------------------------------------------------------

/** JS fallback: best of `reps` passes of a 4-accumulator Float64Array sum (read) and `set` (copy). */
function jsBandwidth(bytes: number, reps: number): { read: number; copy: number; write: number } {
  const n = Math.floor(bytes / 8);
  const src = new Float64Array(n).fill(1);
  const dst = new Float64Array(n);
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i + 3 < n; i += 4) {
      s0 += src[i]!;
      s1 += src[i + 1]!;
      s2 += src[i + 2]!;
      s3 += src[i + 3]!;
    }
    sink += s0 + s1 + s2 + s3;
    best = Math.min(best, performance.now() - t);
  }
  let bestCopy = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    dst.set(src);
    bestCopy = Math.min(bestCopy, performance.now() - t);
  }
  let bestWrite = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    dst.fill(r + 2);
    bestWrite = Math.min(bestWrite, performance.now() - t);
  }
  if (sink !== (n - (n % 4)) * reps) throw new Error('bandwidth probe: wrong sum');
  // Copy moves 2× the buffer (read + write), as the addon probe counts it.
  return { read: (n * 8) / (best / 1e3) / 1e9, copy: (2 * n * 8) / (bestCopy / 1e3) / 1e9, write: (n * 8) / (bestWrite / 1e3) / 1e9 };
}

/**
 * Memory bandwidth of this machine, measured now: the addon's C++ probe on 1 thread and on all its
 * threads, or (no addon) the JS fallback on the single JS thread (then `readAll = read1`).
 */
export function bandwidthProbe(quick: boolean): BandwidthProbe {
  const bytes = (quick ? 128 : 256) * 1024 * 1024;
  const reps = quick ? 3 : 5;
  const { addon, error } = loadAddon();
  let note: string | undefined;
  if (addon) {
    try {
      const threads = addon.getNumThreads();
      const one = addon.memoryBandwidth({ bytes, reps, threads: 1 });
      const all = addon.memoryBandwidth({ bytes, reps, threads });
      const sigmoid = typeof addon.sigmoidThroughput === 'function';
      const sreps = quick ? 200 : 1000;
      return {
        ...(sigmoid
          ? {
              sigmoidNs1: addon.sigmoidThroughput({ count: 4096, reps: sreps, threads: 1 }),
              sigmoidNsAll: addon.sigmoidThroughput({ count: 4096, reps: sreps, threads }),
            }
          : {}),
        source: 'addon',
        bytes,
        threads,
        read1: one.readGBs,
        readAll: all.readGBs,
        copy1: one.copyGBs,
        copyAll: all.copyGBs,
        write1: one.writeGBs,
        writeAll: all.writeGBs,
      };
    } catch (err) {
      note = `addon probe failed: ${(err as Error).message}`;
    }
  } else {
    note = `no addon: ${error ?? 'not found'}`;
  }
  const js = jsBandwidth(bytes, reps);
  return { source: 'js-float64', bytes, threads: 1, read1: js.read, readAll: js.read, copy1: js.copy, copyAll: js.copy, write1: js.write, writeAll: js.write, note };
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function environment(): Environment {
  const cpus = os.cpus();
  const loaded = loadAddon();
  const bi = backendInfo();
  const env: Environment = {
    date: new Date().toISOString(),
    node: process.version,
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvg: Math.round(os.loadavg()[0]! * 100) / 100,
    gitCommit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'native', 'bench']) !== '',
    addon: { loaded: loaded.addon !== null },
    backends: bi.available,
  };
  if (loaded.addon) {
    const b = loaded.addon.buildInfo;
    env.addon = { loaded: true, builder: b.builder, cuda: b.cuda, version: b.version, path: path.relative(repoRoot, loaded.path ?? ''), threads: loaded.addon.getNumThreads() };
  } else {
    env.addon.error = loaded.error ?? 'not found';
  }
  if (bi.device) env.cudaDevice = bi.device;
  if (bi.cudaError) env.cudaError = bi.cudaError;
  env.tfjs = { version: tf.version_core, backends: ['tensorflow', 'wasm', 'cpu'].filter((b) => tf.findBackendFactory(b) !== null) };
  return env;
}

export async function makeContext(
  quick: boolean,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  shapes: string[] = [],
): Promise<BenchContext> {
  const env = environment();
  log(`bandwidth probe (${quick ? 'quick' : 'full'})...`);
  const probe = bandwidthProbe(quick);
  return { ...benchOptions(quick), shapes, env, probe, log };
}

/** The contract's shapes, restricted to `ctx.shapes` when given; `--quick` alone runs small and medium. */
export function selectedShapes(ctx: Pick<BenchContext, 'shapes' | 'quick'>): typeof SHAPES {
  if (ctx.shapes.length > 0) return SHAPES.filter((s) => ctx.shapes.includes(s.label));
  return ctx.quick ? SHAPES.filter((s) => s.label !== 'large') : SHAPES;
}

/** Fill in what a module left out when it is called with a partial context. */
export async function completeContext(ctx?: Partial<BenchContext>): Promise<BenchContext> {
  if (ctx && ctx.env && ctx.probe && ctx.log && ctx.maxTime !== undefined) return ctx as BenchContext;
  const base = await makeContext(ctx?.quick ?? false, ctx?.log, ctx?.shapes);
  return { ...base, ...ctx } as BenchContext;
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/**
 * Seeded benchmark inputs: embeddings `[B][G][2k]` ~ N(0, 1) and GPM eigenvalues `[B][k]`, a softmax
 * of N(0, 1) logits per group (as the default gate produces). All responses valid.
 */
export function gprlInputs(shape: GroupShape, seed = 1): { embeddings: Float32Array; lambdas: Float32Array } {
  const { groups, groupSize, dims } = shape;
  const rng = new Rng(seed);
  const embeddings = rng.normalArray(groups * groupSize * 2 * dims);
  const lambdas = new Float32Array(groups * dims);
  for (let b = 0; b < groups; b++) {
    let sum = 0;
    for (let l = 0; l < dims; l++) {
      const v = Math.exp(rng.normal());
      lambdas[b * dims + l] = v;
      sum += v;
    }
    for (let l = 0; l < dims; l++) lambdas[b * dims + l]! /= sum;
  }
  return { embeddings, lambdas };
}

/**
 * Throw when `got` and `want` differ beyond `atol + rtol·|want|` anywhere (`atol` may depend on the
 * index), naming the first
 * mismatches (index, got, want). NaN matches NaN only.
 */
export function assertClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number | ((index: number) => number),
): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, want ${want.length}`);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const tol = (typeof atol === 'number' ? atol : atol(i)) + rtol * Math.abs(w);
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= tol;
    if (!ok) {
      count++;
      if (bad.length < 3) bad.push(`[${i}] got ${g}, want ${w}`);
    }
  }
  if (count > 0) {
    const a = typeof atol === 'number' ? `atol ${atol}` : 'scaled atol';
    throw new Error(`${what}: ${count} of ${got.length} values differ (rtol ${rtol}, ${a}): ${bad.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Output: table and JSONL rows
// ---------------------------------------------------------------------------------------------

function fmt(v: unknown, digits = 3): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(digits);
}

function num(row: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (row[k] !== undefined) return row[k];
  return undefined;
}

function tableCells(rows: readonly Record<string, unknown>[]): { header: string[]; lines: string[][] } {
  const header = ['bench', 'shape', 'backend', 'ops/s', 'median ms', 'IQR', 'cpu ms', '× js', 'MB', 'GB/s', '% read bw', '% floor', 'note'];
  const known = new Set(['name', 'shape', 'backend', 'opsPerSec', 'ops', 'hz', 'medianMs', 'median_ms', 'median', 'spreadPct', 'spread', 'ratioToJs', 'bytes', 'gbPerSec', 'pctRead', 'note', 'dims', 'samples', 'rmePct', 'meanMs', 'minMs', 'threads', 'env', 'stem', 'cpuMs', 'variant', 'pctCopy', 'floorMs', 'pctFloor']);
  const lines = rows.map((r) => {
    const shape = typeof r.shape === 'string' ? r.shape : JSON.stringify(r.shape ?? '');
    const spread = num(r, 'spreadPct', 'spread');
    const bytes = r.bytes;
    const extras = Object.entries(r)
      .filter(([k, v]) => !known.has(k) && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
      .map(([k, v]) => `${k}=${fmt(v)}`);
    const note = [r.note, ...extras].filter((x) => x !== undefined && x !== '').join(' ');
    return [
      String(r.name ?? '') + (typeof r.variant === 'string' ? `[${r.variant}]` : ''),
      shape,
      String(r.backend ?? ''),
      fmt(num(r, 'opsPerSec', 'ops', 'hz')),
      fmt(num(r, 'medianMs', 'median_ms', 'median'), 4),
      typeof spread === 'number' ? `${fmt(spread, 2)}%` : fmt(spread),
      fmt(r.cpuMs, 4),
      typeof r.ratioToJs === 'number' ? `${fmt(r.ratioToJs)}×` : '—',
      typeof bytes === 'number' ? fmt(bytes / 1e6) : '—',
      fmt(r.gbPerSec),
      typeof r.pctRead === 'number' ? `${fmt(r.pctRead, 2)}%` : '—',
      typeof r.pctFloor === 'number' ? `${fmt(r.pctFloor, 2)}%` : '—',
      note,
    ];
  });
  return { header, lines };
}

/** A fixed-width text table of rows (works for rows from any module: unknown keys are shown as extras). */
export function formatTable(rows: readonly Record<string, unknown>[]): string {
  const { header, lines } = tableCells(rows);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const pad = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [pad(header), pad(widths.map((w) => '-'.repeat(w))), ...lines.map(pad)].join('\n');
}

/** The same table in Markdown. */
export function formatMarkdown(rows: readonly Record<string, unknown>[]): string {
  const { header, lines } = tableCells(rows);
  const row = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...lines.map(row)].join('\n');
}

/** The probe as a short paragraph for the top of the output. */
export function formatProbe(p: BandwidthProbe): string {
  const src = p.source === 'addon' ? 'C++ addon probe' : 'JS Float64Array probe (no addon)';
  const head = `memory bandwidth (${src}, ${(p.bytes / 2 ** 20).toFixed(0)} MiB buffer): read ${p.read1.toFixed(1)} GB/s (1 thread), ${p.readAll.toFixed(1)} GB/s (${p.threads} threads); copy ${p.copy1.toFixed(1)} / ${p.copyAll.toFixed(1)} GB/s; write (memset) ${p.write1.toFixed(1)} / ${p.writeAll.toFixed(1)} GB/s${
    p.sigmoidNs1 !== undefined ? `\nsigmoid throughput (float64 exp, in L1): ${p.sigmoidNs1.toFixed(2)} ns (1 thread), ${p.sigmoidNsAll!.toFixed(2)} ns (${p.threads} threads) per sigmoid` : ''
  }`;
  return p.note ? `${head}\n  (${p.note})` : head;
}

export function formatEnvironment(e: Environment): string {
  const addon = e.addon.loaded
    ? `addon ${e.addon.builder ?? '?'} build${e.addon.cuda ? ' +CUDA' : ''}, ${e.addon.threads ?? '?'} threads`
    : `no addon (${e.addon.error ?? 'not found'})`;
  return `${e.date} node ${e.node}, ${e.os}, ${e.cpu} × ${e.cores} (load ${e.loadAvg}), ${addon}, backends ${e.backends.join('/')}, commit ${e.gitCommit}${e.gitDirty ? '+dirty' : ''}`;
}

/** Append rows (each with the environment and probe) to `<dir>/<stem>.jsonl`, atomically (temp + rename). */
export function appendRows(dir: string, stem: string, rows: readonly Record<string, unknown>[], ctx: Pick<BenchContext, 'env' | 'probe' | 'quick'>): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stem}.jsonl`);
  const previous = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const lines = rows.map((r) => JSON.stringify({ ...r, quick: ctx.quick, probe: ctx.probe, env: ctx.env }));
  const text = (previous && !previous.endsWith('\n') ? `${previous}\n` : previous) + lines.join('\n') + '\n';
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

export interface CliArgs {
  quick: boolean;
  markdown: boolean;
  filter: string[];
  shapes: string[];
  out: string | null;
}

/** `--quick`, `--filter <stem>` and `--shapes <label>` (repeatable, or comma-separated), `--out <dir>`, `--markdown`. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { quick: false, markdown: false, filter: [], shapes: [], out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') throw new Error(`bench: ${a} needs a value`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--markdown') args.markdown = true;
    else if (a === '--filter' || a.startsWith('--filter=')) args.filter.push(...value().split(',').filter(Boolean));
    else if (a === '--shapes' || a.startsWith('--shapes=')) args.shapes.push(...value().split(',').filter(Boolean));
    else if (a === '--out' || a.startsWith('--out=')) args.out = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick] [--filter <stem>[,<stem>...]] [--shapes small,medium,large] [--out <dir>] [--markdown]\n');
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${JSON.stringify(a)} (try --help)`);
  }
  return args;
}

/** True when the module at `metaUrl` is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && path.resolve(entry) === fileURLToPath(metaUrl);
}

/**
 * Run one bench module on its own (`npx tsx bench/<stem>.bench.ts [--quick] [--out dir]`): prints its
 * table; writes rows only when `--out` is given.
 */
export async function runStandalone(stem: string, run: (ctx: BenchContext) => Promise<BenchRow[]>): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ctx = await makeContext(args.quick, undefined, args.shapes);
  process.stdout.write(`${formatEnvironment(ctx.env)}\n${formatProbe(ctx.probe)}\n\n`);
  const rows = await run(ctx);
  process.stdout.write(`${formatTable(rows)}\n`);
  if (args.out) process.stdout.write(`rows appended to ${appendRows(args.out, stem, rows, ctx)}\n`);
}

/**
 * One contender per kernel backend available here (`js`, `cpu`, `cuda`): `call(backend)` is one
 * public-API call; its output is checked against `reference` with `check` before timing. The C++
 * path is credited with the addon's thread count (its bandwidth reference is the all-threads probe).
 */
export function backendContenders<T>(
  ctx: BenchContext,
  call: (backend: ResolvedBackend) => T,
  check: (got: T, backend: ResolvedBackend) => void,
): Contender[] {
  return backendInfo().available
    .slice()
    .reverse() // js first: it is the baseline of the ratios
    .map((backend) => ({
      backend,
      fn: () => call(backend),
      check: () => check(call(backend), backend),
      threads: backend === 'cpu' ? (ctx.env.addon.threads ?? 1) : 1,
    }));
}
