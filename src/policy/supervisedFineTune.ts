/**
 * `supervisedFineTune`: teacher-forcing warm start of any {@link Policy} on (prompt, response)
 * examples, so reinforcement learning starts from a sensible model.
 *
 * Loss per mini-batch: the mean negative log-likelihood per response token,
 * `−Σ_n Σ_t logp(y_nt | x_n, y_n<t) / Σ_n |y_n|` (temperature 1), minimized with Adam. Each epoch
 * visits every example once in an order shuffled from `seed`; the last mini-batch of an epoch may be
 * smaller. Deterministic given the policy's weights, the examples and the options.
 */
import '../tfjs/gradients.js';
import { assertGradients } from '../tfjs/gradients.js';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, assertPositiveInt, invalidType, invalidValue, isFieldObject } from '../errors.js';
import { assertTokenBatch, type Policy, type Tokens } from './policy.js';

/** One teacher-forcing example: the response to imitate after its prompt. */
export interface SupervisedExample {
  /** Prompt tokens (may be empty). */
  prompt: Tokens;
  /** Response tokens to imitate (at least one; include the EOS token if the policy should learn to stop). */
  response: Tokens;
}

/** Progress of {@link supervisedFineTune}, reported after every optimizer step. */
export interface SupervisedProgress {
  /** Epoch, 1-based. */
  epoch: number;
  /** Optimizer steps taken so far (all epochs), 1-based. */
  step: number;
  /** Total optimizer steps of the run. */
  steps: number;
  /** Mean negative log-likelihood per token of this mini-batch (nats), before the step. */
  loss: number;
}

export interface SupervisedFineTuneOptions {
  /** Passes over the examples, a positive integer. Defaults to `1`. */
  epochs?: number;
  /** Adam learning rate, > 0. Defaults to `0.003`. */
  learningRate?: number;
  /** Examples per optimizer step, a positive integer. Defaults to `32`. */
  batchSize?: number;
  /** Seed of the example order. Defaults to `0`. */
  seed?: number;
  /** Called after every optimizer step. Defaults to none. */
  onProgress?: (p: SupervisedProgress) => void;
}

export interface SupervisedFineTuneResult {
  /** Mean negative log-likelihood per token (nats) of each epoch, averaged over its mini-batches' tokens. */
  epochLosses: number[];
  /** Optimizer steps taken. */
  steps: number;
}

const KEYS = ['epochs', 'learningRate', 'batchSize', 'seed', 'onProgress'] as const;

/** Train `policy` in place to imitate `examples` (teacher forcing). See the module comment for the loss. */
export async function supervisedFineTune(policy: Policy, examples: readonly SupervisedExample[], options: SupervisedFineTuneOptions = {}): Promise<SupervisedFineTuneResult> {
  assertGradients();
  const p = policy as Partial<Policy> | undefined;
  if (!p || typeof p.logProbs !== 'function' || !Array.isArray(p.trainableVariables)) {
    throw invalidType('policy', 'a Policy (logProbs, trainableVariables, ...)', policy);
  }
  if (!Array.isArray(examples) || examples.length === 0) throw invalidValue('examples', 'a non-empty array of { prompt, response }', examples);
  examples.forEach((e: unknown, i) => {
    if (!isFieldObject(e)) throw invalidType(`examples[${i}]`, 'an object { prompt, response }', e);
    const ex = e as Partial<SupervisedExample>;
    assertTokenBatch(`examples[${i}].prompt`, [ex.prompt], policy.vocabSize);
    assertTokenBatch(`examples[${i}].response`, [ex.response], policy.vocabSize, false);
  });
  assertOptionsObject('options', options);
  assertKnownKeys('options', options, KEYS);
  const epochs = options.epochs ?? 1;
  assertPositiveInt('options.epochs', epochs);
  const learningRate = options.learningRate ?? 0.003;
  assertNumber('options.learningRate', learningRate, { min: 0, exclusiveMin: true });
  const batchSize = options.batchSize ?? 32;
  assertPositiveInt('options.batchSize', batchSize);
  const seed = options.seed ?? 0;
  assertNumber('options.seed', seed);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalidType('options.onProgress', 'a function', options.onProgress);

  const rng = new Rng(seed);
  const vars = policy.trainableVariables as tf.Variable[];
  const optimizer = tf.train.adam(learningRate);
  const perEpoch = Math.ceil(examples.length / batchSize);
  const steps = epochs * perEpoch;
  const epochLosses: number[] = [];
  let step = 0;
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = rng.shuffle(Array.from(examples.keys()));
      let lossSum = 0, tokenSum = 0;
      for (let start = 0; start < order.length; start += batchSize) {
        const batch = order.slice(start, start + batchSize).map((i) => examples[i]!);
        const prompts = batch.map((e) => e.prompt);
        const responses = batch.map((e) => e.response);
        const tokens = responses.reduce((s, r) => s + r.length, 0);
        const loss = optimizer.minimize(() => {
          const r = policy.logProbs(prompts, responses);
          return tf.div(tf.neg(tf.sum(r.logp)), tokens) as tf.Scalar;
        }, true, vars);
        const value = loss!.dataSync()[0]!;
        loss!.dispose();
        step++;
        lossSum += value * tokens;
        tokenSum += tokens;
        options.onProgress?.({ epoch, step, steps, loss: value });
      }
      epochLosses.push(lossSum / tokenSum);
      // Let timers, signals and progress output run between epochs.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
  return { epochLosses, steps };
}
