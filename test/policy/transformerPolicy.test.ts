import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf, setTfBackend, type TfBackendName } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { TransformerPolicy, type TransformerPolicyOptions } from '../../src/policy/transformerPolicy.js';
import type { NamedWeight } from '../../src/policy/policy.js';
import { GPRLTrainer } from '../../src/trainer/trainer.js';

const BACKENDS: TfBackendName[] = ['cpu', 'wasm'];

const TINY: TransformerPolicyOptions = { vocabSize: 7, dModel: 8, heads: 2, layers: 2, ffnSize: 12, maxLength: 12, seed: 3 };

/**
 * Replace the (near-uniform) initial weights by larger random ones, so distributions are peaked and
 * every parameter matters: matrices N(0, 0.4²), biases N(0, 0.2²), LayerNorm gains 1 + N(0, 0.2²).
 */
function randomize(policy: TransformerPolicy, seed: number): void {
  const rng = new Rng(seed);
  policy.setWeights(
    policy.getWeights().map((w) => {
      const n = w.values.length;
      const values = w.name.endsWith('.gain')
        ? Float32Array.from(rng.normalArray(n, 1, 0.2))
        : w.shape.length === 1
          ? rng.normalArray(n, 0, 0.2)
          : rng.normalArray(n, 0, 0.4);
      return { ...w, values };
    }),
  );
}

/**
 * Float64 reference of the transformer, written from the architecture's definition (module comment
 * of transformerPolicy.ts), one unbatched sequence at a time with no cache: the natural-log
 * probabilities of the next token after the context `[start, ...tokens]`, at temperature `temp`.
 */
function referenceNext(weights: readonly NamedWeight[], o: Required<TransformerPolicyOptions>, tokens: readonly number[], temp = 1): number[] {
  const W = new Map(weights.map((w) => [w.name, Float64Array.from(w.values)]));
  const g = (name: string): Float64Array => W.get(name)!;
  const d = o.dModel, H = o.heads, dh = d / H, V = o.vocabSize, f = o.ffnSize;
  const row = (m: Float64Array, i: number, width: number): number[] => Array.from(m.subarray(i * width, (i + 1) * width));
  const matVec = (x: number[], m: Float64Array, cols: number, bias: Float64Array): number[] =>
    Array.from({ length: cols }, (_, c) => x.reduce((s, xi, i) => s + xi * m[i * cols + c]!, bias[c]!));
  const ln = (x: number[], gain: Float64Array, bias: Float64Array): number[] => {
    const mu = x.reduce((a, b) => a + b, 0) / x.length;
    const v = x.reduce((a, b) => a + (b - mu) ** 2, 0) / x.length;
    return x.map((xi, i) => ((xi - mu) / Math.sqrt(v + 1e-5)) * gain[i]! + bias[i]!);
  };
  const pos = g('positionEmbedding'), E = g('tokenEmbedding');
  let xs: number[][] = [row(g('start'), 0, d).map((s, j) => s + pos[j]!)];
  tokens.forEach((t, i) => xs.push(row(E, t, d).map((e, j) => e + pos[(i + 1) * d + j]!)));
  const L = xs.length;
  for (let l = 0; l < o.layers; l++) {
    const p = (n: string): Float64Array => g(`layers.${l}.${n}`);
    const qkv = xs.map((x) => matVec(ln(x, p('ln1.gain'), p('ln1.bias')), p('attn.qkv'), 3 * d, p('attn.qkvBias')));
    const att = xs.map((_, i) => {
      const out = new Array<number>(d).fill(0);
      for (let h = 0; h < H; h++) {
        const q = qkv[i]!.slice(h * dh, (h + 1) * dh);
        const s = Array.from({ length: i + 1 }, (_, j) => q.reduce((a, qv, c) => a + qv * qkv[j]![d + h * dh + c]!, 0) / Math.sqrt(dh));
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) for (let c = 0; c < dh; c++) out[h * dh + c]! += (e[j]! / z) * qkv[j]![2 * d + h * dh + c]!;
      }
      return out;
    });
    xs = xs.map((x, i) => matVec(att[i]!, p('attn.out'), d, p('attn.outBias')).map((a, j) => a + x[j]!));
    xs = xs.map((x) => {
      const u = matVec(ln(x, p('ln2.gain'), p('ln2.bias')), p('ffn.in'), f, p('ffn.inBias'));
      const gelu = u.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
      return matVec(gelu, p('ffn.out'), d, p('ffn.outBias')).map((a, j) => a + x[j]!);
    });
  }
  const h = ln(xs[L - 1]!, g('lnFinal.gain'), g('lnFinal.bias'));
  const logits = Array.from({ length: V }, (_, v) => h.reduce((s, hj, j) => s + hj * E[v * d + j]!, g('outputBias')[v]!) / temp);
  const m = Math.max(...logits);
  const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
  return logits.map((x) => x - lse);
}

function resolved(o: TransformerPolicyOptions): Required<TransformerPolicyOptions> {
  return { dModel: 32, heads: 2, layers: 2, maxLength: 128, seed: 0, ...o, ffnSize: o.ffnSize ?? 4 * (o.dModel ?? 32) };
}

/** Σ over responses of the reference log-probs (a per-position recompute of every prefix). */
function referenceSum(weights: readonly NamedWeight[], o: Required<TransformerPolicyOptions>, prompts: number[][], responses: number[][]): number {
  let s = 0;
  prompts.forEach((p, n) => responses[n]!.forEach((tok, t) => (s += referenceNext(weights, o, [...p, ...responses[n]!.slice(0, t)])[tok]!)));
  return s;
}

describe.each(BACKENDS)('TransformerPolicy on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });

  it('logProbs and entropy equal a float64 per-position recompute; padded positions are 0', () => {
    const policy = new TransformerPolicy(TINY);
    randomize(policy, 1);
    const o = resolved(TINY);
    const w = policy.getWeights();
    const prompts = [[1, 2, 3], [], [6], [0, 4]];
    const responses = [[4, 0], [5, 5, 1, 2], [2], [3, 3, 3]];
    const res = policy.logProbs(prompts, responses, { temperature: 0.8, maxLength: 5 });
    const logp = res.logp.arraySync(), mask = res.mask.arraySync(), ent = res.entropy.arraySync();
    expect(res.logp.shape).toEqual([4, 5]);
    let checked = 0;
    for (let n = 0; n < 4; n++) {
      for (let t = 0; t < 5; t++) {
        const r = responses[n]!;
        if (t < r.length) {
          const ref = referenceNext(w, o, [...prompts[n]!, ...r.slice(0, t)], 0.8);
          // float32 forward (2 blocks, O(1) activations) vs float64: rounding ~1e-6; 5e-5 leaves room for the wasm backend's
          // fused kernels without hiding a wrong position, mask or temperature (those move values by ≥ 1e-2).
          expect(Math.abs(logp[n]![t]! - ref[r[t]!]!)).toBeLessThan(5e-5);
          expect(Math.abs(ent[n]![t]! - -ref.reduce((s, l) => s + Math.exp(l) * l, 0))).toBeLessThan(5e-5);
          expect(mask[n]![t]).toBe(1);
          checked++;
        } else {
          expect(logp[n]![t]).toBe(0);
          expect(ent[n]![t]).toBe(0);
          expect(mask[n]![t]).toBe(0);
        }
      }
    }
    expect(checked).toBe(10);
    // A row's values do not depend on its batch.
    const alone = tf.tidy(() => policy.logProbs([prompts[1]!], [responses[1]!], { temperature: 0.8 }).logp.arraySync());
    alone[0]!.forEach((x, t) => expect(Math.abs(x - logp[1]![t]!)).toBeLessThan(1e-5));
    tf.dispose([res.logp, res.mask, res.entropy]);
    policy.dispose();
  });

  it('gradients of Σ logp match float64 central differences for every parameter of a tiny model', () => {
    const opts: TransformerPolicyOptions = { vocabSize: 5, dModel: 4, heads: 2, layers: 2, ffnSize: 6, maxLength: 6, seed: 2 };
    const policy = new TransformerPolicy(opts);
    randomize(policy, 2);
    const o = resolved(opts);
    const prompts = [[1, 2], [], [3]];
    const responses = [[0, 4, 2], [1, 1], [2]];
    const vars = policy.trainableVariables as tf.Variable[];
    const { value, grads } = tf.variableGrads(() => tf.sum(policy.logProbs(prompts, responses).logp) as tf.Scalar, vars);
    const w = policy.getWeights();
    expect(value.dataSync()[0]!).toBeCloseTo(referenceSum(w, o, prompts, responses), 4);
    // Central differences on the float64 reference: h = 1e-4 gives truncation O(h²) ≈ 1e-8 and rounding ≈ 1e-12.
    // The float32 gradient carries ~1e-6 relative rounding per op; |g − fd| ≤ 1e-3·(1 + |fd|) holds with margin
    // and still catches a missing path (e.g. the tied output use of the embedding: errors of O(0.1)).
    const h = 1e-4;
    let compared = 0;
    vars.forEach((v, i) => {
      const g = grads[v.name]!.dataSync();
      for (let j = 0; j < w[i]!.values.length; j++) {
        const at = (delta: number): number => {
          const f64 = Float64Array.from(w[i]!.values);
          f64[j]! += delta;
          return referenceSum(w.map((x, k) => (k === i ? { ...x, values: f64 as unknown as Float32Array } : x)), o, prompts, responses);
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(g[j]! - fd), `${w[i]!.name}[${j}]: got ${g[j]}, want ${fd}`).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(fd)));
        compared++;
      }
    });
    expect(compared).toBe(policy.parameterCount);
    tf.dispose([value, ...Object.values(grads)]);
    policy.dispose();
  });

  it('KV-cached sampling equals uncached sampling (full recompute per step) for the same seed', () => {
    const policy = new TransformerPolicy(TINY);
    randomize(policy, 3);
    const prompts = [[1, 2, 3], [], [6]];
    for (const opts of [{ temperature: 1 }, { temperature: 0.7, topP: 0.8 }, { temperature: 1.3, eosToken: 0 }]) {
      const a = policy.sample(prompts, { groupSize: 3, maxLength: 7, seed: 5, ...opts });
      const b = policy.sample(prompts, { groupSize: 3, maxLength: 7, seed: 5, kvCache: false, ...opts });
      expect(a.responses).toEqual(b.responses);
      expect(Array.from(a.lengths)).toEqual(Array.from(b.lengths));
      // Same math, different op shapes (one-token steps vs whole contexts): float32 rounding only.
      for (let i = 0; i < a.logProbs.length; i++) {
        expect(Math.abs(a.logProbs[i]! - b.logProbs[i]!)).toBeLessThan(1e-5);
        expect(Math.abs(a.entropy[i]! - b.entropy[i]!)).toBeLessThan(1e-5);
      }
    }
    policy.dispose();
  });

  it('sample: seeded, EOS ends a response, log-probs equal logProbs and the float64 reference; no tensor leaks', () => {
    const before = tf.memory().numTensors;
    const policy = new TransformerPolicy(TINY);
    randomize(policy, 4);
    const o = resolved(TINY);
    const w = policy.getWeights();
    const prompts = [[1, 2], [3, 4, 5]];
    const withPolicy = tf.memory().numTensors;
    const a = policy.sample(prompts, { groupSize: 4, maxLength: 6, temperature: 0.9, eosToken: 0, seed: 11 });
    const b = policy.sample(prompts, { groupSize: 4, maxLength: 6, temperature: 0.9, eosToken: 0, seed: 11 });
    const c = policy.sample(prompts, { groupSize: 4, maxLength: 6, temperature: 0.9, eosToken: 0, seed: 12 });
    policy.sample(prompts, { groupSize: 2, maxLength: 3, kvCache: false });
    expect(tf.memory().numTensors).toBe(withPolicy);
    expect(a.responses).toEqual(b.responses);
    expect(a.responses).not.toEqual(c.responses);
    let stopped = 0;
    for (let n = 0; n < 8; n++) {
      const r = a.responses[n]!;
      expect(r.length).toBe(a.lengths[n]);
      const eos = r.indexOf(0);
      if (eos >= 0) {
        expect(eos).toBe(r.length - 1);
        stopped++;
      } else expect(r.length).toBe(6);
      for (let t = r.length; t < 6; t++) {
        expect(a.tokens[n * 6 + t]).toBe(0);
        expect(a.logProbs[n * 6 + t]).toBe(0);
      }
      r.forEach((tok, t) => {
        const ref = referenceNext(w, o, [...prompts[Math.floor(n / 4)]!, ...r.slice(0, t)], 0.9);
        expect(Math.abs(a.logProbs[n * 6 + t]! - ref[tok]!)).toBeLessThan(5e-5);
      });
    }
    expect(stopped).toBeGreaterThan(0); // the EOS branch was exercised
    const expanded = [0, 0, 0, 0, 1, 1, 1, 1].map((i) => prompts[i]!);
    const res = policy.logProbs(expanded, a.responses, { temperature: 0.9, maxLength: 6 });
    const lp = res.logp.dataSync();
    for (let i = 0; i < lp.length; i++) expect(Math.abs(lp[i]! - a.logProbs[i]!)).toBeLessThan(1e-5);
    tf.dispose([res.logp, res.mask, res.entropy]);
    expect(tf.memory().numTensors).toBe(withPolicy);
    policy.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('top-p draws only from the nucleus; a tiny topP or temperature decodes greedily (argmax)', () => {
    const policy = new TransformerPolicy(TINY);
    randomize(policy, 5);
    const o = resolved(TINY);
    const w = policy.getWeights();
    const prompts = [[1], [2, 3], []];
    const s = policy.sample(prompts, { groupSize: 40, maxLength: 3, topP: 0.6, seed: 1 });
    let outside = 0;
    for (let n = 0; n < s.responses.length; n++) {
      const r = s.responses[n]!;
      r.forEach((tok, t) => {
        const ref = referenceNext(w, o, [...prompts[Math.floor(n / 40)]!, ...r.slice(0, t)]);
        const order = ref.map((l, v) => [Math.exp(l), v] as const).sort((x, y) => y[0] - x[0]);
        // Nucleus at topP + 1e-4 (a superset): float32 vs float64 may move a boundary token by ~1e-6.
        const kept = new Set<number>();
        let mass = 0;
        for (const [p, v] of order) {
          kept.add(v);
          mass += p;
          if (mass >= 0.6 + 1e-4) break;
        }
        expect(kept.has(tok), `token ${tok} outside the nucleus ${[...kept]}`).toBe(true);
        outside += order.filter(([p, v]) => !kept.has(v) && p > 0.02).length;
      });
    }
    expect(outside).toBeGreaterThan(0); // tokens with real mass were excluded: the check can fail
    for (const opts of [{ temperature: 1e-4 }, { topP: 1e-9 }]) {
      const g = policy.sample(prompts, { groupSize: 2, maxLength: 4, seed: 7, ...opts });
      g.responses.forEach((r, n) => {
        r.forEach((tok, t) => {
          const ref = referenceNext(w, o, [...prompts[Math.floor(n / 2)]!, ...r.slice(0, t)]);
          expect(tok).toBe(ref.indexOf(Math.max(...ref)));
        });
      });
    }
    policy.dispose();
  });

  it('a GPRL trainer step leaks no tensor; save + resume continues identically', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gprl-transformer-'));
    try {
      const before = tf.memory().numTensors;
      const prompts = [[1], [2, 3], [4], [5, 6]];
      const reward = (_p: readonly number[], r: readonly number[]): number => r.filter((t) => t === 2).length - 0.1 * r.length;
      const config = { batchSize: 2, numGenerations: 3, maxCompletionLength: 4, eosToken: 0, learningRate: 0.01, seed: 4, maxSteps: 4 };
      const make = (seed: number): TransformerPolicy => new TransformerPolicy({ ...TINY, seed });
      const straightPolicy = make(1);
      const straight = new GPRLTrainer({ policy: straightPolicy, reward, prompts, config });
      const full = [];
      full.push(await straight.step());
      const afterOne = tf.memory().numTensors;
      for (let i = 1; i < 4; i++) full.push(await straight.step());
      expect(tf.memory().numTensors).toBe(afterOne); // steady state: a step allocates nothing that stays
      const fullRollouts = straight.lastRollout!.sample.responses;

      const first = make(1);
      const t1 = new GPRLTrainer({ policy: first, reward, prompts, config });
      await t1.train(2);
      await t1.save(dir);
      t1.dispose();
      first.dispose();
      const resumed = await GPRLTrainer.resume(dir, { policy: () => make(99), reward, prompts });
      const rest = await resumed.train();
      expect(rest).toHaveLength(2);
      for (let i = 0; i < 2; i++) {
        const x = full[i + 2]!, y = rest[i]!;
        expect(y.step).toBe(x.step);
        expect(y.responseLength).toBe(x.responseLength);
        expect(y.loss).toBeCloseTo(x.loss, 5);
        expect(y.kl).toBeCloseTo(x.kl, 5);
      }
      expect(resumed.lastRollout!.sample.responses).toEqual(fullRollouts);
      // Adam's β^t is recomputed with pow() on resume (~1 ulp): weights agree to float32 rounding.
      const wa = straightPolicy.getWeights(), wb = resumed.policy.getWeights();
      wa.forEach((x, i) => x.values.forEach((v, j) => expect(Math.abs(v - wb[i]!.values[j]!)).toBeLessThan(1e-5)));
      resumed.dispose();
      resumed.policy.dispose();
      straight.dispose();
      straightPolicy.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TransformerPolicy options and weights', () => {
  beforeAll(async () => {
    await setTfBackend('cpu');
  });
  afterAll(() => undefined);

  it('is reproducible from its seed; clone and setWeights copy; getWeights names every weight', () => {
    const a = new TransformerPolicy(TINY), b = new TransformerPolicy(TINY), c = new TransformerPolicy({ ...TINY, seed: 4 });
    expect(a.getWeights()).toEqual(b.getWeights());
    expect(a.getWeights()[0]!.values).not.toEqual(c.getWeights()[0]!.values);
    expect(a.getWeights().map((w) => w.name).slice(0, 4)).toEqual(['tokenEmbedding', 'positionEmbedding', 'start', 'layers.0.ln1.gain']);
    expect(a.getWeights()[1]!.shape).toEqual([13, 8]);
    // Defaults: d = 32, 2 heads, 2 layers, ffn 4d, maxLength 128.
    const d = new TransformerPolicy({ vocabSize: 10 });
    expect([d.dModel, d.heads, d.layers, d.ffnSize, d.maxLength]).toEqual([32, 2, 2, 128, 128]);
    expect(d.parameterCount).toBe(10 * 32 + 129 * 32 + 32 + 2 * (4 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32) + 2 * 32 + 10);
    const copy = c.clone();
    expect(copy.getWeights()).toEqual(c.getWeights());
    c.setWeights(a.getWeights());
    expect(c.getWeights()).toEqual(a.getWeights());
    expect(copy.getWeights()).not.toEqual(c.getWeights());
    const w = a.getWeights();
    w[3]!.values[0] = Number.NaN;
    expect(() => a.setWeights(w)).toThrow(/weights\[3\]\.values\[0\]/);
    expect(() => a.setWeights(w.slice(1))).toThrow(/invalid weights/);
    expect(() => a.setWeights(d.getWeights())).toThrow(RangeError);
    for (const p of [a, b, c, d, copy]) p.dispose();
    expect(() => a.getWeights()).toThrow(/disposed/);
    expect(() => a.sample([[1]], { maxLength: 1 })).toThrow(/disposed/);
    a.dispose(); // idempotent
  });

  it('rejects bad options with gprl errors naming the option', () => {
    const cases: Array<[() => unknown, ErrorConstructor, RegExp]> = [
      [() => new TransformerPolicy(undefined as never), TypeError, /gprl: invalid options/],
      [() => new TransformerPolicy({ vocabSize: 0 }), RangeError, /options\.vocabSize/],
      [() => new TransformerPolicy({ vocabSize: '5' as never }), TypeError, /options\.vocabSize/],
      [() => new TransformerPolicy({ vocabSize: 5, dModel: 6, heads: 4 }), RangeError, /options\.heads.*divisor/],
      [() => new TransformerPolicy({ vocabSize: 5, layers: 0 }), RangeError, /options\.layers/],
      [() => new TransformerPolicy({ vocabSize: 5, ffnSize: 1.5 }), RangeError, /options\.ffnSize/],
      [() => new TransformerPolicy({ vocabSize: 5, maxLength: -1 }), RangeError, /options\.maxLength/],
      [() => new TransformerPolicy({ vocabSize: 5, seed: Number.NaN }), RangeError, /options\.seed/],
      [() => new TransformerPolicy({ vocabSize: 5, dmodel: 8 } as never), RangeError, /options\.dmodel/],
    ];
    for (const [f, type, re] of cases) {
      expect(f).toThrow(type);
      expect(f).toThrow(re);
    }
    const p = new TransformerPolicy({ ...TINY, maxLength: 6 });
    const sampleCases: Array<[() => unknown, ErrorConstructor, RegExp]> = [
      [() => p.sample([[1]], { maxLength: 2, kvCache: 1 as never }), TypeError, /options\.kvCache/],
      [() => p.sample([[1, 2]], { maxLength: 5 }), RangeError, /options\.maxLength.*at most 4/],
      [() => p.sample([[1]], { maxLength: 2, topP: 0 }), RangeError, /options\.topP/],
      [() => p.sample([[9]], { maxLength: 2 }), RangeError, /prompts\[0\]\[0\]/],
      [() => p.sample([[1]], { maxLength: 2, top_p: 0.5 } as never), RangeError, /options\.top_p/],
      [() => p.logProbs([[1, 2, 3]], [[1, 2, 3, 4]]), RangeError, /responses.*maxLength \(6\)/],
      [() => p.logProbs([[1]], [[1], [2]]), RangeError, /responses/],
      [() => p.logProbs([[1]], [[1]], { maxLength: 0 }), RangeError, /options\.maxLength/],
    ];
    for (const [f, type, re] of sampleCases) {
      expect(f).toThrow(type);
      expect(f).toThrow(re);
    }
    p.dispose();
  });
});
