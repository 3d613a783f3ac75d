/**
 * `gprlAdvantages` (logit scores, `per-dimension` normalization) written as a composition of
 * TensorFlow.js ops: the contender a user without the fused kernel would write. It follows
 * docs/kernels.md to the letter (validity from the mask and finite embeddings, `G' < 2` groups,
 * degenerate dimensions, λ·m weights, both std conventions), in float32 throughout (tfjs has no
 * float64), so it agrees with the kernels to float32 rounding, not bit for bit.
 *
 * One call uploads the inputs, runs the ops inside `tf.tidy`, downloads every output and disposes
 * every tensor, so it is timed end to end like the kernels (typed arrays in, typed arrays out).
 */
import { tf } from '../../src/tf.js';
import type { AdvantageOptions, GroupShape } from '../../src/types.js';

/** The kernel's options this composition supports (logit mode, per-dimension normalization). */
export type ComposedOptions = Pick<AdvantageOptions, 'lambdas' | 'dimWeights' | 'mask' | 'eps' | 'stdFloor' | 'std'>;

export interface ComposedResult {
  advantages: Float32Array;
  dimAdvantages: Float32Array;
  dimMean: Float32Array;
  dimStd: Float32Array;
  scores: Float32Array;
  degenerate: number;
  masked: number;
}

export function gprlAdvantagesComposed(embeddings: Float32Array, shape: GroupShape, options: ComposedOptions = {}): ComposedResult {
  const { groups: B, groupSize: G, dims: k } = shape;
  const eps = options.eps ?? 1e-4;
  const stdFloor = options.stdFloor ?? 1e-6;
  const unbiased = (options.std ?? 'unbiased') === 'unbiased';

  const outs = tf.tidy(() => {
    // Functional ops only: tfjs-core alone does not register the chained (`x.add(y)`) methods.
    const { add, sub, mul, div, sum, maximum, reshape, cast } = tf;
    const e = tf.tensor4d(embeddings, [B, G, k, 2]);
    // Valid: mask set and every embedding value of the response finite.
    let validBool = tf.all(tf.isFinite(e), [2, 3]); // [B, G]
    if (options.mask) {
      validBool = tf.logicalAnd(validBool, tf.notEqual(tf.tensor2d(Int32Array.from(options.mask), [B, G], 'int32'), 0));
    }
    const valid = cast(validBool, 'float32');
    const valid3 = reshape(valid, [B, G, 1]);
    // Invalid responses contribute exact zeros (NaN/Inf replaced first, since NaN·0 = NaN).
    const clean = mul(tf.where(tf.isFinite(e), e, tf.zerosLike(e)), reshape(valid, [B, G, 1, 1]));
    const [a, b] = tf.unstack(clean, 3) as [tf.Tensor3D, tf.Tensor3D]; // [B, G, k] each

    const n = reshape(sum(valid, 1), [B, 1, 1]); // G'
    const nSafe = maximum(n, 1);
    const aBar = div(sum(a, 1, true), nSafe); // [B, 1, k]
    const bBar = div(sum(b, 1, true), nSafe);
    // G'/(G'−1) for G' ≥ 2, else 0 (groups with fewer than two valid responses score 0).
    const factor = mul(div(n, maximum(sub(n, 1), 1)), cast(tf.greaterEqual(n, 2), 'float32'));
    const s = mul(sub(mul(a, bBar), mul(b, aBar)), factor); // [B, G, k]; 0 for invalid responses

    const mu = div(sum(s, 1, true), nSafe); // [B, 1, k]
    const dev = mul(sub(s, mu), valid3);
    const sd = tf.sqrt(div(sum(tf.square(dev), 1, true), unbiased ? maximum(sub(n, 1), 1) : nSafe));
    const degenerate = tf.logicalAnd(tf.tile(tf.greaterEqual(n, 1), [1, 1, k]), tf.lessEqual(sd, stdFloor)); // [B, 1, k]
    const denom = tf.where(degenerate, tf.onesLike(sd), add(sd, eps));
    const aHat = mul(div(dev, denom), cast(tf.logicalNot(degenerate), 'float32')); // [B, G, k]

    const lam = options.lambdas ? tf.tensor2d(options.lambdas, [B, k]) : tf.ones([B, k]);
    const m = options.dimWeights ? tf.tensor2d(options.dimWeights, [1, k]) : tf.ones([1, k]);
    const wRaw = mul(lam, m);
    const w = reshape(div(wRaw, sum(wRaw, 1, true)), [B, 1, k]);
    const adv = sum(mul(aHat, w), 2); // [B, G]

    const nanIfInvalid = reshape(tf.where(validBool, tf.zeros([B, G]), tf.fill([B, G], NaN)), [B, G, 1]);
    return [adv, aHat, reshape(mu, [B, k]), reshape(sd, [B, k]), add(s, nanIfInvalid), sum(cast(degenerate, 'float32')), sum(valid)];
  });
  try {
    const [adv, aHat, mu, sd, scores, degen, nValid] = outs.map((t) => t.dataSync() as Float32Array);
    return {
      advantages: adv!,
      dimAdvantages: aHat!,
      dimMean: mu!,
      dimStd: sd!,
      scores: scores!,
      degenerate: Math.round(degen![0]!),
      masked: B * G - Math.round(nValid![0]!),
    };
  } finally {
    for (const t of outs) t.dispose();
  }
}
