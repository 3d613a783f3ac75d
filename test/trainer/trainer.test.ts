import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { describeTf, TEST_TF_BACKENDS } from '../tfBackends.js';
import { Rng } from '../../src/random.js';
import { GruPolicy } from '../../src/policy/gruPolicy.js';
import { drawToken, type LogProbResult, type NamedWeight, type Policy, type SampleOptions, type SampleResult, type Tokens } from '../../src/policy/policy.js';
import { GPRLTrainer, scalarRewardAdvantages, type VerifierFn } from '../../src/trainer/trainer.js';
import { aggregationOf, learningRateAt, resolveTrainerConfig } from '../../src/trainer/config.js';
import type { StepMetrics } from '../../src/trainer/metrics.js';
import { BradleyTerryModel, GeneralPreferenceModel, tokenEncoder } from '../../src/gpm/index.js';

const BACKENDS: TfBackendName[] = TEST_TF_BACKENDS;

/**
 * A context-free categorical policy with one parameter vector θ ∈ R^V: p = softmax(θ), one-token
 * responses. Small enough that the loss gradient and the Adam steps can be written out by hand.
 */
class BanditPolicy implements Policy {
  readonly vocabSize: number;
  private theta: tf.Variable;
  constructor(init: number[]) {
    this.vocabSize = init.length;
    this.theta = tf.variable(tf.tensor1d(init));
  }
  get trainableVariables(): readonly tf.Variable[] {
    return [this.theta];
  }
  probs(): number[] {
    const t = Array.from(this.theta.dataSync());
    const m = Math.max(...t);
    const z = t.reduce((s, x) => s + Math.exp(x - m), 0);
    return t.map((x) => Math.exp(x - m) / z);
  }
  sample(prompts: readonly Tokens[], options: SampleOptions): SampleResult {
    const G = options.groupSize ?? 1, N = prompts.length * G, T = options.maxLength;
    const rng = options.rng ?? new Rng(options.seed ?? 0);
    const lp = Float32Array.from(this.probs().map(Math.log));
    const order = new Int32Array(this.vocabSize);
    const tokens = new Int32Array(N * T), lengths = new Int32Array(N).fill(1), logProbs = new Float32Array(N * T);
    const responses: number[][] = [];
    for (let n = 0; n < N; n++) {
      const a = drawToken(lp, 0, this.vocabSize, 1, rng, order);
      tokens[n * T] = a;
      logProbs[n * T] = lp[a]!;
      responses.push([a]);
    }
    return { groups: prompts.length, groupSize: G, maxLength: T, responses, tokens, lengths, logProbs, entropy: new Float32Array(N * T) };
  }
  logProbs(_prompts: readonly Tokens[], responses: readonly Tokens[], options: { maxLength?: number } = {}): LogProbResult {
    const T = options.maxLength ?? 1, N = responses.length;
    return tf.tidy(() => {
      const lsm = tf.logSoftmax(this.theta) as tf.Tensor1D;
      const rows = responses.map((r) => {
        const row = [tf.sum(tf.mul(lsm, tf.reshape(tf.cast(tf.oneHot(tf.tensor1d([r[0]!], 'int32'), this.vocabSize), 'float32'), [this.vocabSize])))];
        for (let t = 1; t < T; t++) row.push(tf.scalar(0));
        return tf.stack(row);
      });
      const maskRows = new Float32Array(N * T);
      for (let n = 0; n < N; n++) maskRows[n * T] = 1;
      return { logp: tf.stack(rows) as tf.Tensor2D, mask: tf.tensor2d(maskRows, [N, T]), entropy: tf.zeros([N, T]) as tf.Tensor2D };
    });
  }
  clone(): BanditPolicy {
    return new BanditPolicy(Array.from(this.theta.dataSync()));
  }
  getWeights(): NamedWeight[] {
    return [{ name: 'theta', shape: [this.vocabSize], values: Float32Array.from(this.theta.dataSync()) }];
  }
  setWeights(w: readonly NamedWeight[]): void {
    this.theta.assign(tf.tensor1d(w[0]!.values));
  }
  dispose(): void {
    this.theta.dispose();
  }
}

/** A toy k-dimensional verifier: dimension l counts token l+1, plus a length term. */
function toyVerifier(k: number, extra?: (b: number, i: number, e: Float32Array, at: number) => void): VerifierFn {
  return (prompts, groups) => {
    const B = prompts.length, G = groups[0]!.length;
    const e = new Float32Array(B * G * 2 * k);
    groups.forEach((g, b) =>
      g.forEach((r, i) => {
        for (let l = 0; l < k; l++) {
          const at = ((b * G + i) * k + l) * 2;
          e[at] = r.filter((x) => x === l + 1).length + 0.05 * r.length * (l + 1);
          e[at + 1] = 0.5 + 0.1 * l;
        }
        extra?.(b, i, e, ((b * G + i) * k) * 2);
      }),
    );
    const lambdas = new Float32Array(B * k);
    for (let b = 0; b < B; b++) for (let l = 0; l < k; l++) lambdas[b * k + l] = (l + 1 + b) / 10;
    return { embeddings: e, lambdas };
  };
}

const PROMPTS = [[1, 2], [3], [4, 5, 1], [2, 2]];

function withoutTiming(m: StepMetrics): Omit<StepMetrics, 'timing'> {
  const { timing: _t, ...rest } = m;
  return rest;
}

describeTf.each(BACKENDS)('GPRLTrainer on tfjs %s', (backend) => {
  let dir: string;
  beforeAll(async () => {
    await setTfBackend(backend);
    dir = mkdtempSync(path.join(tmpdir(), 'gprl-trainer-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('with k = 1 and Bradley-Terry embeddings e = [r, c] it takes exactly the GRPO step', async () => {
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 4 });
    const initial = policy.clone();
    const reward = (r: readonly number[]): number => r.filter((x) => x === 2).length + 0.3 * r.filter((x) => x === 5).length;
    const c = 0.7;
    const verifier: VerifierFn = (prompts, groups) => {
      const G = groups[0]!.length;
      const e = new Float32Array(prompts.length * G * 2);
      groups.forEach((g, b) => g.forEach((r, i) => {
        e[(b * G + i) * 2] = reward(r);
        e[(b * G + i) * 2 + 1] = c;
      }));
      return { embeddings: e, lambdas: new Float32Array(prompts.length).fill(1) };
    };
    const lr = 0.05, beta = 0.04;
    const trainer = new GPRLTrainer({
      policy,
      verifier,
      prompts: PROMPTS,
      // ε = 0 in the normalization: GPRL's ŝ is r − r̄ scaled by c·G/(G−1), which the z-score removes exactly.
      config: { batchSize: 3, numGenerations: 5, maxCompletionLength: 5, optimizer: 'sgd', learningRate: lr, maxGradNorm: null,
        advantageEpsilon: 0, drift: false, beta, lossType: 'grpo', seed: 3 },
    });
    await trainer.step();
    const ro = trainer.lastRollout!;
    const B = 3, G = 5, T = 5, N = 15;
    // Independent GRPO advantages in float64 from the scalar rewards (unbiased std, TRL).
    const adv = new Float64Array(N);
    for (let b = 0; b < B; b++) {
      const r = ro.sample.responses.slice(b * G, b * G + G).map(reward);
      const mean = r.reduce((s, x) => s + x, 0) / G;
      const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / (G - 1));
      r.forEach((x, i) => (adv[b * G + i] = sd > 1e-6 ? (x - mean) / sd : 0));
    }
    expect(adv.some((a) => a !== 0)).toBe(true);
    for (let n = 0; n < N; n++) expect(ro.advantages[n]!).toBeCloseTo(adv[n]!, 5);
    // Independent GRPO loss from tfjs ops on the initial weights: −min(ρA, clip(ρ)A) + β·k3, sequence-mean.
    const expanded = ro.prompts.flatMap((p) => Array.from({ length: G }, () => p));
    const oldValues = tf.tidy(() => initial.logProbs(expanded, ro.sample.responses, { maxLength: T }).logp.dataSync() as Float32Array);
    const { grads } = tf.variableGrads(() => {
      const r = initial.logProbs(expanded, ro.sample.responses, { maxLength: T });
      const old = tf.tensor2d(oldValues, [N, T]);
      const ratio = tf.exp(tf.sub(r.logp, old));
      const A = tf.tensor2d(Float32Array.from(adv), [N, 1]);
      const surrogate = tf.neg(tf.minimum(tf.mul(ratio, A), tf.mul(tf.clipByValue(ratio, 0.8, 1.2), A)));
      const delta = tf.sub(old, r.logp);
      const k3 = tf.sub(tf.sub(tf.exp(delta), delta), 1);
      const perTok = tf.mul(tf.add(surrogate, tf.mul(k3, beta)), r.mask);
      const perSeq = tf.div(tf.sum(perTok, 1), tf.sum(r.mask, 1));
      return tf.mean(perSeq) as tf.Scalar;
    }, initial.trainableVariables as tf.Variable[]);
    const before = initial.getWeights();
    const after = policy.getWeights();
    initial.trainableVariables.forEach((v, i) => {
      const g = grads[v.name]!.dataSync();
      const b = before[i]!.values, a = after[i]!.values;
      let scale = 0;
      for (let j = 0; j < g.length; j++) scale = Math.max(scale, Math.abs(lr * g[j]!));
      // float32 gradients: agreement to ~1e-5 of the largest update entry, plus the float32 rounding of
      // the stored weights themselves (2 ulp of |θ|, 2^-23 relative each).
      for (let j = 0; j < g.length; j++) {
        const tol = 1e-5 * scale + 2 * 2 ** -23 * Math.max(Math.abs(a[j]!), Math.abs(b[j]!));
        expect(Math.abs(a[j]! - b[j]! - -lr * g[j]!)).toBeLessThanOrEqual(tol);
      }
    });
    tf.dispose(Object.values(grads));
    trainer.dispose();
    initial.dispose();
    policy.dispose();
  });

  it('Adam: two hand-derived update steps on a bandit policy, and no tensor growth', async () => {
    const theta0 = [0.3, -0.2, 0.1, 0.5];
    const policy = new BanditPolicy(theta0);
    const lr = 0.05, beta = 0.1, b1 = 0.9, b2 = 0.999, aeps = 1e-8, eps = 1e-4;
    const trainer = new GPRLTrainer({
      policy,
      reward: (_p, r) => [1, 0, 3, 2][r[0]!]!,
      prompts: [[0]],
      config: { batchSize: 1, numGenerations: 6, maxCompletionLength: 1, learningRate: lr, beta, adamBeta1: b1, adamBeta2: b2,
        adamEpsilon: aeps, advantageEpsilon: eps, maxGradNorm: null, lossType: 'bnpo', seed: 8 },
    });
    let theta = theta0.slice();
    const m = [0, 0, 0, 0], v = [0, 0, 0, 0];
    let tensorsAfterFirst = 0;
    for (let step = 1; step <= 3; step++) {
      await trainer.step();
      if (step === 1) tensorsAfterFirst = tf.memory().numTensors;
      if (step === 3) break;
      const ro = trainer.lastRollout!;
      const a = ro.sample.responses.map((r) => r[0]!);
      const r = a.map((x) => [1, 0, 3, 2][x]!);
      const mean = r.reduce((s, x) => s + x, 0) / 6;
      const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / 5);
      const A = r.map((x) => (sd > 1e-6 ? (x - mean) / (sd + eps) : 0));
      const mx = Math.max(...theta);
      const z = theta.reduce((s, x) => s + Math.exp(x - mx), 0);
      const p = theta.map((x) => Math.exp(x - mx) / z);
      const logp = (th: number[], tok: number): number => {
        const mm = Math.max(...th);
        return th[tok]! - mm - Math.log(th.reduce((s, x) => s + Math.exp(x - mm), 0));
      };
      // L = 1/N Σ [−A_i·ρ_i + β(e^δ − δ − 1)], δ = logp_ref − logp, ρ = 1 at the update:
      // ∂L/∂θ = 1/N Σ [−A_i + β(1 − e^{δ_i})]·(onehot(a_i) − p).
      const g = [0, 0, 0, 0];
      a.forEach((tok, i) => {
        const delta = logp(theta0, tok) - logp(theta, tok);
        const coef = (-A[i]! + beta * (1 - Math.exp(delta))) / 6;
        for (let j = 0; j < 4; j++) g[j]! += coef * ((j === tok ? 1 : 0) - p[j]!);
      });
      theta = theta.map((th, j) => {
        m[j] = b1 * m[j]! + (1 - b1) * g[j]!;
        v[j] = b2 * v[j]! + (1 - b2) * g[j]! ** 2;
        const mh = m[j]! / (1 - b1 ** step), vh = v[j]! / (1 - b2 ** step);
        return th - (lr * mh) / (Math.sqrt(vh) + aeps);
      });
      const got = policy.getWeights()[0]!.values;
      // Adam steps are ~lr in size; float32 state: 1e-6 absolute.
      theta.forEach((th, j) => expect(Math.abs(got[j]! - th)).toBeLessThan(1e-6));
      expect(Math.abs(got[0]! - theta0[0]!)).toBeGreaterThan(1e-3);
    }
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    trainer.dispose();
    policy.dispose();
  });

  it('clips the global gradient norm to maxGradNorm (SGD, hand-derived)', async () => {
    const theta0 = [0.3, -0.2, 0.1, 0.5];
    const policy = new BanditPolicy(theta0);
    const maxGradNorm = 1e-3, lr = 2;
    const trainer = new GPRLTrainer({ policy, reward: (_p, r) => r[0]!, prompts: [[0]],
      config: { batchSize: 1, numGenerations: 8, maxCompletionLength: 1, optimizer: 'sgd', learningRate: lr, maxGradNorm, beta: 0, lossType: 'bnpo', seed: 3 } });
    const [m] = await trainer.train(1);
    const a = trainer.lastRollout!.sample.responses.map((r) => r[0]!);
    const mean = a.reduce((x, y) => x + y, 0) / 8;
    const sd = Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / 7);
    const mx = Math.max(...theta0);
    const z = theta0.reduce((x, t) => x + Math.exp(t - mx), 0);
    const p = theta0.map((t) => Math.exp(t - mx) / z);
    // ∂L/∂θ = 1/N Σ −A_i (onehot(a_i) − p); then g ← g·c/‖g‖ when ‖g‖ > c; θ ← θ − lr·g.
    const g = [0, 0, 0, 0];
    a.forEach((tok) => {
      const A = (tok - mean) / (sd + 1e-4);
      for (let j = 0; j < 4; j++) g[j]! += (-A * ((j === tok ? 1 : 0) - p[j]!)) / 8;
    });
    const norm = Math.hypot(...g);
    expect(m!.gradNorm).toBeCloseTo(norm, 6);
    expect(norm).toBeGreaterThan(maxGradNorm);
    const got = policy.getWeights()[0]!.values;
    // Steps of lr·c = 2e-3 on O(1) weights: float32 rounding ~1e-7.
    theta0.forEach((t, j) => expect(Math.abs(got[j]! - (t - (lr * g[j]! * maxGradNorm) / norm))).toBeLessThan(3e-7));
    trainer.dispose();
    policy.dispose();
  });

  it('is reproducible: the same seed gives identical metrics; non-finite verifier outputs are masked and counted', async () => {
    const run = async (seed: number): Promise<Omit<StepMetrics, 'timing'>[]> => {
      const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 1 });
      // Response 1 of every group gets a NaN embedding.
      const verifier = toyVerifier(2, (_b, i, e, at) => {
        if (i === 1) e[at] = Number.NaN;
      });
      const trainer = new GPRLTrainer({ policy, verifier, prompts: PROMPTS,
        config: { batchSize: 2, numGenerations: 4, maxCompletionLength: 4, learningRate: 0.02, numIterations: 2, seed, drift: { warmupSteps: 2 } } });
      const out = [withoutTiming(await trainer.step())];
      const tensors = tf.memory().numTensors; // after the first step has created Adam's slots
      for (let i = 0; i < 2; i++) out.push(withoutTiming(await trainer.step()));
      expect(tf.memory().numTensors).toBe(tensors);
      const ro = trainer.lastRollout!;
      expect(ro.advantages[1]).toBe(0);
      expect(ro.valid[1]).toBe(0);
      expect(policy.getWeights().every((w) => w.values.every(Number.isFinite))).toBe(true);
      trainer.dispose();
      policy.dispose();
      return out;
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const m of a) {
      expect(m.maskedResponses).toBe(2);
      expect(m.dims).toBe(2);
      expect(m.dimWeights).toHaveLength(2);
      expect(m.alpha).toHaveLength(2);
      expect(m.dimContribution.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 6);
      expect(Number.isFinite(m.loss)).toBe(true);
    }
  });

  it('resumes: N steps straight equal N/2 + save + resume + N/2; an interrupted save keeps the previous checkpoint', async () => {
    const config = { batchSize: 2, numGenerations: 4, maxCompletionLength: 4, learningRate: 0.02, seed: 2, maxSteps: 4,
      lrSchedulerType: 'cosine' as const, warmupSteps: 1, drift: { warmupSteps: 1 } };
    const verifier = toyVerifier(3);
    const straightPolicy = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 1 });
    const straight = new GPRLTrainer({ policy: straightPolicy, verifier, prompts: PROMPTS.slice(0, 3), config });
    const full = (await straight.train()).map(withoutTiming);
    expect(full).toHaveLength(4);

    const first = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 1 });
    const t1 = new GPRLTrainer({ policy: first, verifier, prompts: PROMPTS.slice(0, 3), config });
    await t1.train(2);
    const ckdir = path.join(dir, `ck-${backend}`);
    await t1.save(ckdir);
    // A later save that dies after writing its files must leave the step-2 checkpoint current.
    await t1.step();
    await expect(t1.save(ckdir, { beforeCommit: () => { throw new Error('killed'); } })).rejects.toThrow('killed');
    t1.dispose();
    first.dispose();

    const resumed = await GPRLTrainer.resume(ckdir, {
      policy: () => new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 99 }),
      verifier,
      prompts: PROMPTS.slice(0, 3),
    });
    expect(resumed.globalStep).toBe(2);
    await expect(GPRLTrainer.resume(ckdir, { policy: first, verifier, prompts: PROMPTS.slice(0, 1) })).rejects.toThrow(/options\.prompts/);
    const rest = (await resumed.train()).map(withoutTiming);
    expect(rest).toHaveLength(2);
    // Same samples (same RNG stream and weights), metrics equal to float32 tolerance (Adam's β^t is
    // recomputed with pow() on resume instead of accumulated by products: ~1 ulp).
    for (let i = 0; i < 2; i++) {
      const a = full[i + 2]!, b = rest[i]!;
      expect(b.step).toBe(a.step);
      expect(b.responseLength).toBe(a.responseLength);
      expect(b.learningRate).toBeCloseTo(a.learningRate, 12);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.kl).toBeCloseTo(a.kl, 5);
      b.dimWeights.forEach((w, l) => expect(w).toBeCloseTo(a.dimWeights[l]!, 5));
    }
    const wa = straightPolicy.getWeights(), wb = resumed.policy.getWeights();
    wa.forEach((w, i) => w.values.forEach((x, j) => expect(Math.abs(x - wb[i]!.values[j]!)).toBeLessThan(1e-5)));
    resumed.dispose();
    resumed.policy.dispose();
    straight.dispose();
    straightPolicy.dispose();
  });

  it('trains against GeneralPreferenceModel and BradleyTerryModel verifiers', async () => {
    const config = { batchSize: 2, numGenerations: 3, maxCompletionLength: 3, seed: 1 };
    const gpm = new GeneralPreferenceModel({ encoder: tokenEncoder({ vocabSize: 6, embeddingDim: 4, hiddenDim: 4, seed: 2 }), dims: 3, seed: 2 });
    const bt = new BradleyTerryModel({ encoder: tokenEncoder({ vocabSize: 6, embeddingDim: 4, hiddenDim: 4, seed: 3 }), seed: 3 });
    for (const verifier of [gpm, bt]) {
      const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 4, seed: 1 });
      const events: string[] = [];
      const trainer = new GPRLTrainer({ policy, verifier, prompts: PROMPTS, config, onEvent: (e) => events.push(e.kind) });
      const [m] = await trainer.train(1);
      expect(m!.dims).toBe(verifier.dims);
      expect(m!.maskedResponses).toBe(0);
      const ro = trainer.lastRollout!;
      if (verifier === bt) {
        const groups = [0, 1].map((b) => ro.sample.responses.slice(b * 3, b * 3 + 3));
        const r = bt.verifierOutputs(ro.prompts, groups).rewards!;
        expect(m!.rewardMean).toBeCloseTo(r.reduce((a, x) => a + x, 0) / r.length, 5);
      } else {
        expect(m!.rewardMean).toBeNull();
      }
      expect(events).toEqual(m!.events);
      trainer.dispose();
      policy.dispose();
    }
    gpm.dispose();
    bt.dispose();
  });

  it('masks and counts responses whose reference log-probs are not finite', async () => {
    /** A reference policy whose log-probs are NaN for every response containing token 5. */
    class BrokenReference extends GruPolicy {
      override logProbs(prompts: readonly Tokens[], responses: readonly Tokens[], options?: { temperature?: number; maxLength?: number }): LogProbResult {
        const r = super.logProbs(prompts, responses, options);
        const bad = tf.tensor2d(responses.map((x) => (x.includes(5) ? 1 : 0)), [responses.length, 1]);
        const logp = tf.where(tf.cast(tf.mul(bad, r.mask), 'bool'), tf.fill(r.logp.shape, Number.NaN), r.logp) as tf.Tensor2D;
        tf.dispose([bad, r.logp]);
        return { ...r, logp };
      }
    }
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 4, seed: 1 });
    const reference = new BrokenReference({ vocabSize: 6, hiddenSize: 4, seed: 1 });
    const trainer = new GPRLTrainer({ policy, referencePolicy: reference, verifier: toyVerifier(2), prompts: PROMPTS,
      config: { batchSize: 2, numGenerations: 4, maxCompletionLength: 4, seed: 4 } });
    const [m] = await trainer.train(1);
    const ro = trainer.lastRollout!;
    const broken = ro.sample.responses.map((r) => r.includes(5));
    const nBroken = broken.filter(Boolean).length;
    expect(nBroken).toBeGreaterThan(0);
    expect(nBroken).toBeLessThan(8);
    expect(m!.nonFiniteLogProbs).toBe(nBroken);
    expect(m!.maskedResponses).toBe(nBroken);
    broken.forEach((b, n) => {
      expect(ro.valid[n]).toBe(b ? 0 : 1);
      if (b) expect(ro.advantages[n]).toBe(0);
    });
    expect(Number.isFinite(m!.loss)).toBe(true);
    expect(Number.isFinite(m!.kl)).toBe(true);
    expect(policy.getWeights().every((w) => w.values.every(Number.isFinite))).toBe(true);
    trainer.dispose();
    reference.dispose();
    policy.dispose();
  });

  it('scores fixed reference responses for the drift monitor (referenceResponses)', async () => {
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 4, seed: 2 });
    const inner = toyVerifier(2);
    const seen: (readonly (readonly number[])[])[][] = [];
    const verifier: VerifierFn = (prompts, groups) => {
      seen.push(groups.map((g) => g.map((r) => [...r])));
      return inner(prompts, groups);
    };
    const trainer = new GPRLTrainer({ policy, verifier, prompts: PROMPTS, referenceResponses: 'initial',
      config: { batchSize: 2, numGenerations: 3, maxCompletionLength: 4, seed: 1 } });
    const [m] = await trainer.train(1);
    const ro = trainer.lastRollout!;
    const groups = seen[0]!;
    expect(groups.map((g) => g.length)).toEqual([4, 4]);
    groups.forEach((g, b) => {
      // The extra response is the reference policy's greedy decode of the prompt.
      const greedy = trainer.referencePolicy.sample([ro.prompts[b]!], { maxLength: 4, topP: 1e-9 }).responses[0];
      expect(g[3]).toEqual(greedy);
      expect(g.slice(0, 3)).toEqual(ro.sample.responses.slice(b * 3, b * 3 + 3));
    });
    // Independent mean of s_l(i, ref) = a_l(i)·b_l(ref) − b_l(i)·a_l(ref) over the 6 samples.
    const e = (await inner(ro.prompts, groups)).embeddings;
    const want = [0, 1].map((l) => {
      let sum = 0;
      for (let b = 0; b < 2; b++) for (let i = 0; i < 3; i++) {
        const x = ((b * 4 + i) * 2 + l) * 2, r = ((b * 4 + 3) * 2 + l) * 2;
        sum += e[x]! * e[r + 1]! - e[x + 1]! * e[r]!;
      }
      return sum / 6;
    });
    m!.referenceScores!.forEach((v, l) => expect(v).toBeCloseTo(want[l]!, 5));
    expect(m!.dims).toBe(2);
    trainer.dispose();
    policy.dispose();
  });

  it('writes one JSON line per step and calls onStep', async () => {
    const file = path.join(dir, `metrics-${backend}.jsonl`);
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 4, seed: 1 });
    const seen: number[] = [];
    const trainer = new GPRLTrainer({ policy, reward: (_p, r) => r.length, prompts: PROMPTS,
      onStep: (m) => seen.push(m.step),
      config: { batchSize: 2, numGenerations: 3, maxCompletionLength: 3, eosToken: 0, metricsPath: file, scaleRewards: 'none' } });
    await trainer.train(2);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepMetrics);
    expect(lines.map((l) => l.step)).toEqual([1, 2]);
    expect(seen).toEqual([1, 2]);
    expect(lines[0]!.timing.stepMs).toBeGreaterThan(0);
    expect(lines[0]!.rewardMean).toBeCloseTo(lines[0]!.responseLength, 5);
    trainer.dispose();
    await expect(trainer.step()).rejects.toThrow(/disposed/);
    policy.dispose();
  });
});

describe('trainer configuration', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });

  it('validates options with named errors', () => {
    expect(() => resolveTrainerConfig({ numGenerations: 0 })).toThrow(/config\.numGenerations/);
    expect(() => resolveTrainerConfig({ lossType: 'ppo' })).toThrow(/config\.lossType/);
    expect(() => resolveTrainerConfig({ learningRte: 1 })).toThrow(/config\.learningRte/);
    expect(() => resolveTrainerConfig({ drift: { dims: 2 } })).toThrow(/config\.drift/);
    expect(() => resolveTrainerConfig({ epsilon: 1.5 })).toThrow(RangeError);
    expect(resolveTrainerConfig({}).lossType).toBe('grpo');
  });

  it('learning-rate schedules follow the Hugging Face formulas', () => {
    const c = resolveTrainerConfig({ learningRate: 1, maxSteps: 10, warmupSteps: 2, lrSchedulerType: 'cosine' });
    expect(learningRateAt(c, 0)).toBe(0);
    expect(learningRateAt(c, 1)).toBe(0.5);
    expect(learningRateAt(c, 2)).toBe(1);
    expect(learningRateAt(c, 6)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(c, 10)).toBeCloseTo(0, 12);
    const l = resolveTrainerConfig({ learningRate: 1, maxSteps: 10, warmupRatio: 0.2, lrSchedulerType: 'linear' });
    expect(learningRateAt(l, 6)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(l, 12)).toBe(0);
  });

  it('maps TRL loss types to aggregations', () => {
    expect(aggregationOf('grpo')).toBe('sequence-mean');
    expect(aggregationOf('bnpo')).toBe('token-mean');
    expect(aggregationOf('dr_grpo')).toBe('constant');
    expect(aggregationOf('token-mean')).toBe('token-mean');
  });

  it('scales scalar rewards per group, per batch or not at all (float64 reference)', () => {
    const r = Float32Array.from([1, 2, 4, 0.5, 3, 3, 7, -1]);
    const valid = Uint8Array.from([1, 1, 1, 1, 1, 0, 1, 1]);
    const B = 2, G = 4, eps = 1e-4;
    const groups = [[0, 1, 2, 3], [4, 6, 7]];
    const means = groups.map((g) => g.reduce((s, i) => s + r[i]!, 0) / g.length);
    const sdUnbiased = (xs: number[]): number => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
    };
    const all = [0, 1, 2, 3, 4, 6, 7].map((i) => r[i]!);
    const expectAdv = (got: Float32Array, f: (i: number, b: number) => number): void => {
      groups.forEach((g, b) => g.forEach((i) => expect(got[i]!).toBeCloseTo(f(i, b), 5)));
      expect(got[5]).toBe(0);
    };
    expectAdv(scalarRewardAdvantages(r, valid, B, G, 'none', eps, 'unbiased').advantages, (i, b) => r[i]! - means[b]!);
    expectAdv(scalarRewardAdvantages(r, valid, B, G, 'batch', eps, 'unbiased').advantages, (i, b) => (r[i]! - means[b]!) / (sdUnbiased(all) + eps));
    expectAdv(scalarRewardAdvantages(r, valid, B, G, 'group', eps, 'unbiased').advantages,
      (i, b) => (r[i]! - means[b]!) / (sdUnbiased(groups[b]!.map((j) => r[j]!)) + eps));
  });

  it('needs exactly one of verifier and reward', () => {
    const policy = new GruPolicy({ vocabSize: 4, hiddenSize: 2 });
    expect(() => new GPRLTrainer({ policy, prompts: [[1]] })).toThrow(/verifier and reward/);
    expect(() => new GPRLTrainer({ policy, prompts: [[9]], reward: () => 1 })).toThrow(/options\.prompts\[0\]\[0\]/);
    expect(() => new GPRLTrainer({ policy, prompts: [[1]], reward: () => 1, config: { eosToken: 4 } })).toThrow(/config\.eosToken/);
    policy.dispose();
  });
});
