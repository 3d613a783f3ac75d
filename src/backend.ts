/** Backend selection: which implementation runs a kernel call. */
import { loadAddon, DEVICE_CPU, DEVICE_CUDA, type NativeAddon, type DeviceCode } from './native/addon.js';
import { assertOneOf } from './errors.js';
import type { Backend, BackendInfo, ResolvedBackend } from './types.js';

const BACKENDS = ['auto', 'cuda', 'cpu', 'js'] as const;

let info: BackendInfo | undefined;

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
  result.default = available[0] ?? 'js';
  info = result;
  return { ...result, available: [...available] };
}

export interface ResolvedCall {
  backend: ResolvedBackend;
  addon: NativeAddon | null;
  device: DeviceCode;
}

/** Resolve a requested backend; throws a clear Error when an explicit backend is unavailable. */
export function resolveBackend(requested: unknown, name = 'options.backend'): ResolvedCall {
  const req: Backend = requested === undefined ? 'auto' : (assertOneOf(name, requested, BACKENDS), requested);
  const bi = backendInfo();
  const backend: ResolvedBackend = req === 'auto' ? bi.default : req;
  if (!bi.available.includes(backend)) {
    const why = backend === 'cuda' ? bi.cudaError : bi.addonError;
    throw new Error(`gprl: backend '${backend}' is not available${why ? `: ${why}` : ''}`);
  }
  if (backend === 'js') return { backend, addon: null, device: DEVICE_CPU };
  const addon = loadAddon().addon as NativeAddon;
  return { backend, addon, device: backend === 'cuda' ? DEVICE_CUDA : DEVICE_CPU };
}
