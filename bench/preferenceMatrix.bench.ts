/**
 * `preferenceMatrix` (with λ, τ = 0.1) on every kernel backend.
 *
 * Bytes moved per call (minimum): read embeddings 8·B·G·k + λ 4·B·k; write P 4·B·G²
 * = 8·B·G·k + 4·B·k + 4·B·G². Each of the B·G² entries costs k pair scores and one sigmoid: the
 * kernel is arithmetic-bound, so rows report ns per sigmoid against the same-run sigmoid probe.
 */
import { preferenceMatrix } from '../src/kernels/preferenceMatrix.js';
import type { GroupShape } from '../src/types.js';
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

export const STEM = 'preferenceMatrix';

export function preferenceMatrixBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 8 * B * G * k + 4 * B * k + 4 * B * G * G;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const rows: BenchRow[] = [];
  for (const { label, shape } of selectedShapes(ctx)) {
    ctx.log(`${STEM} ${label} (B=${shape.groups}, G=${shape.groupSize}, k=${shape.dims})`);
    const { embeddings, lambdas } = gprlInputs(shape);
    const ref = preferenceMatrix(embeddings, shape, { lambdas, backend: 'js' });
    // Probabilities in [0, 1] from a float64 sum rounded once: rtol 1e-5, atol 1e-6.
    const contenders = backendContenders(
      ctx,
      (backend) => preferenceMatrix(embeddings, shape, { lambdas, backend }),
      (got, backend) => assertClose(`${backend} P`, got, ref, 1e-5, 1e-6),
    );
    const sigmoids = shape.groups * shape.groupSize * shape.groupSize;
    rows.push(...(await compare(ctx, { name: STEM, shapeLabel: label, dims: { ...shape }, bytes: preferenceMatrixBytes(shape), sigmoids, contenders })));
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
