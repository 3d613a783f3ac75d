/**
 * The whole native surface, as one TypeScript interface, and the only place that loads the `.node`.
 *
 * Loading order: `GPRL_ADDON_PATH` (an explicit `.node` file), then node-gyp-build's search
 * (a local `build/Release` build, then `prebuilds/<platform>-<arch>/`). `GPRL_DISABLE_NATIVE=1`
 * skips the addon entirely (the TypeScript path runs).
 *
 * Every kernel entry takes one plain object of typed arrays and numbers; outputs are preallocated by
 * the caller and written in place (zero-copy). Shapes and options are validated in TypeScript before
 * the call; the binding re-checks lengths and types and throws on mismatch. `device` is 0 for the C++
 * path and 1 for CUDA. With `async: true` the work runs in a `Napi::AsyncWorker` and a Promise is
 * returned.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const DEVICE_CPU = 0;
export const DEVICE_CUDA = 1;
export type DeviceCode = typeof DEVICE_CPU | typeof DEVICE_CUDA;

export const MODE_LOGIT = 0;
export const MODE_WINRATE = 1;
export const NORMALIZE_PER_DIMENSION = 0;
export const NORMALIZE_SCALAR = 1;
export const NORMALIZE_GDPO = 2;

export interface NativeGroupScoresArgs {
  embeddings: Float32Array; // B*G*2k
  groups: number;
  groupSize: number;
  dims: number;
  mode: number; // MODE_*
  tau: number;
  mask: Uint8Array | null; // B*G
  device: DeviceCode;
  out: Float32Array; // B*G*k
}

export interface NativeAdvantageParams {
  groups: number;
  groupSize: number;
  dims: number;
  lambdas: Float32Array | null; // B*k
  dimWeights: Float32Array | null; // k
  mask: Uint8Array | null; // B*G
  eps: number;
  stdFloor: number;
  unbiased: boolean;
  normalize: number; // NORMALIZE_*
  device: DeviceCode;
  // Outputs; null = not requested (not written).
  advantages: Float32Array | null; // B*G
  dimAdvantages: Float32Array | null; // B*G*k
  dimMean: Float32Array | null; // B*k
  dimStd: Float32Array | null; // B*k
}

export interface NativeGroupAdvantagesArgs extends NativeAdvantageParams {
  scores: Float32Array; // B*G*k
}

export interface NativeGprlAdvantagesArgs extends NativeAdvantageParams {
  embeddings: Float32Array; // B*G*2k
  mode: number;
  tau: number;
  scores: Float32Array | null; // B*G*k, output (null = not requested)
}

export interface NativePreferenceMatrixArgs {
  embeddings: Float32Array; // B*G*2k
  groups: number;
  groupSize: number;
  dims: number;
  lambdas: Float32Array | null; // B*k
  tau: number;
  device: DeviceCode;
  out: Float32Array; // B*G*G
}

/** `policy_loss` (docs/policy-loss.md). Codes: kl 0 = k1, 1 = k2, 2 = k3; aggregation 0 = token-mean, 1 = sequence-mean, 2 = constant. */
export interface NativePolicyLossArgs {
  logp: Float32Array; // N*T
  logpOld: Float32Array; // N*T
  logpRef: Float32Array | null; // N*T
  advantages: Float32Array; // N
  mask: Uint8Array; // N*T
  policyMask: Uint8Array | null; // N*T: nonzero = the policy term counts; null = every token
  sequences: number; // N
  tokens: number; // T
  epsilonLow: number;
  epsilonHigh: number;
  dualClip: number; // 0 = off
  beta: number;
  kl: number;
  aggregation: number;
  maxLength: number;
  importanceSampling: number; // 0 = token, 1 = sequence
  surrogate: number; // 0 = clip, 1 = cispo, 2 = sapo
  sapoTemperaturePos: number; // > 0
  sapoTemperatureNeg: number; // > 0
  numTokens: number; // token-mean denominator, 0 = valid tokens
  numSequences: number; // sequence-mean denominator, 0 = sequences with a valid token
  device: DeviceCode;
  grad: Float32Array; // N*T, output
}

/** Loss and metrics of `policy_loss`. */
export interface NativePolicyLossResult {
  loss: number;
  clipFracLow: number;
  clipFracHigh: number;
  dualClipFrac: number;
  meanRatio: number;
  meanKl: number;
  validTokens: number;
  nonFinite: number;
}

export interface NativeOutputPoolStats {
  idleBytes: number;
  liveBytes: number;
  hits: number;
  misses: number;
  declined: number;
  /** Caps: idle bytes kept for reuse, and bytes of live pooled arrays before the pool declines. */
  maxIdleBytes: number;
  maxLiveBytes: number;
}

/** Counts returned by the advantage kernels. */
export interface NativeAdvantageCounts {
  degenerate: number;
  masked: number;
}

export interface NativeCudaStatus {
  /** CUDA code was compiled into this binary. */
  compiled: boolean;
  /** A driver and at least one device work. */
  available: boolean;
  deviceCount: number;
  device?: string;
  error?: string;
}

export interface NativeAddon {
  readonly buildInfo: { builder: 'cmake' | 'gyp'; cuda: boolean; cudaArchitectures: string; version: string };
  cudaStatus(): NativeCudaStatus;
  /** Worker threads the C++ path may use (defaults to the hardware concurrency; `GPRL_NUM_THREADS` overrides). */
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /**
   * Memory-bandwidth probe: streams `bytes` (read-only sum, and copy) `reps` times on `threads` threads and
   * reports the best repetition. `readGBs` = bytes read per second / 1e9; `copyGBs` = (bytes read + bytes
   * written) per second / 1e9 for the copy; `writeGBs` = bytes written per second / 1e9 by `memset`.
   * `bytes` ≥ 4096, `reps` in [1, 1000], `threads` in [1, 4096].
   */
  memoryBandwidth(args: { bytes: number; reps: number; threads: number }): { readGBs: number; copyGBs: number; writeGBs: number };
  /**
   * Arithmetic probe: nanoseconds of wall time per sigmoid (the kernels' float64 `exp`-based one) with
   * `threads` threads each evaluating `count` inputs (in L1) `reps` times; best of 3.
   */
  sigmoidThroughput(args: { count: number; reps: number; threads: number }): number;
  /**
   * A Float32Array of `length` elements over recycled native memory (contents unspecified: the
   * kernels overwrite every element of an output), or null when the pool declines (external
   * buffers not allowed in this runtime, or its live-bytes cap reached). The memory returns to the
   * pool when the array is garbage collected (its finalizer, on a later turn of the event loop).
   */
  pooledFloat32Array(length: number): Float32Array | null;
  /** Counters of the output pool (bytes idle in the pool and held by live arrays; hits, misses, declines). */
  outputPoolStats(): NativeOutputPoolStats;

  groupScores(args: NativeGroupScoresArgs, async?: false): void;
  groupScores(args: NativeGroupScoresArgs, async: true): Promise<void>;
  groupAdvantages(args: NativeGroupAdvantagesArgs, async?: false): NativeAdvantageCounts;
  groupAdvantages(args: NativeGroupAdvantagesArgs, async: true): Promise<NativeAdvantageCounts>;
  gprlAdvantages(args: NativeGprlAdvantagesArgs, async?: false): NativeAdvantageCounts;
  gprlAdvantages(args: NativeGprlAdvantagesArgs, async: true): Promise<NativeAdvantageCounts>;
  preferenceMatrix(args: NativePreferenceMatrixArgs, async?: false): void;
  preferenceMatrix(args: NativePreferenceMatrixArgs, async: true): Promise<void>;
  policyLoss(args: NativePolicyLossArgs, async?: false): NativePolicyLossResult;
  policyLoss(args: NativePolicyLossArgs, async: true): Promise<NativePolicyLossResult>;
}

export interface LoadedAddon {
  addon: NativeAddon | null;
  path?: string;
  error?: string;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let cached: LoadedAddon | undefined;

/** Load the addon once; never throws (the TypeScript path is the fallback). */
export function loadAddon(): LoadedAddon {
  if (cached) return cached;
  if (process.env.GPRL_DISABLE_NATIVE === '1') {
    cached = { addon: null, error: 'disabled by GPRL_DISABLE_NATIVE=1' };
    return cached;
  }
  const require = createRequire(import.meta.url);
  try {
    const explicit = process.env.GPRL_ADDON_PATH;
    if (explicit) {
      const p = path.resolve(explicit);
      cached = { addon: require(p) as NativeAddon, path: p };
    } else {
      const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
      const p = nodeGypBuild.resolve(packageRoot);
      cached = { addon: require(p) as NativeAddon, path: p };
    }
  } catch (err) {
    cached = { addon: null, error: (err as Error).message.split('\n')[0] ?? String(err) };
  }
  return cached;
}
