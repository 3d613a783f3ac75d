/**
 * From the unit and arm records of a run folder to `summary.json` (docs/study-protocol.md §5):
 * per-arm estimates at every budget, paired comparisons with Holm's adjustment, verifier and
 * intransitivity measures, the monitor's detection quality against the gold label, the sweep.
 */
import { ARMS, PRIMARY_COMPARISONS, type ArmId } from './arms.js';
import { studyCells, type StudyConfig } from './config.js';
import { detectRun, exploitationLabel, median } from './label.js';
import { estimate, holm, pairedDifference } from './stats.js';
import type { ArmCurves, ArmRecord, ArmSummary, Comparison, DetectionQuality, Evaluation, StudySummary, UnitRecord } from './types.js';

const EVAL_METRICS = ['goldWinRate', 'goldQuality', 'lcWinRate', 'length', 'petShare'] as const;
/** Primary endpoints (Holm across every primary comparison at the largest budget). */
export const PRIMARY_METRICS = ['goldWinRate', 'goldQuality'] as const;
/** Secondary endpoint. */
export const SECONDARY_METRICS = ['lcWinRate'] as const;

export interface StudyRecords {
  units: UnitRecord[];
  arms: ArmRecord[];
}

function evalAt(r: ArmRecord, steps: number): Evaluation | undefined {
  return r.evaluations.find((e) => e.steps === steps);
}

function bySeed(records: readonly ArmRecord[], cell: string, arm: ArmId): Map<number, ArmRecord> {
  return new Map(records.filter((r) => r.cell === cell && r.arm === arm).map((r) => [r.seed, r]));
}

/** Detection quality of the monitor's firings in `runs` against the gold label; false alarms from `control` runs. */
export function detectionQuality(config: StudyConfig, runs: readonly { fired: readonly number[]; proxy: readonly number[]; gold: readonly number[] }[], control: readonly { fired: readonly number[]; proxy: readonly number[]; gold: readonly number[] }[]): DetectionQuality {
  const w = config.label.window;
  let episodes = 0, detected = 0, alarms = 0, trueAlarms = 0, steps = 0, labelled = 0;
  const leads: number[] = [];
  for (const r of runs) {
    const d = detectRun(exploitationLabel(r.proxy, r.gold, w, config.label.goldDrop), r.fired, w);
    episodes += d.episodes;
    detected += d.detected;
    alarms += d.alarms.length;
    trueAlarms += d.trueAlarms;
    steps += d.steps;
    labelled += d.labelledSteps;
    leads.push(...d.leads);
  }
  let cSteps = 0, cFalse = 0, cFirings = 0;
  for (const r of control) {
    const d = detectRun(exploitationLabel(r.proxy, r.gold, w, config.label.goldDrop), r.fired, w);
    cSteps += d.steps;
    cFalse += d.alarms.length - d.trueAlarms;
    cFirings += d.firings;
  }
  return {
    runs: runs.length,
    steps,
    episodes,
    detected,
    precision: alarms ? trueAlarms / alarms : null,
    recall: episodes ? detected / episodes : null,
    medianLeadSteps: median(leads),
    falseAlarmsPer1000Steps: cSteps ? (1000 * cFalse) / cSteps : null,
    controlFiringsPer1000Steps: cSteps ? (1000 * cFirings) / cSteps : null,
    labelledShare: steps ? labelled / steps : 0,
  };
}

/** The no-bias control cell's id, or null when the sweep has none. */
function controlCell(config: StudyConfig): string | null {
  const c = studyCells(config).find((x) => x.lengthBias === 0 && x.petBias === 0);
  return c ? c.id : null;
}

export function summarize(
  config: StudyConfig,
  records: StudyRecords,
  meta: { command: string; commit: string | null; seconds: number; status?: 'complete' | 'interrupted'; unitsDone?: number; units?: number },
): StudySummary {
  const cells = studyCells(config);
  const main = cells[0]!;
  const mainUnits = records.units.filter((u) => u.cell === main.id);
  const budgets = config.budgets;
  const largest = budgets[budgets.length - 1]!;

  const verifierIds = [...new Set(mainUnits.flatMap((u) => u.verifiers.map((v) => v.id)))];
  const verifiers = verifierIds.map((id) => {
    const vs = mainUnits.flatMap((u) => u.verifiers.filter((v) => v.id === id));
    const opt = (key: 'optimumGold' | 'optimumLength' | 'optimumPetShare' | 'cycleReproduction') => {
      const xs = vs.map((v) => v[key]).filter((x): x is number => x !== null);
      return xs.length ? estimate(xs) : null;
    };
    return {
      id,
      dims: vs[0]!.dims,
      heldOutAccuracy: estimate(vs.map((v) => v.heldOutAccuracy)),
      goldAgreement: estimate(vs.map((v) => v.goldAgreement)),
      optimumGold: opt('optimumGold'),
      optimumLength: opt('optimumLength'),
      optimumPetShare: opt('optimumPetShare'),
      cycleReproduction: opt('cycleReproduction'),
      bestEpoch: estimate(vs.map((v) => v.bestEpoch)),
    };
  });

  const arms: ArmSummary[] = main.arms.map((arm) => {
    const runs = [...bySeed(records.arms, main.id, arm).values()];
    return {
      id: arm,
      label: ARMS[arm].label,
      seeds: runs.length,
      budgets: budgets.map((steps) => {
        const out = { steps } as ArmSummary['budgets'][number];
        for (const m of EVAL_METRICS) out[m] = estimate(runs.map((r) => evalAt(r, steps)?.[m] ?? Number.NaN));
        return out;
      }),
      fireRate: estimate(runs.map((r) => r.fireRate)),
      meanBeta: estimate(runs.map((r) => r.meanBeta)),
    };
  });

  const comparisons: Comparison[] = [];
  const families = new Map<string, number[]>();
  for (const steps of budgets) {
    for (const metric of [...PRIMARY_METRICS, ...SECONDARY_METRICS]) {
      for (const [a, b] of PRIMARY_COMPARISONS) {
        if (!main.arms.includes(a) || !main.arms.includes(b)) continue;
        const ra = bySeed(records.arms, main.id, a);
        const rb = bySeed(records.arms, main.id, b);
        const seeds = main.seeds.filter((s) => ra.has(s) && rb.has(s));
        const { diff, p } = pairedDifference(
          seeds.map((s) => evalAt(ra.get(s)!, steps)?.[metric] ?? Number.NaN),
          seeds.map((s) => evalAt(rb.get(s)!, steps)?.[metric] ?? Number.NaN),
        );
        const primary = steps === largest && (PRIMARY_METRICS as readonly string[]).includes(metric);
        const family = primary ? 'primary' : `secondary:${steps}:${metric}`;
        if (!families.has(family)) families.set(family, []);
        families.get(family)!.push(comparisons.length);
        comparisons.push({ a, b, steps, metric, diff, p, pHolm: Number.NaN, primary });
      }
    }
  }
  for (const idx of families.values()) {
    const adj = holm(idx.map((i) => comparisons[i]!.p));
    idx.forEach((i, j) => (comparisons[i]!.pHolm = adj[j]!));
  }

  const ctrl = controlCell(config);
  const series = (cell: string, arm: ArmId) => records.arms.filter((r) => r.cell === cell && r.arm === arm).map((r) => r.series);
  const detection = detectionQuality(config, series(main.id, 'gprl-nomon'), ctrl ? series(ctrl, 'gprl-nomon') : []);
  const acting = detectionQuality(config, series(main.id, 'gprl-monitor'), ctrl ? series(ctrl, 'gprl-monitor') : []);
  // Each detector on its own (observing monitor): its event steps stand in for the firings.
  const kinds = [...new Set(series(main.id, 'gprl-nomon').flatMap((s) => Object.keys(s.eventSteps)))].sort();
  const detectors: Record<string, DetectionQuality> = {};
  for (const kind of kinds) {
    const pick = (xs: ReturnType<typeof series>) => xs.map((s) => ({ ...s, fired: s.eventSteps[kind] ?? [] }));
    detectors[kind] = detectionQuality(config, pick(series(main.id, 'gprl-nomon')), ctrl ? pick(series(ctrl, 'gprl-nomon')) : []);
  }

  const sweep: StudySummary['sweep'] = [];
  const onGrid = (c: { lengthBias: number; petBias: number }) => config.sweep.lengthBias.includes(c.lengthBias) && config.sweep.petBias.includes(c.petBias);
  for (const cell of cells) {
    if (!onGrid(cell)) continue; // the main cell joins the sweep only when it is one of its cells
    for (const arm of config.sweep.arms) {
      const runs = [...bySeed(records.arms, cell.id, arm).values()].filter((r) => cell.main ? r.seed < config.firstSeed + config.sweep.seeds : true);
      if (runs.length === 0) continue;
      for (const steps of budgets) {
        sweep.push({
          lengthBias: cell.lengthBias,
          petBias: cell.petBias,
          arm,
          steps,
          goldWinRate: estimate(runs.map((r) => evalAt(r, steps)?.goldWinRate ?? Number.NaN)),
          goldQuality: estimate(runs.map((r) => evalAt(r, steps)?.goldQuality ?? Number.NaN)),
          seeds: runs.length,
        });
      }
    }
  }
  sweep.sort((x, y) => x.arm.localeCompare(y.arm) || x.lengthBias - y.lengthBias || x.petBias - y.petBias || x.steps - y.steps);

  return {
    version: 1,
    status: meta.status ?? 'complete',
    unitsDone: meta.unitsDone ?? records.units.length,
    units: meta.units ?? records.units.length,
    command: meta.command,
    commit: meta.commit,
    config,
    seconds: meta.seconds,
    cyclicTripleShare: estimate(mainUnits.map((u) => u.cyclicTripleShare)).mean,
    clearCyclicTripleShare: estimate(mainUnits.map((u) => u.clearCyclicTripleShare)).mean,
    labelGoldAgreement: estimate(mainUnits.map((u) => u.labelGoldAgreement)),
    verifiers,
    arms,
    comparisons,
    monitor: { detection, acting, detectors },
    sweep,
  };
}

/** Main-cell training curves averaged over seeds, one point every `every` steps (10-step moving averages). */
export function armCurves(config: StudyConfig, records: StudyRecords, every = 10): ArmCurves[] {
  const main = studyCells(config)[0]!;
  return main.arms.map((arm) => {
    const runs = records.arms.filter((r) => r.cell === main.id && r.arm === arm);
    const T = runs.length > 0 ? Math.min(...runs.map((r) => r.series.gold.length)) : 0;
    const steps: number[] = [], gold: number[] = [], proxy: number[] = [], length: number[] = [], fired: number[] = [];
    const ma = (x: readonly number[], end: number) => {
      const lo = Math.max(0, end - every);
      let s = 0;
      for (let i = lo; i < end; i++) s += x[i]!;
      return s / (end - lo);
    };
    for (let end = every; runs.length > 0 && end <= T; end += every) {
      steps.push(end);
      gold.push(runs.reduce((a, r) => a + ma(r.series.gold, end), 0) / runs.length);
      proxy.push(runs.reduce((a, r) => a + ma(r.series.proxy, end), 0) / runs.length);
      length.push(runs.reduce((a, r) => a + ma(r.series.length, end), 0) / runs.length);
      fired.push(runs.filter((r) => r.series.fired.some((f) => f > end - every && f <= end)).length / runs.length);
    }
    return { arm, label: ARMS[arm].label, steps, gold, proxy, length, fired };
  });
}
