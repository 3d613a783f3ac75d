import { describe, it, expect } from 'vitest';
import { renderReportHtml, renderSummaryMarkdown } from '../../src/study/report.js';
import type { ArmCurves, ArmSummary, DetectionQuality, Estimate, StudySummary } from '../../src/study/types.js';

const e = (mean: number, low: number | null = null, high: number | null = null, n = 3): Estimate => ({ mean, low, high, n });

function budget(steps: number, goldWinRate: Estimate, lcWinRate: Estimate): ArmSummary['budgets'][number] {
  return { steps, goldWinRate, goldQuality: e(0.61, 0.6, 0.62), lcWinRate, length: e(9.876, 9.5, 10.25), petShare: e(0.0421, 0.03, 0.05) };
}

const detection: DetectionQuality = {
  runs: 3,
  steps: 600,
  episodes: 4,
  detected: 3,
  precision: 0.75,
  recall: null,
  medianLeadSteps: 12,
  falseAlarmsPer1000Steps: 1.5,
  controlFiringsPer1000Steps: 2.25,
  labelledShare: 0.125,
};

function fixture(): StudySummary {
  const sweep: StudySummary['sweep'] = [];
  const cells: [number, number, number, number][] = [
    // lengthBias, petBias, monitor, bt
    [0, 0, 0.7, 0.55],
    [0, 1, 0.654, 0.45],
    [0.5, 0, 0.61, 0.4],
    [0.5, 1, 0.58, 0.33],
  ];
  for (const [lengthBias, petBias, m, b] of cells) {
    sweep.push({ lengthBias, petBias, arm: 'gprl-monitor', steps: 200, goldWinRate: lengthBias === 0 && petBias === 0 ? e(m, 0.65, 0.75) : e(m), goldQuality: e(0.6), seeds: 2 });
    sweep.push({ lengthBias, petBias, arm: 'grpo-bt', steps: 200, goldWinRate: e(b), goldQuality: e(0.5), seeds: 2 });
    // A smaller budget that the heat map must not pick.
    sweep.push({ lengthBias, petBias, arm: 'grpo-bt', steps: 100, goldWinRate: e(0.111), goldQuality: e(0.5), seeds: 2 });
  }
  return {
    version: 1,
    status: 'complete',
    unitsDone: 1,
    units: 1,
    command: 'gprl study --seeds 3',
    commit: 'abc1234',
    config: {},
    seconds: 3600.4,
    cyclicTripleShare: 0.123,
    clearCyclicTripleShare: 0.045,
    labelGoldAgreement: e(0.8123, 0.8, 0.825),
    verifiers: [
      {
        id: 'bt',
        dims: 1,
        heldOutAccuracy: e(0.7, 0.68, 0.72),
        goldAgreement: e(0.65, 0.6, 0.7),
        optimumGold: null,
        optimumLength: e(14.5, 13, 16),
        optimumPetShare: e(0.2, 0.1, 0.3),
        cycleReproduction: e(0, 0, 0),
        bestEpoch: e(3, 2, 4),
      },
    ],
    arms: [
      {
        id: 'gprl-monitor',
        label: 'GPRL k=3 + monitor',
        seeds: 3,
        budgets: [budget(100, e(0.7, 0.65, 0.75), e(0.66, 0.6, 0.72)), budget(200, e(0.812, 0.79, 0.834), e(0.7, 0.68, 0.72))],
        fireRate: e(0.05, 0.04, 0.06),
        meanBeta: e(0.08, 0.07, 0.09),
      },
      {
        id: 'grpo-bt',
        label: 'GRPO <&> BT',
        seeds: 1,
        budgets: [budget(100, e(0.55, null, null, 1), e(Number.NaN, null, null, 0)), budget(200, e(0.6, null, null, 1), e(0.5, null, null, 1))],
        fireRate: e(0, null, null, 1),
        meanBeta: e(0.04, null, null, 1),
      },
    ],
    comparisons: [
      { a: 'gprl-monitor', b: 'grpo-bt', steps: 200, metric: 'goldWinRate', diff: e(0.052, 0.021, 0.083), p: 0.004, pHolm: 0.012, primary: true },
      { a: 'gprl-monitor', b: 'grpo-bt', steps: 200, metric: 'goldQuality', diff: e(-0.0123, -0.03, 0.0054), p: 0.2, pHolm: 0.4, primary: true },
      { a: 'gprl-monitor', b: 'grpo-bt', steps: 100, metric: 'goldWinRate', diff: e(-0.04), p: 0.01, pHolm: 0.03, primary: true },
      { a: 'gprl-monitor', b: 'grpo-bt', steps: 100, metric: 'lcWinRate', diff: e(0.1, 0.05, 0.15), p: 0.0001, pHolm: 0.0002, primary: false },
    ],
    monitor: {
      detection,
      acting: { ...detection, precision: 0.5, recall: 0.6667, medianLeadSteps: null },
      detectors: { 'spectrum-drift': { ...detection, precision: 0.25 } },
    },
    sweep,
  };
}

const curves: ArmCurves[] = [
  { arm: 'gprl-monitor', label: 'GPRL k=3 + monitor', steps: [10, 20, 30, 40], gold: [0.5, 0.55, 0.6, 0.62], proxy: [0.5, 0.6, 0.7, 0.75], length: [8, 9, 10, 10], fired: [0, 0.5, 1, 0] },
  { arm: 'grpo-bt', label: 'GRPO <&> BT', steps: [10, 20, 30, 40], gold: [0.5, 0.52, Number.NaN, 0.5], proxy: [0.5, 0.7, 0.8, 0.9], length: [8, 11, 13, 15], fired: [0, 0, 0, 0] },
];

const count = (s: string, sub: string): number => s.split(sub).length - 1;

describe('renderSummaryMarkdown', () => {
  const md = renderSummaryMarkdown(fixture());

  it('has the header and the intransitivity measure', () => {
    expect(md.startsWith('# gprl study\n')).toBe(true);
    expect(md).toContain('Command: `gprl study --seeds 3`');
    expect(md).toContain('Commit: `abc1234`');
    expect(md).toContain('Seconds: 3600');
    expect(md).toContain('12.3%');
    expect(md).toContain('clearly cyclic: 4.5%');
    expect(md).toContain("labels' agreement with the gold judge: 0.812 [0.800, 0.825]");
  });

  it('formats the verifier table, with — for null', () => {
    expect(md).toContain('| bt | 1 | 0.700 [0.680, 0.720] | 0.650 [0.600, 0.700] | — | 14.50 [13.00, 16.00] | 0.200 [0.100, 0.300] | 0.000 [0.000, 0.000] | 3.0 [2.0, 4.0] |');
  });

  it('has one headline table per budget with formatted cells', () => {
    expect(md).toContain('### 100 steps');
    expect(md).toContain('### 200 steps');
    expect(md).toContain(
      '| GPRL k=3 + monitor | 3 | 0.812 [0.790, 0.834] | 0.610 [0.600, 0.620] | 0.700 [0.680, 0.720] | 9.88 [9.50, 10.25] | 0.042 [0.030, 0.050] | 0.050 [0.040, 0.060] | 0.080 [0.070, 0.090] |',
    );
    // One seed: no interval; NaN: —.
    expect(md).toContain('| GRPO <&> BT | 1 | 0.550 | 0.610 [0.600, 0.620] | — | 9.88 [9.50, 10.25] |');
    expect(md).toContain('| GRPO <&> BT | 1 | 0.600 | 0.610 [0.600, 0.620] | 0.500 |');
    expect(md.indexOf('### 100 steps')).toBeLessThan(md.indexOf('### 200 steps'));
  });

  it('formats comparisons and verdicts', () => {
    expect(md).toContain('| GPRL k=3 + monitor − GRPO <&> BT | 200 | gold win rate (points) | 5.2 [2.1, 8.3] | 0.004 | 0.012 | yes | a better |');
    expect(md).toContain('| GPRL k=3 + monitor − GRPO <&> BT | 200 | gold quality | -0.012 [-0.030, 0.005] | 0.200 | 0.400 | yes | no significant difference |');
    expect(md).toContain('| GPRL k=3 + monitor − GRPO <&> BT | 100 | gold win rate (points) | -4.0 | 0.010 | 0.030 | yes | b better |');
    // Significant but not primary.
    expect(md).toContain('| 10.0 [5.0, 15.0] | < 0.001 | < 0.001 | no | no significant difference |');
  });

  it('has the detection block for the observing and the acting monitor', () => {
    // Columns: observing, acting, then each detector alone.
    expect(md).toContain('| Measure | Observing monitor (no-monitor arm) | Acting monitor (monitor arm) | Detector spectrum-drift alone (observing) |');
    expect(md).toContain('| Precision | 0.750 | 0.500 | 0.250 |');
    expect(md).toContain('| Recall | — | 0.667 | — |');
    expect(md).toContain('| Median lead (steps) | 12.0 | — | 12.0 |');
    expect(md).toContain('| False alarms per 1000 steps (control) | 1.50 | 1.50 | 1.50 |');
    expect(md).toContain('| Control firings per 1000 steps | 2.25 | 2.25 | 2.25 |');
    expect(md).toContain('| Episodes | 4 | 4 | 4 |');
    expect(md).toContain('| Detected | 3 | 3 | 3 |');
    expect(md).toContain('| Labelled share of steps | 12.5% | 12.5% | 12.5% |');
  });

  it('has a sweep grid per arm at the largest budget', () => {
    expect(md).toContain('### GPRL k=3 + monitor (200 steps)');
    expect(md).toContain('### GRPO <&> BT (200 steps)');
    expect(md).toContain('| length bias \\ pet bias | 0 | 1 |');
    expect(md).toContain('| 0 | 0.700 [0.650, 0.750] | 0.654 |');
    expect(md).toContain('| 0.5 | 0.400 | 0.330 |');
    expect(md).not.toContain('0.111');
  });

  it('keeps the sections in order', () => {
    const order = ['# gprl study', 'Cyclic triples', '## Verifiers', '## Headline', '## Comparisons', '## Drift-monitor detection', '## Bias sweep'].map((s) => md.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe('renderReportHtml', () => {
  const html = renderReportHtml(fixture(), curves);

  it('is self-contained', () => {
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link|<img|@import|url\(/i);
    expect(html.startsWith('<!doctype html>')).toBe(true);
  });

  it('has one svg per chart: 3 curves, 2 forest plots, 2 sweep maps and a difference map', () => {
    expect(count(html, '<svg')).toBe(8);
    expect(count(html, '</svg>')).toBe(8);
  });

  it('escapes labels', () => {
    expect(html).toContain('GRPO &lt;&amp;&gt; BT');
    expect(html).not.toContain('GRPO <&> BT');
  });

  it('marks monitor firings with a strip shaded by the firing share', () => {
    // Two non-zero bins of the monitor arm, on each of the three curve charts; none for GRPO.
    expect(count(html, 'class="fired"')).toBe(6);
    expect(html).toContain('fill-opacity="0.5"');
    expect(html).toContain('fill-opacity="1"');
  });

  it('draws intervals in the forest plots only where they exist', () => {
    // goldWinRate: one row with an interval and one without (a point only); goldQuality: one with.
    expect(count(html, 'class="ci"')).toBe(2);
    expect(count(html, 'r="4.5"')).toBe(3);
    expect(html).toContain('>0.012</text>');
  });

  it('prints the values in the heat-map cells', () => {
    expect(html).toContain('>0.654</text>');
    expect(html).toContain('>[0.650, 0.750]</text>');
    // Difference map, gprl-monitor − grpo-bt at (0, 0).
    expect(html).toContain('>+0.150</text>');
    expect(html).not.toContain('0.111');
    expect(count(html, 'class="cell"')).toBe(12);
  });

  it('contains the tables', () => {
    expect(html).toContain('<td>0.812 [0.790, 0.834]</td>');
    expect(html).toContain('<td>a better</td>');
    expect(html).toContain('<td>b better</td>');
    expect(html).toContain('<th>Precision</th><td>0.750</td><td>0.500</td><td>0.250</td>');
  });
});

describe('empty inputs', () => {
  const empty: StudySummary = {
    ...fixture(),
    commit: null,
    cyclicTripleShare: Number.NaN,
    verifiers: [],
    arms: [],
    comparisons: [],
    sweep: [],
  };

  it('renders without charts and with placeholders', () => {
    const md = renderSummaryMarkdown(empty);
    expect(md).toContain('Commit: unknown');
    expect(md).toContain('Cyclic triples (random same-prompt triples of the response pools, aggregate population preference): — (clearly cyclic: 4.5%)');
    expect(md).toContain('(no sweep)');
    const html = renderReportHtml(empty, []);
    expect(count(html, '<svg')).toBe(0);
    expect(html).toContain('No training curves.');
    expect(html).toContain('No sweep.');
  });
});
