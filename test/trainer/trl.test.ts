/**
 * TRL GRPO parity options of the trainer (docs/trainer.md, "TRL parity"), end to end.
 *
 * The reference is TRL's `_compute_loss` written again with stock tfjs ops (float32, autodiff for the
 * gradient), on a clone of the policy taken before the step: two SGD passes (numIterations = 2, so the
 * second pass has ratios ≠ 1 and the clips, gates and sequence ratios matter) are replayed and the
 * final weights compared with the trainer's. The masks (truncated completions, high-entropy tokens) and
 * the normalizers are computed here from their definitions, not by the trainer's helpers.
 *
 * Tolerance: weights to 2e-5 absolute. Both paths are float32 (the kernel rounds a float64 gradient,
 * the composition accumulates in float32) and differ by ~1e-6 relative in each gradient; through two
 * steps of lr 0.5 with weights of size ~1 that is ≲ 1e-6 absolute, so 2e-5 has margin, while a wrong
 * normalizer, mask or surrogate changes the weights by ≳ 1e-3 (checked when these tests were written).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { tf, setTfBackend } from '../../src/tf.js';
import { GruPolicy } from '../../src/policy/gruPolicy.js';
import type { NamedWeight, Policy, Tokens } from '../../src/policy/policy.js';
import { GPRLTrainer } from '../../src/trainer/trainer.js';
import { resolveTrainerConfig, type GPRLTrainerConfig, type TrlLossType } from '../../src/trainer/config.js';
import { highEntropyMask } from '../../src/trainer/trl.js';

const PROMPTS = [[1, 2], [3], [4, 5, 1], [2, 2]];
const EOS = 0;
const reward = (_p: Tokens, r: Tokens): number => r.filter((x) => x === 2).length - 0.3 * r.length + (r[r.length - 1] === EOS ? 0.5 : 0);

interface Case {
  lossType: TrlLossType;
  importanceSamplingLevel?: 'token' | 'sequence';
  maskTruncatedCompletions?: boolean;
  topEntropyQuantile?: number;
  entropyCoef?: number;
  beta?: number;
  epsilonHigh?: number;
}

/** torch.quantile (linear interpolation) of the entropies at unmasked tokens; mask = entropy ≥ it. */
function entropyMaskRef(ent: Float32Array, mask: Float32Array, q: number): Float32Array {
  const vals = Array.from(ent).filter((_, i) => mask[i]! > 0).sort((a, b) => a - b);
  const out = new Float32Array(ent.length);
  if (vals.length === 0) return out;
  const p = (1 - q) * (vals.length - 1);
  const i = Math.floor(p);
  const thr = i + 1 < vals.length ? vals[i]! * (1 - (p - i)) + vals[i + 1]! * (p - i) : vals[i]!;
  ent.forEach((e, j) => {
    out[j] = mask[j]! > 0 && e >= thr ? 1 : 0;
  });
  return out;
}

interface StepData {
  expanded: Tokens[];
  responses: Tokens[];
  old: Float32Array;
  ref: Float32Array;
  adv: Float32Array;
  mask: Float32Array;
  numItems: number;
  N: number;
  T: number;
}

/** TRL's loss (plus the entropy bonus) of `policy` on a rollout, composed from tfjs ops. */
function trlLoss(policy: Policy, d: StepData, c: Case, eps: number): tf.Scalar {
  const { N, T } = d;
  const r = policy.logProbs(d.expanded, d.responses, { temperature: 1, maxLength: T });
  const logp = r.logp;
  const mask = tf.tensor2d(d.mask, [N, T]);
  const A = tf.tensor2d(d.adv, [N, 1]);
  const logRatio = tf.sub(logp, tf.tensor2d(d.old, [N, T]));
  const coef1 =
    c.importanceSamplingLevel === 'sequence'
      ? tf.exp(tf.div(tf.sum(tf.mul(logRatio, mask), 1, true), tf.maximum(tf.sum(mask, 1, true), 1)))
      : tf.exp(logRatio);
  const eh = c.epsilonHigh ?? eps;
  let ptl: tf.Tensor;
  if (c.lossType === 'cispo') {
    const detached = tf.tensor(tf.minimum(coef1, eh).dataSync(), coef1.shape); // no gradient through the capped ratio
    ptl = tf.neg(tf.mul(tf.mul(detached, A), logp));
  } else if (c.lossType === 'sapo') {
    const tau = tf.tensor2d(Array.from(d.adv, (a) => (a > 0 ? 1 : 1.05)), [N, 1]);
    ptl = tf.neg(tf.mul(tf.div(tf.mul(tf.sigmoid(tf.mul(tau, tf.sub(coef1, 1))), 4), tau), A));
  } else {
    ptl = tf.neg(tf.minimum(tf.mul(coef1, A), tf.mul(tf.clipByValue(coef1, 1 - eps, 1 + eh), A)));
  }
  ptl = tf.mul(ptl, tf.onesLike(logp)); // broadcast a sequence-level [N, 1] to [N, T]
  if ((c.topEntropyQuantile ?? 1) < 1) {
    ptl = tf.mul(ptl, tf.tensor2d(entropyMaskRef(r.entropy.dataSync() as Float32Array, d.mask, c.topEntropyQuantile!), [N, T]));
  }
  if ((c.beta ?? 0) > 0) {
    const delta = tf.sub(tf.tensor2d(d.ref, [N, T]), logp);
    ptl = tf.add(ptl, tf.mul(tf.sub(tf.sub(tf.exp(delta), delta), 1), c.beta!));
  }
  const reduce = (x: tf.Tensor): tf.Scalar => {
    const masked = tf.mul(x, mask);
    if (c.lossType === 'grpo' || c.lossType === 'sapo') return tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1)));
    if (c.lossType === 'bnpo') return tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1));
    if (c.lossType === 'dr_grpo') return tf.div(tf.sum(masked), N * T);
    return tf.div(tf.sum(masked), d.numItems);
  };
  let loss = reduce(ptl);
  if ((c.entropyCoef ?? 0) > 0) loss = tf.sub(loss, tf.mul(reduce(r.entropy), c.entropyCoef!));
  return loss;
}

function sgdStep(policy: Policy, lr: number, loss: () => tf.Scalar): void {
  const vars = policy.trainableVariables as tf.Variable[];
  const { value, grads } = tf.variableGrads(loss, vars);
  const w = policy.getWeights();
  const next: NamedWeight[] = w.map((x, i) => {
    const g = grads[vars[i]!.name]!.dataSync();
    return { ...x, values: Float32Array.from(x.values, (v, j) => v - lr * g[j]!) };
  });
  tf.dispose([value, ...Object.values(grads)]);
  policy.setWeights(next);
}

async function runCase(c: Case, refC: Case = c): Promise<{ maxDiff: number; lossDiff: number }> {
  const lr = 0.5, eps = 0.05, G = 4, T = 5;
  const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 5, seed: 3 });
  const before = policy.clone();
  const { lossType, ...rest } = c;
  const config: GPRLTrainerConfig = {
    promptsPerStep: 2, numGenerations: G, maxCompletionLength: T, eosToken: EOS, optimizer: 'sgd', learningRate: lr,
    maxGradNorm: null, numIterations: 2, epsilon: eps, beta: 0, seed: 5, lossType, ...rest,
  };
  const trainer = new GPRLTrainer({ policy, reward, prompts: PROMPTS, config });
  const m = await trainer.step();
  const roll = trainer.lastRollout!;
  const N = roll.valid.length;
  const expanded = roll.prompts.flatMap((p) => Array.from({ length: G }, () => p));
  const mask = new Float32Array(N * T);
  let numItems = 0;
  roll.sample.responses.forEach((r, n) => {
    numItems += r.length;
    const truncated = r.length > 0 && r[r.length - 1] !== EOS;
    if (c.maskTruncatedCompletions && truncated) return;
    for (let t = 0; t < r.length; t++) mask[n * T + t] = 1;
  });
  const d: StepData = { expanded, responses: roll.sample.responses, old: roll.logpOld, ref: roll.logpRef, adv: roll.advantages, mask, numItems, N, T };
  sgdStep(before, lr, () => trlLoss(before, d, refC, eps));
  const lastLoss = tf.tidy(() => trlLoss(before, d, refC, eps).dataSync()[0]!);
  sgdStep(before, lr, () => trlLoss(before, d, refC, eps));
  const got = policy.getWeights();
  const want = before.getWeights();
  let maxDiff = 0;
  got.forEach((w, i) => w.values.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - want[i]!.values[j]!)))));
  trainer.dispose();
  policy.dispose();
  before.dispose();
  return { maxDiff, lossDiff: Math.abs(m.loss - lastLoss) / Math.max(1e-3, Math.abs(lastLoss)) };
}

const CASES: Case[] = [
  { lossType: 'grpo' },
  { lossType: 'bnpo', maskTruncatedCompletions: true },
  { lossType: 'dapo', maskTruncatedCompletions: true, beta: 0.04 },
  { lossType: 'dr_grpo', importanceSamplingLevel: 'sequence' },
  { lossType: 'grpo', importanceSamplingLevel: 'sequence', maskTruncatedCompletions: true, beta: 0.04 },
  { lossType: 'cispo', epsilonHigh: 1.02 },
  { lossType: 'cispo', epsilonHigh: 1.02, importanceSamplingLevel: 'sequence', topEntropyQuantile: 0.5 },
  { lossType: 'sapo', beta: 0.04 },
  { lossType: 'sapo', importanceSamplingLevel: 'sequence', maskTruncatedCompletions: true },
  { lossType: 'dapo', topEntropyQuantile: 0.3, entropyCoef: 0.05 },
  { lossType: 'grpo', entropyCoef: 0.1, epsilonHigh: 0.08 },
];

describe('trainer TRL options against a tfjs composition of TRL’s loss', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });
  for (const c of CASES) {
    it(JSON.stringify(c), async () => {
      const before = tf.memory().numTensors;
      const { maxDiff, lossDiff } = await runCase(c);
      expect(maxDiff).toBeLessThan(2e-5);
      // The reported loss is the second pass's (float32 scalar): 1e-5 relative.
      expect(lossDiff).toBeLessThan(1e-5);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('the comparison can fail: a reference with a neighbouring definition is far outside the tolerance', async () => {
    // dapo vs bnpo differ only through the truncated completions in the normalizer; grpo vs sapo only
    // through the gate once ratios leave 1; token vs sequence level only through the ratio's granularity.
    const pairs: [Case, Case][] = [
      [{ lossType: 'dapo', maskTruncatedCompletions: true }, { lossType: 'bnpo', maskTruncatedCompletions: true }],
      [{ lossType: 'sapo' }, { lossType: 'grpo' }],
      [{ lossType: 'grpo', importanceSamplingLevel: 'sequence' }, { lossType: 'grpo' }],
      [{ lossType: 'dapo', topEntropyQuantile: 0.3 }, { lossType: 'dapo' }],
    ];
    for (const [c, wrong] of pairs) expect((await runCase(c, wrong)).maxDiff, JSON.stringify(c)).toBeGreaterThan(1e-3);
  });
});

describe('training end to end with TRL options', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });
  it('GSPO + dapo + masked truncation + entropy masking + reference sync raise the reward of a seeded run', async () => {
    // Reward: the number of token 2 in the response, ending with EOS or not; the initial policy is near uniform.
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 4 });
    const rewardOf = (_p: Tokens, r: Tokens): number => r.filter((x) => x === 2).length;
    const trainer = new GPRLTrainer({
      policy, reward: rewardOf, prompts: PROMPTS,
      config: {
        promptsPerStep: 4, numGenerations: 6, maxCompletionLength: 6, eosToken: EOS, learningRate: 0.03, seed: 7,
        lossType: 'dapo', importanceSamplingLevel: 'sequence', maskTruncatedCompletions: true, topEntropyQuantile: 0.5,
        syncRefModel: true, refModelSyncSteps: 10, numIterations: 2, maxSteps: 40,
      },
    });
    const metrics = await trainer.train();
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(metrics.slice(0, 5).map((m) => m.rewardMean!));
    const last = mean(metrics.slice(-5).map((m) => m.rewardMean!));
    expect(metrics.every((m) => Number.isFinite(m.loss))).toBe(true);
    expect(last).toBeGreaterThan(first + 2); // measured: 2.26 → 5.77 (6 is the maximum)
    trainer.dispose();
    policy.dispose();
  });
});

describe('syncRefModel', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });
  it('every refModelSyncSteps steps, reference = α·policy + (1 − α)·reference (float64 reference)', async () => {
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 4, seed: 2 });
    const alpha = 0.6;
    const trainer = new GPRLTrainer({
      policy, reward, prompts: PROMPTS,
      config: { promptsPerStep: 2, numGenerations: 3, maxCompletionLength: 3, eosToken: EOS, learningRate: 0.05, syncRefModel: true, refModelMixupAlpha: alpha, refModelSyncSteps: 2, seed: 1 },
    });
    let ref = trainer.referencePolicy.getWeights();
    for (let step = 1; step <= 4; step++) {
      await trainer.step();
      const p = policy.getWeights();
      const got = trainer.referencePolicy.getWeights();
      if (step % 2 === 0) {
        got.forEach((w, i) => w.values.forEach((v, j) => {
          const want = alpha * p[i]!.values[j]! + (1 - alpha) * ref[i]!.values[j]!;
          // One float32 rounding of the float64 mix: half an ulp, 6e-8 relative.
          expect(Math.abs(v - want)).toBeLessThanOrEqual(6e-8 * Math.abs(want) + 1e-12);
        }));
        // The reference moved: it is not the policy and not the old reference.
        expect(got[0]!.values).not.toEqual(p[0]!.values);
        expect(got[0]!.values).not.toEqual(ref[0]!.values);
      } else {
        got.forEach((w, i) => expect(w.values).toEqual(ref[i]!.values));
      }
      ref = got;
    }
    trainer.dispose();
    policy.dispose();
  });
});

describe('highEntropyMask', () => {
  it("keeps the top 20 % of 10 unmasked tokens at topEntropyQuantile 0.2 (TRL's test case: threshold 1 − 0.2)", () => {
    const ent = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 5, 6]);
    const mask = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(highEntropyMask(ent, mask, 0.2))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(highEntropyMask(ent, mask, 0.8))).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(highEntropyMask(ent, mask, 1))).toEqual(Array.from(mask));
    expect(Array.from(highEntropyMask(ent, mask, 0))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(Array.from(highEntropyMask(ent, new Uint8Array(12), 0.5))).toEqual(new Array(12).fill(0));
  });
  it('matches the torch.quantile definition on random entropies', () => {
    const ent = Float32Array.from({ length: 97 }, (_, i) => Math.abs(Math.sin(i * 12.9898) * 43758.5453) % 3);
    const mask = Uint8Array.from({ length: 97 }, (_, i) => (i % 4 === 0 ? 0 : 1));
    for (const q of [0.05, 0.2, 0.5, 0.77, 0.99]) {
      expect(Array.from(highEntropyMask(ent, mask, q))).toEqual(Array.from(entropyMaskRef(ent, Float32Array.from(mask), q)));
    }
  });
});

describe('TRL option names and validation', () => {
  it('maps batch sizes: promptsPerStep, its alias batchSize, and TRL’s generationBatchSize (completions)', () => {
    expect(resolveTrainerConfig({ promptsPerStep: 3 }).promptsPerStep).toBe(3);
    expect(resolveTrainerConfig({ batchSize: 5 }).promptsPerStep).toBe(5);
    expect(resolveTrainerConfig({ generationBatchSize: 24, numGenerations: 6 }).promptsPerStep).toBe(4);
    expect(resolveTrainerConfig({ batchSize: 4, promptsPerStep: 4 }).promptsPerStep).toBe(4);
    expect(() => resolveTrainerConfig({ generationBatchSize: 20, numGenerations: 6 })).toThrow(
      /gprl: invalid config\.generationBatchSize: expected a multiple of numGenerations \(6\), got 20/,
    );
    expect(() => resolveTrainerConfig({ promptsPerStep: 4, batchSize: 8 })).toThrow(/config\.batchSize: expected the same number of prompts per step as config\.promptsPerStep \(4\)/);
    expect(() => resolveTrainerConfig({ promptsPerStep: 0 })).toThrow(/config\.promptsPerStep/);
    expect('batchSize' in resolveTrainerConfig({ batchSize: 2 })).toBe(false);
  });

  it('suggests the name: did-you-mean, and TRL’s snake_case names', () => {
    expect(() => resolveTrainerConfig({ promptPerStep: 2 })).toThrow(/config\.promptPerStep: expected a known option \(did you mean promptsPerStep\?\)/);
    expect(() => resolveTrainerConfig({ importanceSampling: 'sequence' })).toThrow(/did you mean importanceSamplingLevel\?/);
    expect(() => resolveTrainerConfig({ loss_type: 'dapo' })).toThrow(/config\.loss_type: expected a known option \(TRL's loss_type is lossType here\)/);
    expect(() => resolveTrainerConfig({ per_device_train_batch_size: 8 })).toThrow(/promptsPerStep \(prompts\) or generationBatchSize \(completions\)/);
  });

  it('loss types: TRL names, aliases resolved, defaults stated', () => {
    for (const t of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'sapo'] as const) expect(resolveTrainerConfig({ lossType: t }).lossType).toBe(t);
    expect(resolveTrainerConfig({ lossType: 'cispo', epsilonHigh: 5 }).lossType).toBe('cispo');
    expect(resolveTrainerConfig({ lossType: 'sequence-mean' }).lossType).toBe('grpo');
    expect(resolveTrainerConfig({ lossType: 'token-mean' }).lossType).toBe('bnpo');
    expect(resolveTrainerConfig({ lossType: 'constant' }).lossType).toBe('dr_grpo');
    const d = resolveTrainerConfig({});
    expect([d.lossType, d.importanceSamplingLevel, d.scaleRewards, d.maskTruncatedCompletions, d.topEntropyQuantile, d.entropyCoef]).toEqual(['grpo', 'token', 'group', false, 1, 0]);
    expect([d.syncRefModel, d.refModelMixupAlpha, d.refModelSyncSteps, d.sapoTemperaturePos, d.sapoTemperatureNeg]).toEqual([false, 0.6, 512, 1, 1.05]);
  });

  it('names the option in every error', () => {
    expect(() => resolveTrainerConfig({ lossType: 'cispo' })).toThrow(/config\.epsilonHigh: expected the CISPO ratio cap/);
    expect(() => resolveTrainerConfig({ lossType: 'sapo', dualClip: 3 })).toThrow(/config\.dualClip: expected null with lossType 'sapo'/);
    expect(() => resolveTrainerConfig({ importanceSamplingLevel: 'seq' as 'token' })).toThrow(/config\.importanceSamplingLevel/);
    expect(() => resolveTrainerConfig({ maskTruncatedCompletions: true })).toThrow(/config\.maskTruncatedCompletions: expected false when config\.eosToken is null/);
    expect(() => resolveTrainerConfig({ maskTruncatedCompletions: 1 as unknown as boolean, eosToken: 0 })).toThrow(TypeError);
    expect(() => resolveTrainerConfig({ topEntropyQuantile: 1.5 })).toThrow(/config\.topEntropyQuantile: expected a finite number in \[0, 1\]/);
    expect(() => resolveTrainerConfig({ entropyCoef: -0.1 })).toThrow(/config\.entropyCoef/);
    expect(() => resolveTrainerConfig({ refModelMixupAlpha: 2 })).toThrow(/config\.refModelMixupAlpha/);
    expect(() => resolveTrainerConfig({ refModelSyncSteps: 0.5 })).toThrow(/config\.refModelSyncSteps/);
    expect(() => resolveTrainerConfig({ syncRefModel: 'yes' as unknown as boolean })).toThrow(/config\.syncRefModel/);
    expect(() => resolveTrainerConfig({ sapoTemperatureNeg: 0 })).toThrow(/config\.sapoTemperatureNeg/);
    const policy = new GruPolicy({ vocabSize: 4, hiddenSize: 2 });
    const verifier = () => ({ embeddings: new Float32Array(0) });
    expect(() => new GPRLTrainer({ policy, verifier, prompts: [[1]], config: { scaleRewards: 'batch' } })).toThrow(/config\.scaleRewards: expected 'group' with a verifier/);
    policy.dispose();
  });
});
