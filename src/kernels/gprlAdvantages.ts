/**
 * `gprlAdvantages`: the fused GPRL kernel, `groupScores` then `groupAdvantages` in one pass
 * (design §2.2–2.3, docs/kernels.md).
 */
import { pairwiseWork, resolveBackend, type ResolvedCall } from '../backend.js';
import type { NativeGprlAdvantagesArgs } from '../native/addon.js';
import type { GprlAdvantageOptions, GprlAdvantageResult, GroupShape } from '../types.js';
import { inputViews, laterTick, modeCode, nativeAdvantageParams, outputAllocator } from './dispatch.js';
import type { AdvantageCounts, AdvantageOutputs } from './js/groupAdvantages.js';
import { gprlAdvantagesJs } from './js/gprlAdvantages.js';
import {
  advantageOutputs,
  GPRL_KEYS,
  resolveGprlOptions,
  resolveOutputs,
  snapshotOptions,
  validateEmbeddings,
  validateOutputNames,
  validateShape,
  type ResolvedGprlOptions,
} from './validate.js';

interface Prepared {
  embeddings: Float32Array;
  shape: GroupShape;
  opts: ResolvedGprlOptions;
  call: ResolvedCall;
  out: AdvantageOutputs & { scores: Float32Array };
}

/**
 * Validate a call. The caller's options are read once, first (`snapshotOptions`); after that no
 * caller code runs until the kernel has finished (sync) or started (async). `async` calls reject
 * arrays over resizable or growable buffers (docs/kernels.md, "Arguments").
 */
function prepare(embeddings: unknown, shape: unknown, options: unknown, async: boolean): Prepared {
  const s = validateShape(shape, advantageOutputs(true));
  const o = snapshotOptions(options, GPRL_KEYS, true);
  const emb = validateEmbeddings(embeddings, s, async);
  const opts = resolveGprlOptions(o.fields, s, async);
  const requested = validateOutputNames(o.fields.outputs);
  const call = resolveBackend(o.fields.backend, undefined, opts.mode === 'winrate' ? pairwiseWork(s) : undefined);
  const out = resolveOutputs(o.out, s, true, inputViews(emb, opts), async, requested, outputAllocator(call));
  return { embeddings: emb, shape: s, opts, call, out };
}

function nativeArgs(p: Prepared): NativeGprlAdvantagesArgs {
  return {
    ...nativeAdvantageParams(p.shape, p.opts, p.call.device, p.out),
    embeddings: p.embeddings,
    mode: modeCode(p.opts.mode),
    tau: p.opts.tau,
    scores: p.out.scores.length > 0 ? p.out.scores : null,
  };
}

function result(p: Prepared, counts: AdvantageCounts): GprlAdvantageResult {
  return { ...p.out, degenerate: counts.degenerate, masked: counts.masked, backend: p.call.backend };
}

/**
 * GPRL advantages straight from GPM embeddings: per-dimension group scores, each dimension
 * normalized within its group, aggregated with `m·λ / Σ m·λ`. Returns the scores as well.
 *
 * @param embeddings GPM embeddings, `groups·groupSize·2·dims` values, row-major `[B][G][2k]`. A
 *   response with a non-finite value is invalid (advantage 0, counted in `masked`).
 * @param shape `{ groups, groupSize, dims }`.
 */
export function gprlAdvantages(embeddings: Float32Array, shape: GroupShape, options?: GprlAdvantageOptions): GprlAdvantageResult {
  const p = prepare(embeddings, shape, options, false);
  const counts = p.call.addon
    ? p.call.addon.gprlAdvantages(nativeArgs(p), false)
    : gprlAdvantagesJs(p.embeddings, p.shape, p.opts, p.out);
  return result(p, counts);
}

/**
 * `gprlAdvantages` off the JavaScript thread (native backends run in a worker; the TypeScript path
 * runs on a later tick).
 * The arrays passed must not be modified, transferred or detached until the promise settles;
 * arrays over resizable or growable buffers are rejected (docs/kernels.md, "Arguments").
 */
export async function gprlAdvantagesAsync(
  embeddings: Float32Array,
  shape: GroupShape,
  options?: GprlAdvantageOptions,
): Promise<GprlAdvantageResult> {
  const p = prepare(embeddings, shape, options, true);
  let counts: AdvantageCounts;
  if (p.call.addon) {
    counts = await p.call.addon.gprlAdvantages(nativeArgs(p), true);
  } else {
    await laterTick();
    counts = gprlAdvantagesJs(p.embeddings, p.shape, p.opts, p.out);
  }
  return result(p, counts);
}
