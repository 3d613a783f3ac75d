/**
 * `groupScores` on every kernel backend, in both score modes.
 *
 * Bytes moved per call (minimum, no mask): read embeddings 8·B·G·k, write scores 4·B·G·k
 * = 12·B·G·k. The `logit` mode is O(G·k) per group (two means, then two FMAs per value); the
 * `winrate` mode is O(G²·k) (a sigmoid per ordered pair), so its GB/s mostly measures arithmetic.
 */
import { groupScores } from '../src/kernels/groupScores.js';
import type { GroupShape, ScoreMode } from '../src/types.js';
import {
  assertClose,
  backendContenders,
  compare,
  completeContext,
  gprlInputs,
  isMain,
  runStandalone,
  selectedShapes,
  type BenchContext,
  type BenchRow,
} from './harness.js';

export const STEM = 'groupScores';

export function groupScoresBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 12 * B * G * k;
}

const MODES: readonly ScoreMode[] = ['logit', 'winrate'];

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const rows: BenchRow[] = [];
  for (const { label, shape } of selectedShapes(ctx)) {
    const { embeddings } = gprlInputs(shape);
    for (const mode of MODES) {
      ctx.log(`${STEM}[${mode}] ${label} (B=${shape.groups}, G=${shape.groupSize}, k=${shape.dims})`);
      const ref = groupScores(embeddings, shape, { mode, backend: 'js' });
      // Kernel backends accumulate in float64 and round once (docs/kernels.md): scores are O(1)
      // (logit) or in [−½, ½] (winrate), so a few float32 ulps: rtol 1e-5, atol 1e-6.
      const contenders = backendContenders(
        ctx,
        (backend) => groupScores(embeddings, shape, { mode, backend }),
        (got, backend) => assertClose(`${backend} scores`, got, ref, 1e-5, 1e-6),
      );
      rows.push(
        ...(await compare(ctx, {
          name: STEM,
          variant: mode,
          shapeLabel: label,
          dims: { ...shape },
          bytes: groupScoresBytes(shape),
          // winrate: one sigmoid per unordered pair and dimension (σ(s_ji) = 1 − σ(s_ij)).
          ...(mode === 'winrate' ? { sigmoids: (shape.groups * shape.groupSize * (shape.groupSize - 1) * shape.dims) / 2 } : {}),
          contenders,
        })),
      );
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
