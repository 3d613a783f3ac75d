/**
 * `groupAdvantages` (per-dimension normalization, with λ) on every kernel backend, on the logit
 * scores of the benchmark embeddings.
 *
 * Bytes moved per call (minimum, no mask): read scores 4·B·G·k + λ 4·B·k; write dimAdvantages
 * 4·B·G·k, advantages 4·B·G, dimMean and dimStd 8·B·k = 8·B·G·k + 4·B·G + 12·B·k.
 */
import { groupAdvantages } from '../src/kernels/groupAdvantages.js';
import { groupScores } from '../src/kernels/groupScores.js';
import type { GroupShape } from '../src/types.js';
import { checkOutputs } from './gprlAdvantages.bench.js';
import {
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

export const STEM = 'groupAdvantages';

export function groupAdvantagesBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 8 * B * G * k + 4 * B * G + 12 * B * k;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const rows: BenchRow[] = [];
  for (const { label, shape } of selectedShapes(ctx)) {
    ctx.log(`${STEM} ${label} (B=${shape.groups}, G=${shape.groupSize}, k=${shape.dims})`);
    const { embeddings, lambdas } = gprlInputs(shape);
    const scores = groupScores(embeddings, shape, { backend: 'js' });
    const ref = groupAdvantages(scores, shape, { lambdas, backend: 'js' });
    // Same tolerances as the fused kernel's kernel-backend check (see checkOutputs).
    const contenders = backendContenders(
      ctx,
      (backend) => groupAdvantages(scores, shape, { lambdas, backend }),
      (got, backend) => checkOutputs(backend, got, ref, shape, 1e-5, 1e-6),
    );
    rows.push(...(await compare(ctx, { name: STEM, shapeLabel: label, dims: { ...shape }, bytes: groupAdvantagesBytes(shape), contenders })));
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
