/**
 * Hostile arguments (docs/kernels.md, "Arguments" and "Float32 overflow"):
 *  1. arrays over resizable / growable buffers: async calls reject them (a buffer that shrinks
 *     while a worker thread reads it used to kill the process), sync calls accept them;
 *  2. every option (and every field of `shape`, `options.out`, policy `inputs`) is read exactly
 *     once, so a getter cannot hand the checks one value and the kernel another;
 *  3. Proxies, detached buffers, DataViews, revoked Proxies and throwing getters are rejected with
 *     a `gprl:` TypeError naming the argument;
 *  4. output sizes are checked against MAX_OUTPUT_ELEMENTS before anything is allocated;
 *  5. finite inputs whose scores overflow float32 keep ±Infinity in the diagnostic outputs (scores,
 *     dimMean, dimStd) on every backend, with finite advantages.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  backendInfo,
  gprlAdvantages,
  gprlAdvantagesAsync,
  groupAdvantages,
  groupAdvantagesAsync,
  groupScores,
  groupScoresAsync,
  preferenceMatrix,
  preferenceMatrixAsync,
} from '../../src/kernels/index.js';
import { policyLoss, policyLossAsync, type PolicyLossInputs } from '../../src/kernels/policyLoss.js';
import { allocateOutput, MAX_OUTPUT_ELEMENTS } from '../../src/kernels/validate.js';
import { Rng } from '../../src/random.js';
import type { GroupShape, ResolvedBackend } from '../../src/types.js';
import { randomEmbeddings, randomLambdas, randomScores } from '../helpers.js';
import {
  dataViewOf,
  detachedCopy,
  flakyGetter,
  growableCopy,
  proxyOf,
  resizableCopy,
  revokedProxy,
  throwingGetter,
  type AnyArray,
} from './hostileArgs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const backends = backendInfo().available.filter((b): b is Exclude<ResolvedBackend, 'cuda'> => b !== 'cuda');

const shape: GroupShape = { groups: 2, groupSize: 3, dims: 2 };
const rng = new Rng(77);
const emb = randomEmbeddings(rng, shape);
const scores = randomScores(rng, shape);
const mask = Uint8Array.from([1, 1, 0, 1, 1, 1]);
const lambdas = randomLambdas(rng, shape);
const dimWeights = Float32Array.from([0.5, 2]);

const policyShape = { sequences: 2, tokens: 3 };
const policyInputs = (): PolicyLossInputs => ({
  logp: Float32Array.from([-1, -2, -0.5, -1.5, -0.2, -3]),
  logpOld: Float32Array.from([-1.1, -1.8, -0.7, -1.2, -0.4, -2.5]),
  logpRef: Float32Array.from([-1, -1.9, -0.6, -1.3, -0.3, -2.8]),
  advantages: Float32Array.from([1.5, -0.7]),
  mask: Uint8Array.from([1, 1, 0, 1, 1, 1]),
});

/** Numbers of a result, for exact comparison (NaN-safe: compares the string forms). */
function numbers(result: unknown): string {
  return JSON.stringify(result, (_key, value: unknown) =>
    ArrayBuffer.isView(value) ? Array.from(value as Float32Array, String) : typeof value === 'number' ? String(value) : value,
  );
}

describe('1. resizable and growable buffers', () => {
  it('shrinking a buffer during an async call cannot crash: every async entry point rejects them (child process)', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures/asyncResize.ts')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    // A crash shows as a signal (SIGSEGV, status null) or status 139.
    expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-2000) }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
    });
    const results = JSON.parse(child.stdout.trim().split('\n').pop()!) as {
      case: string;
      argument: string;
      result: 'ok' | { type: string; message: string };
    }[];
    const asyncCases = results.filter((r) => !r.case.includes('shrink-in-getter'));
    // 5 entry points: 9 + 8 + 2 + 2 + 5 arrays, 3 kinds of buffer, each backend but CUDA.
    expect(asyncCases.length).toBe(26 * 3 * backends.length);
    for (const r of asyncCases) {
      expect(r.result, `${r.case} ${r.argument}`).not.toBe('ok');
      const { type, message } = r.result as { type: string; message: string };
      expect(type, `${r.case} ${r.argument}`).toBe('TypeError');
      expect(message, `${r.case} ${r.argument}`).toMatch(
        new RegExp(
          `^gprl: invalid ${r.argument.replace(/\./g, '\\.')}: expected an? \\S+ of length \\d+ \\([^)]*\\) over a fixed-length buffer ` +
            `\\(async calls do not take resizable or growable buffers\\), got \\w+\\(\\d+, (resizable|growable)\\)$`,
        ),
      );
    }
    // Sync: a getter that shrinks the embeddings runs before they are checked, never after.
    const getterCases = results.filter((r) => r.case.includes('shrink-in-getter'));
    expect(getterCases.length).toBe(backends.length);
    for (const r of getterCases) {
      expect(r.result, r.case).toEqual({
        type: 'RangeError',
        message: 'gprl: invalid embeddings: expected a Float32Array of length 24 (groups·groupSize·2·dims), got Float32Array(0, resizable)',
      });
    }
  }, 300_000);

  it.each(backends)('sync calls accept resizable, length-tracking and growable buffers, with the same results (%s)', (backend) => {
    const wraps: [string, <T extends AnyArray>(a: T) => T][] = [
      ['resizable', (a) => resizableCopy(a)],
      ['length-tracking', (a) => resizableCopy(a, true)],
      ['growable', (a) => growableCopy(a)],
    ];
    const outOf = () => ({
      advantages: new Float32Array(6),
      dimAdvantages: new Float32Array(12),
      dimMean: new Float32Array(4),
      dimStd: new Float32Array(4),
      scores: new Float32Array(12),
    });
    const wrapOut = (o: ReturnType<typeof outOf>, w: <T extends AnyArray>(a: T) => T) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, w(v)])) as ReturnType<typeof outOf>;
    const plain = {
      gprl: gprlAdvantages(emb, shape, { backend, mask, lambdas, dimWeights, mode: 'winrate', out: outOf() }),
      adv: groupAdvantages(scores, shape, { backend, mask, lambdas, dimWeights }),
      scores: groupScores(emb, shape, { backend, mask }),
      pm: preferenceMatrix(emb, shape, { backend, lambdas }),
      loss: policyLoss(policyInputs(), policyShape, { backend, beta: 0.1 }),
    };
    for (const [name, w] of wraps) {
      const inputs = policyInputs();
      const wrapped = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, w(v as AnyArray)])) as unknown as PolicyLossInputs;
      const got = {
        gprl: gprlAdvantages(w(emb), shape, {
          backend,
          mask: w(mask),
          lambdas: w(lambdas),
          dimWeights: w(dimWeights),
          mode: 'winrate',
          out: wrapOut(outOf(), w),
        }),
        adv: groupAdvantages(w(scores), shape, { backend, mask: w(mask), lambdas: w(lambdas), dimWeights: w(dimWeights) }),
        scores: groupScores(w(emb), shape, { backend, mask: w(mask) }),
        pm: preferenceMatrix(w(emb), shape, { backend, lambdas: w(lambdas) }),
        loss: policyLoss(wrapped, policyShape, { backend, beta: 0.1 }),
      };
      expect(numbers(got), name).toBe(numbers(plain));
    }
  });
});

describe('2. options are read once', () => {
  /** Each case: kernel, option, its valid value, what later reads return, a call, other options it needs. */
  type Run = (options: Record<string, unknown>) => unknown;
  const later = { number: NaN, string: 'bogus', array: new Float32Array(1), mask: new Uint8Array(1) };
  const gprlRun: Run = (o) => gprlAdvantages(emb, shape, o);
  const advRun: Run = (o) => groupAdvantages(scores, shape, o);
  const lossRun: Run = (o) => policyLoss(policyInputs(), policyShape, o);
  const winrate = { mode: 'winrate' };
  const cases: [string, string, unknown, unknown, Run, Record<string, unknown>][] = [
    ['gprlAdvantages', 'eps', 0.01, later.number, gprlRun, {}],
    ['gprlAdvantages', 'stdFloor', 1e-3, later.number, gprlRun, {}],
    ['gprlAdvantages', 'tau', 0.5, later.number, gprlRun, winrate],
    ['gprlAdvantages', 'mode', 'winrate', later.string, gprlRun, {}],
    ['gprlAdvantages', 'std', 'biased', later.string, gprlRun, {}],
    ['gprlAdvantages', 'normalize', 'scalar', later.string, gprlRun, {}],
    ['gprlAdvantages', 'lambdas', lambdas, later.array, gprlRun, {}],
    ['gprlAdvantages', 'dimWeights', dimWeights, later.array, gprlRun, {}],
    ['gprlAdvantages', 'mask', mask, later.mask, gprlRun, {}],
    ['groupAdvantages', 'eps', 0.01, later.number, advRun, {}],
    ['groupAdvantages', 'stdFloor', 1e-3, later.number, advRun, {}],
    ['groupAdvantages', 'normalize', 'gdpo', later.string, advRun, {}],
    ['groupAdvantages', 'lambdas', lambdas, later.array, advRun, {}],
    ['groupScores', 'tau', 0.5, later.number, (o) => groupScores(emb, shape, o), winrate],
    ['groupScores', 'mask', mask, later.mask, (o) => groupScores(emb, shape, o), {}],
    ['preferenceMatrix', 'tau', 0.5, later.number, (o) => preferenceMatrix(emb, shape, o), {}],
    ['preferenceMatrix', 'lambdas', lambdas, later.array, (o) => preferenceMatrix(emb, shape, o), {}],
    ['policyLoss', 'maxLength', 5, later.number, lossRun, { aggregation: 'constant' }],
    ['policyLoss', 'epsilonLow', 0.1, later.number, lossRun, {}],
    ['policyLoss', 'epsilonHigh', 0.3, later.number, lossRun, {}],
    ['policyLoss', 'dualClip', 1.5, later.number, lossRun, {}],
    ['policyLoss', 'beta', 0.2, later.number, lossRun, {}],
    ['policyLoss', 'kl', 'k2', later.string, lossRun, { beta: 0.1 }],
    ['policyLoss', 'aggregation', 'sequence-mean', later.string, lossRun, {}],
  ];

  for (const backend of backends) {
    it.each(cases)(`%s: a getter for options.%s that turns bad after its first read changes nothing (${backend})`, (_fn, key, first, bad, run, extra) => {
      const want = run({ backend, ...extra, [key]: first });
      // The options object is passed as is (no spread, which would read the getter itself).
      const options: Record<string, unknown> = { backend, ...extra };
      const reads = flakyGetter(options, key, first, bad);
      expect(numbers(run(options))).toBe(numbers(want));
      expect(reads()).toBe(1);
    });

    it(`options.backend, options.out and its arrays, shape fields and policy inputs are read once too (${backend})`, () => {
      // backend: a second read would switch implementation.
      const other = backend === 'js' ? 'cpu' : 'js';
      const o1: Record<string, unknown> = {};
      const r1 = flakyGetter(o1, 'backend', backend, other);
      expect(gprlAdvantages(emb, shape, o1).backend).toBe(backend);
      expect(r1()).toBe(1);
      // out: the object, and each array.
      const out = { advantages: new Float32Array(6) };
      const o2: Record<string, unknown> = { backend };
      const r2 = flakyGetter(o2, 'out', out, { advantages: new Float32Array(1) });
      const got2 = gprlAdvantages(emb, shape, o2);
      expect(got2.advantages).toBe(out.advantages);
      expect(r2()).toBe(1);
      const outObj: Record<string, unknown> = {};
      const dimStd = new Float32Array(4);
      const r3 = flakyGetter(outObj, 'dimStd', dimStd, new Float32Array(1));
      expect(gprlAdvantages(emb, shape, { backend, out: outObj }).dimStd).toBe(dimStd);
      expect(r3()).toBe(1);
      // shape fields.
      const s: Record<string, unknown> = { groups: 2, dims: 2 };
      const r4 = flakyGetter(s, 'groupSize', 3, 1e9);
      expect(numbers(gprlAdvantages(emb, s as GroupShape, { backend }))).toBe(numbers(gprlAdvantages(emb, shape, { backend })));
      expect(r4()).toBe(1);
      // policy inputs: a second read of advantages would return a short array.
      const inputs = policyInputs() as unknown as Record<string, unknown>;
      const adv = inputs.advantages;
      const r5 = flakyGetter(inputs, 'advantages', adv, new Float32Array(1));
      const want = policyLoss(policyInputs(), policyShape, { backend });
      expect(numbers(policyLoss(inputs as unknown as PolicyLossInputs, policyShape, { backend }))).toBe(numbers(want));
      expect(r5()).toBe(1);
    });

    it(`inherited getters (a class instance) are honoured and read once (${backend})`, () => {
      let reads = 0;
      class Options {
        backend = backend;
        get eps(): number {
          return reads++ === 0 ? 0.05 : NaN;
        }
      }
      const got = gprlAdvantages(emb, shape, new Options() as never);
      expect(numbers(got)).toBe(numbers(gprlAdvantages(emb, shape, { backend, eps: 0.05 })));
      expect(reads).toBe(1);
    });
  }
});

describe('3. every rejection is a gprl: TypeError/RangeError naming the argument', () => {
  type Sync = (value: unknown) => unknown;
  /** [argument, expected text, call with the argument replaced, a valid value to derive hostile ones from]. */
  const targets: [string, string, Sync, AnyArray][] = [
    ['embeddings', 'a Float32Array of length 24 (groups·groupSize·2·dims)', (v) => gprlAdvantages(v as never, shape), emb],
    ['scores', 'a Float32Array of length 12 (groups·groupSize·dims)', (v) => groupAdvantages(v as never, shape), scores],
    ['options.mask', 'a Uint8Array of length 6 (groups·groupSize)', (v) => groupScores(emb, shape, { mask: v as never }), mask],
    ['options.lambdas', 'a Float32Array of length 4 (groups·dims)', (v) => preferenceMatrix(emb, shape, { lambdas: v as never }), lambdas],
    ['options.dimWeights', 'a Float32Array of length 2 (dims)', (v) => groupAdvantages(scores, shape, { dimWeights: v as never }), dimWeights],
    ...(['advantages', 'dimAdvantages', 'dimMean', 'dimStd', 'scores'] as const).map((key): [string, string, Sync, AnyArray] => {
      const n = { advantages: 6, dimAdvantages: 12, dimMean: 4, dimStd: 4, scores: 12 }[key];
      const formula = { advantages: 'groups·groupSize', dimAdvantages: 'groups·groupSize·dims', dimMean: 'groups·dims', dimStd: 'groups·dims', scores: 'groups·groupSize·dims' }[key];
      return [`options.out.${key}`, `a Float32Array of length ${n} (${formula})`, (v) => gprlAdvantages(emb, shape, { out: { [key]: v as never } }), new Float32Array(n)];
    }),
    ...(['logp', 'logpOld', 'logpRef', 'mask'] as const).map((key): [string, string, Sync, AnyArray] => [
      `inputs.${key}`,
      `a ${key === 'mask' ? 'Uint8Array' : 'Float32Array'} of length 6 (sequences·tokens)`,
      (v) => policyLoss({ ...policyInputs(), [key]: v }, policyShape),
      policyInputs()[key]!,
    ]),
    ['inputs.advantages', 'a Float32Array of length 2 (sequences)', (v) => policyLoss({ ...policyInputs(), advantages: v as never }, policyShape), policyInputs().advantages],
  ];

  it.each(targets)('%s: Proxy, detached typed array, DataView (live and detached), revoked Proxy', (name, expected, call, valid) => {
    const kind = valid instanceof Float32Array ? 'Float32Array' : 'Uint8Array';
    const bad: [unknown, string][] = [
      [proxyOf(valid.slice()), 'Proxy'],
      [detachedCopy(valid), `${kind}(detached)`],
      [dataViewOf(valid), `DataView(${valid.byteLength})`],
      [dataViewOf(valid, true), 'DataView(detached)'],
      [revokedProxy(valid.slice()), 'Proxy'],
    ];
    for (const [value, got] of bad) {
      expect(() => call(value), got).toThrow(new TypeError(`gprl: invalid ${name}: expected ${expected}, got ${got}`));
    }
  });

  it('the same rejections from every async entry point', async () => {
    const proxy = proxyOf(emb.slice());
    const expected = 'gprl: invalid embeddings: expected a Float32Array of length 24 (groups·groupSize·2·dims), got Proxy';
    await expect(gprlAdvantagesAsync(proxy, shape)).rejects.toThrow(new TypeError(expected));
    await expect(groupScoresAsync(proxy, shape)).rejects.toThrow(new TypeError(expected));
    await expect(preferenceMatrixAsync(proxy, shape)).rejects.toThrow(new TypeError(expected));
    await expect(groupAdvantagesAsync(scores, shape, { mask: dataViewOf(mask, true) as never })).rejects.toThrow(
      new TypeError('gprl: invalid options.mask: expected a Uint8Array of length 6 (groups·groupSize), got DataView(detached)'),
    );
    await expect(policyLossAsync({ ...policyInputs(), logp: detachedCopy(policyInputs().logp) }, policyShape)).rejects.toThrow(
      new TypeError('gprl: invalid inputs.logp: expected a Float32Array of length 6 (sequences·tokens), got Float32Array(detached)'),
    );
  });

  it('Proxies, revoked Proxies and throwing getters as shape, options, options.out and inputs', () => {
    expect(() => gprlAdvantages(emb, revokedProxy({ ...shape }))).toThrow(
      new TypeError('gprl: invalid shape: expected an object { groups, groupSize, dims }, got Proxy'),
    );
    expect(() => gprlAdvantages(emb, shape, revokedProxy({}))).toThrow(new TypeError('gprl: invalid options: expected an options object, got Proxy'));
    expect(() => gprlAdvantages(emb, shape, { out: revokedProxy({}) })).toThrow(
      new TypeError('gprl: invalid options.out: expected an options object, got Proxy'),
    );
    expect(() => policyLoss(revokedProxy(policyInputs()), policyShape)).toThrow(
      new TypeError('gprl: invalid inputs: expected an object { logp, logpOld, logpRef?, advantages, mask, policyMask? }, got Proxy'),
    );
    // A live Proxy is an ordinary object: accepted, read through its traps.
    expect(numbers(gprlAdvantages(emb, proxyOf({ ...shape }), proxyOf({ eps: 0.01 })))).toBe(numbers(gprlAdvantages(emb, shape, { eps: 0.01 })));

    const throwing = (key: string, target: object = {}): object => {
      throwingGetter(target, key);
      return target;
    };
    const read = (name: string) => `gprl: invalid ${name}: expected a readable value, got an exception from its getter (Error: boom)`;
    expect(() => gprlAdvantages(emb, throwing('dims', { groups: 2, groupSize: 3 }) as GroupShape)).toThrow(new TypeError(read('shape.dims')));
    expect(() => gprlAdvantages(emb, shape, throwing('tau'))).toThrow(new TypeError(read('options.tau')));
    expect(() => groupAdvantages(scores, shape, { out: throwing('dimMean') })).toThrow(new TypeError(read('options.out.dimMean')));
    expect(() => policyLoss(throwing('logp', policyInputs()) as PolicyLossInputs, policyShape)).toThrow(new TypeError(read('inputs.logp')));
    expect(() => policyLoss(policyInputs(), policyShape, throwing('beta'))).toThrow(new TypeError(read('options.beta')));
    const trap = new Proxy({}, { ownKeys: () => { throw new Error('boom'); } });
    expect(() => preferenceMatrix(emb, shape, trap)).toThrow(
      new TypeError('gprl: invalid options: expected a readable value, got an exception from its getter (Error: boom)'),
    );
  });

  it('a subclass with a lying length getter is judged by its real length', () => {
    class Liar extends Float32Array {
      override get length(): number {
        return 24;
      }
    }
    expect(() => gprlAdvantages(new Liar(3), shape)).toThrow(
      new RangeError('gprl: invalid embeddings: expected a Float32Array of length 24 (groups·groupSize·2·dims), got Float32Array(3)'),
    );
    // A Buffer is a Uint8Array subclass and a fine mask.
    expect(groupScores(emb, shape, { mask: Buffer.from(mask) }).length).toBe(12);
  });
});

describe('4. output sizes are limited before anything is allocated', () => {
  // Tiny inputs: were the shape accepted, the input check would fail instead; the limit must come first.
  const tiny = new Float32Array(1);
  const big = { groups: 1024, groupSize: 1024, dims: 2048 }; // B·G·k = 2^31 (embeddings: 2^32, still allowed)
  const sizeError = (count: number, output: string, formula: string, s: object) =>
    new RangeError(
      `gprl: invalid shape: expected at most ${MAX_OUTPUT_ELEMENTS} elements per output array, got ${count} elements in the output ` +
        `${output} (${formula} for ${JSON.stringify(s).replace(/"/g, '').replace(/[{:,]/g, '$& ').replace(/}/, ' }')})`,
    );
  const pm = { groups: 1, groupSize: 46341, dims: 1 }; // B·G·G = 2147488281
  const cases: [string, () => unknown, () => Promise<unknown>, RangeError][] = [
    ['preferenceMatrix', () => preferenceMatrix(tiny, pm), () => preferenceMatrixAsync(tiny, pm), sizeError(46341 ** 2, 'matrix', 'groups·groupSize·groupSize', pm)],
    ['groupScores', () => groupScores(tiny, big), () => groupScoresAsync(tiny, big), sizeError(2 ** 31, 'scores', 'groups·groupSize·dims', big)],
    ['gprlAdvantages', () => gprlAdvantages(tiny, big), () => gprlAdvantagesAsync(tiny, big), sizeError(2 ** 31, 'dimAdvantages', 'groups·groupSize·dims', big)],
    ['groupAdvantages', () => groupAdvantages(tiny, big), () => groupAdvantagesAsync(tiny, big), sizeError(2 ** 31, 'dimAdvantages', 'groups·groupSize·dims', big)],
    [
      'policyLoss',
      () => policyLoss(policyInputs(), { sequences: 2 ** 16, tokens: 2 ** 15 }),
      () => policyLossAsync(policyInputs(), { sequences: 2 ** 16, tokens: 2 ** 15 }),
      sizeError(2 ** 31, 'grad', 'sequences·tokens', { sequences: 2 ** 16, tokens: 2 ** 15 }),
    ],
  ];

  it.each(cases)('%s throws a RangeError naming the shape and the output, at once', async (_name, sync, async, error) => {
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    expect(sync).toThrow(error);
    await expect(async()).rejects.toThrow(error);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('an allocation that fails anyway is reported in the gprl: format, with the cause', () => {
    let error: unknown;
    try {
      allocateOutput(2 ** 53, 'matrix'); // beyond every Node version's typed-array maximum
    } catch (err) {
      error = err;
    }
    expect(error).toEqual(
      new RangeError('gprl: invalid shape: expected outputs that fit in memory, got 9007199254740992 elements for the output matrix (allocation failed)'),
    );
    expect((error as Error).cause).toBeInstanceOf(RangeError);
  });

  it('the largest allowed preference matrix shape is accepted by validation (the limit is not off by one)', () => {
    // 46340² = 2147395600 ≤ 2^31 − 1: validation passes, so the (deliberately wrong) input is what fails.
    expect(() => preferenceMatrix(tiny, { groups: 1, groupSize: 46340, dims: 1 })).toThrow(
      new RangeError('gprl: invalid embeddings: expected a Float32Array of length 92680 (groups·groupSize·2·dims), got Float32Array(1)'),
    );
  });
});

describe('5. finite inputs whose scores overflow float32', () => {
  // Scores of the first two responses ≈ ±1.5e77 in float64: stored as ±Infinity in float32.
  const s4: GroupShape = { groups: 1, groupSize: 4, dims: 1 };
  const huge = Float32Array.from([3e38, -3e38, -3e38, 3e38, 1, 2, 3e38, 3e38]);
  const extremeScores = Float32Array.from([3e38, -3e38, 3.4e38, -3.4e38]);

  it('keep ±Infinity in scores, dimMean and dimStd, with finite advantages, identically on every backend', () => {
    const per = backends.map((backend) => {
      const r = gprlAdvantages(huge, s4, { backend });
      expect([...r.scores.slice(0, 2)], backend).toEqual([Infinity, -Infinity]);
      expect(r.dimStd[0], backend).toBe(Infinity);
      expect(r.masked, backend).toBe(0);
      expect(r.advantages.every(Number.isFinite), backend).toBe(true);
      expect(r.dimAdvantages.every(Number.isFinite), backend).toBe(true);
      expect(groupScores(huge, s4, { backend })).toEqual(r.scores);
      const a = groupAdvantages(extremeScores, s4, { backend });
      expect(a.dimStd[0], backend).toBe(Infinity);
      expect(a.masked, backend).toBe(0);
      expect(a.advantages.every(Number.isFinite), backend).toBe(true);
      for (const normalize of ['scalar', 'gdpo'] as const) {
        expect(gprlAdvantages(huge, s4, { backend, normalize }).advantages.every(Number.isFinite), `${backend} ${normalize}`).toBe(true);
      }
      return numbers({ r: { ...r, backend: null }, a: { ...a, backend: null } });
    });
    for (const p of per) expect(p).toBe(per[0]);
  });
});

describe('found by the hostile fuzz', () => {
  it.each(backends)('policyLoss maxLength above 2^40 is refused the same way on every backend (%s)', (backend) => {
    // It used to pass the TypeScript checks and then fail in the native binding ("policyLoss args.maxLength").
    expect(() => policyLoss(policyInputs(), policyShape, { backend, aggregation: 'constant', maxLength: 2 ** 53 - 1 })).toThrow(
      new RangeError('gprl: invalid options.maxLength: expected a positive integer <= 1099511627776, got 9007199254740991'),
    );
    const r = policyLoss(policyInputs(), policyShape, { backend, aggregation: 'constant', maxLength: 2 ** 40 });
    expect(Number.isFinite(r.loss)).toBe(true);
  });
});
