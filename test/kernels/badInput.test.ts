/** Bad input: every kernel throws a TypeError/RangeError naming the argument, with the exact message. */
import { describe, expect, it } from 'vitest';
import {
  gprlAdvantages,
  gprlAdvantagesAsync,
  groupAdvantages,
  groupAdvantagesAsync,
  groupScores,
  groupScoresAsync,
  preferenceMatrix,
  preferenceMatrixAsync,
} from '../../src/kernels/index.js';
import { MAX_ELEMENTS, MAX_OUTPUT_ELEMENTS } from '../../src/kernels/validate.js';
import type { GroupShape } from '../../src/types.js';

const shape: GroupShape = { groups: 2, groupSize: 3, dims: 2 };
const emb = new Float32Array(24).fill(0.5);
const scores = new Float32Array(12).fill(0.5);

type Call = (input: unknown, s: unknown, options?: unknown) => unknown;
const embeddingKernels: [string, Call][] = [
  ['groupScores', groupScores as Call],
  ['gprlAdvantages', gprlAdvantages as Call],
  ['preferenceMatrix', preferenceMatrix as Call],
];
const allKernels: [string, Call, Float32Array][] = [
  ['groupScores', groupScores as Call, emb],
  ['gprlAdvantages', gprlAdvantages as Call, emb],
  ['preferenceMatrix', preferenceMatrix as Call, emb],
  ['groupAdvantages', groupAdvantages as Call, scores],
];

describe('shape', () => {
  const cases: [unknown, ErrorConstructor, string][] = [
    [null, TypeError, 'gprl: invalid shape: expected an object { groups, groupSize, dims }, got null'],
    [[2, 3, 2], TypeError, 'gprl: invalid shape: expected an object { groups, groupSize, dims }, got Array(3)'],
    [{ ...shape, groups: 0 }, RangeError, 'gprl: invalid shape.groups: expected a positive integer, got 0'],
    [{ ...shape, groups: -2 }, RangeError, 'gprl: invalid shape.groups: expected a positive integer, got -2'],
    [{ ...shape, groupSize: 2.5 }, RangeError, 'gprl: invalid shape.groupSize: expected a positive integer, got 2.5'],
    [{ ...shape, groupSize: NaN }, RangeError, 'gprl: invalid shape.groupSize: expected a positive integer, got NaN'],
    [{ ...shape, groupSize: Infinity }, RangeError, 'gprl: invalid shape.groupSize: expected a positive integer, got Infinity'],
    [{ ...shape, dims: '2' }, TypeError, 'gprl: invalid shape.dims: expected a positive integer, got "2"'],
    [{ groups: 2, groupSize: 3 }, TypeError, 'gprl: invalid shape.dims: expected a positive integer, got undefined'],
    [{ ...shape, groups: 2 ** 53 }, RangeError, 'gprl: invalid shape.groups: expected a positive integer, got 9007199254740992'],
  ];
  it.each(allKernels)('%s rejects bad shapes', (_name, fn, input) => {
    for (const [s, type, message] of cases) {
      expect(() => fn(input, s)).toThrow(type);
      expect(() => fn(input, s)).toThrow(message);
    }
  });

  it('guards sizes that do not fit a typed array', () => {
    const groups = Math.floor(MAX_ELEMENTS / 2) + 1;
    expect(() => gprlAdvantages(emb, { groups, groupSize: 1, dims: 1 })).toThrow(
      new RangeError(`gprl: invalid shape: expected groups·groupSize·2·dims <= ${MAX_ELEMENTS} elements, got ${2 * groups}`),
    );
    const huge = 2 ** 31;
    expect(() => groupScores(emb, { groups: huge, groupSize: huge, dims: huge })).toThrow(
      new RangeError(`gprl: invalid shape: expected groups·groupSize·2·dims <= ${MAX_ELEMENTS} elements, got ${2 * huge ** 3}`),
    );
    // The preference matrix output B·G·G is checked too (against the per-output limit).
    const g = Math.ceil(Math.sqrt(MAX_ELEMENTS)) + 1;
    expect(() => preferenceMatrix(emb, { groups: 1, groupSize: g, dims: 1 })).toThrow(
      new RangeError(
        `gprl: invalid shape: expected at most ${MAX_OUTPUT_ELEMENTS} elements per output array, got ${g * g} elements in the ` +
          `output matrix (groups·groupSize·groupSize for { groups: 1, groupSize: ${g}, dims: 1 })`,
      ),
    );
  });
});

describe('input arrays', () => {
  it.each(embeddingKernels)('%s: embeddings must be a Float32Array of length B·G·2k', (_name, fn) => {
    const expected = 'expected a Float32Array of length 24 (groups·groupSize·2·dims)';
    expect(() => fn(new Float64Array(24), shape)).toThrow(new TypeError(`gprl: invalid embeddings: ${expected}, got Float64Array(24)`));
    expect(() => fn(Array.from(emb), shape)).toThrow(new TypeError(`gprl: invalid embeddings: ${expected}, got Array(24)`));
    expect(() => fn(undefined, shape)).toThrow(new TypeError(`gprl: invalid embeddings: ${expected}, got undefined`));
    expect(() => fn(new Float32Array(23), shape)).toThrow(new RangeError(`gprl: invalid embeddings: ${expected}, got Float32Array(23)`));
    expect(() => fn(new Float32Array(12), shape)).toThrow(new RangeError(`gprl: invalid embeddings: ${expected}, got Float32Array(12)`));
  });

  it('groupAdvantages: scores must be a Float32Array of length B·G·k', () => {
    const expected = 'expected a Float32Array of length 12 (groups·groupSize·dims)';
    expect(() => groupAdvantages(new Float32Array(24), shape)).toThrow(
      new RangeError(`gprl: invalid scores: ${expected}, got Float32Array(24)`),
    );
    expect(() => groupAdvantages(new Int32Array(12) as never, shape)).toThrow(new TypeError(`gprl: invalid scores: ${expected}, got Int32Array(12)`));
  });
});

describe('options', () => {
  it.each(allKernels)('%s: options must be an object or undefined, with known keys', (name, fn, input) => {
    expect(() => fn(input, shape, null)).toThrow(new TypeError('gprl: invalid options: expected an options object, got null'));
    expect(() => fn(input, shape, 'fast')).toThrow(new TypeError('gprl: invalid options: expected an options object, got "fast"'));
    expect(() => fn(input, shape, [])).toThrow(new TypeError('gprl: invalid options: expected an options object, got Array(0)'));
    expect(() => fn(input, shape, { tua: 0.1 })).toThrow(RangeError);
    expect(() => fn(input, shape, { tua: 0.1 })).toThrow('gprl: invalid options.tua: expected a known option (');
    expect(() => fn(input, shape, { backend: 'gpu' })).toThrow(
      new RangeError(`gprl: invalid options.backend: expected one of 'auto', 'cuda', 'cpu', 'js', got "gpu"`),
    );
    expect(fn(input, shape, undefined)).toBeDefined();
    expect(fn(input, shape, {})).toBeDefined();
    if (name === 'groupScores') {
      expect(() => fn(input, shape, { eps: 0 })).toThrow(
        new RangeError('gprl: invalid options.eps: expected a known option (mode, tau, mask, backend), got "eps"'),
      );
    }
    if (name === 'preferenceMatrix') {
      expect(() => fn(input, shape, { mask: new Uint8Array(6) })).toThrow(
        new RangeError('gprl: invalid options.mask: expected a known option (lambdas, tau, backend), got "mask"'),
      );
    }
  });

  it('mode and tau', () => {
    expect(() => gprlAdvantages(emb, shape, { mode: 'pairwise' as never })).toThrow(
      new RangeError(`gprl: invalid options.mode: expected one of 'logit', 'winrate', got "pairwise"`),
    );
    expect(() => groupScores(emb, shape, { mode: 1 as never })).toThrow(
      new TypeError(`gprl: invalid options.mode: expected one of 'logit', 'winrate', got 1`),
    );
    for (const tau of [0, -1, NaN, Infinity]) {
      for (const fn of [groupScores, gprlAdvantages, preferenceMatrix] as Call[]) {
        expect(() => fn(emb, shape, { tau })).toThrow(
          new RangeError(`gprl: invalid options.tau: expected a finite number > 0, got ${String(tau)}`),
        );
      }
    }
    expect(() => groupScores(emb, shape, { tau: '0.1' as never })).toThrow(
      new TypeError('gprl: invalid options.tau: expected a finite number, got "0.1"'),
    );
  });

  it('eps, stdFloor, std, normalize', () => {
    for (const fn of [groupAdvantages, gprlAdvantages] as Call[]) {
      const input = fn === groupAdvantages ? scores : emb;
      for (const key of ['eps', 'stdFloor']) {
        for (const v of [-1e-9, NaN, Infinity]) {
          expect(() => fn(input, shape, { [key]: v })).toThrow(
            new RangeError(`gprl: invalid options.${key}: expected a finite number >= 0, got ${String(v)}`),
          );
        }
        expect(() => fn(input, shape, { [key]: null })).toThrow(new TypeError(`gprl: invalid options.${key}: expected a finite number, got null`));
      }
      expect(() => fn(input, shape, { std: 'sample' })).toThrow(
        new RangeError(`gprl: invalid options.std: expected one of 'unbiased', 'biased', got "sample"`),
      );
      expect(() => fn(input, shape, { normalize: 'grpo' })).toThrow(
        new RangeError(`gprl: invalid options.normalize: expected one of 'per-dimension', 'scalar', 'gdpo', got "grpo"`),
      );
    }
  });

  it('mask', () => {
    const expected = 'expected a Uint8Array of length 6 (groups·groupSize)';
    for (const fn of [groupScores, gprlAdvantages] as Call[]) {
      expect(() => fn(emb, shape, { mask: new Uint8Array(5) })).toThrow(new RangeError(`gprl: invalid options.mask: ${expected}, got Uint8Array(5)`));
      expect(() => fn(emb, shape, { mask: [1, 1, 1, 1, 1, 1] })).toThrow(new TypeError(`gprl: invalid options.mask: ${expected}, got Array(6)`));
      expect(() => fn(emb, shape, { mask: new Int8Array(6) })).toThrow(new TypeError(`gprl: invalid options.mask: ${expected}, got Int8Array(6)`));
    }
    expect(() => groupAdvantages(scores, shape, { mask: new Float32Array(6) as never })).toThrow(
      new TypeError(`gprl: invalid options.mask: ${expected}, got Float32Array(6)`),
    );
  });

  it('lambdas: B·k finite values ≥ 0 with a positive sum per group', () => {
    for (const fn of [groupAdvantages, gprlAdvantages, preferenceMatrix] as Call[]) {
      const input = fn === groupAdvantages ? scores : emb;
      const expected = 'expected a Float32Array of length 4 (groups·dims)';
      expect(() => fn(input, shape, { lambdas: new Float32Array(3) })).toThrow(
        new RangeError(`gprl: invalid options.lambdas: ${expected}, got Float32Array(3)`),
      );
      expect(() => fn(input, shape, { lambdas: new Float64Array(4) })).toThrow(
        new TypeError(`gprl: invalid options.lambdas: ${expected}, got Float64Array(4)`),
      );
      const bad = (values: number[]): unknown => fn(input, shape, { lambdas: new Float32Array(values) });
      expect(() => bad([1, 1, 1, NaN])).toThrow(new RangeError('gprl: invalid options.lambdas[3]: expected a finite number >= 0, got NaN'));
      expect(() => bad([1, -0.5, 1, 1])).toThrow(new RangeError('gprl: invalid options.lambdas[1]: expected a finite number >= 0, got -0.5'));
      expect(() => bad([1, 1, Infinity, 1])).toThrow(
        new RangeError('gprl: invalid options.lambdas[2]: expected a finite number >= 0, got Infinity'),
      );
      expect(() => bad([1, 1, 0, 0])).toThrow(
        new RangeError('gprl: invalid options.lambdas (group 1): expected a positive sum over the dimensions, got 0'),
      );
      expect(bad([0, 1, 1, 0])).toBeDefined();
    }
  });

  it('dimWeights: k finite values ≥ 0 with a positive sum, and a positive m·λ in every group', () => {
    for (const fn of [groupAdvantages, gprlAdvantages] as Call[]) {
      const input = fn === groupAdvantages ? scores : emb;
      expect(() => fn(input, shape, { dimWeights: new Float32Array(4) })).toThrow(
        new RangeError('gprl: invalid options.dimWeights: expected a Float32Array of length 2 (dims), got Float32Array(4)'),
      );
      expect(() => fn(input, shape, { dimWeights: new Float32Array([1, NaN]) })).toThrow(
        new RangeError('gprl: invalid options.dimWeights[1]: expected a finite number >= 0, got NaN'),
      );
      expect(() => fn(input, shape, { dimWeights: new Float32Array([0, 0]) })).toThrow(
        new RangeError('gprl: invalid options.dimWeights: expected a positive sum, got 0'),
      );
      expect(() => fn(input, shape, { dimWeights: new Float32Array([0, 1]), lambdas: new Float32Array([0, 1, 1, 0]) })).toThrow(
        new RangeError('gprl: invalid options.dimWeights·options.lambdas (group 1): expected a positive sum over the dimensions, got 0'),
      );
    }
  });
});

describe('async twins reject with the same errors', () => {
  it('every kernel', async () => {
    const msg = 'gprl: invalid shape.groups: expected a positive integer, got 0';
    const s = { ...shape, groups: 0 };
    await expect(groupScoresAsync(emb, s)).rejects.toThrow(new RangeError(msg));
    await expect(groupAdvantagesAsync(scores, s)).rejects.toThrow(new RangeError(msg));
    await expect(gprlAdvantagesAsync(emb, s)).rejects.toThrow(new RangeError(msg));
    await expect(preferenceMatrixAsync(emb, s)).rejects.toThrow(new RangeError(msg));
    await expect(gprlAdvantagesAsync(emb, shape, { tau: -1 })).rejects.toThrow(RangeError);
  });
});
