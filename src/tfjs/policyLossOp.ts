/**
 * `policy_loss` as a TensorFlow.js kernel with its gradient, so a policy's parameters train through it
 * with `tf.grads` / `optimizer.minimize` (docs/policy-loss.md, "TensorFlow.js").
 *
 * The kernel `GprlPolicyLoss` has two outputs: the loss (a scalar) and ∂loss/∂logp `[N][T]`, computed
 * together in one pass by the C++ path (when the addon loads) or the TypeScript path. The gradient
 * saves the second output, so the backward pass is one multiply: `dlogp = dy · grad`.
 *
 * Registered for the backends whose tensor storage is reachable on the CPU:
 * - `cpu`: inputs are read in place from the backend's Float32Array storage and the gradient is
 *   written into a Float32Array handed to the backend (no copies).
 * - `wasm`: inputs are views of the WebAssembly heap and the outputs are allocated on the heap first,
 *   then written in place through heap views (no copies).
 * - `tensorflow` (tfjs-node, see `gprl setup-tensorflow`), and any other backend the op first runs on:
 *   inputs are read with `readSync` (one copy each) and the outputs written with `backend.write`.
 *   On `tensorflow` this host copy plus the C++ kernel was measured against the loss and its analytic
 *   gradient as TensorFlow ops (bench/tfjs/policyLossTfOps.ts): the copy needs about 40% less CPU
 *   time at every benchmark shape and a twelfth of the temporaries (docs/benchmarks.md, "policy_loss
 *   on the tensorflow backend"), so it is the one registered.
 * The other tfjs kernels of the policy (its forward pass) stay on whichever backend is active.
 */
import type {
  DataType,
  GradConfig,
  KernelBackend,
  KernelConfig,
  NamedAttrMap,
  NamedTensorInfoMap,
  NamedTensorMap,
  Tensor,
  TensorInfo,
  TypedArray,
} from '@tensorflow/tfjs-core';
import { tf } from '../tf.js';
import './gradients.js';
import { invalidType, invalidValue } from '../errors.js';
import { backendInfo, resolveBackend } from '../backend.js';
import type { ResolvedBackend } from '../types.js';
import type { NativePolicyLossResult } from '../native/addon.js';
import {
  resolvePolicyOptions,
  type PolicyLossCallOptions,
  type PolicyLossMetrics,
  type PolicyLossParams,
} from '../kernels/policyLoss.js';
import { policyLossJs } from '../kernels/js/policyLoss.js';

/** The kernel's name in the tfjs registry. */
export const POLICY_LOSS_KERNEL = 'GprlPolicyLoss';

/** The backends the kernel is registered for. */
export const POLICY_LOSS_TF_BACKENDS = ['cpu', 'wasm', 'tensorflow'] as const;

type Impl = ResolvedBackend;

type PolicyLossAttrs = ReturnType<typeof resolvePolicyOptions> & { impl: Impl };

/** Metrics of the most recent forward run (kernels run synchronously, so the op reads them right after). */
let lastMetrics: NativePolicyLossResult | null = null;

function toMask(values: ArrayLike<number>): Uint8Array {
  if (values instanceof Uint8Array) return values;
  const out = new Uint8Array(values.length);
  // Nonzero = valid; a NaN entry is not a valid mark.
  for (let i = 0; i < values.length; i++) out[i] = values[i]! !== 0 && values[i] === values[i] ? 1 : 0;
  return out;
}

/** Run the loss into `grad` with the implementation chosen when the op was called. */
function compute(
  attrs: PolicyLossAttrs,
  shape: [number, number],
  arrays: Pick<PolicyLossParams, 'logp' | 'logpOld' | 'logpRef' | 'advantages' | 'mask' | 'policyMask'>,
  grad: Float32Array,
): NativePolicyLossResult {
  const { impl: _impl, ...options } = attrs;
  const p: PolicyLossParams = { sequences: shape[0], tokens: shape[1], ...arrays, ...options };
  if (attrs.impl === 'js') return policyLossJs(p, grad);
  const call = resolveBackend(attrs.impl);
  return call.addon!.policyLoss({ ...p, device: call.device, grad });
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}

function unpack(args: KernelArgs): { attrs: PolicyLossAttrs; shape: [number, number]; infos: Record<string, TensorInfo> } {
  const attrs = args.attrs as unknown as PolicyLossAttrs;
  const infos = args.inputs as Record<string, TensorInfo>;
  const s = infos.logp!.shape;
  return { attrs, shape: [s[0]!, s[1]!], infos };
}

interface CpuStorage {
  data: { get(dataId: object): { values?: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: DataType, values: TypedArray): TensorInfo;
}

/** `cpu`: zero-copy reads of the backend's arrays; outputs handed over without copies. */
function cpuKernel(args: KernelArgs): TensorInfo[] {
  const { attrs, shape, infos } = unpack(args);
  const b = args.backend as unknown as CpuStorage;
  const f32 = (name: string): Float32Array => b.data.get(infos[name]!.dataId).values as Float32Array;
  const grad = new Float32Array(shape[0] * shape[1]);
  const r = compute(
    attrs,
    shape,
    {
      logp: f32('logp'),
      logpOld: f32('logpOld'),
      logpRef: infos.logpRef ? f32('logpRef') : null,
      advantages: f32('advantages'),
      mask: toMask(b.data.get(infos.mask!.dataId).values!),
      policyMask: infos.policyMask ? toMask(b.data.get(infos.policyMask.dataId).values!) : null,
    },
    grad,
  );
  lastMetrics = r;
  return [b.makeTensorInfo([], 'float32', Float32Array.of(r.loss)), b.makeTensorInfo(shape, 'float32', grad)];
}

interface WasmHeap {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
}

/**
 * `wasm`: outputs are allocated on the heap first (an allocation may grow the memory and detach
 * earlier views), then every input and output is viewed in place.
 */
function wasmKernel(args: KernelArgs): TensorInfo[] {
  const { attrs, shape, infos } = unpack(args);
  const b = args.backend as unknown as WasmHeap;
  const lossInfo = b.makeOutput([], 'float32');
  const gradInfo = b.makeOutput(shape, 'float32');
  const view = (name: string): TypedArray => b.typedArrayFromHeap(infos[name]!);
  const r = compute(
    attrs,
    shape,
    {
      logp: view('logp') as Float32Array,
      logpOld: view('logpOld') as Float32Array,
      logpRef: infos.logpRef ? (view('logpRef') as Float32Array) : null,
      advantages: view('advantages') as Float32Array,
      mask: toMask(view('mask')),
      policyMask: infos.policyMask ? toMask(view('policyMask')) : null,
    },
    b.typedArrayFromHeap(gradInfo) as Float32Array,
  );
  (b.typedArrayFromHeap(lossInfo) as Float32Array)[0] = r.loss;
  lastMetrics = r;
  return [lossInfo, gradInfo];
}

/** Any backend with `readSync`/`write` (used for `tensorflow`): one copy of each input and output. */
export function genericPolicyLossKernel(args: KernelArgs): TensorInfo[] {
  const { attrs, shape, infos } = unpack(args);
  const b = args.backend;
  const f32 = (name: string): Float32Array => {
    const v = b.readSync(infos[name]!.dataId);
    return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  };
  const grad = new Float32Array(shape[0] * shape[1]);
  const r = compute(
    attrs,
    shape,
    {
      logp: f32('logp'),
      logpOld: f32('logpOld'),
      logpRef: infos.logpRef ? f32('logpRef') : null,
      advantages: f32('advantages'),
      mask: toMask(b.readSync(infos.mask!.dataId) as ArrayLike<number>),
      policyMask: infos.policyMask ? toMask(b.readSync(infos.policyMask.dataId) as ArrayLike<number>) : null,
    },
    grad,
  );
  lastMetrics = r;
  const loss = Float32Array.of(r.loss);
  return [
    { dataId: b.write(loss, [], 'float32'), shape: [], dtype: 'float32' },
    { dataId: b.write(grad, shape, 'float32'), shape, dtype: 'float32' },
  ];
}

const kernelFuncs: Record<(typeof POLICY_LOSS_TF_BACKENDS)[number], (args: KernelArgs) => TensorInfo[]> = {
  cpu: cpuKernel,
  wasm: wasmKernel,
  tensorflow: genericPolicyLossKernel,
};

const gradConfig: GradConfig = {
  kernelName: POLICY_LOSS_KERNEL,
  outputsToSave: [false, true],
  gradFunc: (dy, saved) => {
    const dLoss = (Array.isArray(dy) ? dy[0] : dy) as Tensor;
    const grad = saved[0]!;
    return { logp: () => tf.mul(grad, dLoss) };
  },
};

/** Register the kernel and its gradient (idempotent; runs on import). */
export function registerPolicyLossKernel(): void {
  for (const backendName of POLICY_LOSS_TF_BACKENDS) {
    if (tf.getKernel(POLICY_LOSS_KERNEL, backendName) !== undefined) continue;
    const config: KernelConfig = {
      kernelName: POLICY_LOSS_KERNEL,
      backendName,
      kernelFunc: kernelFuncs[backendName] as unknown as KernelConfig['kernelFunc'],
    };
    tf.registerKernel(config);
  }
  if (tf.getGradient(POLICY_LOSS_KERNEL) === undefined) tf.registerGradient(gradConfig);
}

registerPolicyLossKernel();

/** Any other backend (e.g. webgl) gets the readSync/write kernel the first time the op runs on it. */
function ensureKernelForActiveBackend(): void {
  const name = tf.getBackend();
  if (tf.getKernel(POLICY_LOSS_KERNEL, name) !== undefined) return;
  tf.registerKernel({
    kernelName: POLICY_LOSS_KERNEL,
    backendName: name,
    kernelFunc: genericPolicyLossKernel as unknown as KernelConfig['kernelFunc'],
  });
}

// ---------------------------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------------------------

/**
 * Options of the tfjs ops: the kernel options, which implementation runs the forward pass, and an
 * optional policy mask `[N, T]` (bool, int32 or float32; nonzero = the policy term counts).
 */
export type PolicyLossOpOptions = PolicyLossCallOptions & { policyMask?: tf.Tensor2D | null };

interface Checked {
  N: number;
  T: number;
}

function checkTensor(name: string, t: unknown, shape: number[], dtypes: readonly DataType[]): void {
  if (!(t instanceof tf.Tensor)) throw invalidType(name, `a tf.Tensor of shape [${shape.join(', ')}]`, t);
  if (t.isDisposed) throw invalidValue(name, 'a tensor that is not disposed', 'a disposed tensor');
  if (t.rank !== shape.length || t.shape.some((d: number, i: number) => d !== shape[i])) {
    throw invalidValue(name, `shape [${shape.join(', ')}]`, `shape [${t.shape.join(', ')}]`);
  }
  if (!dtypes.includes(t.dtype)) throw invalidType(name, `dtype ${dtypes.join(' or ')}`, t.dtype);
}

function checkOpInputs(logp: unknown, logpOld: unknown, logpRef: unknown, advantages: unknown, mask: unknown): Checked {
  if (!(logp instanceof tf.Tensor) || logp.rank !== 2) {
    throw invalidType('logp', 'a 2-D tf.Tensor [sequences, tokens]', logp instanceof tf.Tensor ? `rank ${logp.rank}` : logp);
  }
  const [N, T] = logp.shape as [number, number];
  if (N < 1 || T < 1) throw invalidValue('logp', 'a non-empty [sequences, tokens] tensor', `shape [${N}, ${T}]`);
  checkTensor('logp', logp, [N, T], ['float32']);
  checkTensor('logpOld', logpOld, [N, T], ['float32']);
  if (logpRef !== null && logpRef !== undefined) checkTensor('logpRef', logpRef, [N, T], ['float32']);
  checkTensor('advantages', advantages, [N], ['float32']);
  checkTensor('mask', mask, [N, T], ['bool', 'int32', 'float32']);
  return { N, T };
}

/** The policy mask tensor (checked) and the remaining kernel options. */
function splitPolicyMask(options: PolicyLossOpOptions | undefined, N: number, T: number): { policyMask: Tensor | null; kernelOptions: PolicyLossCallOptions | undefined } {
  if (options === null || typeof options !== 'object' || !('policyMask' in options)) return { policyMask: null, kernelOptions: options };
  const { policyMask, ...rest } = options;
  if (policyMask === undefined || policyMask === null) return { policyMask: null, kernelOptions: rest };
  checkTensor('options.policyMask', policyMask, [N, T], ['bool', 'int32', 'float32']);
  return { policyMask, kernelOptions: rest };
}

/** Which implementation the kernel calls: C++ when the addon loads (`'auto'`), else TypeScript. */
function resolveImpl(options: PolicyLossOpOptions | undefined): Impl {
  const requested = options?.backend;
  if (requested === undefined || requested === 'auto') return backendInfo().available.includes('cpu') ? 'cpu' : 'js';
  return resolveBackend(requested).backend;
}

function run(
  logp: Tensor,
  logpOld: Tensor,
  logpRef: Tensor | null,
  advantages: Tensor,
  mask: Tensor,
  options: PolicyLossOpOptions | undefined,
): { loss: tf.Scalar; metrics: PolicyLossMetrics } {
  const { N, T } = checkOpInputs(logp, logpOld, logpRef, advantages, mask);
  const hasRef = logpRef !== null && logpRef !== undefined;
  const { policyMask, kernelOptions } = splitPolicyMask(options, N, T);
  const o = resolvePolicyOptions(kernelOptions, { sequences: N, tokens: T }, hasRef);
  const attrs: PolicyLossAttrs = { ...o, impl: resolveImpl(kernelOptions) };
  const inputs: NamedTensorMap = hasRef
    ? { logp, logpOld, logpRef: logpRef as Tensor, advantages, mask }
    : { logp, logpOld, advantages, mask };
  if (policyMask) inputs.policyMask = policyMask;
  ensureKernelForActiveBackend();
  lastMetrics = null;
  const outs = tf.engine().runKernel(POLICY_LOSS_KERNEL, inputs, attrs as unknown as NamedAttrMap) as Tensor[];
  const m = lastMetrics as NativePolicyLossResult | null;
  // The gradient output lives on in the tape's saved copy when a gradient is being recorded.
  outs[1]!.dispose();
  if (m === null) throw new Error(`gprl: ${POLICY_LOSS_KERNEL} did not run synchronously on backend '${tf.getBackend()}'`);
  return {
    loss: outs[0] as tf.Scalar,
    metrics: {
      clipFracLow: m.clipFracLow,
      clipFracHigh: m.clipFracHigh,
      dualClipFrac: m.dualClipFrac,
      meanRatio: m.meanRatio,
      meanKl: m.meanKl,
      validTokens: m.validTokens,
      nonFinite: m.nonFinite,
    },
  };
}

/**
 * The policy loss of docs/policy-loss.md as one tfjs kernel: a scalar whose gradient flows into
 * `logp` (and from there into the policy's parameters). `logpOld`, `logpRef`, `advantages` and `mask`
 * are constants: asking for their gradient is an error.
 *
 * @param logp `[N, T]` float32, current policy log-probs (differentiable).
 * @param logpOld `[N, T]` float32. @param logpRef `[N, T]` float32 or null.
 * @param advantages `[N]` float32. @param mask `[N, T]` bool, int32 or float32 (nonzero = valid).
 */
export function policyLossOp(
  logp: tf.Tensor2D,
  logpOld: tf.Tensor2D,
  logpRef: tf.Tensor2D | null,
  advantages: tf.Tensor1D,
  mask: tf.Tensor2D,
  options?: PolicyLossOpOptions,
): tf.Scalar {
  return run(logp, logpOld, logpRef, advantages, mask, options).loss;
}

/** `policyLossOp` that also returns the metrics of the forward pass. */
export function policyLossOpWithMetrics(
  logp: tf.Tensor2D,
  logpOld: tf.Tensor2D,
  logpRef: tf.Tensor2D | null,
  advantages: tf.Tensor1D,
  mask: tf.Tensor2D,
  options?: PolicyLossOpOptions,
): { loss: tf.Scalar; metrics: PolicyLossMetrics } {
  return run(logp, logpOld, logpRef, advantages, mask, options);
}

/**
 * The same loss composed from stock tfjs ops (float32 throughout; about twenty elementwise ops, each
 * with its own `[N, T]` temporary and its own backward op). A reference for tests and the contender
 * in the benchmark; `options.backend` is ignored.
 */
export function policyLossComposed(
  logp: tf.Tensor2D,
  logpOld: tf.Tensor2D,
  logpRef: tf.Tensor2D | null,
  advantages: tf.Tensor1D,
  mask: tf.Tensor2D,
  options?: PolicyLossOpOptions,
): tf.Scalar {
  const { N, T } = checkOpInputs(logp, logpOld, logpRef, advantages, mask);
  const hasRef = logpRef !== null && logpRef !== undefined;
  const { policyMask, kernelOptions } = splitPolicyMask(options, N, T);
  const o = resolvePolicyOptions(kernelOptions, { sequences: N, tokens: T }, hasRef);
  if (policyMask || o.importanceSampling !== 0 || o.surrogate !== 0 || o.numTokens > 0 || o.numSequences > 0) {
    throw invalidValue('options', 'the token-level clipped loss without policyMask, numTokens or numSequences (the composition covers only those)', options);
  }
  return tf.tidy(() => {
    // Only ops with registered gradients may depend on logp (tfjs has no gradient for comparisons or
    // logical ops), so validity is split: `fixed` from the constants, `lpFinite` from logp (IsFinite's
    // gradient is zero).
    const advB = tf.broadcastTo(tf.reshape(advantages, [N, 1]), [N, T]);
    let fixed = tf.logicalAnd(tf.notEqual(mask, 0), tf.logicalAnd(tf.isFinite(logpOld), tf.isFinite(advB)));
    if (hasRef) fixed = tf.logicalAnd(fixed, tf.isFinite(logpRef));
    const lpFinite = tf.isFinite(logp);
    const validF = tf.mul(tf.cast(fixed, 'float32'), tf.cast(lpFinite, 'float32'));
    // Excluded entries are replaced by 0 before any arithmetic, so no NaN reaches the loss or the gradient.
    const zeros = tf.zeros([N, T]);
    const lp = tf.where(fixed, tf.where(lpFinite, logp, zeros), zeros);
    const lq = tf.where(fixed, logpOld, zeros);
    const a = tf.where(fixed, advB, zeros);
    const ratio = tf.exp(tf.sub(lp, lq));
    const unclipped = tf.mul(ratio, a);
    const clipped = tf.mul(tf.clipByValue(ratio, 1 - o.epsilonLow, 1 + o.epsilonHigh), a);
    let loss: Tensor = tf.neg(tf.minimum(unclipped, clipped));
    if (o.dualClip > 0) {
      loss = tf.where(tf.less(a, 0), tf.minimum(loss, tf.mul(a, -o.dualClip)), loss);
    }
    if (hasRef && o.beta > 0) {
      const delta = tf.sub(tf.where(fixed, logpRef as Tensor, zeros), lp);
      const kl =
        o.kl === 0 ? tf.neg(delta) : o.kl === 1 ? tf.mul(tf.square(delta), 0.5) : tf.sub(tf.sub(tf.exp(delta), delta), 1);
      loss = tf.add(loss, tf.mul(kl, o.beta));
    }
    const masked = tf.mul(loss, validF);
    if (o.aggregation === 0) return tf.div(tf.sum(masked), tf.maximum(tf.sum(validF), 1)) as tf.Scalar;
    if (o.aggregation === 2) return tf.div(tf.sum(masked), N * o.maxLength) as tf.Scalar;
    const rowCount = tf.sum(validF, 1);
    const rowMean = tf.div(tf.sum(masked, 1), tf.maximum(rowCount, 1));
    const nonEmpty = tf.sum(tf.minimum(rowCount, 1)); // rowCount is a whole number
    return tf.div(tf.sum(rowMean), tf.maximum(nonEmpty, 1)) as tf.Scalar;
  });
}
