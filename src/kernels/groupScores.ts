/**
 * `groupScores`: per-dimension group scores ŝ `[B][G][k]` from GPM embeddings `[B][G][2k]`
 * (design §2.2, docs/kernels.md).
 */
import { pairwiseWork, resolveBackend, type ResolvedCall } from '../backend.js';
import type { NativeGroupScoresArgs } from '../native/addon.js';
import type { GroupScoresOptions, GroupShape } from '../types.js';
import { laterTick, modeCode } from './dispatch.js';
import { groupScoresJs } from './js/groupScores.js';
import {
  allocateOutput,
  resolveScoreOptions,
  SCORE_KEYS,
  scoreOutputs,
  snapshotOptions,
  validateEmbeddings,
  validateShape,
  type ResolvedScoreOptions,
} from './validate.js';

interface Prepared {
  embeddings: Float32Array;
  shape: GroupShape;
  opts: ResolvedScoreOptions;
  call: ResolvedCall;
  out: Float32Array;
}

/** Validate a call: options read once, first; `async` rejects resizable buffers (see gprlAdvantages.ts). */
function prepare(embeddings: unknown, shape: unknown, options: unknown, async: boolean): Prepared {
  const s = validateShape(shape, scoreOutputs);
  const o = snapshotOptions(options, SCORE_KEYS);
  const emb = validateEmbeddings(embeddings, s, async);
  const opts = resolveScoreOptions(o.fields, s, async);
  const call = resolveBackend(o.fields.backend, undefined, opts.mode === 'winrate' ? pairwiseWork(s) : undefined);
  return { embeddings: emb, shape: s, opts, call, out: allocateOutput(s.groups * s.groupSize * s.dims, 'scores') };
}

function nativeArgs(p: Prepared): NativeGroupScoresArgs {
  return {
    embeddings: p.embeddings,
    groups: p.shape.groups,
    groupSize: p.shape.groupSize,
    dims: p.shape.dims,
    mode: modeCode(p.opts.mode),
    tau: p.opts.tau,
    mask: p.opts.mask,
    device: p.call.device,
    out: p.out,
  };
}

/**
 * Per-dimension group scores: for each response, its mean pairwise GPM score against the other
 * valid responses of its group, one value per preference dimension.
 *
 * @param embeddings GPM embeddings, `groups·groupSize·2·dims` values, row-major `[B][G][2k]`.
 * @param shape `{ groups, groupSize, dims }`.
 * @returns ŝ, `groups·groupSize·dims` values `[B][G][k]`; NaN for invalid responses (masked, or a
 *   non-finite embedding value), 0 for valid responses of a group with fewer than 2 valid ones.
 */
export function groupScores(embeddings: Float32Array, shape: GroupShape, options?: GroupScoresOptions): Float32Array {
  const p = prepare(embeddings, shape, options, false);
  if (p.call.addon) p.call.addon.groupScores(nativeArgs(p), false);
  else groupScoresJs(p.embeddings, p.shape, p.opts, p.out);
  return p.out;
}

/**
 * `groupScores` off the JavaScript thread (native backends run in a worker; the TypeScript path
 * runs on a later tick).
 * The arrays passed must not be modified, transferred or detached until the promise settles;
 * arrays over resizable or growable buffers are rejected (docs/kernels.md, "Arguments").
 */
export async function groupScoresAsync(
  embeddings: Float32Array,
  shape: GroupShape,
  options?: GroupScoresOptions,
): Promise<Float32Array> {
  const p = prepare(embeddings, shape, options, true);
  if (p.call.addon) {
    await p.call.addon.groupScores(nativeArgs(p), true);
  } else {
    await laterTick();
    groupScoresJs(p.embeddings, p.shape, p.opts, p.out);
  }
  return p.out;
}
