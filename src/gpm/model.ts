/**
 * Preference models: an encoder plus a head.
 *
 * - {@link GeneralPreferenceModel}: the GPM (design §2.1), `k` skew-symmetric 2-D subspaces with
 *   context-dependent eigenvalues λ(x).
 * - {@link BradleyTerryModel}: a scalar reward `r = w·h(x, y)`, `P(i ≻ j) = σ((r_i − r_j)/τ)`. As a
 *   GPM it is `k = 1` with embedding `e = [r, c]` (constant `c`, default 1) and λ = 1, since then
 *   `s(i, j) = r_i·c − c·r_j = c·(r_i − r_j)`.
 *
 * Both share one interface ({@link PreferenceModel}): embeddings, eigenvalues, pairwise scores and
 * probabilities, group preference matrices (through the `preferenceMatrix` kernel), and
 * {@link PreferenceModel.verifierOutputs} for the RL trainer. Public methods take plain arrays and
 * return typed arrays; they allocate no tensors that outlive the call.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, invalidType, invalidValue } from '../errors.js';
import { preferenceMatrix as preferenceMatrixKernel } from '../kernels/preferenceMatrix.js';
import type { Backend, GroupShape } from '../types.js';
import { validateInput, glorot, makeVariable, type Encoder } from './encoder.js';
import { GpmHead, resolveHeadOptions, skewScore, type GateKind, type GpmHeadWeights } from './head.js';
import { assertInputList, type ModelInput } from './inputs.js';

/** A prompt and the responses to compare within it. */
export interface PreferenceGroup {
  prompt: ModelInput;
  responses: readonly ModelInput[];
}

/** What the RL trainer needs from a verifier for `B` prompts × `G` responses. */
export interface VerifierOutputs {
  /** `{ groups: B, groupSize: G, dims: k }`. */
  shape: GroupShape;
  /** Embeddings, `B·G·2k` values, row-major `[B][G][2k]` (design §2). Inputs are validated first (non-finite features are rejected with a RangeError naming the response); rows that still come out non-finite (an encoder overflow) are masked and counted by the kernels. */
  embeddings: Float32Array;
  /** Eigenvalues λ, `B·k` values, row-major `[B][k]`. */
  lambdas: Float32Array;
  /** Bradley-Terry only: the scalar rewards, `B·G` values. */
  rewards?: Float32Array;
}

export interface PreferenceMatrixCallOptions {
  /** Kernel backend for the matrix. Defaults to `'auto'`. */
  backend?: Backend;
}

/** The interface shared by {@link GeneralPreferenceModel} and {@link BradleyTerryModel}. */
export interface PreferenceModel {
  /** `'gpm'` or `'bt'`. */
  readonly kind: 'gpm' | 'bt';
  /** The encoder (owned by the model for the built-in encoders). */
  readonly encoder: Encoder;
  /** Number of preference dimensions `k` (1 for Bradley-Terry). */
  readonly dims: number;
  /** Temperature τ of `P = σ(s/τ)`. */
  readonly tau: number;
  /** Whether {@link dispose} has run. */
  readonly isDisposed: boolean;
  /** All trainable variables (encoder and head), by logical name. */
  variables(): Map<string, tf.Variable>;
  /** Embeddings of responses in their prompts' context: `N·2k` values, `[N][2k]`. `prompts[n]` goes with `responses[n]`. */
  embed(prompts: readonly ModelInput[], responses: readonly ModelInput[]): Float32Array;
  /** Eigenvalues λ(x): `B·k` values, `[B][k]`. */
  eigenvalues(prompts: readonly ModelInput[]): Float32Array;
  /** Score `s(i ≻ j | x)` of one pair. */
  score(prompt: ModelInput, responseI: ModelInput, responseJ: ModelInput): number;
  /** Scores `s(i ≻ j | x)` of `N` pairs. */
  scores(prompts: readonly ModelInput[], responsesI: readonly ModelInput[], responsesJ: readonly ModelInput[]): Float32Array;
  /** Probabilities `P(i ≻ j | x) = σ(s/τ)` of `N` pairs. */
  probabilities(prompts: readonly ModelInput[], responsesI: readonly ModelInput[], responsesJ: readonly ModelInput[]): Float32Array;
  /** `G·G` matrix `P[i][j] = P(i ≻ j | x)` of one group, through the `preferenceMatrix` kernel. */
  preferenceMatrix(group: PreferenceGroup, options?: PreferenceMatrixCallOptions): Float32Array;
  /** Embeddings `[B][G][2k]` and eigenvalues `[B][k]` for `B` prompts × `G` responses each (all groups the same size). */
  verifierOutputs(prompts: readonly ModelInput[], groups: readonly (readonly ModelInput[])[]): VerifierOutputs;
  /** Tensor-level forward pass: scores `s(chosen ≻ rejected | prompt)` `[N]` (used by training; caller disposes). Inputs are not validated here: validate them first (`validatePair`, or the array methods). */
  pairScores(prompts: readonly ModelInput[], chosen: readonly ModelInput[], rejected: readonly ModelInput[], training?: boolean): tf.Tensor1D;
  /** Release every tensor the model owns. Afterwards every method throws. */
  dispose(): void;
}

function assertEncoder(value: unknown): asserts value is Encoder {
  const e = value as Partial<Encoder> | null;
  if (e === null || typeof e !== 'object' || typeof e.encodeJoint !== 'function' || typeof e.encodePrompts !== 'function' || !(e.variables instanceof Map)) {
    throw invalidType('options.encoder', 'an Encoder (featureEncoder, tokenEncoder, functionEncoder or layersEncoder)', value);
  }
}

function readBack(t: tf.Tensor): Float32Array {
  const out = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

abstract class PreferenceModelBase implements PreferenceModel {
  abstract readonly kind: 'gpm' | 'bt';
  abstract readonly dims: number;
  abstract readonly tau: number;
  protected disposed = false;

  constructor(readonly encoder: Encoder) {}

  /** Embeddings `[N, 2k]` from joint features. */
  protected abstract embedFeatures(h: tf.Tensor2D): tf.Tensor2D;
  /** λ `[B, k]` from prompt features. */
  protected abstract lambdaFeatures(hx: tf.Tensor2D): tf.Tensor2D;
  protected abstract headVariables(): Map<string, tf.Variable>;
  protected abstract disposeHead(): void;

  /** τ for the kernels, such that σ(kernel score / τ') equals {@link probabilities}. */
  protected kernelTau(): number {
    return this.tau;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  protected check(): void {
    if (this.disposed) throw new Error(`gprl: ${this.constructor.name} has been disposed`);
  }

  variables(): Map<string, tf.Variable> {
    this.check();
    return new Map([...this.encoder.variables, ...this.headVariables()]);
  }

  protected validateList(name: string, list: unknown, length?: number): asserts list is readonly ModelInput[] {
    assertInputList(name, list);
    if (length !== undefined && list.length !== length) throw invalidValue(`${name}.length`, `${length}`, list.length);
    const role = name === 'prompts' ? 'prompt' : 'response';
    list.forEach((v, i) => validateInput(this.encoder, `${name}[${i}]`, v, role));
  }

  embed(prompts: readonly ModelInput[], responses: readonly ModelInput[]): Float32Array {
    this.check();
    this.validateList('prompts', prompts);
    this.validateList('responses', responses, prompts.length);
    return readBack(tf.tidy(() => this.embedFeatures(this.encoder.encodeJoint(prompts, responses))));
  }

  eigenvalues(prompts: readonly ModelInput[]): Float32Array {
    this.check();
    this.validateList('prompts', prompts);
    return readBack(tf.tidy(() => this.lambdaFeatures(this.encoder.encodePrompts(prompts))));
  }

  pairScores(prompts: readonly ModelInput[], chosen: readonly ModelInput[], rejected: readonly ModelInput[], training = false): tf.Tensor1D {
    this.check();
    const n = prompts.length;
    return tf.tidy(() => {
      const joint = this.encoder.encodeJoint([...prompts, ...prompts], [...chosen, ...rejected], training);
      const e = this.embedFeatures(joint);
      const ei = tf.slice(e, [0, 0], [n, -1]);
      const ej = tf.slice(e, [n, 0], [n, -1]);
      const lambdas = this.lambdaFeatures(this.encoder.encodePrompts(prompts, training));
      return skewScore(ei, ej, lambdas);
    });
  }

  scores(prompts: readonly ModelInput[], responsesI: readonly ModelInput[], responsesJ: readonly ModelInput[]): Float32Array {
    this.check();
    this.validateList('prompts', prompts);
    this.validateList('responsesI', responsesI, prompts.length);
    this.validateList('responsesJ', responsesJ, prompts.length);
    return readBack(this.pairScores(prompts, responsesI, responsesJ));
  }

  probabilities(prompts: readonly ModelInput[], responsesI: readonly ModelInput[], responsesJ: readonly ModelInput[]): Float32Array {
    const s = this.scores(prompts, responsesI, responsesJ);
    return readBack(tf.tidy(() => tf.sigmoid(tf.div(tf.tensor1d(s), this.tau))));
  }

  score(prompt: ModelInput, responseI: ModelInput, responseJ: ModelInput): number {
    return this.scores([prompt], [responseI], [responseJ])[0] as number;
  }

  verifierOutputs(prompts: readonly ModelInput[], groups: readonly (readonly ModelInput[])[]): VerifierOutputs {
    this.check();
    this.validateList('prompts', prompts);
    if (!Array.isArray(groups)) throw invalidType('groups', 'an array of response arrays', groups);
    if (groups.length !== prompts.length) throw invalidValue('groups.length', `${prompts.length} (prompts.length)`, groups.length);
    const G = (groups[0] as readonly ModelInput[] | undefined)?.length ?? 0;
    if (G < 1) throw invalidValue('groups[0].length', 'at least 1 response', G);
    const flatPrompts: ModelInput[] = [];
    const flatResponses: ModelInput[] = [];
    groups.forEach((g, b) => {
      assertInputList(`groups[${b}]`, g);
      if (g.length !== G) throw invalidValue(`groups[${b}].length`, `${G} (every group the same size)`, g.length);
      g.forEach((r, i) => {
        validateInput(this.encoder, `groups[${b}][${i}]`, r, 'response');
        flatPrompts.push(prompts[b] as ModelInput);
        flatResponses.push(r);
      });
    });
    const embeddings = readBack(tf.tidy(() => this.embedFeatures(this.encoder.encodeJoint(flatPrompts, flatResponses))));
    const lambdas = readBack(tf.tidy(() => this.lambdaFeatures(this.encoder.encodePrompts(prompts))));
    const out: VerifierOutputs = { shape: { groups: prompts.length, groupSize: G, dims: this.dims }, embeddings, lambdas };
    if (this.kind === 'bt') {
      // BT embeddings are [r, c]: the reward is the first of each pair.
      out.rewards = new Float32Array(prompts.length * G);
      for (let i = 0; i < out.rewards.length; i++) out.rewards[i] = embeddings[2 * i] as number;
    }
    return out;
  }

  preferenceMatrix(group: PreferenceGroup, options?: PreferenceMatrixCallOptions): Float32Array {
    this.check();
    if (group === null || typeof group !== 'object') throw invalidType('group', 'an object { prompt, responses }', group);
    const backend = options?.backend;
    assertOptionsObject('options', options);
    assertKnownKeys('options', options, ['backend']);
    const out = this.verifierOutputs([group.prompt], [group.responses]);
    return preferenceMatrixKernel(out.embeddings, out.shape, {
      lambdas: out.lambdas,
      tau: this.kernelTau(),
      ...(backend !== undefined ? { backend } : {}),
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposeHead();
    this.encoder.dispose();
    this.disposed = true;
  }
}

export interface GeneralPreferenceModelOptions {
  /** The encoder: `featureEncoder(d)`, `tokenEncoder({...})`, `functionEncoder(...)` or `layersEncoder(...)`. Required. */
  encoder: Encoder;
  /** Number of preference dimensions `k`. Defaults to `2`. */
  dims?: number;
  /** Eigenvalue gate: `'softmax'`, `'scaled-softmax'` (k·softmax(W h/√d)) or `'none'` (λ = 1). Defaults to `'softmax'`. */
  gate?: GateKind;
  /** L2-normalize embeddings. Defaults to `true`. */
  l2Normalize?: boolean;
  /** Temperature τ > 0. Defaults to `0.1`. */
  tau?: number;
  /** Seed of the head's weight initialization. Defaults to `0`. */
  seed?: number;
}

/** General Preference Model: an encoder and a {@link GpmHead}. */
export class GeneralPreferenceModel extends PreferenceModelBase {
  readonly kind = 'gpm' as const;
  readonly head: GpmHead;

  /**
   * `weights` (optional) sets the head's initial weights (e.g. from a reference checkpoint); a
   * {@link GpmHead} instance is used as the head itself (the model takes ownership of it, and the
   * head options `dims`, `gate`, `l2Normalize`, `tau`, `seed` must then be left out).
   */
  constructor(options: GeneralPreferenceModelOptions, weights?: GpmHeadWeights | GpmHead) {
    assertOptionsObject('options', options);
    if (options === undefined) throw invalidType('options', 'an options object with an encoder', options);
    assertKnownKeys('options', options as unknown as Record<string, unknown>, ['encoder', 'dims', 'gate', 'l2Normalize', 'tau', 'seed']);
    assertEncoder(options.encoder);
    const { encoder, ...headOpts } = options;
    if (weights instanceof GpmHead) {
      const extra = Object.keys(headOpts);
      if (extra.length > 0) throw invalidValue(`options.${extra[0]}`, 'no head option when a GpmHead is given', extra[0]);
      if (encoder.outputDim !== weights.inputDim) {
        throw invalidValue('options.encoder.outputDim', `${weights.inputDim} (the head's input width)`, encoder.outputDim);
      }
      super(encoder);
      this.head = weights;
      return;
    }
    const cfg = resolveHeadOptions({ ...headOpts, inputDim: encoder.outputDim });
    super(encoder);
    this.head = new GpmHead(cfg, weights);
  }

  /** A model around an existing head (takes ownership of it); the encoder's output width must match. */
  static fromHead(head: GpmHead, encoder: Encoder): GeneralPreferenceModel {
    if (!(head instanceof GpmHead)) throw invalidType('head', 'a GpmHead', head);
    return new GeneralPreferenceModel({ encoder }, head);
  }

  get dims(): number {
    return this.head.dims;
  }
  get tau(): number {
    return this.head.tau;
  }
  protected embedFeatures(h: tf.Tensor2D): tf.Tensor2D {
    return this.head.embed(h);
  }
  protected lambdaFeatures(hx: tf.Tensor2D): tf.Tensor2D {
    return this.head.eigenvalues(hx);
  }
  protected headVariables(): Map<string, tf.Variable> {
    return new Map(this.head.variables);
  }
  protected disposeHead(): void {
    this.head.dispose();
  }
}

export interface BradleyTerryModelOptions {
  /** The encoder, as for {@link GeneralPreferenceModel}. Required. */
  encoder: Encoder;
  /** Temperature τ > 0 of `P = σ((r_i − r_j)/τ)`. Defaults to `0.1`. */
  tau?: number;
  /** The constant `c > 0` of the embedding `[r, c]` given to the kernels. Defaults to `1`. */
  embeddingConstant?: number;
  /** Seed of the reward head's weight initialization. Defaults to `0`. */
  seed?: number;
}

/** Bradley-Terry scalar reward model, the baseline GPRL is compared against. */
export class BradleyTerryModel extends PreferenceModelBase {
  readonly kind = 'bt' as const;
  readonly dims = 1;
  readonly tau: number;
  readonly embeddingConstant: number;
  readonly seed: number;
  private readonly rewardHead: tf.Variable;

  /** `weights` (optional): the reward head `[d]` initial values. */
  constructor(options: BradleyTerryModelOptions, weights?: Float32Array) {
    assertOptionsObject('options', options);
    if (options === undefined) throw invalidType('options', 'an options object with an encoder', options);
    assertKnownKeys('options', options as unknown as Record<string, unknown>, ['encoder', 'tau', 'embeddingConstant', 'seed']);
    assertEncoder(options.encoder);
    const tau = options.tau ?? 0.1;
    const c = options.embeddingConstant ?? 1;
    const seed = options.seed ?? 0;
    assertNumber('options.tau', tau, { min: 0, exclusiveMin: true });
    assertNumber('options.embeddingConstant', c, { min: 0, exclusiveMin: true });
    assertNumber('options.seed', seed);
    super(options.encoder);
    this.tau = tau;
    this.embeddingConstant = c;
    this.seed = seed;
    const d = options.encoder.outputDim;
    let init = glorot(new Rng(seed), d, 1);
    if (weights !== undefined) {
      if (!(weights instanceof Float32Array) || weights.length !== d) throw invalidValue('weights', `a Float32Array of ${d} values`, weights);
      init = weights;
    }
    this.rewardHead = makeVariable('head.reward', init, [d, 1]);
  }

  /** Rewards `r [N]` as a tensor (caller disposes). */
  private rewardTensor(h: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.reshape(tf.matMul(h, this.rewardHead), [h.shape[0]]) as tf.Tensor1D);
  }

  protected embedFeatures(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const r = tf.reshape(tf.matMul(h, this.rewardHead), [h.shape[0], 1]);
      return tf.concat([r, tf.fill([h.shape[0], 1], this.embeddingConstant)], 1) as tf.Tensor2D;
    });
  }
  protected lambdaFeatures(hx: tf.Tensor2D): tf.Tensor2D {
    return tf.ones([hx.shape[0], 1]);
  }

  /** The kernels see `s = c·(r_i − r_j)`; dividing by `c·τ` gives `P = σ((r_i − r_j)/τ)`. */
  protected override kernelTau(): number {
    return this.tau * this.embeddingConstant;
  }

  /**
   * Tensor-level scores: `(r_chosen − r_rejected)` (the embedding constant is not applied here, so
   * that τ alone sets the temperature, as `P = σ((r_w − r_l)/τ)`).
   */
  override pairScores(prompts: readonly ModelInput[], chosen: readonly ModelInput[], rejected: readonly ModelInput[], training = false): tf.Tensor1D {
    this.check();
    const n = prompts.length;
    return tf.tidy(() => {
      const r = this.rewardTensor(this.encoder.encodeJoint([...prompts, ...prompts], [...chosen, ...rejected], training));
      return tf.sub(tf.slice(r, [0], [n]), tf.slice(r, [n], [n]));
    });
  }

  /** Scalar reward of one response. */
  reward(prompt: ModelInput, response: ModelInput): number {
    return this.rewards([prompt], [response])[0] as number;
  }

  /** Scalar rewards `r [N]` of `N` responses in their prompts' context. */
  rewards(prompts: readonly ModelInput[], responses: readonly ModelInput[]): Float32Array {
    this.check();
    this.validateList('prompts', prompts);
    this.validateList('responses', responses, prompts.length);
    return readBack(tf.tidy(() => this.rewardTensor(this.encoder.encodeJoint(prompts, responses))));
  }

  protected headVariables(): Map<string, tf.Variable> {
    return new Map([['head.reward', this.rewardHead]]);
  }
  protected disposeHead(): void {
    this.rewardHead.dispose();
  }
}
