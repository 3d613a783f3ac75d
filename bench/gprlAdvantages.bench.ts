/**
 * `gprlAdvantages` (logit scores, per-dimension normalization, with λ): every kernel backend, the C++
 * path on one thread and called directly on the addon (no TypeScript validation, preallocated
 * outputs), and the same computation as a tfjs op composition on the `cpu` and `wasm` backends.
 *
 * Bytes moved per call (minimum): read embeddings 8·B·G·k + λ 4·B·k; write scores 4·B·G·k,
 * dimAdvantages 4·B·G·k, advantages 4·B·G, dimMean and dimStd 8·B·k
 * = 16·B·G·k + 4·B·G + 12·B·k.
 */
import { gprlAdvantages } from '../src/kernels/gprlAdvantages.js';
import { loadAddon } from '../src/native/addon.js';
import { setTfBackend, type TfBackendName } from '../src/tf.js';
import type { GprlAdvantageResult, GroupShape } from '../src/types.js';
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
  type Contender,
} from './harness.js';
import { gprlAdvantagesComposed, type ComposedResult } from './tfjs/gprlAdvantagesComposed.js';

export const STEM = 'gprlAdvantages';

export function gprlAdvantagesBytes({ groups: B, groupSize: G, dims: k }: GroupShape): number {
  return 16 * B * G * k + 4 * B * G + 12 * B * k;
}

export type Outputs = Pick<GprlAdvantageResult, 'advantages' | 'dimAdvantages' | 'dimMean' | 'dimStd' | 'degenerate' | 'masked'> & {
  scores?: Float32Array;
};

/**
 * Check every output against the reference (the `js` path). Scores, means and standard deviations
 * are O(1) here and must agree to `atol + rtol·|want|`. The normalized advantages divide the score
 * difference by σ + ε, so a score error δ ≤ atol becomes up to 2·atol/(σ + ε) in Â (and in their
 * weighted sum A): those tolerances are scaled per group and dimension. Kernel backends accumulate in
 * float64 and round once to float32 (docs/kernels.md): rtol 1e-5, atol 1e-6. The tfjs composition works in
 * float32 throughout, and the cancellation in `a·b̄ − b·ā` and the sums over G terms cost a few
 * ulps of the O(1) inputs: rtol 1e-4, atol 1e-5.
 */
export function checkOutputs(what: string, got: Outputs, want: Outputs, shape: GroupShape, rtol: number, atol: number): void {
  const { groupSize: G, dims: k } = shape;
  const eps = 1e-4;
  const dimTol = (b: number, l: number) => (2 * atol) / (want.dimStd[b * k + l]! + eps);
  if (want.scores) assertClose(`${what} scores`, got.scores ?? new Float32Array(0), want.scores, rtol, atol);
  assertClose(`${what} dimMean`, got.dimMean, want.dimMean, rtol, atol);
  assertClose(`${what} dimStd`, got.dimStd, want.dimStd, rtol, atol);
  assertClose(`${what} dimAdvantages`, got.dimAdvantages, want.dimAdvantages, rtol, (i) => dimTol(Math.floor(i / (G * k)), i % k));
  assertClose(`${what} advantages`, got.advantages, want.advantages, rtol, (i) => {
    const b = Math.floor(i / G);
    let t = 0;
    for (let l = 0; l < k; l++) t = Math.max(t, dimTol(b, l));
    return t;
  });
  if (got.degenerate !== want.degenerate || got.masked !== want.masked) {
    throw new Error(`${what}: counts degenerate ${got.degenerate}/masked ${got.masked}, want ${want.degenerate}/${want.masked}`);
  }
}

function tfjsContender(backend: TfBackendName, embeddings: Float32Array, shape: GroupShape, lambdas: Float32Array, ref: Outputs): Contender {
  const call = (): ComposedResult => gprlAdvantagesComposed(embeddings, shape, { lambdas });
  return {
    backend: `tfjs-${backend}`,
    setup: async () => {
      await setTfBackend(backend);
    },
    fn: call,
    check: () => checkOutputs(`tfjs-${backend}`, call(), ref, shape, 1e-4, 1e-5),
    threads: 1,
  };
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const { addon } = loadAddon();
  const rows: BenchRow[] = [];
  for (const { label, shape } of selectedShapes(ctx)) {
    ctx.log(`${STEM} ${label} (B=${shape.groups}, G=${shape.groupSize}, k=${shape.dims})`);
    const { embeddings, lambdas } = gprlInputs(shape);
    const ref = gprlAdvantages(embeddings, shape, { lambdas, backend: 'js' });
    const contenders = backendContenders(
      ctx,
      (backend) => gprlAdvantages(embeddings, shape, { lambdas, backend }),
      (got, backend) => checkOutputs(backend, got, ref, shape, 1e-5, 1e-6),
    );
    if (addon) {
      const threads = addon.getNumThreads();
      contenders.push({
        backend: 'cpu-1t',
        setup: () => addon.setNumThreads(1),
        teardown: () => addon.setNumThreads(threads),
        fn: () => gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu' }),
        check: () => checkOutputs('cpu-1t', gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu' }), ref, shape, 1e-5, 1e-6),
        threads: 1,
        note: 'C++ path, 1 thread',
      });
    }
    // The public API with caller-owned outputs (`options.out`), as a training loop calls it every
    // step: same validation, no fresh multi-megabyte arrays (whose first-write page faults
    // otherwise dominate the large shape).
    for (const backend of (addon ? ['js', 'cpu'] : ['js']) as ('js' | 'cpu')[]) {
      const out = {
        advantages: new Float32Array(shape.groups * shape.groupSize),
        dimAdvantages: new Float32Array(shape.groups * shape.groupSize * shape.dims),
        dimMean: new Float32Array(shape.groups * shape.dims),
        dimStd: new Float32Array(shape.groups * shape.dims),
        scores: new Float32Array(shape.groups * shape.groupSize * shape.dims),
      };
      const call = () => gprlAdvantages(embeddings, shape, { lambdas, backend, out });
      contenders.push({
        backend: `${backend}-out`,
        fn: call,
        check: () => checkOutputs(`${backend}-out`, call(), ref, shape, 1e-5, 1e-6),
        threads: backend === 'cpu' ? addon!.getNumThreads() : 1,
        note: 'public API, options.out (preallocated outputs)',
      });
    }
    contenders.push(tfjsContender('cpu', embeddings, shape, lambdas, ref));
    contenders.push(tfjsContender('wasm', embeddings, shape, lambdas, ref));
    rows.push(...(await compare(ctx, { name: STEM, shapeLabel: label, dims: { ...shape }, bytes: gprlAdvantagesBytes(shape), contenders })));
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
