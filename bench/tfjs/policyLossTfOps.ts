/**
 * The policy loss as the kernel of a `tensorflow`-backend formulation would compute it with
 * TensorFlow ops: the loss and its analytic gradient ∂loss/∂logp in one forward pass (about thirty
 * elementwise ops and two sums, no autodiff tape), the gradient saved for the backward pass as the
 * fused kernel does. It is the measured alternative to copying the inputs to the host for the C++
 * kernel (docs/benchmarks.md, "policy_loss on the tensorflow backend").
 *
 * It covers the benchmark's options only (clip ε_low/ε_high, dual clip c, k3 KL with β, token-mean)
 * and computes no metrics (the real kernel would also read back the clip fractions, mean ratio and
 * KL, one more device-to-host transfer), so its time is a lower bound for a complete TF-op kernel.
 * Validity as in the kernel: mask set and every input of the token finite.
 */
import { tf } from '../../src/tf.js';

export interface TfOpsOptions {
  epsilonLow: number;
  epsilonHigh: number;
  dualClip: number;
  beta: number;
}

export function policyLossTfOps(
  logp: tf.Tensor2D,
  logpOld: tf.Tensor2D,
  logpRef: tf.Tensor2D,
  advantages: tf.Tensor1D,
  mask: tf.Tensor2D,
  o: TfOpsOptions,
): tf.Scalar {
  const [N, T] = logp.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const { add, sub, mul, where, exp, neg, minimum } = tf;
    const [value, grad] = tf.tidy((): tf.Tensor[] => {
      const a = tf.broadcastTo(tf.reshape(advantages, [N, 1]), [N, T]);
      const fin = (t: tf.Tensor): tf.Tensor => tf.isFinite(t);
      const valid = tf.logicalAnd(tf.logicalAnd(tf.notEqual(mask, 0), tf.logicalAnd(fin(x), fin(logpOld))), tf.logicalAnd(fin(logpRef), fin(a)));
      const zeros = tf.zerosLike(x);
      const lp = where(valid, x, zeros);
      const lq = where(valid, logpOld, zeros);
      const lr = where(valid, logpRef, zeros);
      const av = where(valid, a, zeros);
      const r = exp(sub(lp, lq));
      const rA = mul(r, av);
      const inRange = tf.logicalAnd(tf.greaterEqual(r, 1 - o.epsilonLow), tf.lessEqual(r, 1 + o.epsilonHigh));
      const cA = mul(tf.clipByValue(r, 1 - o.epsilonLow, 1 + o.epsilonHigh), av);
      let s: tf.Tensor = neg(minimum(rA, cA));
      // d(−min(rA, cA))/dlp: −rA where the unclipped term is the minimum or the ratio is inside the clip range, else 0.
      let ds: tf.Tensor = where(tf.logicalOr(tf.lessEqual(rA, cA), inRange), neg(rA), zeros);
      if (o.dualClip > 0) {
        const bound = mul(av, -o.dualClip);
        const dual = tf.logicalAnd(tf.less(av, 0), tf.greater(s, bound));
        s = where(dual, bound, s);
        ds = where(dual, zeros, ds);
      }
      // k3: exp(δ) − δ − 1 with δ = lr − lp; d/dlp = 1 − exp(δ).
      const delta = sub(lr, lp);
      const ed = exp(delta);
      const lossT = add(s, mul(sub(sub(ed, delta), 1), o.beta));
      const gradT = add(ds, mul(sub(1, ed), o.beta));
      const w = tf.cast(valid, 'float32');
      const count = tf.maximum(tf.sum(w), 1);
      return [tf.div(tf.sum(mul(lossT, w)), count), tf.div(mul(gradT, w), count)];
    });
    save([grad!]);
    return { value: value!, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => mul(saved[0]!, dy) };
  });
  return f(logp) as tf.Scalar;
}
