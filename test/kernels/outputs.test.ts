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

const ALL_OUTPUTS = ['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'] as const;

/** Index of the first element whose bits differ (NaN payloads included), -1 when identical; length mismatch: -2. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -2;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

describe.each(backends)('options.outputs on backend %s', (backend) => {
  // Large enough (B·G·k·4 = 8 MiB) for the C++ path's streamed stores and for pooled output memory.
  const big: GroupShape = { groups: 16384, groupSize: 16, dims: 8 };
  for (const shape of [...shapes, big]) {
    for (const normalize of shape === big ? (['per-dimension', 'gdpo'] as const) : normalizeModes) {
      it(`computes only the requested outputs, each equal to the full call's (B${shape.groups} G${shape.groupSize} k${shape.dims}, ${normalize})`, async () => {
        const rng = new Rng(shape.groups * 31 + shape.dims);
        const emb = randomEmbeddings(rng, shape);
        injectNonFinite(rng, emb, 2 * shape.dims, 1);
        const mask = maskGroup(randomMask(rng, shape.groups * shape.groupSize), shape, shape.groups - 1);
        const options = { lambdas: randomLambdas(rng, shape), mask, normalize, backend };
        const full = gprlAdvantages(emb, shape, options);
        if (shape === big && backend !== 'js') {
          // The C++ path's streamed stores give the TypeScript path's results bit for bit, but for
          // dimMean: in logit mode it is the rounding residue of an exact 0 (|μ| < 1e-16 here), which
          // the two paths accumulate differently (as before streaming); it must agree to 1e-6.
          const ts = gprlAdvantages(emb, shape, { ...options, backend: 'js' });
          for (const key of ALL_OUTPUTS) if (key !== 'dimMean') expect(firstBitDifference(full[key], ts[key]), key).toBe(-1);
          expect(full.dimMean.every((v, i) => Math.abs(v - ts.dimMean[i]!) <= 1e-6)).toBe(true);
        }
        for (const requested of [['advantages', 'dimMean', 'dimStd'], ['scores'], ['dimAdvantages', 'advantages'], []] as const) {
          const got = gprlAdvantages(emb, shape, { ...options, outputs: requested });
          expect([got.masked, got.degenerate]).toEqual([full.masked, full.degenerate]);
          for (const key of ALL_OUTPUTS) {
            if ((requested as readonly string[]).includes(key)) {
              expect(firstBitDifference(got[key], full[key]), key).toBe(-1);
            } else {
              expect(got[key].length, `${key} not requested`).toBe(0);
            }
          }
        }
        // Caller-owned arrays for requested outputs: unrequested ones are never touched.
        const out = { advantages: filled(full.advantages.length, 7.5) };
        const got = await gprlAdvantagesAsync(emb, shape, { ...options, outputs: ['advantages'], out });
        expect(got.advantages).toBe(out.advantages);
        expect(firstBitDifference(got.advantages, full.advantages)).toBe(-1);
        expect(got.dimAdvantages.length).toBe(0);
      });
    }
  }
});

describe('options.outputs validation', () => {
  const shape = { groups: 2, groupSize: 3, dims: 2 };
  const emb = new Float32Array(2 * 3 * 2 * 2).map((_, i) => Math.sin(i));

  it('rejects unknown names with a suggestion, non-arrays, and out arrays for outputs not requested', () => {
    expect(() => gprlAdvantages(emb, shape, { outputs: ['advantage'] as never })).toThrow(
      new RangeError(
        `gprl: invalid options.outputs[0]: expected one of 'advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores', got "advantage" (did you mean advantages?)`,
      ),
    );
    expect(() => gprlAdvantages(emb, shape, { outputs: ['scores', 'dimstd'] as never })).toThrow(/options\.outputs\[1\].*did you mean dimStd\?/);
    expect(() => gprlAdvantages(emb, shape, { outputs: 'advantages' as never })).toThrow(TypeError);
    expect(() => gprlAdvantages(emb, shape, { outputs: [1] as never })).toThrow(new TypeError(
      `gprl: invalid options.outputs[0]: expected one of 'advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores', got 1`,
    ));
    expect(() => gprlAdvantages(emb, shape, { outputs: ['advantages'], out: { scores: new Float32Array(12) } })).toThrow(
      /options\.out\.scores: expected no array for an output missing from options\.outputs/,
    );
  });
});
