/**
 * `GruPolicy`: a small autoregressive token model written with tfjs-core ops and `tf.Variable`s, for
 * tests, examples and the demo. Token embedding → GRU cell → linear projection to the vocabulary.
 *
 * A sequence is read left to right from a zero state: the prompt tokens first, then the response.
 * The distribution of response token `t` comes from the state after the prompt and the response
 * tokens before `t` (an empty prompt starts from the zero state). Prompts of different lengths are
 * left-padded in a batch and padded steps leave the state unchanged, so a row's result does not
 * depend on its batch.
 *
 * GRU cell (Cho et al. 2014, the variant of cuDNN/PyTorch):
 *   z = σ(x·Wz + bz + h·Uz + cz),  r = σ(x·Wr + br + h·Ur + cr),
 *   n = tanh(x·Wn + bn + r ⊙ (h·Un + cn)),  h' = (1 − z) ⊙ n + z ⊙ h.
 * The embedding lookup is a one-hot matmul, whose gradient runs on every tfjs backend.
 */
import '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, assertPositiveInt } from '../errors.js';
import {
  assertTokenBatch,
  resolveLogProbArgs,
  resolveSampleOptions,
  SampleBatch,
  type LogProbOptions,
  type LogProbResult,
  type NamedWeight,
  type Policy,
  type SampleOptions,
  type SampleResult,
  type Tokens,
} from './policy.js';
import { assignWeights, readWeights } from './weights.js';

export interface GruPolicyOptions {
  /** Vocabulary size V, a positive integer. Required. */
  vocabSize: number;
  /** GRU state size H, a positive integer. Defaults to `32`. */
  hiddenSize?: number;
  /** Token embedding size E, a positive integer. Defaults to `hiddenSize`. */
  embeddingSize?: number;
  /** Seed of the weight initialization. Defaults to `0`. */
  seed?: number;
  /** Scale of the initial output projection (small values start near uniform). Defaults to `1`. */
  outputScale?: number;
}

const OPTION_KEYS = ['vocabSize', 'hiddenSize', 'embeddingSize', 'seed', 'outputScale'] as const;
const WEIGHT_NAMES = ['embedding', 'wx', 'bx', 'wh', 'bh', 'wo', 'bo'] as const;

let instanceCounter = 0;

/** One-hot rows as float32. (The wasm backend ignores oneHot's dtype argument, so cast an int32 one-hot.) */
function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.cast(tf.oneHot(indices, depth), 'float32');
}

export class GruPolicy implements Policy {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly embeddingSize: number;
  private readonly options: Required<GruPolicyOptions>;
  private vars: tf.Variable[];
  private disposed = false;

  constructor(options: GruPolicyOptions) {
    assertOptionsObject('options', options);
    assertKnownKeys('options', options as unknown as Record<string, unknown>, OPTION_KEYS);
    assertPositiveInt('options.vocabSize', options?.vocabSize);
    const hiddenSize = options.hiddenSize ?? 32;
    assertPositiveInt('options.hiddenSize', hiddenSize);
    const embeddingSize = options.embeddingSize ?? hiddenSize;
    assertPositiveInt('options.embeddingSize', embeddingSize);
    const seed = options.seed ?? 0;
    assertNumber('options.seed', seed);
    const outputScale = options.outputScale ?? 1;
    assertNumber('options.outputScale', outputScale, { min: 0 });
    this.vocabSize = options.vocabSize;
    this.hiddenSize = hiddenSize;
    this.embeddingSize = embeddingSize;
    this.options = { vocabSize: options.vocabSize, hiddenSize, embeddingSize, seed, outputScale };

    const V = this.vocabSize, H = hiddenSize, E = embeddingSize;
    const rng = new Rng(seed);
    // Glorot-style scales; biases start at 0.
    const init: Array<[number[], Float32Array]> = [
      [[V, E], rng.normalArray(V * E, 0, 1 / Math.sqrt(E))],
      [[E, 3 * H], rng.normalArray(E * 3 * H, 0, 1 / Math.sqrt(E))],
      [[3 * H], new Float32Array(3 * H)],
      [[H, 3 * H], rng.normalArray(H * 3 * H, 0, 1 / Math.sqrt(H))],
      [[3 * H], new Float32Array(3 * H)],
      [[H, V], rng.normalArray(H * V, 0, outputScale / Math.sqrt(H))],
      [[V], new Float32Array(V)],
    ];
    const id = instanceCounter++;
    this.vars = init.map(([shape, values], i) =>
      tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `gprl/gru${id}/${WEIGHT_NAMES[i]}`)),
    );
  }

  get trainableVariables(): readonly tf.Variable[] {
    this.assertAlive();
    return this.vars;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('gprl: this GruPolicy has been disposed');
  }

  private v(i: number): tf.Variable {
    return this.vars[i]!;
  }

  /** One GRU step on tokens `x` ([N] int32) from state `h` ([N, H]). */
  private cell(h: tf.Tensor2D, x: tf.Tensor1D): tf.Tensor2D {
    const H = this.hiddenSize;
    const e = tf.matMul(oneHotFloat(x, this.vocabSize), this.v(0));
    const gx = tf.add(tf.matMul(e, this.v(1)), this.v(2));
    const gh = tf.add(tf.matMul(h, this.v(3)), this.v(4));
    const [xz, xr, xn] = tf.split(gx, [H, H, H], 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const [hz, hr, hn] = tf.split(gh, [H, H, H], 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const z = tf.sigmoid(tf.add(xz, hz));
    const r = tf.sigmoid(tf.add(xr, hr));
    const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
    return tf.add(n, tf.mul(z, tf.sub(h, n)));
  }

  private logits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(h, this.v(5)), this.v(6));
  }

  /** State after reading each prompt (left-padded batch; padded steps keep the state). */
  private encodePrompts(prompts: readonly Tokens[]): tf.Tensor2D {
    const N = prompts.length;
    const P = prompts.reduce((m, p) => Math.max(m, p.length), 0);
    let h: tf.Tensor2D = tf.zeros([N, this.hiddenSize]);
    for (let t = 0; t < P; t++) {
      const toks = new Int32Array(N);
      const keep = new Float32Array(N);
      for (let n = 0; n < N; n++) {
        const p = prompts[n]!;
        const j = t - (P - p.length);
        if (j >= 0) {
          toks[n] = p[j]!;
          keep[n] = 1;
        }
      }
      const next = this.cell(h, tf.tensor1d(toks, 'int32'));
      const m = tf.tensor2d(keep, [N, 1]);
      h = tf.add(h, tf.mul(m, tf.sub(next, h)));
    }
    return h;
  }

  sample(prompts: readonly Tokens[], options: SampleOptions): SampleResult {
    this.assertAlive();
    assertTokenBatch('prompts', prompts, this.vocabSize);
    const o = resolveSampleOptions(options, this.vocabSize);
    const rng = options.rng ?? new Rng(options.seed ?? 0);
    const batch = new SampleBatch(prompts, o, this.vocabSize, rng);
    let h = tf.tidy(() => this.encodePrompts(batch.rowPrompts()));
    try {
      for (let t = 0; ; t++) {
        const [lpData, entData] = tf.tidy(() => {
          const lp = tf.logSoftmax(tf.div(this.logits(h), o.temperature));
          const ent = tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 1));
          return [lp.dataSync() as Float32Array, ent.dataSync() as Float32Array];
        });
        const { step, more } = batch.draw(t, lpData, entData);
        if (!more) break;
        const prev = h;
        h = tf.tidy(() => this.cell(prev, tf.tensor1d(step, 'int32')));
        prev.dispose();
      }
    } finally {
      h.dispose();
    }
    return batch.result();
  }

  logProbs(prompts: readonly Tokens[], responses: readonly Tokens[], options: LogProbOptions = {}): LogProbResult {
    this.assertAlive();
    const { temperature, maxLength: T } = resolveLogProbArgs(prompts, responses, options, this.vocabSize);
    const N = prompts.length, V = this.vocabSize;
    const toks = new Int32Array(N * T);
    const maskData = new Float32Array(N * T);
    for (let n = 0; n < N; n++) {
      const r = responses[n]!;
      for (let t = 0; t < r.length; t++) {
        toks[n * T + t] = r[t]!;
        maskData[n * T + t] = 1;
      }
    }
    return tf.tidy(() => {
      let h = this.encodePrompts(prompts);
      const steps: tf.Tensor2D[] = [];
      for (let t = 0; t < T; t++) {
        steps.push(this.logits(h));
        if (t < T - 1) {
          const col = new Int32Array(N);
          for (let n = 0; n < N; n++) col[n] = toks[n * T + t]!;
          h = this.cell(h, tf.tensor1d(col, 'int32'));
        }
      }
      const lp = tf.logSoftmax(tf.div(tf.stack(steps, 1), temperature)) as tf.Tensor3D; // [N, T, V]
      const mask = tf.tensor2d(maskData, [N, T]);
      const picked = tf.sum(tf.mul(lp, oneHotFloat(tf.tensor2d(toks, [N, T], 'int32'), V)), 2);
      const logp = tf.mul(picked, mask) as tf.Tensor2D;
      const ent = tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 2)), mask) as tf.Tensor2D;
      return { logp, mask, entropy: ent };
    });
  }

  clone(): GruPolicy {
    this.assertAlive();
    const copy = new GruPolicy(this.options);
    copy.setWeights(this.getWeights());
    return copy;
  }

  getWeights(): NamedWeight[] {
    this.assertAlive();
    return readWeights(this.vars, WEIGHT_NAMES);
  }

  setWeights(weights: readonly NamedWeight[]): void {
    this.assertAlive();
    assignWeights(this.vars, WEIGHT_NAMES, weights);
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.vars) v.dispose();
    this.vars = [];
    this.disposed = true;
  }
}
