/**
 * Pure-TypeScript `gprl_advantages` (docs/kernels.md): `group_scores` then `group_advantages`,
 * fused into one pass over the groups. Each group's scores stay in a reused float64 scratch between
 * the two halves (they are rounded to float32 only for the `scores` output), and no memory is
 * allocated per group. An output not requested is an empty array: the stores into it are no-ops.
 */
import type { GroupShape } from '../../types.js';
import type { ResolvedGprlOptions } from '../validate.js';
import { AdvantageWorkspace, type AdvantageCounts, type AdvantageOutputs } from './groupAdvantages.js';
import { ScoreWorkspace } from './groupScores.js';

export function gprlAdvantagesJs(
  embeddings: Float32Array,
  shape: GroupShape,
  opts: ResolvedGprlOptions,
  out: AdvantageOutputs & { scores: Float32Array },
): AdvantageCounts {
  const scorer = new ScoreWorkspace(shape);
  const normalizer = new AdvantageWorkspace(shape, opts, out);
  const block = shape.groupSize * shape.dims;
  for (let b = 0; b < shape.groups; b++) {
    const n = scorer.scoreGroup(embeddings, b, opts);
    if (out.scores.length > 0) out.scores.set(scorer.scores, b * block);
    normalizer.normalizeGroup(b, scorer.scores, scorer.valid, n);
  }
  return normalizer.finish();
}
