/**
 * The resume path of runStudy (in-process, jobs 1) on a tiny design: a finished run folder A is
 * copied to B, one arm record and the summary files are deleted from B, and B is resumed. Only the
 * missing arm runs (the progress total says so), the recomputed record equals the original apart
 * from its wall-clock `seconds`, and B's summary.json equals A's apart from `seconds`/`command`.
 * Also: a folder that already holds a study is refused without resume, a damaged record is reported
 * by its path, and the sham arm fires exactly where a sham monitor seeded as in unit.ts fires at the
 * monitor arm's rate.
 *
 * The design: main cell L0.8-P0.8 with 2 seeds × 3 arms, one sweep cell L0.8-P0 with 1 seed × 1
 * arm (the sweep's main-cell entry folds into the main cell), 6 steps. The monitor is given a short
 * warm-up and a low threshold so the acting monitor fires within 6 steps and the sham arm's rate is
 * not trivially 0.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableTfjsEsmResolution } from '../../src/tfjs/gradients.js';
import { setTfBackend } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { resolveStudyConfig, studyCells } from '../../src/study/config.js';
import { runStudy, type StudyProgress } from '../../src/study/runner.js';
import { STUDY_FILE, unitDir } from '../../src/study/files.js';
import type { ArmRecord, StudySummary } from '../../src/study/types.js';

const STEPS = 6;
const config = resolveStudyConfig({
  seeds: 2,
  budgets: [3, STEPS],
  arms: ['gprl-monitor', 'grpo-bt', 'gprl-sham'],
  sweep: { lengthBias: [0.8], petBias: [0, 0.8], seeds: 1, arms: ['grpo-bt'] },
  data: { pairs: 120, triples: 200 },
  verifiers: { epochs: 2, searchStarts: 0 },
  evaluation: { perPrompt: 2 },
  label: { window: 2 },
  monitor: { warmupSteps: 2, threshold: 0.002, driftTriggers: ['single-axis-gain', 'length-drift'] },
});

/** Verifier progress allowance per fresh unit (runner.ts: VERIFIER_WORK·3 = 3 verifiers × 250 steps). */
const UNIT_WORK = 750;

let root: string;
let A: string;
let B: string;
const progressA: StudyProgress[] = [];
const progressB: StudyProgress[] = [];
let summaryA: StudySummary;

const readJsonFile = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const withoutKeys = (o: object, keys: string[]): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

beforeAll(async () => {
  enableTfjsEsmResolution();
  await setTfBackend('wasm');
  root = mkdtempSync(path.join(tmpdir(), 'gprl-resume-'));
  A = path.join(root, 'A');
  B = path.join(root, 'B');
  summaryA = await runStudy({ config, out: A, jobs: 1, onProgress: (p) => progressA.push(p) });
}, 240_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('runStudy resume', () => {
  it('the design has the expected cells and the fresh run does all of it', () => {
    const cells = studyCells(config);
    expect(cells.map((c) => [c.id, c.seeds, c.arms])).toEqual([
      ['L0.8-P0.8', [1, 2], ['gprl-monitor', 'grpo-bt', 'gprl-sham']],
      ['L0.8-P0', [1], ['grpo-bt']],
    ]);
    // 3 fresh units, 2·3 + 1 = 7 arm runs of 6 steps
    const total = 3 * UNIT_WORK + 7 * STEPS;
    expect(progressA[0]!.total).toBe(total);
    expect(progressA[0]!.units).toBe(3);
    expect(progressA[0]!.unitsDone).toBe(0);
    const last = progressA[progressA.length - 1]!;
    expect(last.done).toBe(total);
    expect(last.unitsDone).toBe(3);
    for (const f of [STUDY_FILE, 'summary.json', 'summary.md', 'report.html']) expect(existsSync(path.join(A, f)), f).toBe(true);
    for (const seed of [1, 2]) for (const arm of ['unit', 'gprl-monitor', 'grpo-bt', 'gprl-sham']) expect(existsSync(path.join(unitDir(A, 'L0.8-P0.8', seed), `${arm}.json`))).toBe(true);
    expect(existsSync(path.join(unitDir(A, 'L0.8-P0', 1), 'grpo-bt.json'))).toBe(true);
    expect(existsSync(path.join(unitDir(A, 'L0.8-P0', 1), 'gprl-monitor.json'))).toBe(false);
    const s = readJsonFile<StudySummary>(path.join(A, 'summary.json'));
    expect(s.arms.map((a) => a.id)).toEqual(['gprl-monitor', 'grpo-bt', 'gprl-sham']);
    expect(s.arms.every((a) => a.seeds === 2)).toBe(true);
    expect(JSON.parse(JSON.stringify(summaryA, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)))).toEqual(s);
  });

  it('resuming a copy with one arm record and the summaries deleted runs only that arm and reproduces the summary', async () => {
    cpSync(A, B, { recursive: true });
    const armFile = path.join(unitDir(B, 'L0.8-P0.8', 2), 'gprl-sham.json');
    rmSync(armFile);
    for (const f of ['summary.json', 'summary.md', 'report.html']) rmSync(path.join(B, f));

    await runStudy({ config: resolveStudyConfig({}), out: B, resume: true, jobs: 1, onProgress: (p) => progressB.push(p) });
    // the resumed run used the folder's study.json config (not the one passed) and had one arm left
    expect(progressB[0]!.total).toBe(STEPS);
    expect(progressB[0]!.total).toBeLessThan(progressA[0]!.total);
    expect(progressB[0]!.units).toBe(3);
    expect(progressB[0]!.unitsDone).toBe(2);
    expect(progressB[0]!.label).toMatch(/^resuming: 2 of 3/);
    expect(progressB[progressB.length - 1]!.done).toBe(STEPS);

    const original = readFileSync(path.join(unitDir(A, 'L0.8-P0.8', 2), 'gprl-sham.json'), 'utf8');
    const recomputed = readFileSync(armFile, 'utf8');
    // identical bytes except the wall-clock seconds
    const strip = (t: string) => t.replace(/"seconds":[-+0-9.eE]+/, '"seconds":0');
    expect(strip(recomputed)).toBe(strip(original));
    expect(recomputed).toMatch(/"seconds":/);

    const sa = readJsonFile<StudySummary>(path.join(A, 'summary.json'));
    const sb = readJsonFile<StudySummary>(path.join(B, 'summary.json'));
    expect(withoutKeys(sb, ['seconds', 'command'])).toEqual(withoutKeys(sa, ['seconds', 'command']));
    expect(readFileSync(path.join(B, 'summary.md'), 'utf8').length).toBeGreaterThan(0);
    // the other records were not rewritten
    for (const f of ['unit.json', 'gprl-monitor.json', 'grpo-bt.json']) {
      expect(readFileSync(path.join(unitDir(B, 'L0.8-P0.8', 2), f), 'utf8')).toBe(readFileSync(path.join(unitDir(A, 'L0.8-P0.8', 2), f), 'utf8'));
    }
  }, 120_000);

  it('a folder that already holds a study is refused without resume', async () => {
    await expect(runStudy({ config, out: A, jobs: 1 })).rejects.toThrow(/^gprl: .*already holds a study; continue it with --resume/);
  });

  it('a damaged record is reported by its path', async () => {
    const C = path.join(root, 'C');
    cpSync(A, C, { recursive: true });
    const file = path.join(unitDir(C, 'L0.8-P0', 1), 'grpo-bt.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    await expect(runStudy({ config, out: C, resume: true, jobs: 1 })).rejects.toThrow(`gprl: ${file} is damaged`);
    // a record under the wrong name is refused too
    writeFileSync(file, readFileSync(path.join(unitDir(C, 'L0.8-P0.8', 1), 'grpo-bt.json')));
    await expect(runStudy({ config, out: C, resume: true, jobs: 1 })).rejects.toThrow(`gprl: ${file} holds L0.8-P0.8 seed 1`);
    // resuming a folder without study.json
    await expect(runStudy({ config, out: path.join(root, 'none'), resume: true, jobs: 1 })).rejects.toThrow(/^gprl: .* is not a study run folder/);
  });

  it('the sham arm fires where a sham monitor seeded as in unit.ts fires at the monitor arm rate', () => {
    let nonTrivial = 0;
    for (const seed of [1, 2]) {
      const dir = unitDir(A, 'L0.8-P0.8', seed);
      const mon = readJsonFile<ArmRecord>(path.join(dir, 'gprl-monitor.json'));
      const sham = readJsonFile<ArmRecord>(path.join(dir, 'gprl-sham.json'));
      expect(mon.fireRate).toBe(mon.series.fired.length / STEPS);
      // unit.ts: rng = new Rng(seed); four forks, trainSeed, modelSeed, then shamSeed (the 7th draw)
      const rng = new Rng(seed);
      for (let i = 0; i < 6; i++) rng.nextUint32();
      const shamSeed = rng.nextUint32();
      const draws = new Rng(shamSeed);
      const want: number[] = [];
      for (let s = 1; s <= STEPS; s++) if (draws.next() < mon.fireRate) want.push(s);
      expect(sham.series.fired).toEqual(want);
      expect(sham.fireRate).toBe(want.length / STEPS);
      if (mon.fireRate > 0 && mon.fireRate < 1) nonTrivial++;
      // every sham firing tightened: β rises on a firing step (β_new = max(β, 1.5β) > β for β > 0)
      for (const s of want) expect(sham.series.beta[s - 1]!).toBeGreaterThan(s > 1 ? sham.series.beta[s - 2]! : config.policy.beta);
      // the grpo-bt arm has no monitor
      const bt = readJsonFile<ArmRecord>(path.join(dir, 'grpo-bt.json'));
      expect(bt.series.fired).toEqual([]);
      expect(bt.series.beta.every((b) => b === config.policy.beta)).toBe(true);
    }
    expect(nonTrivial).toBeGreaterThan(0);
  });
});
