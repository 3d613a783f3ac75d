/**
 * `TransformerPolicy`: a small decoder-only transformer (GPT-2 style) written with tfjs-core ops and
 * `tf.Variable`s, implementing {@link Policy}.
 *
 * Architecture (every choice is fixed, the sizes are options):
 * - The context of a response is `[start, prompt…, response…]`: `start` is a learned vector (not a
 *   token), so an empty prompt still has a context and every row begins the same way.
 * - Input: token embedding `E[token]` (`E` is `[V, d]`) plus a **learned absolute position**
 *   embedding `P[position]` (`P` is `[maxLength + 1, d]`; position 0 is the start vector's).
 *   Learned positions, not rotary: the contexts are short and fixed in size, and a learned table
 *   costs one add in both the full and the cached (one-token) path.
 * - `layers` pre-LayerNorm blocks: `x += Attn(LN1(x))`, `x += FFN(LN2(x))`, with causal multi-head
 *   self-attention (`heads` heads of size `d / heads`, scores scaled by `1/√(d/heads)`, one fused
 *   `[d, 3d]` query/key/value projection with bias, output projection with bias) and a GELU (tanh
 *   form) feed-forward network `d → ffnSize → d`. LayerNorm: ε = 1e-5, learned gain and bias.
 * - A final LayerNorm, then the logits `LN_f(x) · Eᵀ + b`: the output projection is **tied** to the
 *   input embedding `E`; `b` is a learned output bias `[V]`.
 * - No dropout (sampling and log-probs are deterministic given the weights and the seed).
 * - Initialization from `seed`: embeddings, positions, the start vector and every projection
 *   `N(0, 0.02²)`, the two residual projections (attention output, FFN output) additionally scaled by
 *   `1/√(2·layers)` (GPT-2), biases 0, LayerNorm gains 1.
 *
 * Batches: rows are right-padded, so with the causal mask a real position never attends to padding.
 * Sampling runs the prompts once (prefill) and then one token per step against a **key/value
 * cache**; a row's padded prompt slots are masked out of the cache, so a row's result does not depend
 * on its batch. `kvCache: false` recomputes the whole context at every step instead (slower; the
 * same numbers up to float32 rounding, which the tests check).
 *
 * Embedding lookups and the selection of the response positions are one-hot / selection matmuls
 * built from host data, whose gradients run on every tfjs backend (wasm included).
 */
import '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import {
  assertKnownKeys,
  assertNumber,
  assertOptionsObject,
  assertPositiveInt,
  invalidType,
  invalidValue,
} from '../errors.js';
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

export interface TransformerPolicyOptions {
  /** Vocabulary size V (valid token ids `0 … V − 1`), a positive integer. Required (use the task's). */
  vocabSize: number;
  /** Model width d, a positive integer divisible by `heads`. Defaults to `32`. */
  dModel?: number;
  /** Attention heads, a positive integer dividing `dModel`. Defaults to `2`. */
  heads?: number;
  /** Transformer blocks, a positive integer. Defaults to `2`. */
  layers?: number;
  /** Hidden size of each block's feed-forward network, a positive integer. Defaults to `4 · dModel`. */
  ffnSize?: number;
  /** Longest context, prompt + response tokens (the size of the learned position table), a positive integer. Defaults to `128`. */
  maxLength?: number;
  /** Seed of the weight initialization. Defaults to `0`. */
  seed?: number;
}

/** Sampling options of {@link TransformerPolicy.sample}: the {@link SampleOptions} of every policy, plus the cache switch. */
export interface TransformerSampleOptions extends SampleOptions {
  /** Reuse the keys and values of earlier positions (`true`), or recompute the whole context at every step (`false`: slower, for checking). Defaults to `true`. */
  kvCache?: boolean;
}

const OPTION_KEYS = ['vocabSize', 'dModel', 'heads', 'layers', 'ffnSize', 'maxLength', 'seed'] as const;
const LN_EPS = 1e-5;
const INIT_STD = 0.02;
/** Added to the attention score of a masked key: exp(−1e9) is exactly 0 in float32. */
const MASKED = -1e9;
const GELU_C = Math.sqrt(2 / Math.PI);

/** Weights of one block, named `layers.<l>.<name>` (in this order, after the embeddings). */
type BlockWeight = 'ln1.gain' | 'ln1.bias' | 'attn.qkv' | 'attn.qkvBias' | 'attn.out' | 'attn.outBias' | 'ln2.gain' | 'ln2.bias' | 'ffn.in' | 'ffn.inBias' | 'ffn.out' | 'ffn.outBias';

let instanceCounter = 0;

/** A layer's key/value cache: `[N·heads, L, d/heads]` each. */
interface LayerCache {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
}

export class TransformerPolicy implements Policy {
  readonly vocabSize: number;
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  readonly ffnSize: number;
  readonly maxLength: number;
  private readonly options: Required<TransformerPolicyOptions>;
  private readonly names: string[];
  private vars: tf.Variable[];
  private byName: Map<string, tf.Variable>;
  private disposed = false;

  constructor(options: TransformerPolicyOptions) {
    assertOptionsObject('options', options);
    if (options === undefined) throw invalidType('options', 'an options object with vocabSize', options);
    assertKnownKeys('options', options as unknown as Record<string, unknown>, OPTION_KEYS);
    assertPositiveInt('options.vocabSize', options.vocabSize);
    const dModel = options.dModel ?? 32;
    assertPositiveInt('options.dModel', dModel);
    const heads = options.heads ?? 2;
    assertPositiveInt('options.heads', heads);
    if (dModel % heads !== 0) throw invalidValue('options.heads', `a divisor of options.dModel (${dModel})`, heads);
    const layers = options.layers ?? 2;
    assertPositiveInt('options.layers', layers);
    const ffnSize = options.ffnSize ?? 4 * dModel;
    assertPositiveInt('options.ffnSize', ffnSize);
    const maxLength = options.maxLength ?? 128;
    assertPositiveInt('options.maxLength', maxLength);
    const seed = options.seed ?? 0;
    assertNumber('options.seed', seed);
    this.vocabSize = options.vocabSize;
    this.dModel = dModel;
    this.heads = heads;
    this.layers = layers;
    this.ffnSize = ffnSize;
    this.maxLength = maxLength;
    this.options = { vocabSize: options.vocabSize, dModel, heads, layers, ffnSize, maxLength, seed };

    const V = this.vocabSize, d = dModel, f = ffnSize;
    const rng = new Rng(seed);
    const normal = (n: number, std = INIT_STD): Float32Array => rng.normalArray(n, 0, std);
    const resid = INIT_STD / Math.sqrt(2 * layers);
    const init: Array<[string, number[], Float32Array]> = [
      ['tokenEmbedding', [V, d], normal(V * d)],
      ['positionEmbedding', [maxLength + 1, d], normal((maxLength + 1) * d)],
      ['start', [1, d], normal(d)],
    ];
    for (let l = 0; l < layers; l++) {
      const p = `layers.${l}.`;
      init.push(
        [`${p}ln1.gain`, [d], new Float32Array(d).fill(1)],
        [`${p}ln1.bias`, [d], new Float32Array(d)],
        [`${p}attn.qkv`, [d, 3 * d], normal(d * 3 * d)],
        [`${p}attn.qkvBias`, [3 * d], new Float32Array(3 * d)],
        [`${p}attn.out`, [d, d], normal(d * d, resid)],
        [`${p}attn.outBias`, [d], new Float32Array(d)],
        [`${p}ln2.gain`, [d], new Float32Array(d).fill(1)],
        [`${p}ln2.bias`, [d], new Float32Array(d)],
        [`${p}ffn.in`, [d, f], normal(d * f)],
        [`${p}ffn.inBias`, [f], new Float32Array(f)],
        [`${p}ffn.out`, [f, d], normal(f * d, resid)],
        [`${p}ffn.outBias`, [d], new Float32Array(d)],
      );
    }
    init.push(['lnFinal.gain', [d], new Float32Array(d).fill(1)], ['lnFinal.bias', [d], new Float32Array(d)], ['outputBias', [V], new Float32Array(V)]);
    const id = instanceCounter++;
    this.names = init.map(([name]) => name);
    this.vars = init.map(([name, shape, values]) =>
      tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `gprl/transformer${id}/${name}`)),
    );
    this.byName = new Map(this.names.map((n, i) => [n, this.vars[i]!]));
  }

  get trainableVariables(): readonly tf.Variable[] {
    this.assertAlive();
    return this.vars;
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    this.assertAlive();
    return this.vars.reduce((s, v) => s + v.size, 0);
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('gprl: this TransformerPolicy has been disposed');
  }

  private w(name: string): tf.Variable {
    return this.byName.get(name)!;
  }

  private bw(l: number, name: BlockWeight): tf.Variable {
    return this.byName.get(`layers.${l}.${name}`)!;
  }

  /** LayerNorm over the last axis of `x` ([rows, d]). */
  private layerNorm(x: tf.Tensor2D, gain: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
    const mu = tf.mean(x, 1, true);
    const xc = tf.sub(x, mu);
    const variance = tf.mean(tf.square(xc), 1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, LN_EPS))), gain), bias);
  }

  private dense(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.matMul(x, weight as tf.Tensor2D), bias);
  }

  /** `[N·L, d]` → `[N·heads, L, d/heads]`. */
  private splitHeads(x: tf.Tensor2D, N: number, L: number): tf.Tensor3D {
    const H = this.heads, dh = this.dModel / H;
    return tf.reshape(tf.transpose(tf.reshape(x, [N, L, H, dh]), [0, 2, 1, 3]), [N * H, L, dh]);
  }

  /** `[N·heads, L, d/heads]` → `[N·L, d]`. */
  private mergeHeads(x: tf.Tensor3D, N: number, L: number): tf.Tensor2D {
    const H = this.heads, dh = this.dModel / H;
    return tf.reshape(tf.transpose(tf.reshape(x, [N, H, L, dh]), [0, 2, 1, 3]), [N * L, this.dModel]);
  }

  /**
   * One block on `x` (`[N·Lq, d]`, the Lq newest positions of N rows). `bias`: additive attention
   * mask broadcastable to `[N·heads, Lq, Lk]`; `past`: the cached keys/values of the earlier
   * positions (Lk = past + Lq). Returns the block's output and this layer's full keys/values.
   */
  private block(l: number, x: tf.Tensor2D, N: number, Lq: number, bias: tf.Tensor, past: LayerCache | null): { x: tf.Tensor2D; cache: LayerCache } {
    const d = this.dModel, dh = d / this.heads;
    const h = this.layerNorm(x, this.bw(l, 'ln1.gain'), this.bw(l, 'ln1.bias'));
    const qkv = this.dense(h, this.bw(l, 'attn.qkv'), this.bw(l, 'attn.qkvBias'));
    const [q, k, v] = tf.split(qkv, [d, d, d], 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    let K = this.splitHeads(k, N, Lq);
    let Vv = this.splitHeads(v, N, Lq);
    if (past) {
      K = tf.concat([past.k, K], 1);
      Vv = tf.concat([past.v, Vv], 1);
    }
    const scores = tf.add(tf.mul(tf.matMul(this.splitHeads(q, N, Lq), K, false, true), 1 / Math.sqrt(dh)), bias);
    const att = this.mergeHeads(tf.matMul(tf.softmax(scores), Vv), N, Lq);
    const x1: tf.Tensor2D = tf.add(x, this.dense(att, this.bw(l, 'attn.out'), this.bw(l, 'attn.outBias')));
    const h2 = this.layerNorm(x1, this.bw(l, 'ln2.gain'), this.bw(l, 'ln2.bias'));
    const u = this.dense(h2, this.bw(l, 'ffn.in'), this.bw(l, 'ffn.inBias'));
    // GELU, tanh form: ½u(1 + tanh(√(2/π)(u + 0.044715u³))).
    const gelu: tf.Tensor2D = tf.mul(tf.mul(u, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(u, tf.mul(tf.mul(tf.mul(u, u), u), 0.044715)), GELU_C))));
    const x2: tf.Tensor2D = tf.add(x1, this.dense(gelu, this.bw(l, 'ffn.out'), this.bw(l, 'ffn.outBias')));
    return { x: x2, cache: { k: K, v: Vv } };
  }

  /** Embeddings of `[N, Lq]` tokens (row-major host ids) at per-row positions `pos` ([N·Lq]): E[token] + P[position]. */
  private embed(ids: Int32Array, pos: Int32Array): tf.Tensor2D {
    const V = this.vocabSize, Pn = this.maxLength + 1;
    const rows = ids.length;
    const oneTok = new Float32Array(rows * V);
    const onePos = new Float32Array(rows * Pn);
    for (let i = 0; i < rows; i++) {
      oneTok[i * V + ids[i]!] = 1;
      onePos[i * Pn + pos[i]!] = 1;
    }
    return tf.add(tf.matMul(tf.tensor2d(oneTok, [rows, V]), this.w('tokenEmbedding')), tf.matMul(tf.tensor2d(onePos, [rows, Pn]), this.w('positionEmbedding')));
  }

  /**
   * Full forward pass over right-padded contexts `[start, seq…]`: `seqs[n]` are the tokens after the
   * start vector. Returns the final hidden states (after the last LayerNorm), `[N·L, d]` with
   * `L = 1 + longest`, and each layer's keys/values when `keepCache`.
   */
  private forward(seqs: readonly Tokens[], keepCache: boolean): { h: tf.Tensor2D; L: number; cache: LayerCache[] } {
    const N = seqs.length, d = this.dModel;
    const L = 1 + seqs.reduce((m, s) => Math.max(m, s.length), 0);
    const ids = new Int32Array(N * (L - 1));
    const pos = new Int32Array(N * (L - 1));
    for (let n = 0; n < N; n++) {
      const s = seqs[n]!;
      for (let t = 0; t < L - 1; t++) {
        ids[n * (L - 1) + t] = t < s.length ? s[t]! : 0;
        pos[n * (L - 1) + t] = t + 1;
      }
    }
    const startRow = tf.add(this.w('start'), tf.slice(this.w('positionEmbedding'), [0, 0], [1, d]));
    let x: tf.Tensor2D;
    if (L > 1) {
      const rest = tf.reshape(this.embed(ids, pos), [N, L - 1, d]);
      x = tf.reshape(tf.concat([tf.tile(tf.reshape(startRow, [1, 1, d]), [N, 1, 1]), rest], 1), [N * L, d]);
    } else {
      x = tf.tile(startRow, [N, 1]) as tf.Tensor2D;
    }
    const causal = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) causal[i * L + j] = MASKED;
    const bias = tf.tensor3d(causal, [1, L, L]);
    const cache: LayerCache[] = [];
    for (let l = 0; l < this.layers; l++) {
      const out = this.block(l, x, N, L, bias, null);
      x = out.x;
      if (keepCache) cache.push(out.cache);
    }
    return { h: this.layerNorm(x, this.w('lnFinal.gain'), this.w('lnFinal.bias')), L, cache };
  }

  /** Logits `[rows, V]` of final hidden states `[rows, d]` (tied output projection). */
  private logits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(h, this.w('tokenEmbedding'), false, true), this.w('outputBias'));
  }

  private checkContext(name: string, promptLongest: number, responseLength: number): void {
    if (promptLongest + responseLength > this.maxLength) {
      throw invalidValue(
        name,
        `a response length with the longest prompt (${promptLongest} tokens) within the policy's maxLength (${this.maxLength}), i.e. at most ${Math.max(0, this.maxLength - promptLongest)}`,
        responseLength,
      );
    }
  }

  sample(prompts: readonly Tokens[], options: TransformerSampleOptions): SampleResult {
    this.assertAlive();
    assertTokenBatch('prompts', prompts, this.vocabSize);
    assertOptionsObject('options', options);
    const { kvCache = true, ...rest } = (options ?? {}) as TransformerSampleOptions;
    if (typeof kvCache !== 'boolean') throw invalidType('options.kvCache', 'a boolean', kvCache);
    const o = resolveSampleOptions(options === undefined ? undefined : rest, this.vocabSize);
    const rng = rest.rng ?? new Rng(rest.seed ?? 0);
    const Pmax = prompts.reduce((m, p) => Math.max(m, p.length), 0);
    this.checkContext('options.maxLength', Pmax, o.maxLength);
    const batch = new SampleBatch(prompts, o, this.vocabSize, rng);
    const N = batch.rows;
    const expanded = batch.rowPrompts();
    const plen = Int32Array.from(expanded, (p) => p.length);
    const temperature = o.temperature;

    /** Log-probs and entropy of the next token from final hidden states `[N, d]`. */
    const distribution = (h: tf.Tensor2D): [Float32Array, Float32Array] => {
      const lp = tf.logSoftmax(tf.div(this.logits(h), temperature));
      const ent = tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 1));
      return [lp.dataSync() as Float32Array, ent.dataSync() as Float32Array];
    };
    // Uncached: the whole context, every step. Row n's next token comes from its last real position.
    const fullStep = (): [Float32Array, Float32Array] =>
      tf.tidy(() => {
        const seqs = expanded.map((p, n) => [...p, ...batch.drawn(n)]);
        const { h, L } = this.forward(seqs, false);
        const idx = Int32Array.from(seqs, (s, n) => n * L + s.length);
        return distribution(tf.gather(h, tf.tensor1d(idx, 'int32')));
      });

    let cache: LayerCache[] = [];
    let keyValid: Float32Array | null = null; // [N, Lk]: 0 for real keys, MASKED for padded prompt slots
    let Lk = 0;
    const releaseCache = (): void => {
      for (const c of cache) tf.dispose([c.k, c.v]);
      cache = [];
    };
    try {
      let dist: [Float32Array, Float32Array];
      if (kvCache) {
        // Prefill: the prompts, right-padded to 1 + Pmax; keep every layer's keys and values.
        dist = tf.tidy(() => {
          const { h, L, cache: c } = this.forward(expanded, true);
          cache = c.map((x) => ({ k: tf.keep(x.k), v: tf.keep(x.v) }));
          Lk = L;
          const idx = Int32Array.from(expanded, (p, n) => n * L + p.length);
          return distribution(tf.gather(h, tf.tensor1d(idx, 'int32')));
        });
        keyValid = new Float32Array(N * Lk);
        for (let n = 0; n < N; n++) for (let j = plen[n]! + 1; j < Lk; j++) keyValid[n * Lk + j] = MASKED;
      } else {
        dist = fullStep();
      }
      for (let t = 0; ; t++) {
        const { step, more } = batch.draw(t, ...dist);
        if (!more) break;
        if (!kvCache) {
          dist = fullStep();
          continue;
        }
        // One cached step: the token just drawn, at position 1 + prompt length + t of its row.
        const pos = Int32Array.from(plen, (p) => p + 1 + t);
        const kv = keyValid!;
        const H = this.heads;
        const maskData = new Float32Array(N * H * (Lk + 1));
        for (let n = 0; n < N; n++) {
          for (let hh = 0; hh < H; hh++) maskData.set(kv.subarray(n * Lk, (n + 1) * Lk), (n * H + hh) * (Lk + 1));
        }
        const old = cache;
        const next: LayerCache[] = [];
        dist = tf.tidy(() => {
          let x = this.embed(step, pos);
          const bias = tf.tensor3d(maskData, [N * H, 1, Lk + 1]);
          for (let l = 0; l < this.layers; l++) {
            const out = this.block(l, x, N, 1, bias, old[l]!);
            x = out.x;
            next.push({ k: tf.keep(out.cache.k), v: tf.keep(out.cache.v) });
          }
          return distribution(this.layerNorm(x, this.w('lnFinal.gain'), this.w('lnFinal.bias')));
        });
        releaseCache();
        cache = next;
        const grown = new Float32Array(N * (Lk + 1));
        for (let n = 0; n < N; n++) grown.set(kv.subarray(n * Lk, (n + 1) * Lk), n * (Lk + 1));
        keyValid = grown;
        Lk += 1;
      }
    } finally {
      releaseCache();
    }
    return batch.result();
  }

  logProbs(prompts: readonly Tokens[], responses: readonly Tokens[], options: LogProbOptions = {}): LogProbResult {
    this.assertAlive();
    const { temperature, maxLength: T } = resolveLogProbArgs(prompts, responses, options, this.vocabSize);
    let context = 0;
    prompts.forEach((p, n) => (context = Math.max(context, p.length + responses[n]!.length)));
    if (context > this.maxLength) {
      throw invalidValue('responses', `prompt + response lengths within the policy's maxLength (${this.maxLength})`, `a row of ${context} tokens`);
    }
    const N = prompts.length, V = this.vocabSize;
    const maskData = new Float32Array(N * T);
    // Context of row n: [start, prompt, response without its last token]; response token t is
    // predicted at context position |prompt| + t.
    const seqs = prompts.map((p, n) => [...p, ...responses[n]!.slice(0, -1)]);
    return tf.tidy(() => {
      const { h, L } = this.forward(seqs, false);
      // Token log-probs and entropies at every context position ([N·L]), then each row's response
      // positions |prompt| + t moved to column t by a per-row [L, T] selection matmul.
      const taken = new Float32Array(N * L * V);
      const select = new Float32Array(N * L * T);
      for (let n = 0; n < N; n++) {
        const r = responses[n]!, P = prompts[n]!.length;
        for (let t = 0; t < r.length; t++) {
          maskData[n * T + t] = 1;
          taken[(n * L + P + t) * V + r[t]!] = 1;
          select[(n * L + P + t) * T + t] = 1;
        }
      }
      const lp = tf.logSoftmax(tf.div(this.logits(h), temperature)); // [N·L, V]
      const sel = tf.tensor3d(select, [N, L, T]);
      const toResponse = (perPosition: tf.Tensor): tf.Tensor2D => tf.reshape(tf.matMul(tf.reshape(perPosition, [N, 1, L]), sel), [N, T]);
      const mask = tf.tensor2d(maskData, [N, T]);
      const logp = toResponse(tf.sum(tf.mul(lp, tf.tensor2d(taken, [N * L, V])), 1));
      const ent = toResponse(tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 1)));
      return { logp, mask, entropy: ent };
    });
  }

  clone(): TransformerPolicy {
    this.assertAlive();
    const copy = new TransformerPolicy(this.options);
    copy.setWeights(this.getWeights());
    return copy;
  }

  getWeights(): NamedWeight[] {
    this.assertAlive();
    return readWeights(this.vars, this.names);
  }

  setWeights(weights: readonly NamedWeight[]): void {
    this.assertAlive();
    assignWeights(this.vars, this.names, weights);
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.vars) v.dispose();
    this.vars = [];
    this.byName = new Map();
    this.disposed = true;
  }
}
