/**
 * The tfjs kernel `GprlPolicyLoss` on the `cpu` and `wasm` backends: forward = policyLoss(), the
 * gradient through tf.grad = the analytic gradient = tf.grad of the op composition, optimizer steps,
 * tensor leaks, and the readSync fallback used for the `tensorflow` backend.
 *
 * Tolerances: the kernel's loss output is float32 (1e-6 relative against the float64 value). Its
 * gradient is the kernel's float32 gradient times the upstream scalar 1 (bitwise equal). The op
 * composition computes in float32 (exp, clip, sums over up to N·T terms): 2e-5 relative on the loss,
 * and per gradient element 1e-5 relative plus 1e-6 of the largest element.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { describeTf, TEST_TF_BACKENDS, tensorflowSkipReason } from '../tfBackends.js';
import { backendInfo } from '../../src/backend.js';
import { policyLoss, type PolicyLossOptions } from '../../src/kernels/policyLoss.js';
import {
  POLICY_LOSS_KERNEL,
  genericPolicyLossKernel,
  policyLossComposed,
  policyLossOp,
  policyLossOpWithMetrics,
} from '../../src/tfjs/policyLossOp.js';
import { Rng } from '../../src/random.js';
import { randomPolicyBatch, type PolicyBatch } from '../helpers.js';

const IMPLS = backendInfo().available.filter((b) => b !== 'cuda');

/** The policyLoss() inputs of a batch. */
function inputsOf(b: PolicyBatch): { logp: Float32Array; logpOld: Float32Array; logpRef: Float32Array; advantages: Float32Array; mask: Uint8Array } {
  return { logp: b.logp, logpOld: b.logpOld, logpRef: b.logpRef, advantages: b.advantages, mask: b.mask };
}

interface Tensors {
  logp: tf.Tensor2D;
  logpOld: tf.Tensor2D;
  logpRef: tf.Tensor2D;
  advantages: tf.Tensor1D;
  mask: tf.Tensor2D;
  dispose(): void;
}

function tensors(b: PolicyBatch, maskDtype: 'bool' | 'int32' | 'float32' = 'bool'): Tensors {
  const shape: [number, number] = [b.N, b.T];
  const t = {
    logp: tf.tensor2d(b.logp, shape),
    logpOld: tf.tensor2d(b.logpOld, shape),
    logpRef: tf.tensor2d(b.logpRef, shape),
    advantages: tf.tensor1d(b.advantages),
    mask:
      maskDtype === 'bool'
        ? tf.tensor2d(b.mask, shape, 'bool')
        : tf.tensor2d(maskDtype === 'int32' ? Int32Array.from(b.mask) : Float32Array.from(b.mask), shape, maskDtype),
  };
  return { ...t, dispose: () => tf.dispose(Object.values(t)) };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= abs + rel * Math.abs(w)) && bad.length < 5) bad.push(`[${i}] got ${g}, want ${w}`);
  }
  expect(bad, `${what}: first mismatches`).toEqual([]);
}

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

const OPTION_SETS: PolicyLossOptions[] = [
  {},
  { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 3 },
  { beta: 0.05, kl: 'k1', aggregation: 'sequence-mean' },
  { beta: 0.05, kl: 'k2', aggregation: 'constant', maxLength: 64 },
  { beta: 0.1, kl: 'k3', dualClip: 1.5, aggregation: 'token-mean' },
];

describeTf.each(TEST_TF_BACKENDS)('policyLossOp on tfjs %s', (tfBackend) => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await setTfBackend(tfBackend);
  });
  afterAll(async () => {
    if (previous) await setTfBackend(previous as TfBackendName);
  });

  it('is registered for this backend', () => {
    expect(tf.getKernel(POLICY_LOSS_KERNEL, tfBackend)).toBeDefined();
  });

  it.each(IMPLS)('forward = policyLoss() and tf.grad = its gradient (kernel on %s)', (impl) => {
    const b = randomPolicyBatch(1, 9, 37);
    const t = tensors(b);
    for (const opts of OPTION_SETS) {
      const useRef = opts.beta !== undefined;
      const want = policyLoss(
        { logp: b.logp, logpOld: b.logpOld, logpRef: useRef ? b.logpRef : null, advantages: b.advantages, mask: b.mask },
        { sequences: b.N, tokens: b.T },
        { ...opts, backend: 'js' },
      );
      const ref = useRef ? t.logpRef : null;
      const { loss, metrics } = policyLossOpWithMetrics(t.logp, t.logpOld, ref, t.advantages, t.mask, { ...opts, backend: impl });
      const l = loss.dataSync()[0]!;
      loss.dispose();
      expect(Math.abs(l - want.loss), `${JSON.stringify(opts)}: ${l} vs ${want.loss}`).toBeLessThanOrEqual(1e-6 * Math.abs(want.loss) + 1e-7);
      expect(metrics.validTokens).toBe(want.metrics.validTokens);
      expect(metrics.clipFracHigh).toBeCloseTo(want.metrics.clipFracHigh, 12);
      expect(metrics.meanKl).toBeCloseTo(want.metrics.meanKl, 12);
      const g = tf.grad((x: tf.Tensor) => policyLossOp(x as tf.Tensor2D, t.logpOld, ref, t.advantages, t.mask, { ...opts, backend: impl }))(
        t.logp,
      );
      const gv = g.dataSync();
      g.dispose();
      // Same float64 algorithm on both implementations, times an upstream 1: 1 ulp of float32 at most.
      expectClose(gv, want.grad, 1.2e-7, 0, `${JSON.stringify(opts)} grad`);
    }
    t.dispose();
  });

  it('matches the op composition: loss and tf.grad', () => {
    const b = randomPolicyBatch(2, 12, 50);
    const t = tensors(b);
    for (const opts of OPTION_SETS) {
      const ref = opts.beta !== undefined ? t.logpRef : null;
      const [lo, go] = tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => policyLossOp(x as tf.Tensor2D, t.logpOld, ref, t.advantages, t.mask, opts))([t.logp]);
        return [value.dataSync()[0]!, grads[0]!.dataSync()];
      });
      const [lc, gc] = tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => policyLossComposed(x as tf.Tensor2D, t.logpOld, ref, t.advantages, t.mask, opts))([t.logp]);
        return [value.dataSync()[0]!, grads[0]!.dataSync()];
      });
      expect(Math.abs(lo - lc), `${JSON.stringify(opts)}: ${lo} vs ${lc}`).toBeLessThanOrEqual(2e-5 * Math.abs(lo) + 1e-7);
      expectClose(gc, go, 1e-5, 1e-6 * maxAbs(go), `${JSON.stringify(opts)} composed grad`);
    }
    t.dispose();
  });

  it('excludes non-finite inputs like policyLoss (composition included) and an all-masked batch gives 0', () => {
    const b = randomPolicyBatch(3, 5, 16);
    b.mask.fill(1);
    b.logp[2] = NaN;
    b.logpOld[20] = Infinity;
    b.logpRef[40] = -Infinity;
    b.advantages[3] = NaN;
    const t = tensors(b);
    const opts: PolicyLossOptions = { beta: 0.1, dualClip: 2 };
    const want = policyLoss(inputsOf(b), { sequences: 5, tokens: 16 }, { ...opts, backend: 'js' });
    const { loss, metrics } = policyLossOpWithMetrics(t.logp, t.logpOld, t.logpRef, t.advantages, t.mask, opts);
    expect(metrics.nonFinite).toBe(3 + 16);
    expect(loss.dataSync()[0]).toBeCloseTo(want.loss, 6);
    loss.dispose();
    const gc = tf.tidy(() => tf.grad((x: tf.Tensor) => policyLossComposed(x as tf.Tensor2D, t.logpOld, t.logpRef, t.advantages, t.mask, opts))(t.logp).dataSync());
    expect(gc.every((v) => Number.isFinite(v))).toBe(true);
    expectClose(gc, want.grad, 1e-5, 1e-6 * maxAbs(want.grad), 'composed grad with non-finite inputs');
    const zeroMask = tf.zeros([5, 16], 'bool') as tf.Tensor2D;
    for (const fn of [policyLossOp, policyLossComposed]) {
      const [l, g] = tf.tidy(() => {
        const r = tf.valueAndGrad((x: tf.Tensor) => fn(x as tf.Tensor2D, t.logpOld, t.logpRef, t.advantages, zeroMask, opts))(t.logp);
        return [r.value.dataSync()[0]!, r.grad.dataSync()];
      });
      expect(l).toBe(0);
      expect(g.every((v) => v === 0)).toBe(true);
    }
    zeroMask.dispose();
    t.dispose();
  });

  it('accepts bool, int32 and float32 masks', () => {
    const b = randomPolicyBatch(4, 6, 11);
    const losses = (['bool', 'int32', 'float32'] as const).map((dtype) => {
      const t = tensors(b, dtype);
      const l = policyLossOp(t.logp, t.logpOld, null, t.advantages, t.mask);
      const v = l.dataSync()[0]!;
      l.dispose();
      t.dispose();
      return v;
    });
    expect(losses[1]).toBe(losses[0]);
    expect(losses[2]).toBe(losses[0]);
  });

  it('trains parameters through the op with optimizer.minimize (one SGD step, checked by hand)', () => {
    // logp = logSigmoid(v) for a variable v [N, T]; ∂logp/∂v = 1 − σ(v). One SGD step with rate η:
    // v' = v − η · grad ⊙ (1 − σ(v)), with grad = ∂loss/∂logp from policyLoss().
    const b = randomPolicyBatch(5, 4, 9);
    const rng = new Rng(6);
    const v0 = Float32Array.from({ length: 36 }, () => rng.normal(-1, 1));
    const logp = Float32Array.from(v0, (x) => -Math.log1p(Math.exp(-x)));
    const t = tensors(b);
    const v = tf.variable(tf.tensor2d(v0, [4, 9]));
    const want = policyLoss({ ...inputsOf(b), logp }, { sequences: 4, tokens: 9 }, { backend: 'js', beta: 0.1 });
    const eta = 0.5;
    const opt = tf.train.sgd(eta);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 1; step++) {
      opt.minimize(() => policyLossOp(tf.logSigmoid(v) as tf.Tensor2D, t.logpOld, t.logpRef, t.advantages, t.mask, { beta: 0.1 }));
    }
    expect(tf.memory().numTensors).toBe(before);
    const after = v.dataSync();
    const expected = Array.from(v0, (x, i) => x - eta * want.grad[i]! * (1 - 1 / (1 + Math.exp(-x))));
    // float32 logSigmoid and its gradient: 1e-6 relative on the step.
    expectClose(after, expected, 1e-6, 1e-6 * maxAbs(want.grad), 'v after one step');
    v.dispose();
    opt.dispose();
    t.dispose();
  });

  it('leaks no tensors over repeated forward + gradient calls', () => {
    const b = randomPolicyBatch(7, 8, 20);
    const t = tensors(b);
    const step = (): void => {
      const g = tf.grad((x: tf.Tensor) => policyLossOp(x as tf.Tensor2D, t.logpOld, t.logpRef, t.advantages, t.mask, { beta: 0.02 }))(t.logp);
      g.dispose();
      tf.tidy(() => {
        policyLossOp(t.logp, t.logpOld, null, t.advantages, t.mask);
      });
      policyLossOp(t.logp, t.logpOld, null, t.advantages, t.mask).dispose();
      tf.tidy(() => tf.grad((x: tf.Tensor) => policyLossComposed(x as tf.Tensor2D, t.logpOld, null, t.advantages, t.mask))(t.logp)).dispose();
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('validates its tensors and options', () => {
    const b = randomPolicyBatch(8, 3, 4);
    const t = tensors(b);
    expect(() => policyLossOp(t.logp, tf.reshape(t.logpRef, [4, 3]) as tf.Tensor2D, null, t.advantages, t.mask)).toThrow(
      new RangeError('gprl: invalid logpOld: expected shape [3, 4], got "shape [4, 3]"'),
    );
    expect(() => policyLossOp(t.logp, t.logpOld, null, tf.zeros([4]) as tf.Tensor1D, t.mask)).toThrow(/invalid advantages: expected shape \[3\]/);
    expect(() => policyLossOp(t.logp, t.logpOld, null, t.advantages, t.mask, { beta: 0.1 })).toThrow(
      new RangeError('gprl: invalid options.beta: expected 0 when inputs.logpRef is not given, got 0.1'),
    );
    expect(() => policyLossOp(tf.cast(t.logp, 'int32') as tf.Tensor2D, t.logpOld, null, t.advantages, t.mask)).toThrow(TypeError);
    expect(() => policyLossOp([1] as unknown as tf.Tensor2D, t.logpOld, null, t.advantages, t.mask)).toThrow(TypeError);
    // Constants are not differentiable through the kernel.
    expect(() => tf.grad((x: tf.Tensor) => policyLossOp(t.logp, x as tf.Tensor2D, null, t.advantages, t.mask))(t.logpOld)).toThrow(
      /Cannot backprop through input logpOld/,
    );
    tf.disposeVariables();
    t.dispose();
  });
});

describe('the readSync fallback kernel (used for the tensorflow backend)', () => {
  it('computes the same outputs as the cpu kernel', async () => {
    await setTfBackend('cpu');
    const b = randomPolicyBatch(9, 5, 13);
    const t = tensors(b);
    const backend = tf.backend();
    const want = policyLoss(inputsOf(b), { sequences: 5, tokens: 13 }, { backend: 'js', beta: 0.03, kl: 'k2' });
    const attrs = { epsilonLow: 0.2, epsilonHigh: 0.2, dualClip: 0, beta: 0.03, kl: 1, aggregation: 0, maxLength: 13, impl: 'js' };
    const infos = genericPolicyLossKernel({
      inputs: { logp: t.logp, logpOld: t.logpOld, logpRef: t.logpRef, advantages: t.advantages, mask: t.mask },
      backend,
      attrs,
    });
    const [loss, grad] = infos.map((info) => tf.engine().makeTensorFromTensorInfo(info, backend));
    expect(loss!.dataSync()[0]).toBe(Math.fround(want.loss));
    expect(grad!.dataSync()).toEqual(want.grad);
    tf.dispose([loss!, grad!]);
    t.dispose();
  });
});

describe('a backend without a dedicated kernel', () => {
  it('gets the readSync fallback kernel the first time the op runs on it', async () => {
    const name = 'gprl-policy-loss-test';
    tf.registerBackend(name, () => new MathBackendCPU());
    const b = randomPolicyBatch(10, 4, 6);
    const want = policyLoss(inputsOf(b), { sequences: 4, tokens: 6 }, { backend: 'js', beta: 0.2 });
    try {
      expect(await tf.setBackend(name)).toBe(true);
      expect(tf.getKernel(POLICY_LOSS_KERNEL, name)).toBeUndefined();
      const t = tensors(b);
      const { loss, metrics } = policyLossOpWithMetrics(t.logp, t.logpOld, t.logpRef, t.advantages, t.mask, {
        beta: 0.2,
        backend: 'js',
      });
      expect(tf.getKernel(POLICY_LOSS_KERNEL, name)).toBeDefined();
      expect(loss.dataSync()[0]).toBe(Math.fround(want.loss));
      expect(metrics).toEqual(want.metrics);
      tf.dispose([loss]);
      t.dispose();
    } finally {
      await setTfBackend('cpu');
      tf.removeBackend(name);
    }
  });
});


// Run with GPRL_TEST_TF_BACKEND=tensorflow (test/tfBackends.ts). Both backends run the same kernel
// (C++ or TypeScript, float64 inside) on the same float32 inputs; only where the tensors live differs
// (the tensorflow kernel copies them to the host and back), so the results must be bitwise equal:
// tolerance 0 on the loss, the gradient and the metrics.
describe.skipIf(tensorflowSkipReason !== undefined || !TEST_TF_BACKENDS.includes('tensorflow'))('policyLossOp on tfjs tensorflow equals tfjs cpu', () => {
  afterAll(async () => {
    await setTfBackend('cpu');
  });

  it.each(IMPLS)('loss, gradient and metrics for every option set (kernel on %s)', async (impl) => {
    const b = randomPolicyBatch(11, 7, 29);
    const results: Record<string, { loss: number; grad: Float32Array; metrics: unknown }[]> = {};
    for (const backend of ['cpu', 'tensorflow'] as const) {
      await setTfBackend(backend);
      const before = tf.memory().numTensors;
      const t = tensors(b);
      results[backend] = OPTION_SETS.map((opts) => {
        const ref = opts.beta !== undefined ? t.logpRef : null;
        const o = { ...opts, backend: impl };
        const { loss, metrics } = policyLossOpWithMetrics(t.logp, t.logpOld, ref, t.advantages, t.mask, o);
        loss.dispose();
        const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => policyLossOp(x as tf.Tensor2D, t.logpOld, ref, t.advantages, t.mask, o))(t.logp);
        const out = { loss: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array, metrics };
        tf.dispose([value, grad]);
        return out;
      });
      t.dispose();
      expect(tf.memory().numTensors, `${backend}: tensors left`).toBe(before);
    }
    for (const [i, opts] of OPTION_SETS.entries()) {
      const c = results.cpu![i]!, g = results.tensorflow![i]!;
      expect(g.loss, JSON.stringify(opts)).toBe(c.loss);
      expect(g.metrics, JSON.stringify(opts)).toEqual(c.metrics);
      expect(Array.from(g.grad), JSON.stringify(opts)).toEqual(Array.from(c.grad));
    }
  });
});
