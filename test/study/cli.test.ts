/**
 * `gprl study` and `gprl demo` end to end, as a user runs them: the study through its parallel worker
 * processes (--jobs 2), the demo in-process; the run folder holds the documented files and
 * summary.json has the documented names. Small budgets: these check the plumbing, not results.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gprl-study-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function gprl(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], { encoding: 'utf8', timeout: 300_000 });
}

const estimateKeys = ['mean', 'low', 'high'];

describe('gprl study (command line)', () => {
  it('runs a small study on two worker processes and writes summary.json, summary.md, report.html and the per-step metrics', () => {
    const out = path.join(tmp, 'run');
    const r = gprl(['study', '--seeds', '1', '--steps', '12', '--jobs', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['study.json', 'summary.json', 'summary.md', 'report.html']) expect(existsSync(path.join(out, f)), f).toBe(true);
    // Main cell (1 seed) + 8 sweep cells (1 seed each).
    const units = readdirSync(path.join(out, 'units'));
    expect(units).toHaveLength(9);
    const main = readdirSync(path.join(out, 'units', 'L0.8-P0.8-s1')).sort();
    expect(main).toEqual(['gdpo.json', 'gpm-scalar.json', 'gprl-k1.json', 'gprl-monitor.json', 'gprl-nomon.json', 'gprl-sham.json', 'grpo-bt-adaptive-kl.json', 'grpo-bt-matched-beta.json', 'grpo-bt.json', 'unit.json']);
    const arm = JSON.parse(readFileSync(path.join(out, 'units', 'L0.8-P0.8-s1', 'grpo-bt.json'), 'utf8'));
    expect(arm.series.gold).toHaveLength(12);
    expect(arm.evaluations.map((e: { steps: number }) => e.steps)).toEqual([2, 6, 12]);

    const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(typeof s.cyclicTripleShare).toBe('number');
    expect(s.verifiers.map((v: { id: string }) => v.id)).toEqual(['bt', 'gpm', 'gpm-k1']);
    for (const v of s.verifiers) for (const k of ['heldOutAccuracy', 'goldAgreement', 'optimumGold']) expect(Object.keys(v[k])).toEqual(expect.arrayContaining(estimateKeys));
    expect(s.arms).toHaveLength(9);
    for (const a of s.arms) {
      expect(a).toMatchObject({ id: expect.any(String), label: expect.any(String), seeds: 1 });
      for (const b of a.budgets) for (const m of ['goldWinRate', 'goldQuality', 'lcWinRate', 'length', 'petShare']) expect(Object.keys(b[m])).toEqual(expect.arrayContaining(estimateKeys));
    }
    expect(s.comparisons.length).toBeGreaterThan(0);
    for (const c of s.comparisons) expect(Object.keys(c)).toEqual(expect.arrayContaining(['a', 'b', 'steps', 'metric', 'diff', 'pHolm']));
    expect(Object.keys(s.monitor.detection)).toEqual(expect.arrayContaining(['precision', 'recall', 'medianLeadSteps', 'falseAlarmsPer1000Steps']));
    expect(s.sweep.length).toBe(9 * 3 * 3);
    for (const w of s.sweep) expect(Object.keys(w)).toEqual(expect.arrayContaining(['lengthBias', 'petBias', 'arm', 'steps', 'goldWinRate']));
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/https?:\/\//);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/^# gprl study/);

    // A finished folder resumes to the same summary (nothing left to run).
    const again = gprl(['study', '--resume', out, '--jobs', '1']);
    expect(again.status, again.stderr).toBe(0);
    const s2 = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect({ ...s2, seconds: 0 }).toEqual({ ...s, seconds: 0 });
    expect(s2.seconds).toBeGreaterThan(s.seconds); // the resumed run adds its time to the folder's total
  }, 300_000);

  it('rejects a config file with an unknown key or a bad value, naming the file and the key (exit 1)', () => {
    const file = path.join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ policy: { learningRate: 0.01, groupSize: 1 } }));
    let r = gprl(['study', '--config', file, '--out', path.join(tmp, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`gprl: invalid ${file}.policy.groupSize: expected at least 2, got 1`);
    writeFileSync(file, JSON.stringify({ verifier: {} }));
    r = gprl(['study', '--config', file, '--out', path.join(tmp, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}.verifier`);
    expect(existsSync(path.join(tmp, 'x'))).toBe(false);
  }, 120_000);

  it('gprl demo is a single-seed view of the main cell and says that one seed decides nothing', () => {
    const out = path.join(tmp, 'demo');
    const text = execFileSync(process.execPath, ['--import', 'tsx', entry, 'demo', '--steps', '8', '--out', out], { encoding: 'utf8' });
    expect(text).toContain('One seed decides nothing');
    const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(s.arms).toHaveLength(9);
    expect(s.sweep).toEqual([]);
    expect(s.arms[0].budgets.map((b: { steps: number }) => b.steps)).toEqual([1, 4, 8]);
  }, 300_000);
});
