/**
 * StudyConfig (src/study/config.ts): defaults, per-section merging, `gprl:` errors that name the key
 * path, config files, budget scaling and the design's cells.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARM_IDS } from '../../src/study/arms.js';
import {
  cellId,
  cellPopulation,
  DEFAULT_POPULATION,
  DEFAULT_STUDY_CONFIG,
  loadStudyConfig,
  resolveStudyConfig,
  scaleBudgets,
  studyCells,
} from '../../src/study/config.js';

/** Run `f`, expect it to throw an error of class `cls` whose message starts with `gprl:` and contains `needle`. */
function expectGprlError(f: () => unknown, cls: ErrorConstructor, needle: string): string {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a throw mentioning ${needle}`).toBeInstanceOf(cls);
  const msg = (caught as Error).message;
  expect(msg.startsWith('gprl:')).toBe(true);
  expect(msg).toContain(needle);
  return msg;
}

describe('resolveStudyConfig', () => {
  it('{} gives the pre-registered defaults (a deep copy)', () => {
    const c = resolveStudyConfig({});
    expect(c).toEqual(JSON.parse(JSON.stringify(DEFAULT_STUDY_CONFIG)));
    expect(c).toEqual(resolveStudyConfig());
    // the documented values
    expect(c.seeds).toBe(20);
    expect(c.firstSeed).toBe(1);
    expect(c.budgets).toEqual([120, 480, 960]);
    expect(c.arms).toEqual([...ARM_IDS]);
    expect(c.arms).toHaveLength(9);
    expect(c.population).toEqual(DEFAULT_POPULATION);
    expect(c.main).toEqual({ lengthBias: 0.8, petBias: 0.8 });
    expect(c.sweep).toEqual({ lengthBias: [0, 0.4, 0.8], petBias: [0, 0.4, 0.8], seeds: 5, arms: ['grpo-bt', 'gprl-monitor', 'gprl-nomon'] });
    expect(c.data).toEqual({ pairs: 3000, heldOutShare: 0.2, triples: 20000 });
    expect(c.label).toEqual({ window: 40, goldDrop: 0.02 });
    // a copy: changing it leaves the defaults alone
    c.budgets.push(2000);
    c.verifiers.epochs = 1;
    c.population[0]!.share = 99;
    expect(DEFAULT_STUDY_CONFIG.budgets).toEqual([120, 480, 960]);
    expect(DEFAULT_STUDY_CONFIG.verifiers.epochs).toBe(30);
    expect(DEFAULT_STUDY_CONFIG.population[0]!.share).toBe(0.35);
    expect(resolveStudyConfig({}).population[0]!.share).toBe(0.35);
  });

  it('overrides merge per section: other keys of the section keep their defaults', () => {
    const c = resolveStudyConfig({ seeds: 6, verifiers: { epochs: 2, searchStarts: 0 }, policy: { groupSize: 4 }, budgets: [5, 10] });
    expect(c.seeds).toBe(6);
    expect(c.budgets).toEqual([5, 10]);
    expect(c.verifiers).toEqual({ ...DEFAULT_STUDY_CONFIG.verifiers, epochs: 2, searchStarts: 0 });
    expect(c.policy).toEqual({ ...DEFAULT_STUDY_CONFIG.policy, groupSize: 4 });
    expect(c.data).toEqual(DEFAULT_STUDY_CONFIG.data);
    // monitor options merge over the pre-registered ones; driftTriggers can be replaced explicitly
    const m = resolveStudyConfig({ monitor: { gamma: 2 } });
    expect(m.monitor).toEqual({ driftTriggers: ['single-axis-gain', 'length-drift'], gamma: 2 });
    expect(resolveStudyConfig({ monitor: { driftTriggers: [] } }).monitor).toEqual({ driftTriggers: [] });
    // the transformer's options merge key by key too
    const t = resolveStudyConfig({ policy: { model: 'transformer', transformer: { layers: 3 } } });
    expect(t.policy.model).toBe('transformer');
    expect(t.policy.transformer).toEqual({ ...DEFAULT_STUDY_CONFIG.policy.transformer, layers: 3 });
    expect(DEFAULT_STUDY_CONFIG.policy.model).toBe('context');
  });

  it('unknown keys and bad values throw TypeError/RangeError naming the key path', () => {
    const cases: [unknown, ErrorConstructor, string][] = [
      [{ seedz: 3 }, RangeError, 'config.seedz'],
      [{ verifiers: { epochz: 3 } }, RangeError, 'config.verifiers.epochz'],
      [{ verifiers: 3 }, TypeError, 'config.verifiers'],
      [{ policy: { groupSize: 1 } }, RangeError, 'config.policy.groupSize'],
      [{ policy: { groupSize: '8' } }, TypeError, 'config.policy.groupSize'],
      [{ policy: { model: 'gru' } }, RangeError, 'config.policy.model'],
      [{ policy: { transformer: 3 } }, TypeError, 'config.policy.transformer'],
      [{ policy: { transformer: { dmodel: 8 } } }, RangeError, 'config.policy.transformer.dmodel'],
      [{ policy: { transformer: { layers: 0 } } }, RangeError, 'config.policy.transformer.layers'],
      [{ policy: { transformer: { dModel: 30, heads: 4 } } }, RangeError, 'config.policy.transformer.heads'],
      [{ budgets: [480, 120] }, RangeError, 'config.budgets'],
      [{ budgets: [120, 0.5] }, RangeError, 'config.budgets[1]'],
      [{ budgets: [] }, TypeError, 'config.budgets'],
      [{ sweep: { arms: ['nope'] } }, RangeError, 'config.sweep.arms[0]'],
      [{ arms: ['grpo-bt', 'grpo-bt'] }, RangeError, 'config.arms'],
      [{ arms: [] }, TypeError, 'config.arms'],
      [{ sweep: { arms: 'grpo-bt' } }, TypeError, 'config.sweep.arms'],
      [{ monitor: { gamma: 99 } }, RangeError, 'config.monitor.gamma'],
      [{ monitor: { mode: 'sham' } }, RangeError, 'config.monitor.mode'],
      [{ monitor: { dims: 3 } }, RangeError, 'config.monitor.dims'],
      [{ monitor: { driftTriggers: ['nope'] } }, RangeError, 'config.monitor.driftTriggers[0]'],
      [{ biasedType: 'missing' }, RangeError, 'config.biasedType'],
      [{ data: { pairs: 19 } }, RangeError, 'config.data.pairs'],
      [{ data: { heldOutShare: 0 } }, RangeError, 'config.data.heldOutShare'],
      [{ label: { window: 1 } }, RangeError, 'config.label.window'],
      [{ population: [{ ...DEFAULT_POPULATION[0], temperature: 0 }] }, RangeError, 'config.population[0].temperature'],
      [{ seeds: 2, sweep: { seeds: 3 } }, RangeError, 'config.sweep.seeds'],
      [[], TypeError, 'config'],
    ];
    for (const [partial, cls, needle] of cases) {
      const msg = expectGprlError(() => resolveStudyConfig(partial), cls, needle);
      // the path is followed by ':' (the whole key, not a prefix of a longer one)
      expect(msg).toContain(`invalid ${needle}:`);
    }
  });

  it('the sweep may use more seeds than the main cell when it does not contain the main cell, or has no arms', () => {
    const c = resolveStudyConfig({ seeds: 2, sweep: { seeds: 3, lengthBias: [0], petBias: [0] } });
    expect(c.sweep.seeds).toBe(3);
    // an empty sweep (the demo's single-seed view): the default 5 sweep seeds do not conflict with seeds = 1
    const d = resolveStudyConfig({ seeds: 1, sweep: { arms: [] } });
    expect(d.sweep).toEqual({ ...DEFAULT_STUDY_CONFIG.sweep, arms: [] });
    expect(studyCells(d).map((x) => x.id)).toEqual(['L0.8-P0.8']);
    expect(studyCells(d)[0]!.arms).toEqual([...ARM_IDS]);
  });
});

describe('loadStudyConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gprl-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('invalid JSON: an error naming the file', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "seeds": 3, ');
    const msg = expectGprlError(() => loadStudyConfig(file), Error, file);
    expect(msg).toContain('not valid JSON');
  });

  it('a missing file: an error naming the file', () => {
    const file = path.join(dir, 'absent.json');
    expectGprlError(() => loadStudyConfig(file), Error, file);
  });

  it('an unknown key: the message names the file and the key path', () => {
    const file = path.join(dir, 'unknown.json');
    writeFileSync(file, JSON.stringify({ seeds: 3, verifiers: { epochz: 3 } }));
    const msg = expectGprlError(() => loadStudyConfig(file), RangeError, file);
    expect(msg).toContain(`${file}.verifiers.epochz`);
  });

  it('a valid file round-trips (a resolved config written out loads back equal)', () => {
    const c = resolveStudyConfig({ seeds: 4, budgets: [10, 20], sweep: { petBias: [0, 1.2], seeds: 2 }, monitor: { gamma: 0.5, driftTriggers: ['length-drift'] } });
    expect(c.sweep).toEqual({ ...DEFAULT_STUDY_CONFIG.sweep, petBias: [0, 1.2], seeds: 2 });
    const file = path.join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(c, null, 2));
    expect(loadStudyConfig(file)).toEqual(c);
    const partial = path.join(dir, 'partial.json');
    writeFileSync(partial, JSON.stringify({ seeds: 7, budgets: [10, 20] }));
    expect(loadStudyConfig(partial)).toEqual({ ...resolveStudyConfig({}), seeds: 7, budgets: [10, 20] });
  });
});

describe('scaleBudgets', () => {
  it('scales so the largest is N, rounds, floors at 1 and drops duplicates', () => {
    // 120·60/960 = 7.5 → 8, 480·60/960 = 30, 60
    expect(scaleBudgets([120, 480, 960], 60)).toEqual([8, 30, 60]);
    expect(scaleBudgets([120, 480, 960], 960)).toEqual([120, 480, 960]);
    // 0.25 → 1 (floor), 1, 2
    expect(scaleBudgets([120, 480, 960], 2)).toEqual([1, 2]);
    expect(scaleBudgets([120, 480, 960], 1)).toEqual([1]);
  });
});

describe('studyCells and cellPopulation', () => {
  it('default design: the main cell first with every arm, then the 8 other sweep cells', () => {
    const c = resolveStudyConfig({});
    const cells = studyCells(c);
    expect(cells).toHaveLength(1 + 8);
    const main = cells[0]!;
    expect(main).toEqual({ id: 'L0.8-P0.8', lengthBias: 0.8, petBias: 0.8, seeds: Array.from({ length: 20 }, (_, i) => i + 1), arms: [...ARM_IDS], main: true });
    const sweep = cells.slice(1);
    const want: string[] = [];
    for (const lb of [0, 0.4, 0.8]) for (const pb of [0, 0.4, 0.8]) if (!(lb === 0.8 && pb === 0.8)) want.push(cellId(lb, pb));
    expect(sweep.map((x) => x.id)).toEqual(want);
    for (const s of sweep) {
      expect(s.main).toBe(false);
      expect(s.seeds).toEqual([1, 2, 3, 4, 5]);
      expect(s.arms).toEqual(['grpo-bt', 'gprl-monitor', 'gprl-nomon']);
    }
    expect(cells.filter((x) => x.id === 'L0.8-P0.8')).toHaveLength(1);
  });

  it("the sweep's main-cell entry folds its arms into the main cell", () => {
    const c = resolveStudyConfig({ seeds: 3, firstSeed: 10, arms: ['gprl-monitor'], sweep: { lengthBias: [0.8], petBias: [0, 0.8], seeds: 2, arms: ['grpo-bt', 'gprl-monitor'] } });
    const cells = studyCells(c);
    expect(cells.map((x) => x.id)).toEqual(['L0.8-P0.8', 'L0.8-P0']);
    expect(cells[0]!.arms).toEqual(['gprl-monitor', 'grpo-bt']);
    expect(cells[0]!.seeds).toEqual([10, 11, 12]);
    expect(cells[1]!.seeds).toEqual([10, 11]);
    expect(cells[1]!.arms).toEqual(['grpo-bt', 'gprl-monitor']);
    // the config itself is not changed
    expect(c.arms).toEqual(['gprl-monitor']);
  });

  it('cellPopulation gives the biased type the cell biases and copies the others', () => {
    const c = resolveStudyConfig({});
    const pop = cellPopulation(c, { lengthBias: 0.1, petBias: 0 });
    expect(pop.map((t) => t.id)).toEqual(['content', 'style', 'biased']);
    expect(pop[2]).toEqual({ ...DEFAULT_POPULATION[2], lengthBias: 0.1, petBias: 0 });
    expect(pop[0]).toEqual(DEFAULT_POPULATION[0]);
    expect(pop[0]).not.toBe(c.population[0]);
    const renamed = resolveStudyConfig({ population: [{ ...DEFAULT_POPULATION[0]!, id: 'x' }, { ...DEFAULT_POPULATION[1]!, id: 'y' }], biasedType: 'x' });
    expect(cellPopulation(renamed, { lengthBias: 2, petBias: 3 })[0]).toMatchObject({ id: 'x', lengthBias: 2, petBias: 3 });
  });
});
