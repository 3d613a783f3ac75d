/**
 * `getWeights` / `setWeights` of the built-in policies: their weights are tfjs variables with fixed
 * names, in `trainableVariables` order.
 */
import { tf } from '../tf.js';
import { invalidValue } from '../errors.js';
import type { NamedWeight } from './policy.js';

/** A copy of every variable's values, with its name and shape. */
export function readWeights(vars: readonly tf.Variable[], names: readonly string[]): NamedWeight[] {
  return vars.map((v, i) => ({
    name: names[i]!,
    shape: v.shape.slice(),
    values: Float32Array.from(v.dataSync() as Float32Array),
  }));
}

/**
 * Check `weights` against the variables (count, names, shapes, Float32Array values, all finite), then
 * assign them. Nothing is assigned unless every weight passes; errors are `gprl:` RangeErrors naming
 * the weight.
 */
export function assignWeights(vars: readonly tf.Variable[], names: readonly string[], weights: readonly NamedWeight[]): void {
  if (!Array.isArray(weights) || weights.length !== vars.length) {
    const listed = names.length <= 8 ? names.join(', ') : `${names[0]}, …, ${names[names.length - 1]}`;
    throw invalidValue('weights', `${vars.length} weights (${listed})`, weights);
  }
  weights.forEach((w, i) => {
    const v = vars[i]!;
    const shape: readonly number[] = Array.isArray(w?.shape) ? w.shape : [];
    const sameShape = shape.length === v.shape.length && shape.every((d, j) => d === v.shape[j]);
    if (w?.name !== names[i] || !sameShape || !(w.values instanceof Float32Array) || w.values.length !== v.size) {
      throw invalidValue(`weights[${i}]`, `'${names[i]}' of shape [${v.shape.join(', ')}]`, w?.name);
    }
    for (let j = 0; j < v.size; j++) {
      if (!Number.isFinite(w.values[j]!)) throw invalidValue(`weights[${i}].values[${j}]`, 'a finite number', w.values[j]);
    }
  });
  weights.forEach((w, i) => tf.tidy(() => vars[i]!.assign(tf.tensor(w.values, vars[i]!.shape, 'float32'))));
}
