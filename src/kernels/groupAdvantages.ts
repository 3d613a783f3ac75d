/**
 * `groupAdvantages`: per-dimension normalization of group scores and their weighted aggregation
 * into one advantage per response (design §2.3, docs/kernels.md).
 */
import { resolveBackend, type ResolvedCall } from '../backend.js';
import type { NativeGroupAdvantagesArgs } from '../native/addon.js';
import type { AdvantageOptions, AdvantageResult, GroupShape } from '../types.js';
import { inputViews, laterTick, nativeAdvantageParams } from './dispatch.js';
import { groupAdvantagesJs, type AdvantageCounts, type AdvantageOutputs } from './js/groupAdvantages.js';
import {
  backendOption,
  resolveAdvantageOptions,
  resolveOutputs,
  validateScores,
  validateShape,
  type ResolvedAdvantageOptions,
} from './validate.js';

interface Prepared {
  scores: Float32Array;
  shape: GroupShape;
  opts: ResolvedAdvantageOptions;
  call: ResolvedCall;
  out: AdvantageOutputs;
}

function prepare(scores: unknown, shape: unknown, options: unknown): Prepared {
  const s = validateShape(shape);
  const sc = validateScores(scores, s);
  const opts = resolveAdvantageOptions(options, s);
  const call = resolveBackend(backendOption(options));
  const { advantages, dimAdvantages, dimMean, dimStd } = resolveOutputs(options, s, false, inputViews(sc, opts));
  return { scores: sc, shape: s, opts, call, out: { advantages, dimAdvantages, dimMean, dimStd } };
}

function nativeArgs(p: Prepared): NativeGroupAdvantagesArgs {
  return { ...nativeAdvantageParams(p.shape, p.opts, p.call.device, p.out), scores: p.scores };
}

function result(p: Prepared, counts: AdvantageCounts): AdvantageResult {
  return { ...p.out, degenerate: counts.degenerate, masked: counts.masked, backend: p.call.backend };
}

/**
 * Group-relative advantages from per-dimension scores: each dimension normalized within its group,
 * then aggregated with the weights `m·λ / Σ m·λ` (or normalized as one scalar, or GDPO-style).
 *
 * @param scores ŝ, `groups·groupSize·dims` values `[B][G][k]` (e.g. from `groupScores`). A response
 *   with a non-finite score is invalid, like a masked one.
 * @param shape `{ groups, groupSize, dims }`.
 */
export function groupAdvantages(scores: Float32Array, shape: GroupShape, options?: AdvantageOptions): AdvantageResult {
  const p = prepare(scores, shape, options);
  const counts = p.call.addon
    ? p.call.addon.groupAdvantages(nativeArgs(p), false)
    : groupAdvantagesJs(p.scores, p.shape, p.opts, p.out);
  return result(p, counts);
}

/**
 * `groupAdvantages` off the JavaScript thread (native backends run in a worker; the TypeScript path
 * runs on a later tick). The input arrays must not be modified until the promise settles.
 */
export async function groupAdvantagesAsync(
  scores: Float32Array,
  shape: GroupShape,
  options?: AdvantageOptions,
): Promise<AdvantageResult> {
  const p = prepare(scores, shape, options);
  let counts: AdvantageCounts;
  if (p.call.addon) {
    counts = await p.call.addon.groupAdvantages(nativeArgs(p), true);
  } else {
    await laterTick();
    counts = groupAdvantagesJs(p.scores, p.shape, p.opts, p.out);
  }
  return result(p, counts);
}
