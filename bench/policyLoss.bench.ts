/**
 * `policyLoss` forward + backward (loss and ∂loss/∂logp in one call) on every kernel backend, and the
 * tfjs custom kernel (`policyLossOp` under `tf.valueAndGrad`) against the same loss composed from stock
 * tfjs ops (`policyLossComposed`, also under `tf.valueAndGrad`) on the `cpu` and `wasm` backends, and on
 * `tensorflow` when tfjs-node is installed (there the composition runs as TensorFlow ops).
 *
 * Options: ε_low 0.2, ε_high 0.28, dual clip 3, β = 0.04 with the k3 estimator, token-mean: every
 * branch of the objective is live. Inputs are seeded; response lengths vary (about 3/4 of tokens valid).
 *
 * Bytes moved per call (minimum): read logp, logpOld, logpRef 12·N·T + mask N·T + advantages 4·N;
 * write the gradient 4·N·T = 17·N·T + 4·N.
 *
 * Memory: for each tfjs contender, one untimed forward + backward under `tf.profile`; `peakBytes` is
 * the engine's high-water mark of tensor bytes during the call, `peakExtraBytes` the same minus the
 * bytes held before it (the inputs), i.e. the temporaries the loss and its gradient need.
 * `speedupVsComposed` and `memoryVsComposed` compare the op with the composition on the same backend.
 */
import { policyLoss, type PolicyLossInputs, type PolicyLossOptions } from '../src/kernels/policyLoss.js';
import { policyLossComposed, policyLossOp } from '../src/tfjs/policyLossOp.js';
import { Rng } from '../src/random.js';
import { policyLossTfOps } from './tfjs/policyLossTfOps.js';
import { loadTensorflowBackend, setTfBackend, tf, type TfBackendName } from '../src/tf.js';
import {
  assertClose,
  backendContenders,
  compare,
  completeContext,
  isMain,
  runStandalone,
  type BenchContext,
  type BenchRow,
  type Contender,
} from './harness.js';

export const STEM = 'policyLoss';

/** Shapes: N sequences × T tokens (labels as in the harness contract). */
export const POLICY_SHAPES: readonly { label: string; N: number; T: number }[] = [
  { label: 'small', N: 128, T: 512 },
  { label: 'medium', N: 512, T: 1024 },
  { label: 'large', N: 1024, T: 2048 },
];

const OPTIONS: PolicyLossOptions = { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 3, beta: 0.04, kl: 'k3' };

export function policyLossBytes(N: number, T: number): number {
  return 17 * N * T + 4 * N;
}

export function policyInputs(N: number, T: number, seed = 1): PolicyLossInputs & { logpRef: Float32Array } {
  const rng = new Rng(seed);
  const logp = new Float32Array(N * T), logpOld = new Float32Array(N * T), logpRef = new Float32Array(N * T);
  const mask = new Uint8Array(N * T), advantages = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    advantages[n] = rng.normal();
    const len = Math.floor(T / 2) + rng.int(T - Math.floor(T / 2) + 1);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      logp[i] = -Math.abs(rng.normal(1.5, 1));
      logpOld[i] = logp[i]! + rng.normal(0, 0.2);
      logpRef[i] = logp[i]! + rng.normal(0, 0.2);
      mask[i] = t < len ? 1 : 0;
    }
  }
  return { logp, logpOld, logpRef, advantages, mask };
}

interface TfInputs {
  logp: tf.Tensor2D;
  logpOld: tf.Tensor2D;
  logpRef: tf.Tensor2D;
  advantages: tf.Tensor1D;
  mask: tf.Tensor2D;
}

type LossFn = typeof policyLossOp;

const policyLossTfOpsOp: LossFn = (logp, logpOld, logpRef, advantages, mask) =>
  policyLossTfOps(logp, logpOld, logpRef!, advantages, mask, { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 3, beta: 0.04 });

/** One forward + backward through `f`; returns the loss and the gradient (read back), disposing all. */
function fwdBwd(f: LossFn, t: TfInputs, opts: PolicyLossOptions & { backend?: 'js' | 'cpu' }, read: boolean): { loss: number; grad?: Float32Array } {
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => f(x as tf.Tensor2D, t.logpOld, t.logpRef, t.advantages, t.mask, opts))(t.logp);
  const loss = value.dataSync()[0]!;
  const g = read ? (grad.dataSync() as Float32Array).slice() : undefined;
  tf.dispose([value, grad]);
  return g ? { loss, grad: g } : { loss };
}

async function tfjsRows(
  ctx: BenchContext,
  backend: TfBackendName,
  label: string,
  N: number,
  T: number,
  inputs: ReturnType<typeof policyInputs>,
  ref: { loss: number; grad: Float32Array },
): Promise<BenchRow[]> {
  await setTfBackend(backend);
  const t: TfInputs = {
    logp: tf.tensor2d(inputs.logp, [N, T]),
    logpOld: tf.tensor2d(inputs.logpOld, [N, T]),
    logpRef: tf.tensor2d(inputs.logpRef, [N, T]),
    advantages: tf.tensor1d(inputs.advantages),
    mask: tf.tensor2d(inputs.mask, [N, T], 'bool'),
  };
  let scale = 0;
  for (const g of ref.grad) scale = Math.max(scale, Math.abs(g));
  const variants: { name: string; f: LossFn; opts: PolicyLossOptions & { backend?: 'js' | 'cpu' }; rtol: number; note?: string }[] = [
    // The kernel's own float64 result, stored as float32: loss and gradient to 1e-6 relative.
    { name: 'op', f: policyLossOp, opts: OPTIONS, rtol: 1e-6, note: 'custom kernel, C++ path when the addon loads' },
    { name: 'op-js', f: policyLossOp, opts: { ...OPTIONS, backend: 'js' }, rtol: 1e-6, note: 'custom kernel, TypeScript path' },
    // float32 composition (exp, clip, sums over N·T terms): 1e-4 relative, 1e-5 of the largest gradient.
    { name: 'composed', f: policyLossComposed, opts: OPTIONS, rtol: 1e-4, note: 'stock tfjs ops' },
    // The TF-op formulation a tensorflow-backend kernel could use instead of the host copy (float32, as composed).
    ...(backend === 'tensorflow'
      ? [{ name: 'tf-ops', f: policyLossTfOpsOp, opts: OPTIONS, rtol: 1e-4, note: 'TF ops, analytic gradient, no metrics (a lower bound)' }]
      : []),
  ];
  const contenders: Contender[] = variants.map((v) => ({
    backend: `tfjs-${backend}-${v.name}`,
    setup: async () => {
      await setTfBackend(backend);
    },
    fn: () => fwdBwd(v.f, t, v.opts, false),
    check: () => {
      const got = fwdBwd(v.f, t, v.opts, true);
      assertClose(`tfjs-${backend}-${v.name} loss`, [got.loss], [ref.loss], v.rtol, 1e-7);
      assertClose(`tfjs-${backend}-${v.name} grad`, got.grad!, ref.grad, v.rtol, v.rtol * 0.1 * scale);
    },
    threads: 1,
    ...(v.note ? { note: v.note } : {}),
  }));
  const rows = await compare(ctx, { name: STEM, variant: 'tfjs fwd+bwd', shapeLabel: label, dims: { N, T }, bytes: policyLossBytes(N, T), contenders });
  for (const [i, v] of variants.entries()) {
    const row = rows[i]!;
    if (row.medianMs === null) continue;
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => {
      fwdBwd(v.f, t, v.opts, false);
    });
    row.peakBytes = info.peakBytes;
    row.peakExtraBytes = info.peakBytes - before;
    row.kernelCalls = info.kernels.length;
  }
  const composed = rows[2]!;
  for (const row of rows.filter((_, i) => i !== 2)) {
    if (row.medianMs !== null && composed.medianMs !== null) row.speedupVsComposed = composed.medianMs / row.medianMs;
    if (typeof row.peakExtraBytes === 'number' && typeof composed.peakExtraBytes === 'number' && composed.peakExtraBytes > 0) {
      row.memoryVsComposed = row.peakExtraBytes / composed.peakExtraBytes;
    }
  }
  tf.dispose(Object.values(t));
  return rows;
}

export async function run(partial?: Partial<BenchContext>): Promise<BenchRow[]> {
  const ctx = await completeContext(partial);
  const rows: BenchRow[] = [];
  // The tensorflow backend too when tfjs-node is installed (gprl setup-tensorflow).
  const tfBackends: TfBackendName[] = ['cpu', 'wasm'];
  try {
    await loadTensorflowBackend();
    tfBackends.push('tensorflow');
  } catch (err) {
    ctx.log(`${STEM}: no tensorflow backend rows (${(err as Error).message})`);
  }
  const shapes = ctx.shapes.length === 0 ? POLICY_SHAPES : POLICY_SHAPES.filter((s) => ctx.shapes.includes(s.label));
  for (const { label, N, T } of shapes) {
    ctx.log(`${STEM} ${label} (N=${N}, T=${T})`);
    const inputs = policyInputs(N, T);
    const shape = { sequences: N, tokens: T };
    const ref = policyLoss(inputs, shape, { ...OPTIONS, backend: 'js' });
    // Kernel backends: the same float64 algorithm, gradient stored as float32 (2 roundings): 1e-6.
    const contenders = backendContenders(
      ctx,
      (backend) => policyLoss(inputs, shape, { ...OPTIONS, backend }),
      (got, backend) => {
        assertClose(`${backend} loss`, [got.loss], [ref.loss], 1e-10, 0);
        assertClose(`${backend} grad`, got.grad, ref.grad, 1e-6, 0);
      },
    );
    rows.push(...(await compare(ctx, { name: STEM, variant: 'kernel fwd+bwd', shapeLabel: label, dims: { N, T }, bytes: policyLossBytes(N, T), contenders })));
    for (const backend of tfBackends) rows.push(...(await tfjsRows(ctx, backend, label, N, T, inputs, ref)));
    const op = rows.find((r) => r.shape === label && r.backend === 'tfjs-wasm-op');
    if (op && typeof op.speedupVsComposed === 'number') {
      const mb = (x: unknown): string => (typeof x === 'number' ? `${(x / 1e6).toFixed(1)} MB` : '—');
      ctx.log(
        `  target (issue 12, ≥ 20×): policyLoss + gradient on wasm ${op.speedupVsComposed.toFixed(1)}× the stock-op composition ` +
          `(${op.speedupVsComposed >= 20 ? 'met' : 'missed'}); peak tensor memory above the inputs ${mb(op.peakExtraBytes)} ` +
          `vs ${mb(rows.find((r) => r.shape === label && r.backend === 'tfjs-wasm-composed')?.peakExtraBytes)}`,
      );
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await runStandalone(STEM, run);
