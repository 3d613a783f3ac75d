import { describe, it, expect, beforeAll } from 'vitest';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { TransformerPolicy } from '../../src/policy/transformerPolicy.js';
import { GruPolicy } from '../../src/policy/gruPolicy.js';
import { supervisedFineTune, type SupervisedExample, type SupervisedProgress } from '../../src/policy/supervisedFineTune.js';

const BACKENDS: TfBackendName[] = ['cpu', 'wasm'];

/** A deterministic mapping to imitate: prompt [a] → response [a + 3, EOS = 0]. */
const EXAMPLES: SupervisedExample[] = [1, 2, 3].map((a) => ({ prompt: [a], response: [a + 3, 0] }));

describe.each(BACKENDS)('supervisedFineTune on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });

  it('the reported loss is the mean token NLL under the current weights; training learns the mapping; no leaks', async () => {
    const before = tf.memory().numTensors;
    const policy = new TransformerPolicy({ vocabSize: 7, dModel: 16, heads: 2, layers: 1, maxLength: 4, seed: 1 });
    // Independent value of the loss before the first step: −Σ logp / tokens from logProbs.
    const nll0 = tf.tidy(() => {
      const r = policy.logProbs(EXAMPLES.map((e) => e.prompt), EXAMPLES.map((e) => e.response));
      return -tf.sum(r.logp).dataSync()[0]! / 6;
    });
    const progress: SupervisedProgress[] = [];
    const res = await supervisedFineTune(policy, EXAMPLES, { epochs: 60, learningRate: 0.02, batchSize: 8, seed: 3, onProgress: (p) => progress.push(p) });
    expect(res.steps).toBe(60);
    expect(progress).toHaveLength(60);
    expect(progress[0]!).toMatchObject({ epoch: 1, step: 1, steps: 60 });
    expect(progress[0]!.loss).toBeCloseTo(nll0, 5);
    // One batch per epoch: the epoch loss is that batch's loss.
    expect(res.epochLosses[59]).toBeCloseTo(progress[59]!.loss, 6);
    expect(nll0).toBeGreaterThan(1.5); // starts near uniform (ln 7 ≈ 1.95)
    expect(res.epochLosses[59]!).toBeLessThan(0.05);
    const greedy = policy.sample([[1], [2], [3]], { maxLength: 3, eosToken: 0, topP: 1e-9 });
    expect(greedy.responses).toEqual([[4, 0], [5, 0], [6, 0]]);
    policy.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic given the seed, order-shuffled by it, and trains any Policy (GruPolicy)', async () => {
    const run = async (seed: number): Promise<Float32Array> => {
      const p = new GruPolicy({ vocabSize: 7, hiddenSize: 6, seed: 2 });
      const six = [1, 2, 3, 4, 5, 6].map((a) => ({ prompt: [a], response: [(a % 6) + 1, 0] }));
      await supervisedFineTune(p, six, { epochs: 2, batchSize: 2, learningRate: 0.01, seed });
      const w = Float32Array.from(p.getWeights().flatMap((x) => Array.from(x.values)));
      p.dispose();
      return w;
    };
    const a = await run(1), b = await run(1), c = await run(2);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c)); // a different order of the mini-batches
    const p = new GruPolicy({ vocabSize: 7, hiddenSize: 8, seed: 2 });
    const r = await supervisedFineTune(p, EXAMPLES, { epochs: 40, batchSize: 3, learningRate: 0.05 });
    expect(r.epochLosses[39]!).toBeLessThan(r.epochLosses[0]! / 4);
    p.dispose();
  });
});

describe('supervisedFineTune bad input', () => {
  it('rejects bad arguments with gprl errors naming them', async () => {
    await setTfBackend('cpu');
    const p = new TransformerPolicy({ vocabSize: 5, dModel: 4, heads: 1, layers: 1, maxLength: 4 });
    const cases: Array<[() => Promise<unknown>, ErrorConstructor, RegExp]> = [
      [() => supervisedFineTune({} as never, EXAMPLES), TypeError, /gprl: invalid policy/],
      [() => supervisedFineTune(p, []), RangeError, /invalid examples/],
      [() => supervisedFineTune(p, [null as never]), TypeError, /examples\[0\]/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [] }]), RangeError, /examples\[0\]\.response/],
      [() => supervisedFineTune(p, [{ prompt: [9], response: [1] }]), RangeError, /examples\[0\]\.prompt/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [1] }], { epochs: 0 }), RangeError, /options\.epochs/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [1] }], { learningRate: -1 }), RangeError, /options\.learningRate/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [1] }], { batchSize: 2.5 }), RangeError, /options\.batchSize/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [1] }], { onProgress: 1 as never }), TypeError, /options\.onProgress/],
      [() => supervisedFineTune(p, [{ prompt: [1], response: [1] }], { lr: 1 } as never), RangeError, /options\.lr/],
      [() => supervisedFineTune(p, [{ prompt: [1, 2, 3], response: [1, 2] }]), RangeError, /responses.*maxLength \(4\)/],
    ];
    for (const [f, type, re] of cases) {
      await expect(f()).rejects.toThrow(type);
      await expect(f()).rejects.toThrow(re);
    }
    p.dispose();
  });
});
