/** The reductions and invariances of design §2.3, on every backend. */
import { describe, expect, it } from 'vitest';
import { backendInfo, gprlAdvantages, groupScores, preferenceMatrix } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape, ScoreMode, StdMode } from '../../src/types.js';
import { TOL_ADVANTAGE, expectClose, maxAbs, randomEmbeddings, randomLambdas, randomMask, sizes } from '../helpers.js';
import { refGrpoAdvantages } from '../reference.js';

const backends = backendInfo().available;
const modes: ScoreMode[] = ['logit', 'winrate'];

describe.each(backends)('invariants [%s]', (backend) => {
  it.each(['unbiased', 'biased'] as StdMode[])('k = 1, e = [r, c], ε = 0 reduces to the GRPO advantage (std %s)', (std) => {
    const rng = new Rng(std.length);
    for (const groupSize of [2, 3, 7, 64]) {
      const shape: GroupShape = { groups: 4, groupSize, dims: 1 };
      const emb = new Float32Array(sizes(shape).embeddings);
      const rewards: number[][] = [];
      for (let b = 0; b < shape.groups; b++) {
        const c = rng.uniform(0.1, 5);
        const r: number[] = [];
        for (let i = 0; i < groupSize; i++) {
          emb[(b * groupSize + i) * 2] = rng.normal(rng.uniform(-3, 3), 2);
          emb[(b * groupSize + i) * 2 + 1] = c;
          r.push(emb[(b * groupSize + i) * 2]!);
        }
        rewards.push(r);
      }
      const want = rewards.flatMap((r) => refGrpoAdvantages(r, std));
      for (const normalize of ['per-dimension', 'scalar'] as const) {
        const got = gprlAdvantages(emb, shape, { eps: 0, std, normalize, backend });
        expectClose(got.advantages, want, { ...TOL_ADVANTAGE, label: `G ${groupSize} ${normalize}` });
      }
    }
  });

  describe.each(modes)('mode %s', (mode) => {
    const shape: GroupShape = { groups: 5, groupSize: 7, dims: 3 };

    it('permuting a group permutes the advantages', () => {
      const rng = new Rng(1);
      const emb = randomEmbeddings(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses, 0.2);
      const lambdas = randomLambdas(rng, shape);
      const base = gprlAdvantages(emb, shape, { mode, mask, lambdas, backend });
      const G = shape.groupSize;
      const row = 2 * shape.dims;
      const perm = new Float32Array(emb.length);
      const permMask = new Uint8Array(mask.length);
      const sources: number[] = [];
      for (let b = 0; b < shape.groups; b++) {
        const order = rng.shuffle([...Array(G).keys()]);
        order.forEach((src, dst) => {
          perm.set(emb.subarray((b * G + src) * row, (b * G + src + 1) * row), (b * G + dst) * row);
          permMask[b * G + dst] = mask[b * G + src]!;
          sources.push(b * G + src);
        });
      }
      const got = gprlAdvantages(perm, shape, { mode, mask: permMask, lambdas, backend });
      expectClose(got.advantages, sources.map((s) => base.advantages[s]!), TOL_ADVANTAGE);
      expect(got.degenerate).toBe(base.degenerate);
    });

    it('positive scaling of λ leaves A unchanged', () => {
      const rng = new Rng(2);
      const emb = randomEmbeddings(rng, shape);
      const lambdas = randomLambdas(rng, shape);
      const scaled = new Float32Array(lambdas.length);
      for (let b = 0; b < shape.groups; b++) {
        const c = Math.exp(rng.uniform(-5, 5));
        for (let l = 0; l < shape.dims; l++) scaled[b * shape.dims + l] = lambdas[b * shape.dims + l]! * c;
      }
      const a = gprlAdvantages(emb, shape, { mode, lambdas, backend });
      const b = gprlAdvantages(emb, shape, { mode, lambdas: scaled, backend });
      expectClose(b.advantages, a.advantages, TOL_ADVANTAGE);
    });

    it('rotating every (a_l, b_l) of a group by one angle leaves A unchanged', () => {
      const rng = new Rng(3);
      const emb = randomEmbeddings(rng, shape);
      const rotated = new Float32Array(emb.length);
      const G = shape.groupSize;
      for (let b = 0; b < shape.groups; b++) {
        const theta = rng.uniform(0, 2 * Math.PI);
        const cos = Math.cos(theta);
        const sin = Math.sin(theta);
        for (let i = 0; i < G; i++) {
          for (let l = 0; l < shape.dims; l++) {
            const o = ((b * G + i) * shape.dims + l) * 2;
            rotated[o] = cos * emb[o]! - sin * emb[o + 1]!;
            rotated[o + 1] = sin * emb[o]! + cos * emb[o + 1]!;
          }
        }
      }
      // The rotated inputs are rounded to float32 (relative 6e-8), which moves Â by ~1e-7.
      const a = gprlAdvantages(emb, shape, { mode, backend });
      const b = gprlAdvantages(rotated, shape, { mode, backend });
      expectClose(b.advantages, a.advantages, TOL_ADVANTAGE);
      expectClose(b.dimAdvantages, a.dimAdvantages, TOL_ADVANTAGE);
    });

    it('the group mean of ŝ over valid responses is 0', () => {
      const rng = new Rng(4);
      const s: GroupShape = { groups: 6, groupSize: 64, dims: 8 };
      const emb = randomEmbeddings(rng, s, 3);
      const mask = randomMask(rng, sizes(s).responses, 0.3);
      const scores = groupScores(emb, s, { mode, mask, backend });
      const scale = maxAbs(scores);
      for (let b = 0; b < s.groups; b++) {
        for (let l = 0; l < s.dims; l++) {
          let sum = 0;
          let n = 0;
          for (let i = 0; i < s.groupSize; i++) {
            if (!mask[b * s.groupSize + i]) continue;
            sum += scores[(b * s.groupSize + i) * s.dims + l]!;
            n++;
          }
          // Each stored ŝ carries one float32 rounding (≤ 6e-8·scale); their mean is below 1e-6·scale.
          expect(Math.abs(sum / n)).toBeLessThanOrEqual(1e-6 * scale);
        }
      }
    });

    it('with ε = 0 each valid Â_l has mean 0 and standard deviation 1', () => {
      const rng = new Rng(5);
      const emb = randomEmbeddings(rng, shape);
      const got = gprlAdvantages(emb, shape, { mode, eps: 0, backend });
      const G = shape.groupSize;
      for (let b = 0; b < shape.groups; b++) {
        for (let l = 0; l < shape.dims; l++) {
          const xs = Array.from({ length: G }, (_, i) => got.dimAdvantages[(b * G + i) * shape.dims + l]!);
          const m = xs.reduce((x, y) => x + y, 0) / G;
          const v = xs.reduce((x, y) => x + (y - m) ** 2, 0) / (G - 1);
          expect(Math.abs(m)).toBeLessThan(1e-6);
          expect(Math.abs(v - 1)).toBeLessThan(1e-5);
        }
      }
    });
  });

  it('scaling one dimension’s (a, b) by c ≠ 0 leaves A unchanged (logit, per-dimension, ε = 0)', () => {
    const rng = new Rng(6);
    const shape: GroupShape = { groups: 4, groupSize: 7, dims: 3 };
    const emb = randomEmbeddings(rng, shape);
    const lambdas = randomLambdas(rng, shape);
    const base = gprlAdvantages(emb, shape, { eps: 0, lambdas, backend });
    for (const c of [-3, 0.01, 250]) {
      for (let l = 0; l < shape.dims; l++) {
        const scaled = Float32Array.from(emb);
        for (let r = 0; r < sizes(shape).responses; r++) {
          scaled[(r * shape.dims + l) * 2] = emb[(r * shape.dims + l) * 2]! * c;
          scaled[(r * shape.dims + l) * 2 + 1] = emb[(r * shape.dims + l) * 2 + 1]! * c;
        }
        const got = gprlAdvantages(scaled, shape, { eps: 0, lambdas, backend });
        expectClose(got.advantages, base.advantages, { ...TOL_ADVANTAGE, label: `c ${c} l ${l}` });
      }
    }
  });

  it('gdpo advantages have batch mean 0 and standard deviation 1 (ε = 0)', () => {
    const rng = new Rng(7);
    const shape: GroupShape = { groups: 6, groupSize: 7, dims: 3 };
    const got = gprlAdvantages(randomEmbeddings(rng, shape), shape, { normalize: 'gdpo', eps: 0, backend });
    const xs = Array.from(got.advantages);
    const m = xs.reduce((x, y) => x + y, 0) / xs.length;
    const v = xs.reduce((x, y) => x + (y - m) ** 2, 0) / (xs.length - 1);
    expect(Math.abs(m)).toBeLessThan(1e-6);
    expect(Math.abs(v - 1)).toBeLessThan(1e-5);
  });

  it('preference matrix: P[i,j] + P[j,i] = 1 and the diagonal is ½', () => {
    const rng = new Rng(8);
    const shape: GroupShape = { groups: 3, groupSize: 64, dims: 8 };
    const emb = randomEmbeddings(rng, shape, 0.3);
    const P = preferenceMatrix(emb, shape, { lambdas: randomLambdas(rng, shape), tau: 0.5, backend });
    const G = shape.groupSize;
    for (let b = 0; b < shape.groups; b++) {
      for (let i = 0; i < G; i++) {
        expect(P[(b * G + i) * G + i]).toBe(0.5);
        for (let j = i + 1; j < G; j++) {
          // Two float32 roundings of complementary probabilities: |sum − 1| ≤ 2·2^-25.
          expect(Math.abs(P[(b * G + i) * G + j]! + P[(b * G + j) * G + i]! - 1)).toBeLessThanOrEqual(2 ** -24);
        }
      }
    }
  });
});
