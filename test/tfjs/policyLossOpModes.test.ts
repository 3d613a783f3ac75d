/**
 * The tfjs op with the TRL modes (sequence-level ratio, CISPO, SAPO, policy mask, explicit
 * denominators) on the `cpu` and `wasm` backends: its loss and its gradient through `tf.grad` equal the
 * `policyLoss()` kernel's (which test/kernels/policyLossModes.test.ts checks against TRL's definitions),
 * the policy mask may be a bool, int32 or float32 tensor, nothing leaks, and the stock-op composition
 * refuses the modes it does not implement.
 *
 * Tolerances: the op's loss output is float32 (1e-6 relative to the kernel's float64 loss); its gradient
 * is the kernel's float32 gradient times the upstream 1 (equal).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { policyLoss, type PolicyLossOptions } from '../../src/kernels/policyLoss.js';
import { policyLossComposed, policyLossOp } from '../../src/tfjs/policyLossOp.js';
import { Rng } from '../../src/random.js';

const N = 5, T = 7;

function batch(seed: number) {
  const rng = new Rng(seed);
  const logp = Float32Array.from({ length: N * T }, () => -Math.abs(rng.normal(1.5, 1)));
  const logpOld = Float32Array.from(logp, (x) => x + rng.normal(0, 0.4));
  const logpRef = Float32Array.from(logp, (x) => x + rng.normal(0, 0.3));
  const advantages = Float32Array.from({ length: N }, () => rng.normal());
  const mask = Uint8Array.from({ length: N * T }, (_, i) => (i % T < 2 + (Math.floor(i / T) % 5) ? 1 : 0));
  const policyMask = Uint8Array.from({ length: N * T }, () => (rng.uniform() < 0.6 ? 1 : 0));
  return { logp, logpOld, logpRef, advantages, mask, policyMask };
}

const MODES: PolicyLossOptions[] = [
  { importanceSampling: 'sequence', beta: 0.04, aggregation: 'sequence-mean', numSequences: N },
  { surrogate: 'cispo', epsilonHigh: 1.1, aggregation: 'token-mean', numTokens: 40 },
  { surrogate: 'sapo', importanceSampling: 'sequence', beta: 0.02, kl: 'k2' },
  { surrogate: 'sapo', sapoTemperaturePos: 2, sapoTemperatureNeg: 3, aggregation: 'constant', maxLength: 9 },
];

describe.each(['cpu', 'wasm'] as TfBackendName[])('policyLossOp TRL modes on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });

  it('loss and gradient equal the kernel’s, with the policy mask as bool, int32 or float32', () => {
    const b = batch(3);
    const before = tf.memory().numTensors;
    for (const opts of MODES) {
      const want = policyLoss(b, { sequences: N, tokens: T }, opts);
      for (const dtype of ['bool', 'int32', 'float32'] as const) {
        const t = {
          logpOld: tf.tensor2d(b.logpOld, [N, T]),
          logpRef: tf.tensor2d(b.logpRef, [N, T]),
          adv: tf.tensor1d(b.advantages),
          mask: tf.tensor2d(b.mask, [N, T], 'int32'),
          pm: dtype === 'bool' ? tf.tensor2d(b.policyMask, [N, T], 'bool') : tf.tensor2d(Array.from(b.policyMask), [N, T], dtype),
          logp: tf.tensor2d(b.logp, [N, T]),
        };
        const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
          policyLossOp(x as tf.Tensor2D, t.logpOld, t.logpRef, t.adv, t.mask, { ...opts, policyMask: t.pm }),
        )(t.logp);
        const tag = `${backend} ${dtype} ${JSON.stringify(opts)}`;
        expect(Math.abs(value.dataSync()[0]! - want.loss), tag).toBeLessThanOrEqual(1e-6 * Math.abs(want.loss) + 1e-9);
        expect(Array.from(grad.dataSync()), tag).toEqual(Array.from(want.grad));
        tf.dispose([value, grad, ...Object.values(t)]);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks the policy mask tensor and refuses modes in the composition', () => {
    const b = batch(4);
    const t = [tf.tensor2d(b.logp, [N, T]), tf.tensor2d(b.logpOld, [N, T]), tf.tensor1d(b.advantages), tf.tensor2d(b.mask, [N, T], 'int32')] as const;
    const bad = tf.zeros([N, T + 1]) as tf.Tensor2D;
    expect(() => policyLossOp(t[0], t[1], null, t[2], t[3], { policyMask: bad })).toThrow(/options\.policyMask: expected shape \[5, 7\]/);
    expect(() => policyLossComposed(t[0], t[1], null, t[2], t[3], { surrogate: 'sapo' })).toThrow(RangeError);
    expect(() => policyLossComposed(t[0], t[1], null, t[2], t[3], { importanceSampling: 'sequence' })).toThrow(/composition covers only/);
    tf.dispose([...t, bad]);
  });
});
