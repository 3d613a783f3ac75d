/**
 * The GPM head (design §2.1): two bias-free linear maps over features.
 *
 * - Embedding: `e = W_v h(x, y)`, `[N, d] → [N, 2k]`, then (default) L2-normalized over all `2k`
 *   values: `e / max(‖e‖₂, 1e-12)`.
 * - Eigenvalue gate: `λ(x) = softmax(W_λ h(x))` (`'softmax'`, Σλ = 1), or
 *   `k · softmax(W_λ h(x) / √d)` (`'scaled-softmax'`), or `λ = 1` (`'none'`, a head without a gate).
 * - Score: `s_l(i, j) = a_l(i)·b_l(j) − b_l(i)·a_l(j)` with `(a_l, b_l) = (e[2l], e[2l+1])`,
 *   `s = Σ_l λ_l s_l`, `P(i ≻ j) = σ(s / τ)`.
 *
 * Weights are stored as `value [d, 2k]` and `prompt [d, k]` (features are row vectors, `h·W`); the
 * reference PyTorch layout `value_head.weight [2k, d]` is the transpose (see `interop.ts`).
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, assertPositiveInt, invalidValue } from '../errors.js';
import { glorot, makeVariable } from './encoder.js';

/** Eigenvalue gate. */
export type GateKind = 'softmax' | 'scaled-softmax' | 'none';

export interface GpmHeadOptions {
  /** Feature width `d`. Required. */
  inputDim: number;
  /** Number of preference dimensions `k` (the embedding has `2k` values). Defaults to `2`. */
  dims?: number;
  /** `'softmax'` (λ = softmax(W_λ h), Σλ = 1), `'scaled-softmax'` (k·softmax(W_λ h/√d)) or `'none'` (λ = 1). Defaults to `'softmax'`. */
  gate?: GateKind;
  /** L2-normalize each embedding to unit length. Defaults to `true`. */
  l2Normalize?: boolean;
  /** Temperature τ > 0 of `P = σ(s/τ)`. Defaults to `0.1`. */
  tau?: number;
  /** Seed of the weight initialization. Defaults to `0`. */
  seed?: number;
}

/** Resolved head configuration (stored in `model.json`). */
export type GpmHeadConfig = Required<GpmHeadOptions>;

const HEAD_KEYS = ['inputDim', 'dims', 'gate', 'l2Normalize', 'tau', 'seed'] as const;

export function resolveHeadOptions(options: unknown, name = 'options'): GpmHeadConfig {
  assertOptionsObject(name, options);
  assertKnownKeys(name, options, HEAD_KEYS);
  const o = (options ?? {}) as unknown as GpmHeadOptions;
  const r: GpmHeadConfig = {
    inputDim: o.inputDim,
    dims: o.dims ?? 2,
    gate: o.gate ?? 'softmax',
    l2Normalize: o.l2Normalize ?? true,
    tau: o.tau ?? 0.1,
    seed: o.seed ?? 0,
  };
  assertPositiveInt(`${name}.inputDim`, r.inputDim);
  assertPositiveInt(`${name}.dims`, r.dims);
  assertOneOf(`${name}.gate`, r.gate, ['softmax', 'scaled-softmax', 'none']);
  if (typeof r.l2Normalize !== 'boolean') throw invalidValue(`${name}.l2Normalize`, 'a boolean', r.l2Normalize);
  assertNumber(`${name}.tau`, r.tau, { min: 0, exclusiveMin: true });
  assertNumber(`${name}.seed`, r.seed);
  return r;
}

/** Initial weights: `{ value: [d·2k], prompt: [d·k] }` (row-major `[d, 2k]`, `[d, k]`). */
export interface GpmHeadWeights {
  value: Float32Array;
  prompt?: Float32Array;
}

/**
 * Constant matrices for {@link skewScore}: `J [2k, 2k]` maps `(a_l, b_l)` to `(b_l, −a_l)` and
 * `S [2k, k]` sums each pair of columns into its dimension.
 */
function skewConstants(k: number): { J: Float32Array; S: Float32Array } {
  const J = new Float32Array(4 * k * k);
  const S = new Float32Array(2 * k * k);
  for (let l = 0; l < k; l++) {
    // (e·J)[2l] = e[2l+1] = b_l, (e·J)[2l+1] = −e[2l] = −a_l
    J[(2 * l + 1) * 2 * k + 2 * l] = 1;
    J[2 * l * 2 * k + 2 * l + 1] = -1;
    S[2 * l * k + l] = 1;
    S[(2 * l + 1) * k + l] = 1;
  }
  return { J, S };
}

/**
 * Skew-symmetric score `s = Σ_l λ_l (a_l(i) b_l(j) − b_l(i) a_l(j))` for rows of `ei`, `ej` `[N, 2k]`,
 * `lambdas` `[N, k]`. Computed as `Σ_l λ_l Σ_{c ∈ pair l} (eᵢ ⊙ eⱼJ)_c` with two small constant
 * products (cheaper on every backend than reshaping into pairs).
 */
export function skewScore(ei: tf.Tensor2D, ej: tf.Tensor2D, lambdas: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = ei.shape[1] / 2;
    const { J, S } = skewConstants(k);
    const t = tf.mul(ei, tf.matMul(ej, tf.tensor2d(J, [2 * k, 2 * k])));
    const perDim = tf.matMul(t, tf.tensor2d(S, [2 * k, k]));
    return tf.sum(tf.mul(perDim, lambdas), 1) as tf.Tensor1D;
  });
}

export class GpmHead {
  readonly config: GpmHeadConfig;
  /** `value [d, 2k]` and, unless the gate is `'none'`, `prompt [d, k]`. */
  readonly variables = new Map<string, tf.Variable>();
  private disposed = false;

  constructor(options: GpmHeadOptions, weights?: GpmHeadWeights) {
    this.config = resolveHeadOptions(options);
    const { inputDim: d, dims: k, gate } = this.config;
    const rng = new Rng(this.config.seed);
    let value = glorot(rng, d, 2 * k);
    let prompt: Float32Array | undefined = gate === 'none' ? undefined : glorot(rng, d, k);
    if (weights) {
      if (!(weights.value instanceof Float32Array) || weights.value.length !== d * 2 * k) {
        throw invalidValue('weights.value', `a Float32Array of ${d * 2 * k} values ([d, 2k] = [${d}, ${2 * k}])`, weights.value);
      }
      value = weights.value;
      if (gate !== 'none') {
        if (!(weights.prompt instanceof Float32Array) || weights.prompt.length !== d * k) {
          throw invalidValue('weights.prompt', `a Float32Array of ${d * k} values ([d, k] = [${d}, ${k}])`, weights.prompt);
        }
        prompt = weights.prompt;
      }
    }
    this.variables.set('head.value', makeVariable('head.value', value, [d, 2 * k]));
    if (prompt) this.variables.set('head.prompt', makeVariable('head.prompt', prompt, [d, k]));
  }

  get dims(): number {
    return this.config.dims;
  }
  get inputDim(): number {
    return this.config.inputDim;
  }
  get tau(): number {
    return this.config.tau;
  }

  private check(): void {
    if (this.disposed) throw new Error('gprl: GpmHead has been disposed');
  }

  private checkFeatures(name: string, h: tf.Tensor): void {
    if (!(h instanceof tf.Tensor) || h.rank !== 2 || h.shape[1] !== this.config.inputDim) {
      throw invalidValue(name, `a tensor of shape [N, ${this.config.inputDim}]`, h instanceof tf.Tensor ? `shape [${h.shape.join(', ')}]` : h);
    }
  }

  /** Embeddings `[N, 2k]` of joint features `h(x, y)` `[N, d]` (caller disposes the result). */
  embed(h: tf.Tensor2D): tf.Tensor2D {
    this.check();
    this.checkFeatures('features', h);
    return tf.tidy((): tf.Tensor2D => {
      const e = tf.matMul(h, this.variables.get('head.value') as tf.Variable) as tf.Tensor2D;
      if (!this.config.l2Normalize) return e;
      const norm = tf.sqrt(tf.sum(tf.square(e), 1, true));
      return tf.div(e, tf.maximum(norm, 1e-12)) as tf.Tensor2D;
    });
  }

  /** Eigenvalues λ `[B, k]` of prompt features `h(x)` `[B, d]` (caller disposes the result). */
  eigenvalues(hx: tf.Tensor2D): tf.Tensor2D {
    this.check();
    this.checkFeatures('promptFeatures', hx);
    const { gate, dims: k, inputDim: d } = this.config;
    return tf.tidy((): tf.Tensor2D => {
      if (gate === 'none') return tf.ones([hx.shape[0], k]);
      const logits = tf.matMul(hx, this.variables.get('head.prompt') as tf.Variable);
      if (gate === 'softmax') return tf.softmax(logits, -1) as tf.Tensor2D;
      return tf.mul(tf.softmax(tf.div(logits, Math.sqrt(d)), -1), k) as tf.Tensor2D;
    });
  }

  /**
   * Scores `s(i ≻ j | x)` `[N]` for feature rows: `promptFeatures` `[N, d]` (one prompt per pair),
   * `featuresI`, `featuresJ` `[N, d]`.
   */
  score(promptFeatures: tf.Tensor2D, featuresI: tf.Tensor2D, featuresJ: tf.Tensor2D): tf.Tensor1D {
    this.check();
    return tf.tidy(() => skewScore(this.embed(featuresI), this.embed(featuresJ), this.eigenvalues(promptFeatures)));
  }

  /** Convenience: scores for plain arrays of feature rows; returns a Float32Array of length N. */
  scoreFeatures(promptFeatures: ArrayLike<number>[], featuresI: ArrayLike<number>[], featuresJ: ArrayLike<number>[]): Float32Array {
    this.check();
    const d = this.config.inputDim;
    const n = featuresI.length;
    if (promptFeatures.length !== n || featuresJ.length !== n) {
      throw invalidValue('promptFeatures/featuresJ', `arrays of length ${n} (featuresI.length)`, `${promptFeatures.length}/${featuresJ.length}`);
    }
    const pack = (name: string, rows: ArrayLike<number>[]): tf.Tensor2D => {
      const out = new Float32Array(n * d);
      rows.forEach((r, i) => {
        if (r.length !== d) throw invalidValue(`${name}[${i}].length`, `${d} (the feature width)`, r.length);
        for (let c = 0; c < d; c++) out[i * d + c] = r[c] as number;
      });
      return tf.tensor2d(out, [n, d]);
    };
    const s = tf.tidy(() => this.score(pack('promptFeatures', promptFeatures), pack('featuresI', featuresI), pack('featuresJ', featuresJ)));
    const out = s.dataSync() as Float32Array;
    s.dispose();
    return Float32Array.from(out);
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.variables.values()) v.dispose();
    this.disposed = true;
  }
}
