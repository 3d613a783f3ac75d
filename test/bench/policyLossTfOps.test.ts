/**
 * The benchmark's TF-op formulation of the policy loss (bench/tfjs/policyLossTfOps.ts) against the
 * float64 TypeScript kernel, so the contender it is measured against computes the same thing.
 *
 * Tolerances: the formulation runs in float32 (exp, clip, one sum over up to N·T terms): loss to
 * 1e-5 relative; gradient elements to 1e-5 relative plus 1e-6 of the largest element.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { policyLoss } from '../../src/kernels/policyLoss.js';
import { randomPolicyBatch } from '../helpers.js';
import { setTfBackend, tf } from '../../src/tf.js';
import { policyLossTfOps } from '../../bench/tfjs/policyLossTfOps.js';

const O = { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 3, beta: 0.04 };

describe('policyLossTfOps (benchmark contender)', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });

  it('equals policyLoss (k3, token-mean, clip and dual clip) in loss and gradient, non-finite and masked tokens excluded', () => {
    const N = 11, T = 23;
    // old log-probs spread wide enough that both clip bounds and the dual clip (ratio > 3) are hit
    const { logp, logpOld, logpRef, advantages, mask } = randomPolicyBatch(5, N, T, 0.8);
    logp[2 * T + 1] = NaN;
    logpOld[3 * T] = Infinity;
    const want = policyLoss({ logp, logpOld, logpRef, advantages, mask }, { sequences: N, tokens: T }, { ...O, kl: 'k3', aggregation: 'token-mean', backend: 'js' });
    expect(want.metrics.clipFracLow + want.metrics.clipFracHigh).toBeGreaterThan(0);
    expect(want.metrics.dualClipFrac).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    const t = [tf.tensor2d(logp, [N, T]), tf.tensor2d(logpOld, [N, T]), tf.tensor2d(logpRef, [N, T]), tf.tensor1d(advantages), tf.tensor2d(mask, [N, T], 'bool')] as const;
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => policyLossTfOps(x as tf.Tensor2D, t[1], t[2], t[3], t[4], O))(t[0]);
    const loss = value.dataSync()[0]!;
    const g = grad.dataSync();
    tf.dispose([value, grad, ...t]);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(loss - want.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(want.loss));
    let scale = 0;
    for (const v of want.grad) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < g.length; i++) {
      expect(Math.abs(g[i]! - want.grad[i]!), `grad[${i}]`).toBeLessThanOrEqual(1e-5 * Math.abs(want.grad[i]!) + 1e-6 * scale);
    }
  });
});
