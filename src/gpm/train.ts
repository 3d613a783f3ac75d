/**
 * Training of preference models on (prompt, chosen, rejected) pairs (design §2.1).
 *
 * Per pair, with score `s = s(chosen ≻ rejected | prompt)`, temperature τ, margin `m` and label
 * `p = P(chosen ≻ rejected)` (1 for a hard label):
 *
 *   loss = p · softplus(−(s − m)/τ) + (1 − p) · softplus(−(−s − m)/τ)
 *
 * `softplus(−z) = −log σ(z)`, so a hard label gives `−log σ((s − m)/τ)` and, with `m = 0`, a soft
 * label gives `p·(−log σ(s/τ)) + (1−p)·(−log σ(−s/τ))`. The margin applies symmetrically to the
 * preferred side of a soft label. softplus is evaluated without overflow. Adam (`tf.train.adam`).
 */
import { assertGradients } from '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, assertPositiveInt, invalidType, invalidValue } from '../errors.js';
import { validateInput } from './encoder.js';
import type { ModelInput } from './inputs.js';
import type { PreferenceModel } from './model.js';

/** One preference comparison. */
export interface PreferencePair {
  /** The prompt (token ids, or prompt features `h(x)`). */
  prompt: ModelInput;
  /** The preferred response (token ids, or joint features `h(x, chosen)`). */
  chosen: ModelInput;
  /** The other response. */
  rejected: ModelInput;
  /** Probability in [0, 1] that `chosen` is preferred (a soft label). Defaults to `1` (a hard label). */
  label?: number;
}

/** Why a pair was left out (`onInvalid: 'skip'`). */
export interface InvalidPairReport {
  /** Index in the input array (or 1-based line number for JSONL, see `data.ts`). */
  index: number;
  /** The validation message. */
  reason: string;
}

export interface EpochLog {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's batches (computed before each batch's update). */
  loss: number;
  /** Fraction of training pairs whose score sign agrees with the label (labels of exactly ½ are not counted). */
  accuracy: number;
  /** Mean loss on the validation pairs after the epoch, when there are any. */
  valLoss?: number;
  /** Accuracy on the validation pairs after the epoch, when there are any. */
  valAccuracy?: number;
  /** Wall time of the epoch in seconds. */
  seconds: number;
}

export interface BatchProgress {
  epoch: number;
  /** 1-based batch number within the epoch. */
  batch: number;
  batches: number;
  /** Mean loss of this batch. */
  loss: number;
}

export interface TrainOptions {
  /** Passes over the training pairs, ≥ 1. Defaults to `10`. */
  epochs?: number;
  /** Pairs per gradient step, ≥ 1. Defaults to `32`. */
  batchSize?: number;
  /** Adam learning rate, > 0. Defaults to `0.01`. */
  learningRate?: number;
  /** Margin `m ≥ 0` in `−log σ((s − m)/τ)`. Defaults to `0`. */
  margin?: number;
  /** Fraction in [0, 1) of the (seeded, shuffled) pairs held out for validation. Ignored when `validationPairs` is given. Defaults to `0`. */
  validationSplit?: number;
  /** Explicit validation pairs. Defaults to none. */
  validationPairs?: readonly PreferencePair[];
  /** L2 penalty coefficient (≥ 0): the loss gains `weightDecay/2 · Σ w²` over every trainable weight of the model (encoder and head). Defaults to `0`. */
  weightDecay?: number;
  /** Stop after this many epochs without a validation-loss improvement larger than `minDelta`; needs validation pairs. Defaults to no early stopping. */
  patience?: number;
  /** Smallest validation-loss decrease that counts as an improvement, ≥ 0. Defaults to `0`. */
  minDelta?: number;
  /** With early stopping, put back the weights of the best validation epoch at the end. Defaults to `true`. */
  restoreBestWeights?: boolean;
  /** Seed of the split and of the per-epoch shuffling. Defaults to `0`. */
  seed?: number;
  /** `'throw'` (default) rejects the first invalid pair with its index; `'skip'` leaves invalid pairs out and reports them in the result. Defaults to `'throw'`. */
  onInvalid?: 'throw' | 'skip';
  /** Called after each epoch; returning `false` stops training. Defaults to none. */
  onEpoch?: (log: EpochLog) => void | boolean;
  /** Called after each batch. Defaults to none. */
  onBatch?: (progress: BatchProgress) => void;
}

export interface TrainResult {
  /** One entry per completed epoch. */
  history: EpochLog[];
  /** Epoch (1-based) with the lowest validation loss, or the last epoch without validation. */
  bestEpoch: number;
  /** Whether early stopping (or `onEpoch` returning false) ended training. */
  stoppedEarly: boolean;
  /** Pairs left out as invalid (`onInvalid: 'skip'`), training pairs then validation pairs. */
  skipped: InvalidPairReport[];
  trainPairs: number;
  validationPairs: number;
}

const TRAIN_KEYS = [
  'epochs', 'batchSize', 'learningRate', 'weightDecay', 'margin', 'validationSplit', 'validationPairs', 'patience', 'minDelta',
  'restoreBestWeights', 'seed', 'onInvalid', 'onEpoch', 'onBatch',
] as const;

/** Validate one pair against the model's encoder; throws TypeError/RangeError naming `name`. */
export function validatePair(model: PreferenceModel, name: string, pair: unknown): asserts pair is PreferencePair {
  if (pair === null || typeof pair !== 'object' || Array.isArray(pair)) throw invalidType(name, 'an object { prompt, chosen, rejected, label? }', pair);
  const p = pair as Record<string, unknown>;
  validateInput(model.encoder, `${name}.prompt`, p.prompt);
  validateInput(model.encoder, `${name}.chosen`, p.chosen, 'response');
  validateInput(model.encoder, `${name}.rejected`, p.rejected, 'response');
  if (p.label !== undefined) assertNumber(`${name}.label`, p.label, { min: 0, max: 1 });
}

function checkModel(model: unknown): asserts model is PreferenceModel {
  const m = model as Partial<PreferenceModel> | null;
  if (m === null || typeof m !== 'object' || typeof m.pairScores !== 'function' || typeof m.variables !== 'function') {
    throw invalidType('model', 'a GeneralPreferenceModel or BradleyTerryModel', model);
  }
  if (m.isDisposed) throw new Error('gprl: the model has been disposed');
}

function filterPairs(model: PreferenceModel, name: string, pairs: unknown, onInvalid: 'throw' | 'skip', skipped: InvalidPairReport[]): PreferencePair[] {
  if (!Array.isArray(pairs)) throw invalidType(name, 'an array of preference pairs', pairs);
  const kept: PreferencePair[] = [];
  pairs.forEach((pair: unknown, i: number) => {
    try {
      validatePair(model, `${name}[${i}]`, pair);
      kept.push(pair);
    } catch (err) {
      if (onInvalid === 'throw') throw err;
      skipped.push({ index: i, reason: (err as Error).message });
    }
  });
  return kept;
}

/** Per-pair losses `[N]` (tensor) from scores `s [N]`, labels `p [N]`. */
function pairLosses(s: tf.Tensor1D, labels: tf.Tensor1D, tau: number, margin: number): tf.Tensor1D {
  const zPos = tf.div(tf.sub(s, margin), tau);
  const zNeg = tf.div(tf.sub(tf.neg(s), margin), tau);
  return tf.add(tf.mul(labels, tf.softplus(tf.neg(zPos))), tf.mul(tf.sub(1, labels), tf.softplus(tf.neg(zNeg))));
}

function columns(pairs: readonly PreferencePair[]): { prompts: ModelInput[]; chosen: ModelInput[]; rejected: ModelInput[]; labels: Float32Array } {
  return {
    prompts: pairs.map((p) => p.prompt),
    chosen: pairs.map((p) => p.chosen),
    rejected: pairs.map((p) => p.rejected),
    labels: Float32Array.from(pairs, (p) => p.label ?? 1),
  };
}

function countCorrect(s: Float32Array, labels: Float32Array): { correct: number; counted: number } {
  let correct = 0;
  let counted = 0;
  for (let i = 0; i < s.length; i++) {
    const p = labels[i] as number;
    if (p === 0.5) continue;
    counted += 1;
    if ((p > 0.5 && (s[i] as number) > 0) || (p < 0.5 && (s[i] as number) < 0)) correct += 1;
  }
  return { correct, counted };
}

export interface EvaluateOptions {
  /** Margin `m ≥ 0` of the loss. Defaults to `0`. */
  margin?: number;
  /** Pairs per forward pass. Defaults to `256`. */
  batchSize?: number;
}

/** Mean loss and accuracy on `pairs` (no update). Every pair must be valid. */
export function evaluatePreferenceModel(model: PreferenceModel, pairs: readonly PreferencePair[], options?: EvaluateOptions): { loss: number; accuracy: number } {
  checkModel(model);
  const o: EvaluateOptions = options ?? {};
  assertOptionsObject('options', options);
  assertKnownKeys('options', options as Record<string, unknown> | undefined, ['margin', 'batchSize']);
  const margin = o.margin ?? 0;
  const batchSize = o.batchSize ?? 256;
  assertNumber('options.margin', margin, { min: 0 });
  assertPositiveInt('options.batchSize', batchSize);
  const kept = filterPairs(model, 'pairs', pairs, 'throw', []);
  if (kept.length === 0) throw invalidValue('pairs', 'at least 1 preference pair', pairs);
  return evaluate(model, kept, margin, batchSize);
}

function evaluate(model: PreferenceModel, pairs: readonly PreferencePair[], margin: number, batchSize: number): { loss: number; accuracy: number } {
  let lossSum = 0;
  let correct = 0;
  let counted = 0;
  for (let start = 0; start < pairs.length; start += batchSize) {
    const c = columns(pairs.slice(start, start + batchSize));
    const [sT, lT] = tf.tidy(() => {
      const s = model.pairScores(c.prompts, c.chosen, c.rejected, false);
      return [s, tf.sum(pairLosses(s, tf.tensor1d(c.labels), model.tau, margin))];
    });
    const s = sT.dataSync() as Float32Array;
    lossSum += (lT.dataSync() as Float32Array)[0] as number;
    const r = countCorrect(s, c.labels);
    correct += r.correct;
    counted += r.counted;
    sT.dispose();
    lT.dispose();
  }
  return { loss: lossSum / pairs.length, accuracy: counted === 0 ? NaN : correct / counted };
}

/**
 * Mean loss over `pairs` and its gradient with respect to every trainable variable (by logical
 * name), without updating anything. Every pair must be valid.
 */
export function computeLossAndGradients(
  model: PreferenceModel,
  pairs: readonly PreferencePair[],
  options?: { margin?: number },
): { loss: number; gradients: Map<string, Float32Array> } {
  assertGradients();
  checkModel(model);
  const margin = options?.margin ?? 0;
  assertNumber('options.margin', margin, { min: 0 });
  const kept = filterPairs(model, 'pairs', pairs, 'throw', []);
  if (kept.length === 0) throw invalidValue('pairs', 'at least 1 preference pair', pairs);
  const c = columns(kept);
  const vars = model.variables();
  const names = [...vars.keys()];
  const { value, grads } = tf.variableGrads(
    () => tf.mean(pairLosses(model.pairScores(c.prompts, c.chosen, c.rejected, true), tf.tensor1d(c.labels), model.tau, margin)) as tf.Scalar,
    [...vars.values()],
  );
  const gradients = new Map<string, Float32Array>();
  for (const name of names) {
    const v = vars.get(name) as tf.Variable;
    const g = grads[v.name];
    gradients.set(name, g ? Float32Array.from(g.dataSync() as Float32Array) : new Float32Array(v.size));
  }
  const loss = (value.dataSync() as Float32Array)[0] as number;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { loss, gradients };
}

/**
 * Train `model` in place on preference pairs; returns the per-epoch history. Invalid pairs (wrong
 * widths, non-finite features, token ids out of range, labels outside [0, 1]) are never trained
 * on: they throw (default) or are skipped and reported.
 */
export async function trainPreferenceModel(model: PreferenceModel, pairs: readonly PreferencePair[], options?: TrainOptions): Promise<TrainResult> {
  assertGradients();
  checkModel(model);
  const o: TrainOptions = options ?? {};
  assertOptionsObject('options', options);
  assertKnownKeys('options', options as Record<string, unknown> | undefined, TRAIN_KEYS);
  const epochs = o.epochs ?? 10;
  const batchSize = o.batchSize ?? 32;
  const learningRate = o.learningRate ?? 0.01;
  const margin = o.margin ?? 0;
  const weightDecay = o.weightDecay ?? 0;
  const validationSplit = o.validationSplit ?? 0;
  const minDelta = o.minDelta ?? 0;
  const restoreBest = o.restoreBestWeights ?? true;
  const seed = o.seed ?? 0;
  const onInvalid = o.onInvalid ?? 'throw';
  assertPositiveInt('options.epochs', epochs);
  assertPositiveInt('options.batchSize', batchSize);
  assertNumber('options.learningRate', learningRate, { min: 0, exclusiveMin: true });
  assertNumber('options.margin', margin, { min: 0 });
  assertNumber('options.weightDecay', weightDecay, { min: 0 });
  assertNumber('options.validationSplit', validationSplit, { min: 0, max: 1 });
  if (validationSplit >= 1) throw invalidValue('options.validationSplit', 'a finite number in [0, 1)', validationSplit);
  if (o.patience !== undefined) assertPositiveInt('options.patience', o.patience);
  assertNumber('options.minDelta', minDelta, { min: 0 });
  if (typeof restoreBest !== 'boolean') throw invalidType('options.restoreBestWeights', 'a boolean', restoreBest);
  assertNumber('options.seed', seed);
  assertOneOf('options.onInvalid', onInvalid, ['throw', 'skip']);
  if (o.onEpoch !== undefined && typeof o.onEpoch !== 'function') throw invalidType('options.onEpoch', 'a function', o.onEpoch);
  if (o.onBatch !== undefined && typeof o.onBatch !== 'function') throw invalidType('options.onBatch', 'a function', o.onBatch);

  const skipped: InvalidPairReport[] = [];
  const rng = new Rng(seed);
  let train = filterPairs(model, 'pairs', pairs, onInvalid, skipped);
  let val: PreferencePair[] = [];
  if (o.validationPairs !== undefined) {
    val = filterPairs(model, 'options.validationPairs', o.validationPairs, onInvalid, skipped);
  } else if (validationSplit > 0) {
    rng.shuffle(train);
    const nVal = Math.floor(train.length * validationSplit);
    val = train.slice(0, nVal);
    train = train.slice(nVal);
  }
  if (train.length === 0) throw invalidValue('pairs', 'at least 1 valid training pair', `${pairs.length} pairs (${skipped.length} invalid)`);
  if (o.patience !== undefined && val.length === 0) {
    throw invalidValue('options.patience', 'validation pairs (validationSplit > 0 or validationPairs) for early stopping', o.patience);
  }

  const vars = model.variables();
  const varList = [...vars.values()];
  const optimizer = tf.train.adam(learningRate);
  const history: EpochLog[] = [];
  let best = Infinity;
  let bestEpoch = 0;
  let sinceBest = 0;
  let stoppedEarly = false;
  let snapshot: Map<string, tf.Tensor> | null = null;
  const order = train.map((_, i) => i);

  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      rng.shuffle(order);
      const batches = Math.ceil(train.length / batchSize);
      let lossSum = 0;
      let correct = 0;
      let counted = 0;
      for (let b = 0; b < batches; b++) {
        const batch = order.slice(b * batchSize, (b + 1) * batchSize).map((i) => train[i] as PreferencePair);
        const c = columns(batch);
        // The batch's scores leave the gradient scope (tf.keep) for the accuracy count.
        const kept: { scores?: tf.Tensor1D } = {};
        const { value, grads } = tf.variableGrads(() => {
          const s = model.pairScores(c.prompts, c.chosen, c.rejected, true);
          kept.scores = tf.keep(s);
          const data = tf.mean(pairLosses(s, tf.tensor1d(c.labels), model.tau, margin)) as tf.Scalar;
          if (weightDecay === 0) return data;
          const l2 = varList.reduce((acc: tf.Scalar, v) => tf.add(acc, tf.sum(tf.square(v))) as tf.Scalar, tf.scalar(0));
          return tf.add(data, tf.mul(l2, weightDecay / 2)) as tf.Scalar;
        }, varList);
        optimizer.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
        const batchLoss = (value.dataSync() as Float32Array)[0] as number;
        const scores = kept.scores as tf.Tensor1D;
        const r = countCorrect(scores.dataSync() as Float32Array, c.labels);
        correct += r.correct;
        counted += r.counted;
        lossSum += batchLoss * batch.length;
        value.dispose();
        scores.dispose();
        for (const g of Object.values(grads)) g.dispose();
        o.onBatch?.({ epoch, batch: b + 1, batches, loss: batchLoss });
      }
      if (!Number.isFinite(lossSum)) throw new Error(`gprl: training diverged at epoch ${epoch} (non-finite loss); lower options.learningRate`);
      const log: EpochLog = { epoch, loss: lossSum / train.length, accuracy: counted === 0 ? NaN : correct / counted, seconds: 0 };
      if (val.length > 0) {
        const v = evaluate(model, val, margin, Math.max(batchSize, 256));
        log.valLoss = v.loss;
        log.valAccuracy = v.accuracy;
      }
      log.seconds = (performance.now() - t0) / 1000;
      history.push(log);

      const monitored = log.valLoss ?? log.loss;
      if (monitored < best - minDelta) {
        best = monitored;
        bestEpoch = epoch;
        sinceBest = 0;
        if (o.patience !== undefined && restoreBest) {
          snapshot?.forEach((t) => t.dispose());
          snapshot = new Map([...vars].map(([name, v]) => [name, tf.clone(v)]));
        }
      } else {
        sinceBest += 1;
      }
      if (val.length === 0) bestEpoch = epoch;
      if (o.onEpoch?.(log) === false) {
        stoppedEarly = true;
        break;
      }
      if (o.patience !== undefined && sinceBest >= o.patience) {
        stoppedEarly = true;
        break;
      }
      // Yield to the event loop between epochs (progress output, timers).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (snapshot && bestEpoch !== history.length) {
      for (const [name, t] of snapshot) (vars.get(name) as tf.Variable).assign(t);
    }
  } finally {
    snapshot?.forEach((t) => t.dispose());
    optimizer.dispose();
  }
  return { history, bestEpoch, stoppedEarly, skipped, trainPairs: train.length, validationPairs: val.length };
}
