/**
 * The benchmark harness and the tfjs composition it times: the composition must compute what the
 * kernels compute (checked against the float64 reference on awkward inputs, on both tfjs backends,
 * without leaking tensors), and the harness must report failures, skips and rows faithfully.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendRows,
  assertClose,
  compare,
  formatMarkdown,
  formatTable,
  parseArgs,
  type BandwidthProbe,
  type BenchContext,
  type Environment,
} from '../../bench/harness.js';
import { gprlAdvantagesComposed } from '../../bench/tfjs/gprlAdvantagesComposed.js';
import { Rng } from '../../src/random.js';
import { setTfBackend, tf } from '../../src/tf.js';
import type { GroupShape } from '../../src/types.js';
import { expectClose, injectNonFinite, keepFirst, makeDegenerate, maskGroup, randomDimWeights, randomEmbeddings, randomLambdas, randomMask } from '../helpers.js';
import { refGprlAdvantages } from '../reference.js';

describe.each(['cpu', 'wasm'] as const)('gprlAdvantagesComposed on tfjs %s', (backend) => {
  beforeAll(async () => {
    await setTfBackend(backend);
  });

  it.each([
    { groups: 9, groupSize: 7, dims: 3 },
    { groups: 5, groupSize: 2, dims: 1 },
    { groups: 4, groupSize: 16, dims: 8 },
  ])('matches the float64 reference with masks, non-finite rows and degenerate dimensions (%o)', (shape: GroupShape) => {
    for (const std of ['unbiased', 'biased'] as const) {
      const rng = new Rng(shape.groups * 100 + shape.dims);
      const emb = randomEmbeddings(rng, shape);
      makeDegenerate(emb, shape, 1, 0, 'identical');
      const mask = randomMask(rng, shape.groups * shape.groupSize, 0.15);
      maskGroup(mask, shape, 0);
      if (shape.groups > 3) keepFirst(mask, shape, 3, 1);
      injectNonFinite(rng, emb, 2 * shape.dims, 2);
      const lambdas = randomLambdas(rng, shape);
      const dimWeights = randomDimWeights(rng, shape.dims);
      const before = tf.memory().numTensors;
      const got = gprlAdvantagesComposed(emb, shape, { lambdas, dimWeights, mask, std });
      expect(tf.memory().numTensors).toBe(before);
      const want = refGprlAdvantages(emb, shape, { lambdas, dimWeights, mask, std });
      expect(got.masked).toBe(want.masked);
      expect(got.degenerate).toBe(want.degenerate);
      // float32 throughout: scores, means and stds are O(1) (N(0,1) inputs), so 1e-5 absolute;
      // Â divides a score error by σ + ε, so its tolerance is scaled per group and dimension.
      expectClose(got.scores, want.scores, { rtol: 1e-4, atol: 1e-5, label: 'scores' });
      expectClose(got.dimMean, want.dimMean, { rtol: 1e-4, atol: 1e-5, label: 'dimMean' });
      expectClose(got.dimStd, want.dimStd, { rtol: 1e-4, atol: 1e-5, label: 'dimStd' });
      const { groupSize: G, dims: k } = shape;
      for (let i = 0; i < got.dimAdvantages.length; i++) {
        const b = Math.floor(i / (G * k));
        const l = i % k;
        const tol = 1e-4 * Math.abs(want.dimAdvantages[i]!) + (2e-5 / (want.dimStd[b * k + l]! + 1e-4));
        expect(Math.abs(got.dimAdvantages[i]! - want.dimAdvantages[i]!), `dimAdvantages[${i}]`).toBeLessThanOrEqual(tol);
      }
      for (let i = 0; i < got.advantages.length; i++) {
        const b = Math.floor(i / G);
        let tol = 0;
        for (let l = 0; l < k; l++) tol = Math.max(tol, 2e-5 / (want.dimStd[b * k + l]! + 1e-4));
        expect(Math.abs(got.advantages[i]! - want.advantages[i]!), `advantages[${i}]`).toBeLessThanOrEqual(tol + 1e-4 * Math.abs(want.advantages[i]!));
      }
    }
  });
});

const probe: BandwidthProbe = { source: 'js-float64', bytes: 1, threads: 1, read1: 10, readAll: 10, copy1: 10, copyAll: 10, write1: 10, writeAll: 10 };
const env = { date: '2026-01-01T00:00:00.000Z', node: 'v20', cores: 2 } as unknown as Environment;

function fakeContext(): BenchContext {
  return { quick: true, maxTime: 0.02, minSamples: 3, skipAboveSeconds: 1, shapes: [], env, probe, log: () => {} };
}

describe('harness', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gprl-bench-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('parses the command line and rejects unknown arguments', () => {
    expect(parseArgs(['--quick', '--filter', 'a,b', '--filter=c', '--shapes', 'small', '--out=x', '--markdown'])).toEqual({
      quick: true,
      markdown: true,
      filter: ['a', 'b', 'c'],
      shapes: ['small'],
      out: 'x',
    });
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument "--fast"/);
    expect(() => parseArgs(['--out'])).toThrow(/--out needs a value/);
  });

  it('assertClose names the first mismatches and treats NaN as equal only to NaN', () => {
    expect(() => assertClose('x', [1, NaN, 3], [1, NaN, 3], 0, 0)).not.toThrow();
    expect(() => assertClose('x', [1, 2, 3.1], [1, 2, 3], 0, 0.05)).toThrow('x: 1 of 3 values differ (rtol 0, atol 0.05): [2] got 3.1, want 3');
    expect(() => assertClose('x', [0], [NaN], 1, 1)).toThrow(/\[0\] got 0, want NaN/);
    expect(() => assertClose('x', [1.5], [1], 0, (i) => (i === 0 ? 1 : 0))).not.toThrow();
  });

  it('compare() times passing contenders, reports failed and skipped ones, and takes ratios to js', async () => {
    let x = 0;
    const rows = await compare(fakeContext(), {
      name: 'toy',
      shapeLabel: 'small',
      dims: { n: 1 },
      bytes: 1e6,
      contenders: [
        { backend: 'js', fn: () => (x += Math.sqrt(x + 1)) },
        { backend: 'wrong', fn: () => 0, check: () => assertClose('wrong', [1], [2], 0, 0) },
        {
          backend: 'slow',
          fn: () => {
            const t = performance.now();
            while (performance.now() - t < 400);
          },
          threads: 2,
        },
      ],
    });
    expect(rows.map((r) => r.backend)).toEqual(['js', 'wrong', 'slow']);
    const [js, wrong, slow] = rows;
    expect(js!.medianMs).toBeGreaterThan(0);
    expect(js!.samples).toBeGreaterThanOrEqual(3);
    expect(js!.ratioToJs).toBe(1);
    expect(js!.gbPerSec).toBeCloseTo(1e6 / (js!.medianMs! / 1e3) / 1e9, 9);
    expect(js!.pctRead).toBeCloseTo((js!.gbPerSec! / probe.read1) * 100, 9);
    expect(wrong!.medianMs).toBeNull();
    expect(wrong!.note).toMatch(/^failed: wrong: 1 of 1 values differ/);
    expect(slow!.medianMs).toBeNull();
    expect(slow!.note).toMatch(/^skipped: one call took 0\.\d\d s \(limit 1 s per contender\)/);
    const table = formatTable(rows);
    expect(table.split('\n')).toHaveLength(5);
    expect(table).toContain('skipped: one call took');
    expect(formatMarkdown(rows).split('\n')[1]).toMatch(/^\| --- \|/);
  });

  it('appendRows appends one JSON line per row with the environment, keeping earlier lines', () => {
    const ctx = { env, probe, quick: false };
    appendRows(dir, 'toy', [{ name: 'toy', backend: 'js', shape: 'small', medianMs: 1 }], ctx);
    const file = appendRows(dir, 'toy', [{ name: 'toy', backend: 'cpu', shape: 'small', medianMs: 0.5 }], ctx);
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.backend)).toEqual(['js', 'cpu']);
    expect(lines[1]!.env).toEqual(env);
    expect(lines[1]!.probe).toEqual(probe);
    expect(fs.readdirSync(dir)).toEqual(['toy.jsonl']);
  });
});
