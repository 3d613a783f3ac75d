/** Shared plumbing of the kernel wrappers: output allocation, native argument objects, deferral. */
import {
  MODE_LOGIT,
  MODE_WINRATE,
  NORMALIZE_GDPO,
  NORMALIZE_PER_DIMENSION,
  NORMALIZE_SCALAR,
  type DeviceCode,
  type NativeAdvantageParams,
} from '../native/addon.js';
import type { GroupShape, NormalizeMode, ScoreMode } from '../types.js';
import type { AdvantageOutputs } from './js/groupAdvantages.js';
import type { ResolvedCall } from '../backend.js';
import { pooledOutput } from '../native/outputPool.js';
import { allocateOutput, type OutputAllocator, type ResolvedAdvantageOptions } from './validate.js';

export function modeCode(mode: ScoreMode): number {
  return mode === 'logit' ? MODE_LOGIT : MODE_WINRATE;
}

export function normalizeCode(normalize: NormalizeMode): number {
  return normalize === 'per-dimension' ? NORMALIZE_PER_DIMENSION : normalize === 'scalar' ? NORMALIZE_SCALAR : NORMALIZE_GDPO;
}

/** The input arrays of an advantage call (outputs must not overlap them). */
export function inputViews(data: Float32Array, opts: ResolvedAdvantageOptions): ArrayBufferView[] {
  return [data, opts.lambdas, opts.dimWeights, opts.mask].filter((a): a is NonNullable<typeof a> => a !== null);
}

/** An empty array (an output not requested) goes to the addon as null: the kernel skips it. */
function requestedOrNull(a: Float32Array): Float32Array | null {
  return a.length > 0 ? a : null;
}

/**
 * Where a call's fresh output arrays come from: on a native backend, large ones from the addon's
 * recycled output memory (`src/native/outputPool.ts`); otherwise fresh `Float32Array`s.
 */
export function outputAllocator(call: ResolvedCall): OutputAllocator {
  return call.addon ? pooledOutput : allocateOutput;
}

/** The native argument fields shared by `groupAdvantages` and `gprlAdvantages`. */
export function nativeAdvantageParams(
  shape: GroupShape,
  opts: ResolvedAdvantageOptions,
  device: DeviceCode,
  out: AdvantageOutputs,
): NativeAdvantageParams {
  return {
    groups: shape.groups,
    groupSize: shape.groupSize,
    dims: shape.dims,
    lambdas: opts.lambdas,
    dimWeights: opts.dimWeights,
    mask: opts.mask,
    eps: opts.eps,
    stdFloor: opts.stdFloor,
    unbiased: opts.unbiased,
    normalize: normalizeCode(opts.normalize),
    device,
    advantages: requestedOrNull(out.advantages),
    dimAdvantages: requestedOrNull(out.dimAdvantages),
    dimMean: requestedOrNull(out.dimMean),
    dimStd: requestedOrNull(out.dimStd),
  };
}

/** Resolve on a later turn of the event loop (the TypeScript path of the async entry points). */
export function laterTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
