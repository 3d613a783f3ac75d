import { describe, expect, it } from 'vitest';
import { backendInfo, groupAdvantages, groupAdvantagesAsync } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { AdvantageOptions, GroupShape, NormalizeMode, StdMode } from '../../src/types.js';
import {
  TOL_ADVANTAGE,
  expectAdvantagesMatch,
  expectClose,
  injectNonFinite,
  keepFirst,
  maskGroup,
  randomDimWeights,
  randomLambdas,
  randomMask,
  randomScores,
  shapeGrid,
  shapeName,
  sizes,
} from '../helpers.js';
import { refGroupAdvantages } from '../reference.js';

const backends = backendInfo().available;
const normalizeModes: NormalizeMode[] = ['per-dimension', 'scalar', 'gdpo'];
const stdModes: StdMode[] = ['unbiased', 'biased'];

describe.each(backends)('groupAdvantages [%s]', (backend) => {
  describe.each(normalizeModes)('normalize %s', (normalize) => {
    it.each(shapeGrid().map((s) => [shapeName(s), s] as const))('matches the float64 reference, %s', (_name, shape) => {
      const rng = new Rng(shape.groups * 7919 + shape.groupSize * 31 + shape.dims);
      const scores = randomScores(rng, shape);
      const got = groupAdvantages(scores, shape, { normalize, backend });
      expect(got.backend).toBe(backend);
      expectAdvantagesMatch(got, refGroupAdvantages(scores, shape, { normalize }), `${backend} ${normalize} ${shapeName(shape)}`);
    });

    it.each(stdModes)('all options (std %s, lambdas, dimWeights, eps, stdFloor, mask)', (std) => {
      const rng = new Rng(normalize.length * 13 + std.length);
      const shape: GroupShape = { groups: 5, groupSize: 7, dims: 3 };
      for (const eps of [0, 1e-4, 0.5]) {
        for (const stdFloor of [0, 1e-6, 0.3]) {
          const scores = randomScores(rng, shape);
          const options = {
            lambdas: randomLambdas(rng, shape),
            dimWeights: randomDimWeights(rng, shape.dims),
            mask: randomMask(rng, sizes(shape).responses, 0.2),
            eps,
            stdFloor,
            std,
            normalize,
          } satisfies AdvantageOptions;
          const got = groupAdvantages(scores, shape, { ...options, backend });
          expectAdvantagesMatch(got, refGroupAdvantages(scores, shape, options), `eps ${eps} floor ${stdFloor}`);
        }
      }
    });

    it('masked rows, fully masked groups, one-response groups, non-finite scores, degenerate dimensions', () => {
      const rng = new Rng(77 + normalize.length);
      const shape: GroupShape = { groups: 7, groupSize: 7, dims: 3 };
      const scores = randomScores(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses, 0.15);
      maskGroup(mask, shape, 0);
      keepFirst(mask, shape, 1, 1);
      keepFirst(mask, shape, 2, 2);
      injectNonFinite(rng, scores, shape.dims, 5);
      // Group 3: dimension 1 constant; group 4: every dimension constant (scalar-degenerate too).
      for (let i = 0; i < 7; i++) scores[(3 * 7 + i) * 3 + 1] = 0.25;
      for (let i = 0; i < 7; i++) for (let l = 0; l < 3; l++) scores[(4 * 7 + i) * 3 + l] = l - 1;
      const got = groupAdvantages(scores, shape, { mask, normalize, backend });
      const want = refGroupAdvantages(scores, shape, { mask, normalize });
      expectAdvantagesMatch(got, want, 'edge cases');
      expect(got.degenerate).toBeGreaterThan(0);
      // Invalid responses get exactly 0 everywhere.
      for (let r = 0; r < sizes(shape).responses; r++) {
        const invalid = mask[r] === 0 || Array.from(scores.subarray(r * 3, r * 3 + 3)).some((v) => !Number.isFinite(v));
        if (invalid) {
          expect(got.advantages[r]).toBe(0);
          expect(Array.from(got.dimAdvantages.subarray(r * 3, r * 3 + 3))).toEqual([0, 0, 0]);
        }
      }
    });

    it('async twin equals the sync result', async () => {
      const rng = new Rng(5);
      const shape: GroupShape = { groups: 4, groupSize: 7, dims: 3 };
      const scores = randomScores(rng, shape);
      const options = { lambdas: randomLambdas(rng, shape), mask: randomMask(rng, sizes(shape).responses), normalize, backend };
      const sync = groupAdvantages(scores, shape, options);
      const asyncOut = await groupAdvantagesAsync(scores, shape, options);
      expect(asyncOut).toEqual(sync);
    });
  });

  it('degenerate counts per mode: (b, l) pairs, groups, pairs plus the batch', () => {
    const shape: GroupShape = { groups: 2, groupSize: 4, dims: 2 };
    // Group 0: dimension 0 constant, dimension 1 varies. Group 1: both dimensions constant.
    const scores = new Float32Array([0, 1, 0, 2, 0, 3, 0, 4, 5, 5, 5, 5, 5, 5, 5, 5]);
    expect(groupAdvantages(scores, shape, { backend }).degenerate).toBe(3);
    expect(groupAdvantages(scores, shape, { backend, normalize: 'scalar' }).degenerate).toBe(1);
    expect(groupAdvantages(scores, shape, { backend, normalize: 'gdpo' }).degenerate).toBe(3);
    // All constant: every (b, l) pair, then the batch z-score of all-zero A' as well.
    const flat = new Float32Array(16).fill(2);
    expect(groupAdvantages(flat, shape, { backend, normalize: 'gdpo' }).degenerate).toBe(5);
    expect(groupAdvantages(flat, shape, { backend, normalize: 'gdpo' }).advantages.every((v) => v === 0)).toBe(true);
  });

  it('a hand-computed group', () => {
    // Scores 1, 2, 3, 6 in one dimension: mean 3, unbiased std sqrt(14/3).
    const shape: GroupShape = { groups: 1, groupSize: 4, dims: 1 };
    const got = groupAdvantages(new Float32Array([1, 2, 3, 6]), shape, { eps: 0, backend });
    const sd = Math.sqrt(14 / 3);
    expectClose(got.advantages, [-2 / sd, -1 / sd, 0, 3 / sd], TOL_ADVANTAGE);
    expectClose(got.dimMean, [3], { atol: 1e-6 });
    expectClose(got.dimStd, [sd], { atol: 1e-6 });
  });
});
