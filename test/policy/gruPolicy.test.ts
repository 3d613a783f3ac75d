import { describe, it, expect, beforeAll } from 'vitest';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { GruPolicy } from '../../src/policy/gruPolicy.js';
import { drawToken } from '../../src/policy/policy.js';
import { Rng } from '../../src/random.js';

const BACKENDS: TfBackendName[] = ['cpu', 'wasm'];

/** Float64 reference of the GRU policy, from its weights (independent of the tfjs code path). */
function referenceLogits(policy: GruPolicy, prompt: number[], response: number[], temperature: number): number[][] {
  const w = Object.fromEntries(policy.getWeights().map((x) => [x.name, x]));
  const V = policy.vocabSize, H = policy.hiddenSize, E = policy.embeddingSize;
  const at = (name: string, i: number): number => w[name]!.values[i]!;
  const sig = (x: number): number => 1 / (1 + Math.exp(-x));
  let h = new Array<number>(H).fill(0);
  const step = (tok: number): void => {
    const e = Array.from({ length: E }, (_, j) => at('embedding', tok * E + j));
    const gx = Array.from({ length: 3 * H }, (_, c) => e.reduce((s, x, j) => s + x * at('wx', j * 3 * H + c), at('bx', c)));
    const gh = Array.from({ length: 3 * H }, (_, c) => h.reduce((s, x, j) => s + x * at('wh', j * 3 * H + c), at('bh', c)));
    h = h.map((hj, j) => {
      const z = sig(gx[j]! + gh[j]!);
      const r = sig(gx[H + j]! + gh[H + j]!);
      const n = Math.tanh(gx[2 * H + j]! + r * gh[2 * H + j]!);
      return (1 - z) * n + z * hj;
    });
  };
  for (const tok of prompt) step(tok);
  const out: number[][] = [];
  for (let t = 0; t < response.length; t++) {
    const logits = Array.from({ length: V }, (_, v) => h.reduce((s, x, j) => s + x * at('wo', j * V + v), at('bo', v)) / temperature);
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
    out.push(logits.map((x) => x - lse));
    step(response[t]!);
  }
  return out;
}

describe.each(BACKENDS)('GruPolicy on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });

  it('logProbs match a float64 reference, with variable prompt lengths', () => {
    const policy = new GruPolicy({ vocabSize: 7, hiddenSize: 5, embeddingSize: 4, seed: 3 });
    const prompts = [[1, 2, 3], [], [6]];
    const responses = [[4, 0], [5, 5, 1], [2]];
    const res = policy.logProbs(prompts, responses, { temperature: 0.7 });
    const logp = res.logp.arraySync();
    const mask = res.mask.arraySync();
    const ent = res.entropy.arraySync();
    expect(res.logp.shape).toEqual([3, 3]);
    for (let n = 0; n < 3; n++) {
      const ref = referenceLogits(policy, prompts[n]!, responses[n]!, 0.7);
      for (let t = 0; t < 3; t++) {
        if (t < responses[n]!.length) {
          // float32 GRU vs float64: a few ulps of O(1) values through ≤ 4 steps.
          expect(logp[n]![t]!).toBeCloseTo(ref[t]![responses[n]![t]!]!, 5);
          const refEnt = -ref[t]!.reduce((s, l) => s + Math.exp(l) * l, 0);
          expect(ent[n]![t]!).toBeCloseTo(refEnt, 5);
          expect(mask[n]![t]).toBe(1);
        } else {
          expect(Math.abs(logp[n]![t]!)).toBe(0);
          expect(mask[n]![t]).toBe(0);
        }
      }
    }
    tf.dispose([res.logp, res.mask, res.entropy]);
    policy.dispose();
  });

  it('logProbs are differentiable: gradient matches finite differences', () => {
    const policy = new GruPolicy({ vocabSize: 5, hiddenSize: 3, seed: 1 });
    const prompts = [[1, 2], [3]];
    const responses = [[0, 4, 2], [1]];
    const f = (): tf.Scalar => {
      const r = policy.logProbs(prompts, responses);
      return tf.sum(r.logp) as tf.Scalar;
    };
    const { grads } = tf.variableGrads(f, policy.trainableVariables as tf.Variable[]);
    const wx = policy.trainableVariables[1]!;
    const g = grads[wx.name]!.dataSync();
    const base = wx.dataSync().slice();
    // Central differences in float32: step 1e-2 balances truncation (O(h²)) and rounding (O(ulp/h)).
    const h = 1e-2;
    for (const idx of [0, 4, 7]) {
      const val = (delta: number): number => {
        const v = base.slice();
        v[idx]! += delta;
        wx.assign(tf.tensor(v, wx.shape));
        const s = tf.tidy(() => f().dataSync()[0]!);
        return s;
      };
      const fd = (val(h) - val(-h)) / (2 * h);
      expect(g[idx]!).toBeCloseTo(fd, 2);
    }
    wx.assign(tf.tensor(base, wx.shape));
    tf.dispose(Object.values(grads));
    policy.dispose();
  });

  it('sample: seeded, reproducible, and its log-probs equal logProbs of the same responses', () => {
    const policy = new GruPolicy({ vocabSize: 6, hiddenSize: 8, seed: 2 });
    const prompts = [[1, 2], [3, 4, 5]];
    const before = tf.memory().numTensors;
    const a = policy.sample(prompts, { groupSize: 3, maxLength: 5, temperature: 0.9, eosToken: 0, seed: 11 });
    const b = policy.sample(prompts, { groupSize: 3, maxLength: 5, temperature: 0.9, eosToken: 0, seed: 11 });
    const c = policy.sample(prompts, { groupSize: 3, maxLength: 5, temperature: 0.9, eosToken: 0, seed: 12 });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.responses).toEqual(b.responses);
    expect(Array.from(a.logProbs)).toEqual(Array.from(b.logProbs));
    expect(a.responses).not.toEqual(c.responses);
    expect(a.responses.length).toBe(6);
    for (let n = 0; n < 6; n++) {
      const r = a.responses[n]!;
      expect(r.length).toBe(a.lengths[n]);
      // EOS ends a response and is kept.
      const eos = r.indexOf(0);
      if (eos >= 0) expect(eos).toBe(r.length - 1);
      else expect(r.length).toBe(5);
    }
    const expanded = [0, 0, 0, 1, 1, 1].map((b) => prompts[b]!);
    const res = policy.logProbs(expanded, a.responses, { temperature: 0.9, maxLength: 5 });
    const lp = res.logp.dataSync();
    const ent = res.entropy.dataSync();
    // Same float32 ops on the same rows: agreement to float32 rounding.
    for (let i = 0; i < lp.length; i++) {
      expect(Math.abs(lp[i]! - a.logProbs[i]!)).toBeLessThan(1e-5);
      expect(Math.abs(ent[i]! - a.entropy[i]!)).toBeLessThan(1e-5);
    }
    tf.dispose([res.logp, res.mask, res.entropy]);
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  });

  it('a tiny temperature or a tiny topP decodes greedily (argmax)', () => {
    const policy = new GruPolicy({ vocabSize: 9, hiddenSize: 6, seed: 5, outputScale: 3 });
    const prompts = [[1], [2, 3]];
    for (const opts of [{ temperature: 1e-4 }, { topP: 1e-6 }]) {
      const s = policy.sample(prompts, { groupSize: 4, maxLength: 4, seed: 7, ...opts });
      for (let n = 0; n < s.responses.length; n++) {
        const prompt = prompts[Math.floor(n / 4)]!;
        const resp = s.responses[n]!;
        const ref = referenceLogits(policy, prompt, resp, 1);
        for (let t = 0; t < resp.length; t++) {
          const row = ref[t]!;
          expect(resp[t]).toBe(row.indexOf(Math.max(...row)));
        }
      }
    }
    policy.dispose();
  });

  it('clone copies the weights into independent variables; setWeights validates', () => {
    const policy = new GruPolicy({ vocabSize: 4, hiddenSize: 3, seed: 9 });
    const copy = policy.clone();
    expect(copy.getWeights()).toEqual(policy.getWeights());
    const w = policy.getWeights();
    w[6]!.values[0] = 5;
    policy.setWeights(w);
    expect(policy.getWeights()[6]!.values[0]).toBe(5);
    expect(copy.getWeights()[6]!.values[0]).toBe(0);
    w[6]!.values[0] = Number.NaN;
    expect(() => policy.setWeights(w)).toThrow(RangeError);
    expect(() => policy.setWeights(w.slice(1))).toThrow(/invalid weights/);
    copy.dispose();
    policy.dispose();
    expect(() => policy.getWeights()).toThrow(/disposed/);
  });
});

describe('sampling options', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });

  it('top-p keeps the smallest nucleus and samples it in proportion', () => {
    // p = [0.5, 0.3, 0.15, 0.05]; topP = 0.75 keeps {0, 1}: frequencies 0.625 / 0.375.
    const p = [0.5, 0.3, 0.15, 0.05];
    const lp = Float32Array.from(p.map(Math.log));
    const rng = new Rng(1);
    const counts = [0, 0, 0, 0];
    const order = new Int32Array(4);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[drawToken(lp, 0, 4, 0.75, rng, order)]!++;
    expect(counts[2]).toBe(0);
    expect(counts[3]).toBe(0);
    // Binomial std at n = 20000 is ~0.0034; 5 sigma.
    expect(Math.abs(counts[0]! / n - 0.625)).toBeLessThan(0.017);
    const full = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) full[drawToken(lp, 0, 4, 1, rng, order)]!++;
    full.forEach((c, v) => expect(Math.abs(c / n - p[v]!)).toBeLessThan(0.017));
  });

  it('rejects bad options with named errors', () => {
    const policy = new GruPolicy({ vocabSize: 4, hiddenSize: 2 });
    expect(() => policy.sample([[1]], { maxLength: 0 })).toThrow(/options\.maxLength/);
    expect(() => policy.sample([[1]], { maxLength: 2, temperature: 0 })).toThrow(/options\.temperature/);
    expect(() => policy.sample([[1]], { maxLength: 2, topP: 1.5 })).toThrow(/options\.topP/);
    expect(() => policy.sample([[7]], { maxLength: 2 })).toThrow(/prompts\[0\]\[0\]/);
    expect(() => policy.sample([[1]], { maxLength: 2, eosToken: 4 })).toThrow(/options\.eosToken/);
    expect(() => policy.logProbs([[1]], [[1], [2]])).toThrow(/responses/);
    expect(() => new GruPolicy({ vocabSize: 0 })).toThrow(/options\.vocabSize/);
    policy.dispose();
  });
});
