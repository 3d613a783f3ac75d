/**
 * `options.out`: caller-owned output arrays. Every element must be written on every backend (the
 * arrays are pre-filled with a sentinel and with NaN), so results equal — bit for bit — those of a
 * call with fresh arrays; bad output arrays are rejected with the argument named.
 */
import { describe, expect, it } from 'vitest';
import { backendInfo, gprlAdvantages, gprlAdvantagesAsync, groupAdvantages } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape, NormalizeMode } from '../../src/types.js';
import { injectNonFinite, makeDegenerate, maskGroup, randomEmbeddings, randomLambdas, randomMask, randomScores } from '../helpers.js';

const backends = backendInfo().available;
const normalizeModes: NormalizeMode[] = ['per-dimension', 'scalar', 'gdpo'];
const shapes: GroupShape[] = [
  { groups: 1, groupSize: 1, dims: 1 },
  { groups: 5, groupSize: 7, dims: 3 },
  { groups: 3, groupSize: 64, dims: 8 },
];

function filled(n: number, value: number): Float32Array {
  return new Float32Array(n).fill(value);
}

function outputs(shape: GroupShape, value: number) {
  const { groups: B, groupSize: G, dims: k } = shape;
  return {
    advantages: filled(B * G, value),
    dimAdvantages: filled(B * G * k, value),
    dimMean: filled(B * k, value),
    dimStd: filled(B * k, value),
    scores: filled(B * G * k, value),
  };
}

describe.each(backends)('options.out on backend %s', (backend) => {
  for (const shape of shapes) {
    for (const normalize of normalizeModes) {
      for (const sentinel of [12345.5, NaN]) {
        it(`gprlAdvantages writes every element (B${shape.groups} G${shape.groupSize} k${shape.dims}, ${normalize}, prefill ${sentinel})`, async () => {
          const rng = new Rng(shape.groups * 100 + shape.groupSize);
          const emb = randomEmbeddings(rng, shape);
          injectNonFinite(rng, emb, 2 * shape.dims, 1);
          makeDegenerate(emb, shape, 0, 0);
          const mask = maskGroup(randomMask(rng, shape.groups * shape.groupSize), shape, shape.groups - 1);
          const options = { lambdas: randomLambdas(rng, shape), mask, normalize, backend };
          const fresh = gprlAdvantages(emb, shape, options);
          const out = outputs(shape, sentinel);
          const got = gprlAdvantages(emb, shape, { ...options, out });
          for (const key of ['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'] as const) {
            expect(got[key], key).toBe(out[key]);
            expect(Array.from(got[key]), key).toEqual(Array.from(fresh[key]));
          }
          expect([got.masked, got.degenerate]).toEqual([fresh.masked, fresh.degenerate]);
          const outAsync = outputs(shape, sentinel);
          const gotAsync = await gprlAdvantagesAsync(emb, shape, { ...options, out: outAsync });
          expect(Array.from(gotAsync.advantages)).toEqual(Array.from(fresh.advantages));
        });
      }
      it(`groupAdvantages writes every element (B${shape.groups} G${shape.groupSize} k${shape.dims}, ${normalize})`, () => {
        const rng = new Rng(7 + shape.dims);
        const scores = randomScores(rng, shape);
        const options = { mask: randomMask(rng, shape.groups * shape.groupSize), normalize, backend };
        const fresh = groupAdvantages(scores, shape, options);
        const { advantages, dimAdvantages, dimMean } = outputs(shape, -777);
        const got = groupAdvantages(scores, shape, { ...options, out: { advantages, dimMean } });
        expect(got.advantages).toBe(advantages);
        expect(got.dimMean).toBe(dimMean);
        expect(got.dimAdvantages).not.toBe(dimAdvantages);
        for (const key of ['advantages', 'dimAdvantages', 'dimMean', 'dimStd'] as const) {
          expect(Array.from(got[key]), key).toEqual(Array.from(fresh[key]));
        }
      });
    }
  }
});

describe('options.out validation', () => {
  const shape = { groups: 2, groupSize: 3, dims: 2 };
  const emb = new Float32Array(2 * 3 * 2 * 2).map((_, i) => Math.sin(i));

  it('rejects wrong types and lengths, naming the field', () => {
    expect(() => gprlAdvantages(emb, shape, { out: { advantages: new Float64Array(6) as unknown as Float32Array } })).toThrow(
      new TypeError('gprl: invalid options.out.advantages: expected a Float32Array of length 6 (groups·groupSize), got Float64Array(6)'),
    );
    expect(() => gprlAdvantages(emb, shape, { out: { dimStd: new Float32Array(5) } })).toThrow(
      new RangeError('gprl: invalid options.out.dimStd: expected a Float32Array of length 4 (groups·dims), got Float32Array(5)'),
    );
    expect(() => gprlAdvantages(emb, shape, { out: [] as unknown as object })).toThrow(TypeError);
    expect(() => gprlAdvantages(emb, shape, { out: { advantage: new Float32Array(6) } as unknown as object })).toThrow(/options\.out\.advantage/);
  });

  it('rejects scores for groupAdvantages and outputs that overlap inputs or each other', () => {
    const scores = new Float32Array(12);
    expect(() => groupAdvantages(scores, shape, { out: { scores: new Float32Array(12) } })).toThrow(/options\.out\.scores/);
    expect(() => groupAdvantages(scores, shape, { out: { dimAdvantages: scores } })).toThrow(
      /options\.out\.dimAdvantages: expected an array that overlaps no input and no other output/,
    );
    const buffer = new Float32Array(20);
    expect(() =>
      gprlAdvantages(emb, shape, { out: { scores: buffer.subarray(0, 12), dimAdvantages: buffer.subarray(8, 20) } }),
    ).toThrow(/options\.out\.scores: expected an array that overlaps no input and no other output/);
    // Disjoint views of one buffer are fine.
    const ok = gprlAdvantages(emb, shape, { out: { scores: buffer.subarray(0, 12), advantages: buffer.subarray(12, 18) } });
    expect(ok.advantages.buffer).toBe(buffer.buffer);
  });
});
