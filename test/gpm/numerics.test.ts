/**
 * GPM numerics against float64 references: embeddings, eigenvalues, scores, preference matrices,
 * the loss and its gradient (central finite differences of the float64 loss), and the
 * Bradley-Terry ↔ GRPO reduction. Every tfjs test runs on `cpu` and `wasm`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setTfBackend, tf } from '../../src/tf.js';
import { describeTf, TEST_TF_BACKENDS } from '../tfBackends.js';
import { Rng } from '../../src/random.js';
import { gprlAdvantages } from '../../src/kernels/gprlAdvantages.js';
import {
  BradleyTerryModel,
  GeneralPreferenceModel,
  computeLossAndGradients,
  featureEncoder,
  tokenEncoder,
  type PreferencePair,
  type PreferenceModel,
} from '../../src/gpm/index.js';
import {
  expectClose,
  negLogSigmoid,
  randomMatrix,
  refEmbed,
  refLambda,
  refTokenFeatures,
  sigmoid,
  skew,
  weightsOf,
  type RefHead,
  type RefTokenEncoder,
} from './reference.js';

// float32 forward passes against float64 references: a few float32 roundings of O(1) values, then
// (for probabilities) a division by τ = 0.1; 1e-5 relative plus a 1e-6 absolute floor for values
// near 0 covers it with margin, and still fails on any formula error (sign, order, scaling).
const RTOL = 1e-5;
const ATOL = 1e-6;

function refHeadOf(model: GeneralPreferenceModel): RefHead {
  const w = weightsOf(model.variables());
  const c = model.head.config;
  const head: RefHead = { value: w.get('head.value')!.data, d: c.inputDim, k: c.dims, gate: c.gate, l2Normalize: c.l2Normalize };
  if (c.gate !== 'none') head.prompt = w.get('head.prompt')!.data;
  return head;
}

function refTokenEncoderOf(model: PreferenceModel): RefTokenEncoder {
  const w = weightsOf(model.variables());
  const cfg = model.encoder.config as { embeddingDim: number; hiddenDim: number; pooling: 'mean' | 'attention'; activation: 'tanh' | 'gelu' };
  const enc: RefTokenEncoder = {
    emb: w.get('encoder.tokenEmbedding')!.data,
    seg: w.get('encoder.segmentEmbedding')!.data,
    kernel: w.get('encoder.dense.kernel')!.data,
    bias: w.get('encoder.dense.bias')!.data,
    E: cfg.embeddingDim,
    H: cfg.hiddenDim,
    pooling: cfg.pooling,
    activation: cfg.activation,
  };
  if (cfg.pooling === 'attention') enc.query = w.get('encoder.poolQuery')!.data;
  return enc;
}

/** Float64 loss of a GPM with a feature encoder, as a function of its weights. */
function refGpmLoss(head: RefHead, pairs: PreferencePair[], tau: number, margin: number): number {
  let total = 0;
  for (const p of pairs) {
    const s = skew(refEmbed(head, Array.from(p.chosen)), refEmbed(head, Array.from(p.rejected)), refLambda(head, Array.from(p.prompt)));
    const y = p.label ?? 1;
    total += y * negLogSigmoid((s - margin) / tau) + (1 - y) * negLogSigmoid((-s - margin) / tau);
  }
  return total / pairs.length;
}

function randomPairs(rng: Rng, n: number, d: number, soft: boolean): PreferencePair[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: Array.from({ length: d }, () => rng.normal()),
    chosen: Array.from({ length: d }, () => rng.normal()),
    rejected: Array.from({ length: d }, () => rng.normal()),
    ...(soft ? { label: [0.9, 0.3, 1, 0, 0.5, 0.7][i % 6]! } : {}),
  }));
}

/** Central differences of `f` over every entry of `w`, in float64. */
function finiteDifferences(w: number[], f: (w: number[]) => number, h = 1e-6): number[] {
  return w.map((_, i) => {
    const plus = [...w];
    const minus = [...w];
    plus[i]! += h;
    minus[i]! -= h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}

describeTf.each(TEST_TF_BACKENDS)('GPM numerics on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  it.each([
    ['softmax', true],
    ['scaled-softmax', true],
    ['none', false],
  ] as const)('feature GPM (gate %s, l2Normalize %s): embeddings, λ, scores, probabilities and preference matrix match float64', (gate, l2Normalize) => {
    const rng = new Rng(11);
    const d = 5;
    const k = 3;
    const model = new GeneralPreferenceModel({ encoder: featureEncoder(d), dims: k, gate, l2Normalize, seed: 3 });
    const head = refHeadOf(model);
    const prompts = randomMatrix(rng, 4, d);
    const responses = randomMatrix(rng, 4, d);
    const others = randomMatrix(rng, 4, d);

    const emb = model.embed(prompts, responses);
    expectClose(emb, responses.flatMap((r) => refEmbed(head, r)), RTOL, ATOL, 'embeddings');
    const lam = model.eigenvalues(prompts);
    expectClose(lam, prompts.flatMap((p) => refLambda(head, p)), RTOL, ATOL, 'eigenvalues');
    if (gate === 'softmax') for (let b = 0; b < 4; b++) expect(lam.slice(b * k, b * k + k).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
    if (gate === 'scaled-softmax') for (let b = 0; b < 4; b++) expect(lam.slice(b * k, b * k + k).reduce((a, v) => a + v, 0)).toBeCloseTo(k, 5);

    const want = prompts.map((p, i) => skew(refEmbed(head, responses[i]!), refEmbed(head, others[i]!), refLambda(head, p)));
    expectClose(model.scores(prompts, responses, others), want, RTOL, ATOL, 'scores');
    expectClose(model.scores(prompts, others, responses), want.map((v) => -v), RTOL, ATOL, 'skew symmetry');
    expect(model.score(prompts[0]!, responses[0]!, responses[0]!)).toBe(0);
    expectClose(model.probabilities(prompts, responses, others), want.map((s) => sigmoid(s / 0.1)), RTOL, ATOL, 'probabilities');

    const group = [responses[0]!, responses[1]!, others[2]!, others[3]!];
    const P = model.preferenceMatrix({ prompt: prompts[1]!, responses: group });
    const lam1 = refLambda(head, prompts[1]!);
    const wantP = group.flatMap((ri) => group.map((rj) => sigmoid(skew(refEmbed(head, ri), refEmbed(head, rj), lam1) / 0.1)));
    expectClose(P, wantP, RTOL, ATOL, 'preference matrix');
    model.dispose();
  });

  it.each([
    ['mean', 'tanh'],
    ['attention', 'gelu'],
  ] as const)('token GPM (%s pooling, %s): joint h(x,y) and prompt-only h(x) match float64', (pooling, activation) => {
    const model = new GeneralPreferenceModel({
      encoder: tokenEncoder({ vocabSize: 11, embeddingDim: 6, hiddenDim: 5, pooling, activation, seed: 4 }),
      dims: 2,
      seed: 5,
    });
    const enc = refTokenEncoderOf(model);
    const head = refHeadOf(model);
    const prompts = [[1, 2, 3], [4], [10, 0, 0, 7]];
    const a = [[5, 6], [7, 8, 9, 1, 2], [3]];
    const b = [[2], [], [0, 1, 2, 3, 4, 5]]; // an empty response is encoded after its prompt
    const feat = (p: number[], r: number[]): number[] => refTokenFeatures(enc, [...p, ...r], p.length);
    const pf = (p: number[]): number[] => refTokenFeatures(enc, p, p.length);
    expectClose(model.embed(prompts, a), prompts.flatMap((p, i) => refEmbed(head, feat(p, a[i]!))), RTOL, ATOL, 'embeddings');
    expectClose(model.eigenvalues(prompts), prompts.flatMap((p) => refLambda(head, pf(p))), RTOL, ATOL, 'eigenvalues');
    const want = prompts.map((p, i) => skew(refEmbed(head, feat(p, a[i]!)), refEmbed(head, feat(p, b[i]!)), refLambda(head, pf(p))));
    expectClose(model.scores(prompts, a, b), want, RTOL, ATOL, 'scores');
    // The training path (one-hot products instead of gather) computes the same scores.
    const s = model.pairScores(prompts, a, b, true);
    expectClose(s.dataSync(), want, RTOL, ATOL, 'training-path scores');
    s.dispose();
    model.dispose();
  });

  it('loss gradient of a feature GPM (soft labels, margin) matches central differences of the float64 loss', () => {
    const rng = new Rng(21);
    const d = 4;
    const k = 2;
    const tau = 0.5;
    const margin = 0.05;
    const model = new GeneralPreferenceModel({ encoder: featureEncoder(d), dims: k, tau, seed: 8 });
    const pairs = randomPairs(rng, 6, d, true);
    const head = refHeadOf(model);
    const { loss, gradients } = computeLossAndGradients(model, pairs, { margin });
    expect(loss).toBeCloseTo(refGpmLoss(head, pairs, tau, margin), 5);
    // Float64 central differences (h = 1e-6) are accurate to ~1e-9; the float32 backward pass to a few
    // 1e-7 relative per operation, amplified by 1/τ: 1e-4 relative of each gradient plus 1e-5 of the
    // largest entry absolute.
    const fdValue = finiteDifferences(head.value, (w) => refGpmLoss({ ...head, value: w }, pairs, tau, margin));
    const fdPrompt = finiteDifferences(head.prompt!, (w) => refGpmLoss({ ...head, prompt: w }, pairs, tau, margin));
    const scale = Math.max(...fdValue.map(Math.abs), ...fdPrompt.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    expectClose(gradients.get('head.value')!, fdValue, 1e-4, 1e-5 * scale, 'dL/dW_v');
    expectClose(gradients.get('head.prompt')!, fdPrompt, 1e-4, 1e-5 * scale, 'dL/dW_λ');
    model.dispose();
  });

  it('loss gradient through the token encoder (attention pooling, gelu) matches central differences', () => {
    const tau = 0.5;
    const model = new GeneralPreferenceModel({
      encoder: tokenEncoder({ vocabSize: 6, embeddingDim: 3, hiddenDim: 3, pooling: 'attention', activation: 'gelu', seed: 1 }),
      dims: 1,
      tau,
      seed: 2,
    });
    const pairs: PreferencePair[] = [
      { prompt: [1, 2], chosen: [3, 4, 5], rejected: [0] },
      { prompt: [5], chosen: [1], rejected: [2, 2], label: 0.25 },
      { prompt: [0, 3, 4], chosen: [5, 1], rejected: [4] },
    ];
    const enc0 = refTokenEncoderOf(model);
    const head0 = refHeadOf(model);
    const loss = (enc: RefTokenEncoder, head: RefHead): number => {
      let total = 0;
      for (const p of pairs) {
        const pr = Array.from(p.prompt);
        const fc = refTokenFeatures(enc, [...pr, ...Array.from(p.chosen)], pr.length);
        const fr = refTokenFeatures(enc, [...pr, ...Array.from(p.rejected)], pr.length);
        const s = skew(refEmbed(head, fc), refEmbed(head, fr), refLambda(head, refTokenFeatures(enc, pr, pr.length)));
        const y = p.label ?? 1;
        total += y * negLogSigmoid(s / tau) + (1 - y) * negLogSigmoid(-s / tau);
      }
      return total / pairs.length;
    };
    const { loss: got, gradients } = computeLossAndGradients(model, pairs);
    expect(got).toBeCloseTo(loss(enc0, head0), 5);
    const checks: [string, number[], (w: number[]) => number][] = [
      ['encoder.tokenEmbedding', enc0.emb, (w) => loss({ ...enc0, emb: w }, head0)],
      ['encoder.segmentEmbedding', enc0.seg, (w) => loss({ ...enc0, seg: w }, head0)],
      ['encoder.poolQuery', enc0.query!, (w) => loss({ ...enc0, query: w }, head0)],
      ['encoder.dense.kernel', enc0.kernel, (w) => loss({ ...enc0, kernel: w }, head0)],
      ['encoder.dense.bias', enc0.bias, (w) => loss({ ...enc0, bias: w }, head0)],
      ['head.value', head0.value, (w) => loss(enc0, { ...head0, value: w })],
    ];
    const fds = checks.map(([, w, f]) => finiteDifferences(w, f));
    const scale = Math.max(...fds.flat().map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    // Same tolerance reasoning as above; the deeper graph adds a few more float32 roundings.
    checks.forEach(([name], i) => expectClose(gradients.get(name)!, fds[i]!, 1e-3, 2e-5 * scale, `dL/d${name}`));
    model.dispose();
  });

  it('soft-label loss at p = 1 equals the hard-label loss; at p = 0 it equals the hard loss of the swapped pair', () => {
    const rng = new Rng(5);
    const model = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 1 });
    const hard = randomPairs(rng, 5, 3, false);
    const soft1 = hard.map((p) => ({ ...p, label: 1 }));
    const swapped = hard.map((p) => ({ prompt: p.prompt, chosen: p.rejected, rejected: p.chosen }));
    const soft0 = hard.map((p) => ({ ...p, label: 0 }));
    for (const margin of [0, 0.1]) {
      const h = computeLossAndGradients(model, hard, { margin });
      const s = computeLossAndGradients(model, soft1, { margin });
      expect(s.loss).toBe(h.loss);
      expectClose(s.gradients.get('head.value')!, h.gradients.get('head.value')!, 0, 0, 'gradient');
      expect(computeLossAndGradients(model, soft0, { margin }).loss).toBeCloseTo(computeLossAndGradients(model, swapped, { margin }).loss, 6);
    }
    model.dispose();
  });

  it('Bradley-Terry: P = σ((r_i − r_j)/τ), verifierOutputs give [r, c] with λ = 1, and gprlAdvantages with k = 1 reproduce GRPO on r', () => {
    const rng = new Rng(9);
    const d = 4;
    const c = 2.5;
    const model = new BradleyTerryModel({ encoder: featureEncoder(d), embeddingConstant: c, tau: 0.2, seed: 6 });
    const w = Array.from(model.variables().get('head.reward')!.dataSync());
    const prompts = randomMatrix(rng, 2, d);
    const groups = [randomMatrix(rng, 5, d), randomMatrix(rng, 5, d)];
    const r = groups.map((g) => g.map((x) => x.reduce((a, v, i) => a + v * w[i]!, 0)));
    expectClose(model.rewards([prompts[0]!, prompts[0]!], [groups[0]![0]!, groups[0]![1]!]), [r[0]![0]!, r[0]![1]!], RTOL, ATOL, 'rewards');
    expectClose(model.probabilities([prompts[1]!], [groups[1]![2]!], [groups[1]![3]!]), [sigmoid((r[1]![2]! - r[1]![3]!) / 0.2)], RTOL, ATOL, 'P');
    const P = model.preferenceMatrix({ prompt: prompts[0]!, responses: groups[0]! });
    expectClose(P, r[0]!.flatMap((ri) => r[0]!.map((rj) => sigmoid((ri - rj) / 0.2))), RTOL, ATOL, 'BT preference matrix');

    const out = model.verifierOutputs(prompts, groups);
    expect(out.shape).toEqual({ groups: 2, groupSize: 5, dims: 1 });
    expectClose(out.embeddings, r.flat().flatMap((ri) => [ri, c]), RTOL, ATOL, 'BT embeddings');
    expect(Array.from(out.lambdas)).toEqual([1, 1]);
    expectClose(out.rewards!, r.flat(), RTOL, ATOL, 'rewards');
    const adv = gprlAdvantages(out.embeddings, out.shape, { lambdas: out.lambdas, eps: 0 });
    const grpo = r.flatMap((g) => {
      const mean = g.reduce((a, b) => a + b, 0) / g.length;
      const std = Math.sqrt(g.reduce((a, b) => a + (b - mean) ** 2, 0) / (g.length - 1));
      return g.map((x) => (x - mean) / std);
    });
    // Advantages are O(1); float32 embeddings and kernel arithmetic: 1e-5 relative.
    expectClose(adv.advantages, grpo, 1e-5, 1e-5, 'GRPO advantages');
    model.dispose();
  });

  it('GPM verifierOutputs: [B][G][2k] embeddings and [B][k] eigenvalues in the documented layout', () => {
    const rng = new Rng(3);
    const model = new GeneralPreferenceModel({ encoder: featureEncoder(3), dims: 2, seed: 2 });
    const head = refHeadOf(model);
    const prompts = randomMatrix(rng, 3, 3);
    const groups = [randomMatrix(rng, 4, 3), randomMatrix(rng, 4, 3), randomMatrix(rng, 4, 3)];
    const out = model.verifierOutputs(prompts, groups);
    expect(out.shape).toEqual({ groups: 3, groupSize: 4, dims: 2 });
    expect(out.rewards).toBeUndefined();
    expectClose(out.embeddings, groups.flatMap((g) => g.flatMap((x) => refEmbed(head, x))), RTOL, ATOL, 'embeddings');
    expectClose(out.lambdas, prompts.flatMap((p) => refLambda(head, p)), RTOL, ATOL, 'lambdas');
    model.dispose();
  });
});
