/**
 * `preferenceMatrix`: pairwise GPM preference probabilities within each group (design §2.1,
 * docs/kernels.md).
 */
import { pairwiseWork, resolveBackend, type ResolvedCall } from '../backend.js';
import type { NativePreferenceMatrixArgs } from '../native/addon.js';
import type { GroupShape, PreferenceMatrixOptions } from '../types.js';
import { laterTick } from './dispatch.js';
import { preferenceMatrixJs } from './js/preferenceMatrix.js';
import {
  allocateOutput,
  PREFERENCE_KEYS,
  preferenceOutputs,
  resolvePreferenceOptions,
  snapshotOptions,
  validateEmbeddings,
  validateShape,
  type ResolvedPreferenceOptions,
} from './validate.js';

interface Prepared {
  embeddings: Float32Array;
  shape: GroupShape;
  opts: ResolvedPreferenceOptions;
  call: ResolvedCall;
  out: Float32Array;
}

/**
 * Validate a call: the B·G·G output is checked against MAX_OUTPUT_ELEMENTS before anything is
 * allocated; options read once, first; `async` rejects resizable buffers (see gprlAdvantages.ts).
 */
function prepare(embeddings: unknown, shape: unknown, options: unknown, async: boolean): Prepared {
  const s = validateShape(shape, preferenceOutputs);
  const o = snapshotOptions(options, PREFERENCE_KEYS);
  const emb = validateEmbeddings(embeddings, s, async);
  const opts = resolvePreferenceOptions(o.fields, s, async);
  const call = resolveBackend(o.fields.backend, undefined, pairwiseWork(s));
  return { embeddings: emb, shape: s, opts, call, out: allocateOutput(s.groups * s.groupSize * s.groupSize, 'matrix') };
}

function nativeArgs(p: Prepared): NativePreferenceMatrixArgs {
  return {
    embeddings: p.embeddings,
    groups: p.shape.groups,
    groupSize: p.shape.groupSize,
    dims: p.shape.dims,
    lambdas: p.opts.lambdas,
    tau: p.opts.tau,
    device: p.call.device,
    out: p.out,
  };
}

/**
 * `P[b,i,j] = σ(Σ_l λ_{b,l}·s_l(i,j) / τ)`: the probability that response `i` is preferred to
 * response `j` of the same group. `P[b,i,i] = ½` and `P[b,i,j] + P[b,j,i] = 1`.
 *
 * @param embeddings GPM embeddings, `groups·groupSize·2·dims` values, row-major `[B][G][2k]`. A
 *   response with a non-finite value gets NaN in its row and column; other entries are unaffected.
 * @param shape `{ groups, groupSize, dims }`.
 * @returns `groups·groupSize·groupSize` values, row-major `[B][G][G]`.
 */
export function preferenceMatrix(embeddings: Float32Array, shape: GroupShape, options?: PreferenceMatrixOptions): Float32Array {
  const p = prepare(embeddings, shape, options, false);
  if (p.call.addon) p.call.addon.preferenceMatrix(nativeArgs(p), false);
  else preferenceMatrixJs(p.embeddings, p.shape, p.opts, p.out);
  return p.out;
}

/**
 * `preferenceMatrix` off the JavaScript thread (native backends run in a worker; the TypeScript
 * path runs on a later tick).
 * The arrays passed must not be modified, transferred or detached until the promise settles;
 * arrays over resizable or growable buffers are rejected (docs/kernels.md, "Arguments").
 */
export async function preferenceMatrixAsync(
  embeddings: Float32Array,
  shape: GroupShape,
  options?: PreferenceMatrixOptions,
): Promise<Float32Array> {
  const p = prepare(embeddings, shape, options, true);
  if (p.call.addon) {
    await p.call.addon.preferenceMatrix(nativeArgs(p), true);
  } else {
    await laterTick();
    preferenceMatrixJs(p.embeddings, p.shape, p.opts, p.out);
  }
  return p.out;
}
