/**
 * Encoders: the part of a preference model that turns inputs into feature vectors. A model needs
 * two encodings (design §2.1): the joint features `h(x, y)` of a prompt and a response, `[N, d]`,
 * and the prompt features `h(x)`, `[B, d]`.
 *
 * Four kinds:
 * - {@link featureEncoder}: the inputs already are features (e.g. hidden states of an LLM); the
 *   response input is `h(x, y)` itself and the prompt input is `h(x)`. No weights.
 * - {@link tokenEncoder}: a small built-in encoder for token-id sequences, written with tfjs-core
 *   ops and `tf.Variable`s: token + segment embeddings, mean or attention pooling, one dense layer
 *   with tanh or gelu. `h(x, y)` encodes the prompt and the response jointly (one sequence, segment
 *   0 for prompt tokens and 1 for response tokens); `h(x)` encodes the prompt alone.
 * - {@link functionEncoder}: any function from a batch tensor (padded token ids, or features) to
 *   features, with the variables it trains.
 * - {@link layersEncoder}: a duck-typed `tf.LayersModel` (an object with `apply` or `predict` and
 *   `trainableWeights`); tfjs-layers itself is not a dependency.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import {
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertOptionsObject,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';
import { assertInput, joinTokens, packFeatures, packTokens, type InputKind, type InputRole, type ModelInput } from './inputs.js';

let variableCounter = 0;

/** A trainable `tf.Variable` with a unique engine name (tfjs requires unique variable names). */
export function makeVariable(logicalName: string, values: Float32Array, shape: number[]): tf.Variable {
  variableCounter += 1;
  const t = tf.tensor(values, shape, 'float32');
  const v = tf.variable(t, true, `gprl_${logicalName.replace(/[^A-Za-z0-9_]/g, '_')}_${variableCounter}`);
  t.dispose();
  return v;
}

/** Glorot-uniform initial values for a `[fanIn, fanOut]` matrix. */
export function glorot(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
  return out;
}

/** Serializable configuration of the built-in encoders (stored in `model.json`). */
export type EncoderConfig =
  | { type: 'features'; inputDim: number }
  | ({ type: 'tokens' } & Required<TokenEncoderOptions>);

/** The encoder contract used by the preference models. */
export interface Encoder {
  /** What the encoder consumes. */
  readonly input: InputKind;
  /** Width `d` of the features it produces. */
  readonly outputDim: number;
  /** Width of feature inputs (feature encoders), undefined for token encoders. */
  readonly inputDim: number | undefined;
  /** Vocabulary size for token validation, when known. */
  readonly vocabSize: number | undefined;
  /** Trainable variables by logical name (stable across instances: used in weight files). */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** Configuration for `model.json`; `null` for user-supplied encoders (not serializable). */
  readonly config: EncoderConfig | null;
  /** Joint features `h(x, y)`, `[N, d]`. `training` selects gradient-friendly ops. */
  encodeJoint(prompts: readonly ModelInput[], responses: readonly ModelInput[], training?: boolean): tf.Tensor2D;
  /** Prompt features `h(x)`, `[B, d]`. */
  encodePrompts(prompts: readonly ModelInput[], training?: boolean): tf.Tensor2D;
  /** Release owned tensors. User-supplied encoders release nothing (the caller owns them). */
  dispose(): void;
}

/** Validate one input for this encoder (TypeError/RangeError naming `name`); token responses may be empty. */
export function validateInput(encoder: Encoder, name: string, value: unknown, role: InputRole = 'prompt'): void {
  assertInput(name, value, encoder.input, encoder.inputDim, encoder.vocabSize, role);
}

// ---------------------------------------------------------------------------------------------
// Features

class FeatureEncoder implements Encoder {
  readonly input = 'features' as const;
  readonly vocabSize = undefined;
  readonly variables = new Map<string, tf.Variable>();
  constructor(readonly inputDim: number) {}
  get outputDim(): number {
    return this.inputDim;
  }
  get config(): EncoderConfig {
    return { type: 'features', inputDim: this.inputDim };
  }
  encodeJoint(_prompts: readonly ModelInput[], responses: readonly ModelInput[]): tf.Tensor2D {
    return tf.tensor2d(packFeatures(responses, this.inputDim), [responses.length, this.inputDim]);
  }
  encodePrompts(prompts: readonly ModelInput[]): tf.Tensor2D {
    return tf.tensor2d(packFeatures(prompts, this.inputDim), [prompts.length, this.inputDim]);
  }
  dispose(): void {}
}

/**
 * Inputs are precomputed features of width `inputDim`: a response input is the joint feature vector
 * `h(x, y)`, a prompt input is `h(x)`.
 */
export function featureEncoder(inputDim: number): Encoder {
  assertPositiveInt('inputDim', inputDim);
  return new FeatureEncoder(inputDim);
}

// ---------------------------------------------------------------------------------------------
// Built-in token encoder

export interface TokenEncoderOptions {
  /** Number of token ids; inputs must be integers in `[0, vocabSize)`. Required. */
  vocabSize: number;
  /** Width of the token embeddings. Defaults to `32`. */
  embeddingDim?: number;
  /** Width of the hidden layer, which is the feature width `d`. Defaults to `32`. */
  hiddenDim?: number;
  /** `'mean'` (masked mean of token embeddings) or `'attention'` (learned-query softmax pooling). Defaults to `'mean'`. */
  pooling?: 'mean' | 'attention';
  /** Hidden-layer activation, `'tanh'` or `'gelu'` (tanh approximation). Defaults to `'tanh'`. */
  activation?: 'tanh' | 'gelu';
  /** Longest accepted sequence (prompt + response, in tokens); longer inputs are rejected. Defaults to `512`. */
  maxLength?: number;
  /** Seed of the weight initialization. Defaults to `0`. */
  seed?: number;
}

const TOKEN_KEYS = ['vocabSize', 'embeddingDim', 'hiddenDim', 'pooling', 'activation', 'maxLength', 'seed'] as const;

/**
 * Float one-hot rows. Built as int32 and cast: tfjs-backend-wasm 4.22 writes integer bit patterns
 * when `tf.oneHot` is asked for a float32 result.
 */
function oneHotFloat(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, depth), 'float32') as tf.Tensor2D;
}

function gelu(x: tf.Tensor): tf.Tensor {
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

class TokenEncoder implements Encoder {
  readonly input = 'tokens' as const;
  readonly inputDim = undefined;
  readonly variables = new Map<string, tf.Variable>();
  readonly opts: Required<TokenEncoderOptions>;

  constructor(opts: Required<TokenEncoderOptions>) {
    this.opts = opts;
    const rng = new Rng(opts.seed);
    const { vocabSize: V, embeddingDim: E, hiddenDim: H } = opts;
    const emb = new Float32Array(V * E);
    for (let i = 0; i < emb.length; i++) emb[i] = rng.normal(0, 1 / Math.sqrt(E));
    const seg = new Float32Array(2 * E);
    for (let i = 0; i < seg.length; i++) seg[i] = rng.normal(0, 1 / Math.sqrt(E));
    this.variables.set('encoder.tokenEmbedding', makeVariable('encoder.tokenEmbedding', emb, [V, E]));
    this.variables.set('encoder.segmentEmbedding', makeVariable('encoder.segmentEmbedding', seg, [2, E]));
    if (opts.pooling === 'attention') {
      this.variables.set('encoder.poolQuery', makeVariable('encoder.poolQuery', rng.normalArray(E, 0, 1 / Math.sqrt(E)), [E]));
    }
    this.variables.set('encoder.dense.kernel', makeVariable('encoder.dense.kernel', glorot(rng, E, H), [E, H]));
    this.variables.set('encoder.dense.bias', makeVariable('encoder.dense.bias', new Float32Array(H), [H]));
  }

  get outputDim(): number {
    return this.opts.hiddenDim;
  }
  get vocabSize(): number {
    return this.opts.vocabSize;
  }
  get config(): EncoderConfig {
    return { type: 'tokens', ...this.opts };
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name) as tf.Variable;
  }

  private encode(rows: readonly ModelInput[], split: readonly number[], training: boolean): tf.Tensor2D {
    const { embeddingDim: E, maxLength } = this.opts;
    for (let i = 0; i < rows.length; i++) {
      const len = (rows[i] as ModelInput).length;
      if (len > maxLength) throw invalidValue(`inputs[${i}].length`, `at most maxLength = ${maxLength} tokens`, len);
    }
    const N = rows.length;
    const V = this.opts.vocabSize;
    if (this.opts.pooling === 'mean') {
      // Mean pooling is linear: mean_t (E[id_t] + S[seg_t]) = C·E + F·S with C [N, V] the token
      // frequencies of each row and F [N, 2] its segment fractions. Two small products replace the
      // per-token lookup (N·V values instead of N·T·V for a one-hot product), with the same
      // gradient on every backend.
      const counts = new Float32Array(N * V);
      const fractions = new Float32Array(N * 2);
      rows.forEach((row, n) => {
        const inv = 1 / row.length;
        const cut = split[n] ?? row.length;
        for (let t = 0; t < row.length; t++) counts[n * V + (row[t] as number)]! += inv;
        fractions[n * 2] = Math.min(cut, row.length) * inv;
        fractions[n * 2 + 1] = Math.max(row.length - cut, 0) * inv;
      });
      return tf.tidy(() => {
        const pooled = tf.add(
          tf.matMul(tf.tensor2d(counts, [N, V]), this.v('encoder.tokenEmbedding')),
          tf.matMul(tf.tensor2d(fractions, [N, 2]), this.v('encoder.segmentEmbedding')),
        );
        return this.dense(pooled);
      });
    }
    const packed = packTokens(rows, 0, split);
    const T = packed.length;
    return tf.tidy(() => {
      const ids = tf.tensor1d(packed.ids, 'int32');
      const table = this.v('encoder.tokenEmbedding');
      // Gather has no gradient kernel on every backend (wasm lacks UnsortedSegmentSum), so training
      // uses a one-hot product, whose gradient is a matMul everywhere.
      const tok = training ? tf.matMul(oneHotFloat(ids, V), table) : tf.gather(table, ids);
      const segOneHot = oneHotFloat(tf.tensor1d(packed.segment, 'int32'), 2);
      const x = tf.reshape(tf.add(tok, tf.matMul(segOneHot, this.v('encoder.segmentEmbedding'))), [N, T, E]);
      const mask = tf.tensor2d(packed.mask, [N, T]);
      const q = tf.reshape(this.v('encoder.poolQuery'), [1, 1, E]);
      const logits = tf.div(tf.sum(tf.mul(x, q), 2), Math.sqrt(E));
      const masked = tf.add(logits, tf.mul(tf.sub(1, mask), -1e9));
      const w = tf.softmax(masked, 1);
      return this.dense(tf.sum(tf.mul(x, tf.expandDims(w, 2)), 1) as tf.Tensor2D);
    });
  }

  /** Hidden layer: activation(pooled · W + b). */
  private dense(pooled: tf.Tensor): tf.Tensor2D {
    const pre = tf.add(tf.matMul(pooled as tf.Tensor2D, this.v('encoder.dense.kernel')), this.v('encoder.dense.bias'));
    return (this.opts.activation === 'gelu' ? gelu(pre) : tf.tanh(pre)) as tf.Tensor2D;
  }

  encodeJoint(prompts: readonly ModelInput[], responses: readonly ModelInput[], training = false): tf.Tensor2D {
    const { rows, split } = joinTokens(prompts, responses);
    return this.encode(rows, split, training);
  }

  encodePrompts(prompts: readonly ModelInput[], training = false): tf.Tensor2D {
    return this.encode(prompts, prompts.map((p) => p.length), training);
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
  }
}

/** Resolve and validate token-encoder options (shared by the constructor and `loadModel`). */
export function resolveTokenEncoderOptions(options: unknown): Required<TokenEncoderOptions> {
  if (options === undefined) throw invalidType('options', 'a token encoder options object with vocabSize', options);
  assertOptionsObject('options', options);
  assertKnownKeys('options', options, TOKEN_KEYS);
  const o = options as unknown as TokenEncoderOptions;
  assertPositiveInt('options.vocabSize', o.vocabSize);
  const r: Required<TokenEncoderOptions> = {
    vocabSize: o.vocabSize,
    embeddingDim: o.embeddingDim ?? 32,
    hiddenDim: o.hiddenDim ?? 32,
    pooling: o.pooling ?? 'mean',
    activation: o.activation ?? 'tanh',
    maxLength: o.maxLength ?? 512,
    seed: o.seed ?? 0,
  };
  assertPositiveInt('options.embeddingDim', r.embeddingDim);
  assertPositiveInt('options.hiddenDim', r.hiddenDim);
  assertOneOf('options.pooling', r.pooling, ['mean', 'attention']);
  assertOneOf('options.activation', r.activation, ['tanh', 'gelu']);
  assertPositiveInt('options.maxLength', r.maxLength);
  assertNumber('options.seed', r.seed);
  return r;
}

/** The built-in token encoder (see the module comment). Owned by the model it is given to. */
export function tokenEncoder(options: TokenEncoderOptions): Encoder {
  return new TokenEncoder(resolveTokenEncoderOptions(options));
}

// ---------------------------------------------------------------------------------------------
// User-supplied encoders

export interface CustomEncoderOptions {
  /** What the encoder consumes: `'tokens'` (a padded int32 id tensor `[N, T]`) or `'features'` (a float32 tensor `[N, inputDim]`). Required. */
  input: InputKind;
  /** Width `d` of the features the encoder returns. Required. */
  outputDim: number;
  /** Width of feature inputs. Required when `input` is `'features'`. */
  inputDim?: number;
  /** Token-id bound for validating token inputs. Defaults to no bound. */
  vocabSize?: number;
  /** Token id used to right-pad shorter sequences in a batch. Defaults to `0`. */
  padId?: number;
}

/** What a function encoder receives: the batch tensor, and for tokens the true lengths. */
export interface EncoderBatchInfo {
  /** Sequence lengths before padding (token inputs); undefined for feature inputs. */
  lengths?: Int32Array;
  /** Whether the call is part of a training step. */
  training: boolean;
  /** For joint token encodings: the number of prompt tokens at the start of each row. */
  promptLengths?: Int32Array;
}

/** A function from a batch tensor to features `[N, outputDim]`. */
export type EncoderFunction = (batch: tf.Tensor2D, info: EncoderBatchInfo) => tf.Tensor2D;

/** The subset of a `tf.LayersModel` that is used (duck-typed; tfjs-layers is not a dependency). */
export interface LayersModelLike {
  apply?: (inputs: tf.Tensor, kwargs?: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
  predict?: (inputs: tf.Tensor) => tf.Tensor | tf.Tensor[];
  /** tfjs-layers `LayersVariable`s (with `read()`) or `tf.Variable`s. */
  trainableWeights: ReadonlyArray<{ read(): tf.Variable } | tf.Variable>;
}

class CustomEncoder implements Encoder {
  readonly variables = new Map<string, tf.Variable>();
  readonly config = null;
  readonly input: InputKind;
  readonly outputDim: number;
  readonly inputDim: number | undefined;
  readonly vocabSize: number | undefined;
  private readonly padId: number;

  constructor(
    private readonly fn: EncoderFunction,
    opts: CustomEncoderOptions,
    variables: readonly tf.Variable[],
  ) {
    this.input = opts.input;
    this.outputDim = opts.outputDim;
    this.inputDim = opts.inputDim;
    this.vocabSize = opts.vocabSize;
    this.padId = opts.padId ?? 0;
    variables.forEach((v, i) => this.variables.set(`encoder.${i}.${v.name}`, v));
  }

  private run(rows: readonly ModelInput[], split: number[] | undefined, training: boolean): tf.Tensor2D {
    const out = tf.tidy(() => {
      let batch: tf.Tensor2D;
      const info: EncoderBatchInfo = { training };
      if (this.input === 'features') {
        const w = this.inputDim as number;
        batch = tf.tensor2d(packFeatures(rows, w), [rows.length, w]);
      } else {
        const p = packTokens(rows, this.padId);
        batch = tf.tensor2d(p.ids, [rows.length, p.length], 'int32');
        info.lengths = p.lengths;
        if (split) info.promptLengths = Int32Array.from(split);
      }
      const y = this.fn(batch, info);
      if (!(y instanceof tf.Tensor) || y.rank !== 2 || y.shape[0] !== rows.length || y.shape[1] !== this.outputDim) {
        throw invalidValue('encoder output', `a tensor of shape [${rows.length}, ${this.outputDim}]`, y instanceof tf.Tensor ? `shape [${y.shape.join(', ')}]` : y);
      }
      return y.dtype === 'float32' ? y : tf.cast(y, 'float32');
    });
    return out;
  }

  encodeJoint(prompts: readonly ModelInput[], responses: readonly ModelInput[], training = false): tf.Tensor2D {
    if (this.input === 'features') return this.run(responses, undefined, training);
    const { rows, split } = joinTokens(prompts, responses);
    return this.run(rows, split, training);
  }

  encodePrompts(prompts: readonly ModelInput[], training = false): tf.Tensor2D {
    return this.run(prompts, undefined, training);
  }

  dispose(): void {}
}

function checkCustomOptions(options: unknown): CustomEncoderOptions {
  assertOptionsObject('options', options);
  if (options === undefined) throw invalidType('options', 'an options object with input and outputDim', options);
  assertKnownKeys('options', options, ['input', 'outputDim', 'inputDim', 'vocabSize', 'padId']);
  const o = options as unknown as CustomEncoderOptions;
  assertOneOf('options.input', o.input, ['tokens', 'features']);
  assertPositiveInt('options.outputDim', o.outputDim);
  if (o.input === 'features') assertPositiveInt('options.inputDim', o.inputDim);
  if (o.vocabSize !== undefined) assertPositiveInt('options.vocabSize', o.vocabSize);
  if (o.padId !== undefined && (!Number.isInteger(o.padId) || o.padId < 0)) throw invalidValue('options.padId', 'an integer >= 0', o.padId);
  return o;
}

/**
 * Wrap a function from a batch tensor to features. Token inputs arrive as a right-padded int32
 * tensor `[N, T]` (padding `padId`); feature inputs as float32 `[N, inputDim]`. `variables` are
 * the tensors trained with the model (the caller keeps ownership: `dispose()` leaves them alone).
 */
export function functionEncoder(fn: EncoderFunction, options: CustomEncoderOptions, variables: readonly tf.Variable[] = []): Encoder {
  if (typeof fn !== 'function') throw invalidType('fn', 'a function (batch, info) => tf.Tensor2D', fn);
  const o = checkCustomOptions(options);
  if (!Array.isArray(variables) || variables.some((v) => !(v instanceof tf.Variable))) {
    throw invalidType('variables', 'an array of tf.Variable', variables);
  }
  return new CustomEncoder(fn, o, variables);
}

/**
 * Wrap a `tf.LayersModel` (duck-typed). `apply(x, {training})` is used when present (so dropout and
 * similar layers see the training flag), else `predict(x)`. Its `trainableWeights` are trained.
 */
export function layersEncoder(model: LayersModelLike, options: CustomEncoderOptions): Encoder {
  if (model === null || typeof model !== 'object') throw invalidType('model', 'a LayersModel-like object', model);
  const call = typeof model.apply === 'function' ? 'apply' : typeof model.predict === 'function' ? 'predict' : null;
  if (call === null) throw invalidType('model', 'an object with an apply() or predict() method', model);
  if (!Array.isArray(model.trainableWeights)) throw invalidType('model.trainableWeights', 'an array of variables', model.trainableWeights);
  const vars = model.trainableWeights.map((w, i) => {
    const v = w instanceof tf.Variable ? w : typeof (w as { read?: unknown }).read === 'function' ? (w as { read(): tf.Variable }).read() : null;
    if (!(v instanceof tf.Variable)) throw invalidType(`model.trainableWeights[${i}]`, 'a tf.Variable or LayersVariable', w);
    return v;
  });
  const o = checkCustomOptions(options);
  const fn: EncoderFunction = (batch, info) => {
    const y = call === 'apply' ? model.apply!(batch, { training: info.training }) : model.predict!(batch);
    if (Array.isArray(y)) throw invalidType('model output', 'a single tensor', y);
    return y as tf.Tensor2D;
  };
  return new CustomEncoder(fn, o, vars);
}
