import { describe, expect, it } from 'vitest';
import { backendInfo, groupScores, groupScoresAsync } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape, ScoreMode } from '../../src/types.js';
import {
  TOL_ADVANTAGE,
  expectClose,
  injectNonFinite,
  keepFirst,
  makeDegenerate,
  maskGroup,
  randomEmbeddings,
  randomMask,
  scoreTolerance,
  shapeGrid,
  shapeName,
  sizes,
} from '../helpers.js';
import { refGroupScores } from '../reference.js';

const backends = backendInfo().available;
const modes: ScoreMode[] = ['logit', 'winrate'];

describe.each(backends)('groupScores [%s]', (backend) => {
  describe.each(modes)('mode %s', (mode) => {
    it.each(shapeGrid().map((s) => [shapeName(s), s] as const))('matches the float64 reference, %s', (_name, shape) => {
      const rng = new Rng(shape.groups * 1000 + shape.groupSize * 10 + shape.dims);
      const emb = randomEmbeddings(rng, shape);
      const got = groupScores(emb, shape, { mode, backend });
      const want = refGroupScores(emb, shape, { mode });
      expectClose(got, want, { ...scoreTolerance(want), label: `${backend} ${mode} ${shapeName(shape)}` });
      if (shape.groupSize === 1) expect(Array.from(got).every((v) => v === 0)).toBe(true);
    });

    it('masked rows, a fully masked group, a group with one valid response and non-finite values', () => {
      const rng = new Rng(7);
      const shape: GroupShape = { groups: 6, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses, 0.25);
      maskGroup(mask, shape, 1);
      keepFirst(mask, shape, 2, 1);
      keepFirst(mask, shape, 3, 2);
      injectNonFinite(rng, emb, 2 * shape.dims, 6);
      const got = groupScores(emb, shape, { mode, mask, backend });
      const want = refGroupScores(emb, shape, { mode, mask });
      expectClose(got, want, { ...scoreTolerance(want), label: 'masked' });
      // The fully masked group is all NaN; the single valid response of group 2 scores 0.
      expect(Array.from(got.subarray(7 * 3, 14 * 3)).every(Number.isNaN)).toBe(true);
      expect(Array.from(got.subarray(14 * 3, 15 * 3))).toEqual([0, 0, 0]);
    });

    it('a degenerate dimension scores exactly 0', () => {
      const rng = new Rng(8);
      const shape: GroupShape = { groups: 3, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      makeDegenerate(emb, shape, 0, 1, 'identical');
      makeDegenerate(emb, shape, 1, 0, 'zero-a');
      makeDegenerate(emb, shape, 2, 2, 'zero');
      const got = groupScores(emb, shape, { mode, backend });
      expectClose(got, refGroupScores(emb, shape, { mode }), { ...scoreTolerance(got), label: 'degenerate' });
      for (const [b, l] of [[0, 1], [1, 0], [2, 2]] as const) {
        for (let i = 0; i < 7; i++) expect(Math.abs(got[(b * 7 + i) * 3 + l]!)).toBe(0);
      }
    });

    it('async twin equals the sync result', async () => {
      const rng = new Rng(9);
      const shape: GroupShape = { groups: 4, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses);
      const sync = groupScores(emb, shape, { mode, mask, backend });
      const asyncOut = await groupScoresAsync(emb, shape, { mode, mask, backend });
      expect(Array.from(asyncOut)).toEqual(Array.from(sync));
    });
  });

  it.each([0.01, 0.1, 1, 10])('winrate with tau %s matches the reference', (tau) => {
    const rng = new Rng(Math.round(tau * 1000));
    const shape: GroupShape = { groups: 3, groupSize: 7, dims: 3 };
    const emb = randomEmbeddings(rng, shape);
    const got = groupScores(emb, shape, { mode: 'winrate', tau, backend });
    // Win rates minus ½ lie in [−½, ½]; the absolute tolerance is that of probabilities.
    expectClose(got, refGroupScores(emb, shape, { mode: 'winrate', tau }), { ...TOL_ADVANTAGE, atol: 1e-6 });
  });

  it('winrate with huge pair scores saturates without NaN', () => {
    const rng = new Rng(10);
    const shape: GroupShape = { groups: 2, groupSize: 7, dims: 2 };
    const emb = randomEmbeddings(rng, shape, 1e15);
    const got = groupScores(emb, shape, { mode: 'winrate', tau: 1e-3, backend });
    expect(got.some(Number.isNaN)).toBe(false);
    expectClose(got, refGroupScores(emb, shape, { mode: 'winrate', tau: 1e-3 }), { atol: 1e-6 });
  });
});
