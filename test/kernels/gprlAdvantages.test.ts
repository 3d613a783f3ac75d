import { describe, expect, it } from 'vitest';
import { backendInfo, gprlAdvantages, gprlAdvantagesAsync, groupAdvantages, groupScores } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GprlAdvantageOptions, GroupShape, NormalizeMode, ScoreMode, StdMode } from '../../src/types.js';
import {
  TOL_ADVANTAGE,
  expectAdvantagesMatch,
  expectClose,
  injectNonFinite,
  keepFirst,
  makeDegenerate,
  maskGroup,
  randomDimWeights,
  randomEmbeddings,
  randomLambdas,
  randomMask,
  scoreTolerance,
  shapeGrid,
  shapeName,
  sizes,
} from '../helpers.js';
import { refGprlAdvantages, refValidity } from '../reference.js';

const backends = backendInfo().available;
const modes: ScoreMode[] = ['logit', 'winrate'];
const normalizeModes: NormalizeMode[] = ['per-dimension', 'scalar', 'gdpo'];
const stdModes: StdMode[] = ['unbiased', 'biased'];

function check(emb: Float32Array, shape: GroupShape, options: GprlAdvantageOptions, label: string): ReturnType<typeof gprlAdvantages> {
  const got = gprlAdvantages(emb, shape, options);
  const { backend: _backend, ...refOptions } = options;
  const want = refGprlAdvantages(emb, shape, refOptions);
  expectClose(got.scores, want.scores, { ...scoreTolerance(want.scores), label: `${label} scores` });
  expectAdvantagesMatch(got, want, label);
  return got;
}

describe.each(backends)('gprlAdvantages [%s]', (backend) => {
  describe.each(modes)('mode %s', (mode) => {
    it.each(shapeGrid().map((s) => [shapeName(s), s] as const))('matches the float64 reference, %s', (_name, shape) => {
      const rng = new Rng(shape.groups * 104729 + shape.groupSize * 17 + shape.dims + mode.length);
      const emb = randomEmbeddings(rng, shape);
      const got = check(emb, shape, { mode, backend, lambdas: randomLambdas(rng, shape) }, `${backend} ${mode} ${shapeName(shape)}`);
      expect(got.backend).toBe(backend);
    });

    it.each(normalizeModes.flatMap((n) => stdModes.map((s) => [n, s] as const)))('normalize %s, std %s, every option', (normalize, std) => {
      const rng = new Rng(normalize.length * 101 + std.length * 7 + mode.length);
      const shape: GroupShape = { groups: 5, groupSize: 7, dims: 3 };
      for (const eps of [0, 1e-4, 0.5]) {
        for (const stdFloor of [0, 1e-6, 0.05]) {
          const emb = randomEmbeddings(rng, shape);
          const options: GprlAdvantageOptions = {
            mode,
            tau: mode === 'winrate' ? rng.uniform(0.05, 2) : 0.1,
            lambdas: randomLambdas(rng, shape),
            dimWeights: randomDimWeights(rng, shape.dims),
            mask: randomMask(rng, sizes(shape).responses, 0.2),
            eps,
            stdFloor,
            std,
            normalize,
            backend,
          };
          check(emb, shape, options, `eps ${eps} floor ${stdFloor}`);
        }
      }
    });

    it('masked rows, fully masked group, one-response group, NaN/±Inf embeddings, degenerate dimensions', () => {
      const rng = new Rng(31 + mode.length);
      const shape: GroupShape = { groups: 8, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses, 0.15);
      maskGroup(mask, shape, 0);
      keepFirst(mask, shape, 1, 1);
      keepFirst(mask, shape, 2, 2);
      makeDegenerate(emb, shape, 3, 0, 'identical');
      makeDegenerate(emb, shape, 4, 1, 'zero-a');
      for (let l = 0; l < 3; l++) makeDegenerate(emb, shape, 5, l, 'zero');
      injectNonFinite(rng, emb, 2 * shape.dims, 9);
      for (const normalize of normalizeModes) {
        const got = check(emb, shape, { mode, mask, normalize, backend }, `edge ${normalize}`);
        const valid = refValidity(emb, shape, mask).flat();
        expect(got.masked).toBe(valid.filter((v) => !v).length);
        valid.forEach((v, r) => {
          if (!v) {
            expect(got.advantages[r]).toBe(0);
            expect(Array.from(got.scores.subarray(r * 3, r * 3 + 3)).every(Number.isNaN)).toBe(true);
          }
        });
        expect(got.degenerate).toBeGreaterThan(0);
      }
    });

    it('equals groupScores chained into groupAdvantages', () => {
      const rng = new Rng(41);
      const shape: GroupShape = { groups: 6, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      const mask = randomMask(rng, sizes(shape).responses);
      injectNonFinite(rng, emb, 6, 3);
      const lambdas = randomLambdas(rng, shape);
      const fused = gprlAdvantages(emb, shape, { mode, mask, lambdas, backend });
      const scores = groupScores(emb, shape, { mode, mask, backend });
      const chained = groupAdvantages(scores, shape, { mask, lambdas, backend });
      // The fused kernel normalizes float64 scores, the chain their float32 roundings.
      expectClose(fused.advantages, chained.advantages, TOL_ADVANTAGE);
      expectClose(fused.dimAdvantages, chained.dimAdvantages, TOL_ADVANTAGE);
      expect(fused.masked).toBe(chained.masked);
      expect(fused.degenerate).toBe(chained.degenerate);
    });

    it('async twin equals the sync result', async () => {
      const rng = new Rng(3);
      const shape: GroupShape = { groups: 4, groupSize: 7, dims: 3 };
      const emb = randomEmbeddings(rng, shape);
      const options: GprlAdvantageOptions = { mode, lambdas: randomLambdas(rng, shape), mask: randomMask(rng, 28), backend };
      const sync = gprlAdvantages(emb, shape, options);
      const asyncOut = await gprlAdvantagesAsync(emb, shape, options);
      expect(asyncOut).toEqual(sync);
    });
  });

  it.each(modes)('%s scores beyond the float32 range are stored as ±Infinity; advantages stay finite', (mode) => {
    const rng = new Rng(12);
    const shape: GroupShape = { groups: 3, groupSize: 6, dims: 2 };
    const emb = randomEmbeddings(rng, shape, 1e20);
    const got = gprlAdvantages(emb, shape, { mode, tau: 1e30, backend });
    const want = refGprlAdvantages(emb, shape, { mode, tau: 1e30 });
    // Outputs are float32 roundings of float64 values: compare against the rounded reference.
    const f32 = (xs: number[]): number[] => xs.map(Math.fround);
    expectClose(got.scores, f32(want.scores), { ...scoreTolerance(f32(want.scores), mode), label: 'scores' });
    if (mode === 'logit') expect(got.scores.some((v) => !Number.isFinite(v))).toBe(true);
    expect(got.advantages.every(Number.isFinite)).toBe(true);
    expectClose(got.advantages, want.advantages, { ...TOL_ADVANTAGE, label: 'advantages' });
    expectClose(got.dimAdvantages, want.dimAdvantages, { ...TOL_ADVANTAGE, label: 'dimAdvantages' });
    expectClose(got.dimStd, f32(want.dimStd), { ...scoreTolerance(f32(want.dimStd), mode), label: 'dimStd' });
    expect(got.masked).toBe(0);
  });

  it('accepts views into larger buffers (non-zero byteOffset) for every array', () => {
    const rng = new Rng(22);
    const shape: GroupShape = { groups: 3, groupSize: 7, dims: 3 };
    const n = sizes(shape);
    const view = <T extends Float32Array | Uint8Array>(a: T, make: (len: number) => T): T => {
      const big = make(a.length + 11);
      big.fill(255 as never);
      big.set(a as never, 5);
      return big.subarray(5, 5 + a.length) as T;
    };
    const emb = randomEmbeddings(rng, shape);
    const mask = randomMask(rng, n.responses);
    const lambdas = randomLambdas(rng, shape);
    const dimWeights = randomDimWeights(rng, shape.dims);
    const plain = gprlAdvantages(emb, shape, { mask, lambdas, dimWeights, backend });
    const viewed = gprlAdvantages(view(emb, (l) => new Float32Array(l)), shape, {
      mask: view(mask, (l) => new Uint8Array(l)),
      lambdas: view(lambdas, (l) => new Float32Array(l)),
      dimWeights: view(dimWeights, (l) => new Float32Array(l)),
      backend,
    });
    expect(viewed).toEqual(plain);
    const scores = view(plain.scores, (l) => new Float32Array(l));
    expect(groupAdvantages(scores, shape, { mask, backend })).toEqual(groupAdvantages(plain.scores, shape, { mask, backend }));
  });

  it('concurrent async calls each get their own results', async () => {
    const rng = new Rng(21);
    const shape: GroupShape = { groups: 16, groupSize: 16, dims: 8 };
    const inputs = Array.from({ length: 8 }, () => randomEmbeddings(rng, shape));
    const options: GprlAdvantageOptions[] = inputs.map((_, t) => ({
      mode: t % 2 ? 'winrate' : 'logit',
      normalize: normalizeModes[t % 3],
      mask: randomMask(rng, sizes(shape).responses),
      backend,
    }));
    const results = await Promise.all(inputs.map((emb, t) => gprlAdvantagesAsync(emb, shape, options[t])));
    results.forEach((r, t) => expect(r).toEqual(gprlAdvantages(inputs[t]!, shape, options[t])));
  });

  it('a large batch (B = 512, G = 16, k = 8) matches the reference', () => {
    const rng = new Rng(99);
    const shape: GroupShape = { groups: 512, groupSize: 16, dims: 8 };
    const emb = randomEmbeddings(rng, shape);
    check(emb, shape, { lambdas: randomLambdas(rng, shape), mask: randomMask(rng, 512 * 16, 0.05), backend }, 'large');
  });
});
