import { describe, expect, it } from 'vitest';
import { backendInfo, preferenceMatrix, preferenceMatrixAsync } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape } from '../../src/types.js';
import { TOL_PROBABILITY, expectClose, injectNonFinite, randomEmbeddings, randomLambdas, shapeGrid, shapeName } from '../helpers.js';
import { refPreferenceMatrix, refValidity } from '../reference.js';

const backends = backendInfo().available;

describe.each(backends)('preferenceMatrix [%s]', (backend) => {
  it.each(shapeGrid().map((s) => [shapeName(s), s] as const))('matches the float64 reference, %s', (_name, shape) => {
    const rng = new Rng(shape.groups * 13 + shape.groupSize * 101 + shape.dims);
    const emb = randomEmbeddings(rng, shape, 0.5);
    expectClose(preferenceMatrix(emb, shape, { backend }), refPreferenceMatrix(emb, shape), { ...TOL_PROBABILITY, label: 'no lambdas' });
    const lambdas = randomLambdas(rng, shape);
    for (const tau of [0.1, 1, 7]) {
      expectClose(preferenceMatrix(emb, shape, { lambdas, tau, backend }), refPreferenceMatrix(emb, shape, { lambdas, tau }), {
        ...TOL_PROBABILITY,
        label: `tau ${tau}`,
      });
    }
  });

  it('non-finite embedding values give NaN in that row and column only', () => {
    const rng = new Rng(5);
    const shape: GroupShape = { groups: 3, groupSize: 7, dims: 3 };
    const emb = randomEmbeddings(rng, shape);
    injectNonFinite(rng, emb, 6, 4);
    const got = preferenceMatrix(emb, shape, { backend });
    expectClose(got, refPreferenceMatrix(emb, shape), TOL_PROBABILITY);
    const valid = refValidity(emb, shape);
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 7; i++) {
        for (let j = 0; j < 7; j++) {
          const v = got[(b * 7 + i) * 7 + j]!;
          expect(Number.isNaN(v)).toBe(!valid[b]![i] || !valid[b]![j]);
        }
      }
    }
  });

  it('saturates to 0 and 1 without NaN for huge scores', () => {
    const rng = new Rng(6);
    const shape: GroupShape = { groups: 2, groupSize: 7, dims: 2 };
    const emb = randomEmbeddings(rng, shape, 1e18);
    const got = preferenceMatrix(emb, shape, { tau: 1e-30, backend });
    expect(got.some(Number.isNaN)).toBe(false);
    expectClose(got, refPreferenceMatrix(emb, shape, { tau: 1e-30 }), TOL_PROBABILITY);
  });

  it('async twin equals the sync result', async () => {
    const rng = new Rng(7);
    const shape: GroupShape = { groups: 3, groupSize: 7, dims: 3 };
    const emb = randomEmbeddings(rng, shape);
    const lambdas = randomLambdas(rng, shape);
    expect(Array.from(await preferenceMatrixAsync(emb, shape, { lambdas, backend }))).toEqual(
      Array.from(preferenceMatrix(emb, shape, { lambdas, backend })),
    );
  });
});
