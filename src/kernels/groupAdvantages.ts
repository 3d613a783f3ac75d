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
  ADVANTAGE_KEYS,
  advantageOutputs,
  resolveAdvantageOptions,
  resolveOutputs,
  snapshotOptions,
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

/** Validate a call: options read once, first; `async` rejects resizable buffers (see gprlAdvantages.ts). */
function prepare(scores: unknown, shape: unknown, options: unknown, async: boolean): Prepared {
  const s = validateShape(shape, advantageOutputs(false));
  const o = snapshotOptions(options, ADVANTAGE_KEYS, false);
  const sc = validateScores(scores, s, async);
  const opts = resolveAdvantageOptions(o.fields, s, async);
  const call = resolveBackend(o.fields.backend);
  const { advantages, dimAdvantages, dimMean, dimStd } = resolveOutputs(o.out, s, false, inputViews(sc, opts), async);
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
  const p = prepare(scores, shape, options, false);
  const counts = p.call.addon
    ? p.call.addon.groupAdvantages(nativeArgs(p), false)
    : groupAdvantagesJs(p.scores, p.shape, p.opts, p.out);
  return result(p, counts);
}

/**
 * `groupAdvantages` off the JavaScript thread (native backends run in a worker; the TypeScript path
 * runs on a later tick).
 * The arrays passed must not be modified, transferred or detached until the promise settles;
 * arrays over resizable or growable buffers are rejected (docs/kernels.md, "Arguments").
 */
export async function groupAdvantagesAsync(
  scores: Float32Array,
  shape: GroupShape,
  options?: AdvantageOptions,
): Promise<AdvantageResult> {
  const p = prepare(scores, shape, options, true);
  let counts: AdvantageCounts;
  if (p.call.addon) {
    counts = await p.call.addon.groupAdvantages(nativeArgs(p), true);
  } else {
    await laterTick();
    counts = groupAdvantagesJs(p.scores, p.shape, p.opts, p.out);
  }
  return result(p, counts);
}
