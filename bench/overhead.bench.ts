/**
 * Per-call overhead of each synchronous kernel at the small shape (B=64, G=8, k=3) on the C++ path,
 * split by stage:
 *
 * - `public`: the exported function (TypeScript validation, output allocation, binding, kernel).
 * - `public-out`: the same with caller-owned outputs (`options.out`), where the kernel takes them.
 * - `addon`: the binding called directly with preallocated outputs (N-API marshalling and the
 *   binding's own checks, then the kernel).
 * - `addon-1`: the binding called directly on one group of the same inputs (B=1): marshalling and
 *   checks with almost no kernel work.
 *
 * So: TypeScript layer ≈ public-out − addon; binding ≈ addon-1; kernel ≈ addon − addon-1, each from
 * the process CPU time per call (`stageUs` on the `public` row), which other load on the machine
 * inflates much less than wall time.
 * (`policyLoss` is measured in its own bench.)
 */
import { gprlAdvantages } from '../src/kernels/gprlAdvantages.js';
import { groupAdvantages } from '../src/kernels/groupAdvantages.js';
import { groupScores } from '../src/kernels/groupScores.js';
import { preferenceMatrix } from '../src/kernels/preferenceMatrix.js';
import { DEVICE_CPU, loadAddon, type NativeGroupScoresArgs, type NativePreferenceMatrixArgs } from '../src/native/addon.js';
import { compare, completeContext, gprlInputs, isMain, runStandalone, type BenchContext, type BenchRow, type Contender } from './harness.js';

export const STEM = 'overhead';

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const { addon } = loadAddon();
  if (!addon) return [{ name: STEM, backend: 'cpu', shape: 'small', medianMs: null, spreadPct: null, rmePct: null, opsPerSec: null, samples: 0, note: 'skipped: no addon' }];
  const shape = { groups: 64, groupSize: 8, dims: 3 };
  const { groups: B, groupSize: G, dims: k } = shape;
  const { embeddings, lambdas } = gprlInputs(shape);
  const f32 = (n: number) => new Float32Array(n);
  const out = { advantages: f32(B * G), dimAdvantages: f32(B * G * k), dimMean: f32(B * k), dimStd: f32(B * k), scores: f32(B * G * k) };
  const one = { advantages: f32(G), dimAdvantages: f32(G * k), dimMean: f32(k), dimStd: f32(k), scores: f32(G * k) };
  const scores = gprlAdvantages(embeddings, shape, { backend: 'cpu' }).scores;
  const adv = { lambdas, dimWeights: null, mask: null, eps: 1e-4, stdFloor: 1e-6, unbiased: true, normalize: 0, device: DEVICE_CPU } as const;
  const first = { embeddings: embeddings.subarray(0, G * 2 * k), lambdas: lambdas.subarray(0, k), scores: scores.subarray(0, G * k) };
  // Argument objects built once (the binding's cost, not that of building them).
  const gprlArgs = { ...shape, ...adv, ...out, embeddings, mode: 0, tau: 0.1 };
  const gprlArgs1 = { ...shape, groups: 1, ...adv, ...one, lambdas: first.lambdas, embeddings: first.embeddings, mode: 0, tau: 0.1 };
  const advOut = { advantages: out.advantages, dimAdvantages: out.dimAdvantages, dimMean: out.dimMean, dimStd: out.dimStd };
  const advOne = { advantages: one.advantages, dimAdvantages: one.dimAdvantages, dimMean: one.dimMean, dimStd: one.dimStd };
  const advArgs = { ...shape, ...adv, ...advOut, scores };
  const advArgs1 = { ...shape, groups: 1, ...adv, ...advOne, lambdas: first.lambdas, scores: first.scores };
  const scoreArgs: NativeGroupScoresArgs = { ...shape, embeddings, mode: 0, tau: 0.1, mask: null, device: DEVICE_CPU, out: out.scores };
  const scoreArgs1: NativeGroupScoresArgs = { ...scoreArgs, groups: 1, embeddings: first.embeddings, out: one.scores };
  const prefArgs: NativePreferenceMatrixArgs = { ...shape, embeddings, lambdas, tau: 0.1, device: DEVICE_CPU, out: f32(B * G * G) };
  const prefArgs1: NativePreferenceMatrixArgs = { ...prefArgs, groups: 1, embeddings: first.embeddings, lambdas: first.lambdas, out: f32(G * G) };
  const kernels: { kernel: string; stages: [string, () => unknown][] }[] = [
    {
      kernel: 'gprlAdvantages',
      stages: [
        ['public', () => gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu' })],
        ['public-out', () => gprlAdvantages(embeddings, shape, { lambdas, backend: 'cpu', out })],
        ['addon', () => addon.gprlAdvantages(gprlArgs)],
        ['addon-1', () => addon.gprlAdvantages(gprlArgs1)],
      ],
    },
    {
      kernel: 'groupAdvantages',
      stages: [
        ['public', () => groupAdvantages(scores, shape, { lambdas, backend: 'cpu' })],
        ['public-out', () => groupAdvantages(scores, shape, { lambdas, backend: 'cpu', out: { advantages: out.advantages, dimAdvantages: out.dimAdvantages, dimMean: out.dimMean, dimStd: out.dimStd } })],
        ['addon', () => addon.groupAdvantages(advArgs)],
        ['addon-1', () => addon.groupAdvantages(advArgs1)],
      ],
    },
    {
      kernel: 'groupScores',
      stages: [
        ['public', () => groupScores(embeddings, shape, { backend: 'cpu' })],
        ['addon', () => addon.groupScores(scoreArgs)],
        ['addon-1', () => addon.groupScores(scoreArgs1)],
      ],
    },
    {
      kernel: 'preferenceMatrix',
      stages: [
        ['public', () => preferenceMatrix(embeddings, shape, { lambdas, backend: 'cpu' })],
        ['addon', () => addon.preferenceMatrix(prefArgs)],
        ['addon-1', () => addon.preferenceMatrix(prefArgs1)],
      ],
    },
  ];
  const rows: BenchRow[] = [];
  for (const { kernel, stages } of kernels) {
    ctx.log(`${STEM} ${kernel} small`);
    const contenders: Contender[] = stages.map(([backend, fn]) => ({ backend, fn, threads: 1 }));
    const got = await compare(ctx, { name: STEM, variant: kernel, shapeLabel: 'small', dims: { ...shape }, bytes: 0, contenders });
    for (const r of got) {
      r.usPerCall = r.medianMs === null ? null : r.medianMs * 1e3;
      delete r.ratioToJs;
      delete r.gbPerSec;
      delete r.pctRead;
      delete r.pctCopy;
      delete r.bytes;
    }
    // Stages from process CPU time per call (robust to other load on the machine; these calls are single-threaded).
    const us = (b: string) => {
      const r = got.find((x) => x.backend === b);
      return typeof r?.cpuMs === 'number' ? r.cpuMs : null;
    };
    const [pub, pubOut, direct, direct1] = [us('public'), us('public-out'), us('addon'), us('addon-1')];
    const summary = got.find((r) => r.backend === 'public');
    if (summary && direct !== null && direct1 !== null) {
      const ts = (pubOut ?? pub)! - direct;
      summary.stageUs = `typescript ${(ts * 1e3).toFixed(1)}, binding ${(direct1 * 1e3).toFixed(1)}, kernel ${((direct - direct1) * 1e3).toFixed(1)}${
        pubOut !== null && pub !== null ? `, fresh outputs ${((pub - pubOut) * 1e3).toFixed(1)}` : ''
      }`;
    }
    rows.push(...got);
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
