import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf, setTfBackend } from '../../src/tf.js';
import { runDemo, type StepRecord } from '../../src/demo/pipeline.js';
import { summarize, terminalTable, writeReport } from '../../src/demo/report.js';

// A short end-to-end run at tiny sizes: every stage runs, every file is written, every value is
// finite. It does not assert which method wins.
for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gprl demo pipeline (tfjs ${backend})`, () => {
    it('runs every stage and writes every output', async () => {
      await setTfBackend(backend);
      const before = tf.memory().numTensors;
      const stages = new Set<string>();
      const records: StepRecord[] = [];
      const result = await runDemo(
        { seeds: 2, steps: 4, extended: true, pairs: 240, verifierEpochs: 1, evalPerPrompt: 2, curvePerPrompt: 1, curvePoints: 2 },
        { onProgress: (p) => stages.add(p.label.replace(/^seed \d+: /, '').replace(/, step.*$/, '').replace(/ \d+ pairs$/, '')), onStep: (r) => records.push(r) },
      );
      expect(tf.memory().numTensors).toBe(before);
      expect([...stages]).toEqual(
        expect.arrayContaining(['annotating', 'training verifier gpm', 'training verifier gpm-k1', 'training verifier bt', 'GRPO + BT reward', 'GPRL k=3, no monitor', 'GPRL k=3 + monitor', 'GPRL k=1', 'GPRL k=3 + monitor, 2x steps', 'done']),
      );
      expect(result.seeds).toEqual([1, 2]);
      expect(result.runs).toHaveLength(2 * 5);
      expect(result.verifiers).toHaveLength(2 * 3);
      // Step records: a step-0 point plus every step, per seed and method (the extended run has 2× steps).
      expect(records).toHaveLength(2 * (4 * (1 + 4) + (1 + 8)));
      for (const run of result.runs) {
        for (const v of [run.winRate, run.lcWinRate, run.length, run.quality, ...run.axes, run.petShare]) expect(Number.isFinite(v)).toBe(true);
        expect(run.winRate).toBeGreaterThanOrEqual(0);
        expect(run.winRate).toBeLessThanOrEqual(1);
        expect(run.steps).toBe(run.method === 'gprl-2x' ? 8 : 4);
        expect(run.monitorFired === null).toBe(!(run.method === 'gprl' || run.method === 'gprl-2x'));
        expect(run.examples).toHaveLength(4);
      }
      for (const r of records.filter((x) => x.step > 0)) {
        expect(Number.isFinite(r.gold.quality) && Number.isFinite(r.kl) && Number.isFinite(r.entropy)).toBe(true);
        if (r.method === 'gprl' || r.method === 'gprl-2x') expect(r.dimWeights).toHaveLength(3);
      }
      for (const v of result.verifiers) {
        for (const x of [v.annotatorAccuracy, v.goldAccuracy, v.prefersLonger]) expect(x >= 0 && x <= 1).toBe(true);
      }

      const dir = mkdtempSync(path.join(os.tmpdir(), 'gprl-demo-'));
      try {
        const summary = summarize(result, 'gprl demo --test', { tfjs: backend });
        const written = writeReport(dir, summary, result);
        for (const name of ['summary.json', 'summary.md', 'report.html', 'win-rate.png', 'win-rate.svg']) {
          expect(existsSync(path.join(dir, name))).toBe(true);
        }
        expect(written.files).toHaveLength(5);
        const json = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { methods: { lcWinRate: { n: number; halfWidth: number } }[] };
        expect(json.methods).toHaveLength(5);
        expect(json.methods[0]!.lcWinRate.n).toBe(2);
        expect(Number.isFinite(json.methods[0]!.lcWinRate.halfWidth)).toBe(true);
        const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
        expect(html).toContain('<svg');
        // Self-contained: no external scripts, stylesheets or fonts.
        expect(html).not.toMatch(/<script|<link|@import|src="http/);
        expect(terminalTable(summary)).toContain('GRPO + BT reward');
        expect(summary.comparisons.map((c) => c.metric)).toEqual(['lcWinRate', 'winRate']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
