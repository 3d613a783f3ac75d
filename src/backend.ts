/** Backend selection: which implementation runs a kernel call. */
import { loadAddon, DEVICE_CPU, DEVICE_CUDA, type NativeAddon, type DeviceCode } from './native/addon.js';
import { assertOneOf } from './errors.js';
import type { Backend, BackendInfo, ResolvedBackend } from './types.js';

const BACKENDS = ['auto', 'cuda', 'cpu', 'js'] as const;

/**
 * What a call computes, for `'auto'` (docs/kernels.md, "When 'auto' picks CUDA"): the pairwise
 * evaluations `pairs` = B·G²·k of the O(G²) kernels (win-rate scores, preference matrix) and the
 * group size G. Memory-bound calls pass nothing.
 */
export interface AutoWork {
  pairs: number;
  groupSize: number;
}

/** `'auto'` runs a call on CUDA only when its pairwise work reaches this (`GPRL_AUTO_CUDA_MIN_PAIRS` overrides). */
export const AUTO_CUDA_MIN_PAIRS = 2 ** 28;
/** ... and its groups have at least this many responses (pairs per byte copied to the device ≈ G/12). */
export const AUTO_CUDA_MIN_GROUP_SIZE = 32;

/** The work of an O(G²) call of this shape. */
export function pairwiseWork(shape: { groups: number; groupSize: number; dims: number }): AutoWork {
  return { pairs: shape.groups * shape.groupSize * shape.groupSize * shape.dims, groupSize: shape.groupSize };
}

/** `GPRL_AUTO_CUDA_MIN_PAIRS`: a number ≥ 0 or `Infinity` (never); unset: AUTO_CUDA_MIN_PAIRS. */
export function autoCudaMinPairs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.GPRL_AUTO_CUDA_MIN_PAIRS;
  if (text === undefined || text === '') return AUTO_CUDA_MIN_PAIRS;
  const v = text.trim() === 'Infinity' ? Infinity : /^\s*\d+(\.\d+)?(e\d+)?\s*$/i.test(text) ? Number(text) : NaN;
  if (!(v >= 0)) {
    throw new RangeError(
      `gprl: invalid GPRL_AUTO_CUDA_MIN_PAIRS: expected a number >= 0 or Infinity, got ${JSON.stringify(text)}`,
    );
  }
  return v;
}

/**
 * The backend `'auto'` picks among `available` (best first) for a call with this work: CUDA only for
 * O(G²) calls with at least `minPairs` pairwise evaluations and groups of at least
 * AUTO_CUDA_MIN_GROUP_SIZE; every other call on the C++ path (host arrays would cross PCIe both ways,
 * which takes longer than the C++ path's single pass over the same bytes), else TypeScript.
 */
export function autoBackend(
  available: readonly ResolvedBackend[],
  work: AutoWork | undefined,
  minPairs: number,
): ResolvedBackend {
  if (
    available.includes('cuda') &&
    work !== undefined &&
    work.groupSize >= AUTO_CUDA_MIN_GROUP_SIZE &&
    work.pairs >= minPairs
  ) {
    return 'cuda';
  }
  return available.find((b) => b !== 'cuda') ?? 'js';
}

/**
 * `GPRL_CUDA_DEVICE`: the CUDA device index the kernels use (default 0). A malformed value, or an
 * index beyond the devices present, makes `'cuda'` and `'auto'` throw a RangeError.
 */
function cudaDeviceError(deviceCount: number): string | undefined {
  const text = process.env.GPRL_CUDA_DEVICE;
  if (text === undefined || text === '') return undefined;
  const ok = /^\d+$/.test(text) && Number(text) <= 1023 && (deviceCount === 0 || Number(text) < deviceCount);
  if (ok) return undefined;
  const range = deviceCount > 0 ? `an integer in [0, ${deviceCount})` : 'a CUDA device index (a decimal integer >= 0)';
  return `gprl: invalid GPRL_CUDA_DEVICE: expected ${range}, got ${JSON.stringify(text)}`;
}

let info: BackendInfo | undefined;
let deviceError: string | undefined;

/** What is available on this machine. Computed once (CUDA probing is not free). */
export function backendInfo(): BackendInfo {
  if (info) return { ...info, available: [...info.available] };
  const loaded = loadAddon();
  const available: ResolvedBackend[] = [];
  const result: BackendInfo = { available, default: 'js' };
  if (loaded.addon) {
    const a = loaded.addon;
    result.build = { builder: a.buildInfo.builder, cuda: a.buildInfo.cuda, path: loaded.path ?? '' };
    let cuda;
    try {
      cuda = a.cudaStatus();
    } catch (err) {
      cuda = { compiled: a.buildInfo.cuda, available: false, deviceCount: 0, error: (err as Error).message };
    }
    deviceError = cudaDeviceError(cuda.deviceCount ?? 0);
    if (cuda.available && process.env.GPRL_DISABLE_CUDA !== '1') {
      available.push('cuda');
      if (cuda.device) result.device = cuda.device;
    } else {
      result.cudaError =
        process.env.GPRL_DISABLE_CUDA === '1'
          ? 'disabled by GPRL_DISABLE_CUDA=1'
          : !cuda.compiled
            ? 'the addon was built without CUDA'
            : (cuda.error ?? 'no CUDA device');
    }
    available.push('cpu');
  } else {
    result.addonError = loaded.error ?? 'native addon not found';
    result.cudaError = 'native addon not loaded';
  }
  available.push('js');
  result.default = autoBackend(available, undefined, AUTO_CUDA_MIN_PAIRS);
  info = result;
  return { ...result, available: [...available] };
}

export interface ResolvedCall {
  backend: ResolvedBackend;
  addon: NativeAddon | null;
  device: DeviceCode;
}

/**
 * Resolve a requested backend; throws a clear Error when an explicit backend is unavailable.
 * `work` describes an O(G²) call for the `'auto'` rule (autoBackend); omitted: memory-bound.
 */
export function resolveBackend(requested: unknown, name = 'options.backend', work?: AutoWork): ResolvedCall {
  const req: Backend = requested === undefined ? 'auto' : (assertOneOf(name, requested, BACKENDS), requested);
  const bi = backendInfo();
  if (deviceError !== undefined && (req === 'cuda' || req === 'auto')) throw new RangeError(deviceError);
  const backend: ResolvedBackend = req === 'auto' ? autoBackend(bi.available, work, autoCudaMinPairs()) : req;
  if (!bi.available.includes(backend)) {
    const why = backend === 'cuda' ? bi.cudaError : bi.addonError;
    throw new Error(`gprl: backend '${backend}' is not available${why ? `: ${why}` : ''}`);
  }
  if (backend === 'js') return { backend, addon: null, device: DEVICE_CPU };
  const addon = loadAddon().addon as NativeAddon;
  return { backend, addon, device: backend === 'cuda' ? DEVICE_CUDA : DEVICE_CPU };
}
