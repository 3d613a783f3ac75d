/**
 * The demo's outputs: the summary (means and 95% t-intervals over seeds), the terminal table,
 * summary.md, summary.json, a self-contained report.html with inline SVG charts, and the main chart
 * as a PNG.
 */
import path from 'node:path';
import { chartSvg, PALETTE, type ChartSpec, type Marker, type Series } from './charts.js';
import { writeFileAtomic } from './files.js';
import { chartPng } from './png.js';
import type { DemoResult, MethodId, MethodSpec, RunResult, StepRecord } from './pipeline.js';
import { meanInterval, type Interval } from './stats.js';
import { GOLD_AXES, TOPICS, WORDS, GOLD_WEIGHTS, LENGTHS } from './task.js';

export interface MethodSummary {
  id: MethodId;
  label: string;
  n: number;
  steps: number;
  winRate: Interval;
  lcWinRate: Interval;
  length: Interval;
  quality: Interval;
  axes: Record<(typeof GOLD_AXES)[number], Interval>;
  petShare: Interval;
  /** Steps on which the monitor declared drift, per run; null for methods without a monitor. */
  monitorFired: Interval | null;
  seconds: Interval;
}

export interface Comparison {
  /** The method compared (GPRL k=3 + monitor) and the baseline (GRPO + BT). */
  method: MethodId;
  baseline: MethodId;
  metric: 'lcWinRate' | 'winRate';
  /** Per-seed difference method − baseline, paired by seed. */
  difference: Interval;
  verdict: 'better' | 'worse' | 'inconclusive' | 'single-seed';
  text: string;
}

export interface DemoSummary {
  command: string;
  createdAt: string;
  environment: Record<string, string | number>;
  config: DemoResult['config'];
  seeds: number[];
  seconds: number;
  methods: MethodSummary[];
  initial: { winRate: Interval; lcWinRate: Interval; length: Interval; quality: Interval };
  data: { annotatorPrefersLonger: Interval; goldPrefersLonger: Interval; annotatorGoldAgreement: Interval };
  verifiers: { verifier: string; dims: number; annotatorAccuracy: Interval; goldAccuracy: Interval; prefersLonger: Interval }[];
  comparisons: Comparison[];
  /** The method with the highest mean LC win rate among those with the common step budget. */
  bestByLcWinRate: MethodId;
  runs: RunResult[];
}

function finite(values: number[]): number[] {
  return values.filter((v) => Number.isFinite(v));
}

function interval(values: number[]): Interval {
  const f = finite(values);
  return f.length ? meanInterval(f) : { mean: Number.NaN, n: 0, sd: null, halfWidth: null, low: null, high: null };
}

function compare(result: DemoResult, method: MethodId, baseline: MethodId, metric: 'lcWinRate' | 'winRate'): Comparison | null {
  const diffs: number[] = [];
  for (const seed of result.seeds) {
    const a = result.runs.find((r) => r.seed === seed && r.method === method);
    const b = result.runs.find((r) => r.seed === seed && r.method === baseline);
    if (a && b) diffs.push(a[metric] - b[metric]);
  }
  if (diffs.length === 0) return null;
  const d = meanInterval(diffs);
  const name = metric === 'lcWinRate' ? 'length-controlled win rate' : 'win rate';
  const ml = result.methods.find((m) => m.id === method)!.label;
  const bl = result.methods.find((m) => m.id === baseline)!.label;
  const pct = (x: number): string => `${x < 0 ? '−' : ''}${(100 * Math.abs(x)).toFixed(1)} points`;
  let verdict: Comparison['verdict'];
  let text: string;
  if (d.n < 2) {
    verdict = 'single-seed';
    text = `${ml} minus ${bl}, gold ${name}: ${d.mean >= 0 ? '+' : ''}${pct(d.mean)} on one seed (n=1, no interval; run --seeds 5 for a conclusion).`;
  } else if (d.low! > 0) {
    verdict = 'better';
    text = `${ml} beat ${bl} on the gold ${name} by ${pct(d.mean)} (95% interval ${pct(d.low!)} to ${pct(d.high!)}, n=${d.n} seeds).`;
  } else if (d.high! < 0) {
    verdict = 'worse';
    text = `${ml} did worse than ${bl} on the gold ${name}, by ${pct(-d.mean)} (95% interval of the difference ${pct(d.low!)} to ${pct(d.high!)}, n=${d.n} seeds).`;
  } else {
    verdict = 'inconclusive';
    text = `${ml} did not beat ${bl} conclusively on the gold ${name}: difference ${d.mean >= 0 ? '+' : ''}${pct(d.mean)}, 95% interval ${pct(d.low!)} to ${pct(d.high!)} includes 0 (n=${d.n} seeds).`;
  }
  return { method, baseline, metric, difference: d, verdict, text };
}

export function summarize(result: DemoResult, command: string, environment: Record<string, string | number>): DemoSummary {
  const methods: MethodSummary[] = result.methods.map((m) => {
    const runs = result.runs.filter((r) => r.method === m.id);
    const axes = {} as MethodSummary['axes'];
    GOLD_AXES.forEach((a, l) => (axes[a] = interval(runs.map((r) => r.axes[l]!))));
    return {
      id: m.id,
      label: m.label,
      n: runs.length,
      steps: runs[0]?.steps ?? 0,
      winRate: interval(runs.map((r) => r.winRate)),
      lcWinRate: interval(runs.map((r) => r.lcWinRate)),
      length: interval(runs.map((r) => r.length)),
      quality: interval(runs.map((r) => r.quality)),
      axes,
      petShare: interval(runs.map((r) => r.petShare)),
      monitorFired: m.drift ? interval(runs.map((r) => r.monitorFired ?? Number.NaN)) : null,
      seconds: interval(runs.map((r) => r.seconds)),
    };
  });
  const comparisons = [compare(result, 'gprl', 'grpo-bt', 'lcWinRate'), compare(result, 'gprl', 'grpo-bt', 'winRate')].filter(
    (c): c is Comparison => c !== null,
  );
  // Best among the methods with the common budget (the extended run has twice the steps).
  const sameBudget = methods.filter((m) => result.methods.find((x) => x.id === m.id)!.stepsFactor === 1);
  const best = [...sameBudget].sort((a, b) => b.lcWinRate.mean - a.lcWinRate.mean)[0]!;
  return {
    command,
    createdAt: new Date().toISOString(),
    environment,
    config: result.config,
    seeds: result.seeds,
    seconds: result.seconds,
    methods,
    initial: {
      winRate: interval(result.initial.map((r) => r.winRate)),
      lcWinRate: interval(result.initial.map((r) => r.lcWinRate)),
      length: interval(result.initial.map((r) => r.length)),
      quality: interval(result.initial.map((r) => r.quality)),
    },
    data: {
      annotatorPrefersLonger: interval(result.data.map((d) => d.annotatorPrefersLonger)),
      goldPrefersLonger: interval(result.data.map((d) => d.goldPrefersLonger)),
      annotatorGoldAgreement: interval(result.data.map((d) => d.annotatorGoldAgreement)),
    },
    verifiers: (['gpm', 'gpm-k1', 'bt'] as const)
      .map((v) => result.verifiers.filter((r) => r.verifier === v))
      .filter((rs) => rs.length > 0)
      .map((rs) => ({
        verifier: rs[0]!.verifier === 'gpm' ? `GPM k=${rs[0]!.dims}` : rs[0]!.verifier === 'gpm-k1' ? 'GPM k=1' : 'Bradley-Terry',
        dims: rs[0]!.dims,
        annotatorAccuracy: interval(rs.map((r) => r.annotatorAccuracy)),
        goldAccuracy: interval(rs.map((r) => r.goldAccuracy)),
        prefersLonger: interval(rs.map((r) => r.prefersLonger)),
      })),
    comparisons,
    bestByLcWinRate: best.id,
    runs: result.runs,
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function fmt(i: Interval | null, digits = 3, scale = 1): string {
  if (!i || i.n === 0 || !Number.isFinite(i.mean)) return 'n/a';
  const m = (i.mean * scale).toFixed(digits);
  if (i.halfWidth === null) return `${m} (n=1)`;
  return `${m} ± ${(i.halfWidth * scale).toFixed(digits)}`;
}

const COLUMNS = ['Method', 'Win rate', 'LC win rate', 'Length', 'Relevance', 'Fluency', 'Length fit', 'Pet share', 'Monitor fired'] as const;

function rows(s: DemoSummary): string[][] {
  const out: string[][] = [
    [
      'Initial policy (vs itself)',
      fmt(s.initial.winRate),
      fmt(s.initial.lcWinRate),
      fmt(s.initial.length, 2),
      '', '', '', '', '',
    ],
  ];
  for (const m of s.methods) {
    out.push([
      m.label,
      fmt(m.winRate),
      fmt(m.lcWinRate),
      fmt(m.length, 2),
      fmt(m.axes.relevance),
      fmt(m.axes.fluency),
      fmt(m.axes.lengthFit),
      fmt(m.petShare),
      m.monitorFired ? fmt(m.monitorFired, 1) : '—',
    ]);
  }
  return out;
}

/** The terminal table (plain text, fixed-width columns). */
export function terminalTable(s: DemoSummary): string {
  const all = [COLUMNS as unknown as string[], ...rows(s)];
  const widths = COLUMNS.map((_, c) => Math.max(...all.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  const n = s.seeds.length;
  const lines = [
    `gprl demo — ${n} seed${n === 1 ? '' : 's'} (${s.seeds.join(', ')}), ${s.config.steps} steps per method, ${s.seconds.toFixed(0)} s`,
    `gold-judge evaluation against the initial policy; ${n === 1 ? 'n=1: no intervals' : 'mean ± 95% t-interval half-width over seeds'}`,
    '',
    line(all[0]!),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...all.slice(1).map(line),
    '',
    ...s.comparisons.map((c) => c.text),
  ];
  return lines.join('\n');
}

export function markdownSummary(s: DemoSummary): string {
  const esc = (v: string): string => v.replace(/\|/g, '\\|');
  const table = [
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows(s).map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
  const n = s.seeds.length;
  const v = s.verifiers.map(
    (x) => `| ${x.verifier} | ${fmt(x.annotatorAccuracy)} | ${fmt(x.goldAccuracy)} | ${fmt(x.prefersLonger)} |`,
  );
  const examples: string[] = [];
  for (const m of s.methods) {
    const run = s.runs.find((r) => r.method === m.id && r.seed === s.seeds[0]);
    if (!run) continue;
    examples.push(`**${m.label}** (seed ${run.seed})`, '');
    for (const e of run.examples) examples.push(`- *${e.prompt}*: \`${e.response}\` (gold quality ${e.quality.toFixed(2)})`);
    examples.push('');
  }
  return [
    '# gprl demo — results',
    '',
    `Command: \`${s.command}\``,
    '',
    `Seeds: ${s.seeds.join(', ')} (n=${n}); ${s.config.steps} policy steps per method (B=${s.config.batchSize} prompts × G=${s.config.groupSize} responses); ${s.seconds.toFixed(0)} s in all. Environment: ${Object.entries(s.environment).map(([k, val]) => `${k} ${val}`).join(', ')}.`,
    '',
    n === 1
      ? 'Values are from one seed (n=1): there is no interval, and no conclusion should be drawn from them.'
      : 'Values are means over seeds ± the half-width of the 95% Student-t interval.',
    '',
    '## Outcome',
    '',
    ...s.comparisons.map((c) => `- ${c.text}`),
    `- Highest mean LC win rate at the common budget of ${s.config.steps} steps: ${s.methods.find((m) => m.id === s.bestByLcWinRate)!.label} (means only; see the intervals).`,
    '',
    '## Gold-judge evaluation against the initial policy',
    '',
    ...table,
    '',
    '- **Win rate**: share of evaluation prompts on which the gold judge prefers the trained policy\'s response to the initial policy\'s (ties ½).',
    '- **LC win rate**: σ(θ₀) of the logistic regression P(win) = σ(θ₀ + θ₁·tanh(Δlength/sd)) — the win rate at equal length (docs/demo.md).',
    '- **Length**: mean response length in words (the prompts ask for 4, 8 or 12). **Pet share**: share of words that are the annotators\' pet token `truly`.',
    '- **Monitor fired**: training steps on which the drift monitor declared drift (GPRL + monitor only).',
    '',
    '## Preference data and verifiers (held-out pairs)',
    '',
    `Annotators chose the longer response in ${fmt(s.data.annotatorPrefersLonger)} of held-out pairs of different lengths; the gold judge would have in ${fmt(s.data.goldPrefersLonger)}. Annotator–gold agreement: ${fmt(s.data.annotatorGoldAgreement)}.`,
    '',
    '| Verifier | Agreement with annotators | Agreement with gold | Prefers the longer response |',
    '|---|---:|---:|---:|',
    ...v,
    '',
    '## Example responses (prompt: topic, requested length)',
    '',
    ...examples,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Charts

function meanBy(records: StepRecord[], value: (r: StepRecord) => number | undefined): [number, number][] {
  const by = new Map<number, number[]>();
  for (const r of records) {
    const v = value(r);
    if (v === undefined || !Number.isFinite(v)) continue;
    const list = by.get(r.step) ?? [];
    list.push(v);
    by.set(r.step, list);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([s, vs]) => [s, vs.reduce((a, b) => a + b, 0) / vs.length]);
}

function bandBy(records: StepRecord[], value: (r: StepRecord) => number | undefined): [number, number, number][] {
  const by = new Map<number, number[]>();
  for (const r of records) {
    const v = value(r);
    if (v === undefined || !Number.isFinite(v)) continue;
    const list = by.get(r.step) ?? [];
    list.push(v);
    by.set(r.step, list);
  }
  const out: [number, number, number][] = [];
  for (const [s, vs] of [...by.entries()].sort((a, b) => a[0] - b[0])) {
    if (vs.length < 2) return [];
    const i = meanInterval(vs);
    out.push([s, i.low!, i.high!]);
  }
  return out;
}

/** Centered moving average over `w` points (training-sample curves are noisy). */
function smooth(points: [number, number][], w: number): [number, number][] {
  return points.map(([x], i) => {
    const lo = Math.max(0, i - Math.floor(w / 2));
    const hi = Math.min(points.length, i + Math.ceil(w / 2));
    let s = 0;
    for (let j = lo; j < hi; j++) s += points[j]![1];
    return [x, s / (hi - lo)] as [number, number];
  });
}

/** Methods drawn dashed: the variants of GPRL + monitor (without it, and with twice the steps). */
function isDashed(id: MethodId): boolean {
  return id === 'gprl-nomon' || id === 'gprl-2x';
}

function methodColor(methods: MethodSpec[], id: MethodId): string {
  return PALETTE[methods.findIndex((m) => m.id === id) % PALETTE.length]!;
}

export function buildCharts(result: DemoResult): { id: string; spec: ChartSpec; caption: string }[] {
  const charts: { id: string; spec: ChartSpec; caption: string }[] = [];
  const byMethod = (id: MethodId): StepRecord[] => result.steps.filter((r) => r.method === id);
  const n = result.seeds.length;
  const seedNote = n > 1 ? `mean over ${n} seeds, shaded: 95% t-interval` : 'one seed';
  charts.push({
    id: 'win-rate',
    caption: `Gold win rate against the initial policy on the curve set (${result.config.curvePerPrompt * 12} prompts) during training; ${seedNote}.`,
    spec: {
      title: 'Gold win rate vs the initial policy',
      xLabel: 'training step',
      yLabel: 'gold win rate',
      yRef: 0.5,
      series: result.methods.map((m) => ({
        name: m.label,
        color: methodColor(result.methods, m.id),
        points: meanBy(byMethod(m.id), (r) => r.winRate),
        band: bandBy(byMethod(m.id), (r) => r.winRate),
        dashed: isDashed(m.id),
      })),
    },
  });
  const w = Math.max(1, Math.round(result.config.steps / 20));
  // Charts of a gold statistic of the training samples, per method, as a moving average.
  const sampleChart = (id: string, caption: string, title: string, yLabel: string, value: (r: StepRecord) => number): void => {
    charts.push({
      id,
      caption,
      spec: {
        title,
        xLabel: 'training step',
        yLabel,
        series: result.methods.map((m) => ({
          name: m.label,
          color: methodColor(result.methods, m.id),
          points: smooth(meanBy(byMethod(m.id).filter((r) => r.step > 0), value), w),
          dashed: isDashed(m.id),
        })),
      },
    });
  };
  sampleChart(
    'length',
    `Mean response length (words) of the training samples, moving average over ${w} steps; ${n > 1 ? `mean over ${n} seeds` : 'one seed'}.`,
    'Response length during training',
    'mean length (words)',
    (r) => r.gold.length,
  );
  sampleChart(
    'pet',
    `Share of the annotators' pet token \`truly\` in the training samples (moving average over ${w} steps).`,
    'Pet-token share during training',
    "share of 'truly'",
    (r) => r.gold.petShare,
  );
  sampleChart(
    'gold-quality',
    `Gold quality (the hidden weighted score, 0–1) of the training samples (moving average over ${w} steps).`,
    'Gold quality of the training samples',
    'gold quality',
    (r) => r.gold.quality,
  );
  const mon = result.methods.find((m) => m.id === 'gprl') ?? result.methods.find((m) => m.drift);
  if (mon) {
    const recs = byMethod(mon.id).filter((r) => r.step > 0);
    const k = recs.find((r) => r.alpha)?.alpha?.length ?? 0;
    const markers: Marker[] = recs.filter((r) => r.drifted).map((r) => ({ x: r.step, color: '#d55e00', label: `seed ${r.seed}: drift at step ${r.step}` }));
    const dimSeries = (value: (r: StepRecord, l: number) => number | undefined): Series[] =>
      Array.from({ length: k }, (_, l) => ({
        name: `dimension ${l + 1}`,
        color: PALETTE[(l + 4) % PALETTE.length]!,
        points: meanBy(recs, (r) => value(r, l)),
      }));
    if (k > 0) {
      charts.push({
        id: 'alpha',
        caption: `${mon.label}: variance spectrum α of the GPM dimensions per step (${n > 1 ? `mean over ${n} seeds` : 'one seed'}); vertical lines: steps where the monitor declared drift (any seed).`,
        spec: { title: `Per-dimension variance share α (${mon.label})`, xLabel: 'training step', yLabel: 'α', series: dimSeries((r, l) => r.alpha?.[l]), markers },
      });
      charts.push({
        id: 'weights',
        caption: `${mon.label}: the monitor's dimension weights m (mean 1) per step.`,
        spec: { title: `Dimension weights m (${mon.label})`, xLabel: 'training step', yLabel: 'weight m', series: dimSeries((r, l) => r.dimWeights[l]), markers, yRef: 1 },
      });
      charts.push({
        id: 'trust-region',
        caption: `${mon.label}: KL coefficient β and clip range ε used per step, and the drift D = KL(ᾱ‖α⁰).`,
        spec: {
          title: `Trust region and drift (${mon.label})`,
          xLabel: 'training step',
          yLabel: 'value',
          series: [
            { name: 'β', color: PALETTE[0], points: meanBy(recs, (r) => r.beta) },
            { name: 'ε', color: PALETTE[1], points: meanBy(recs, (r) => r.epsilon) },
            { name: 'drift D', color: PALETTE[2], points: meanBy(recs, (r) => r.drift ?? undefined) },
          ],
          markers,
        },
      });
    }
  }
  return charts;
}

// ---------------------------------------------------------------------------------------------
// HTML

function escHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function mdInline(s: string): string {
  return escHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>').replace(/\*([^*]+)\*/g, '<i>$1</i>');
}

export function reportHtml(s: DemoSummary, result: DemoResult): string {
  const charts = buildCharts(result);
  const rowsHtml = rows(s)
    .map((r) => `<tr>${r.map((v, i) => (i === 0 ? `<th>${escHtml(v)}</th>` : `<td>${escHtml(v)}</td>`)).join('')}</tr>`)
    .join('\n');
  const events = s.methods
    .filter((m) => m.monitorFired)
    .map((m) => {
      const runs = s.runs.filter((r) => r.method === m.id);
      const kinds = new Map<string, number>();
      for (const r of runs) for (const [k, c] of Object.entries(r.monitorEvents)) kinds.set(k, (kinds.get(k) ?? 0) + c);
      return `<li>${escHtml(m.label)}: drift declared on ${fmt(m.monitorFired, 1)} steps per run; events over all runs: ${[...kinds.entries()].map(([k, c]) => `${escHtml(k)} ×${c}`).join(', ') || 'none'}</li>`;
    })
    .join('\n');
  const task = [
    `Topics: ${TOPICS.map((t, i) => `${t} (${WORDS.slice(i * 3, i * 3 + 3).join(', ')}; weights relevance/fluency/length = ${GOLD_WEIGHTS[i]!.map((w) => w.toFixed(2)).join('/')})`).join('; ')}.`,
    `Requested lengths: ${LENGTHS.join(', ')} words. Function words: the, and, of, truly (the annotators' pet token).`,
    `Annotators: utility = gold quality + ${s.config.annotator.lengthBias}·length/16 + ${s.config.annotator.petBias}·share of 'truly', choice temperature ${s.config.annotator.temperature}.`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gprl demo report</title>
<style>
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
th:first-child{text-align:left}thead th{background:#f4f4f4}code{background:#f4f4f4;padding:0 3px}
figure{margin:1.5em 0}figcaption{font-size:13px;color:#555;max-width:720px}.verdict{background:#f6f8fa;border-left:4px solid #0072b2;padding:.6em 1em}
</style></head><body>
<h1>gprl demo</h1>
<p>Command: <code>${escHtml(s.command)}</code><br>Seeds ${s.seeds.join(', ')} (n=${s.seeds.length}); ${s.config.steps} steps per method; ${s.seconds.toFixed(0)} s; created ${escHtml(s.createdAt)}.<br>
${escHtml(Object.entries(s.environment).map(([k, v]) => `${k}: ${v}`).join(' · '))}</p>
<div class="verdict">${s.comparisons.map((c) => `<p>${escHtml(c.text)}</p>`).join('')}</div>
<h2>Gold-judge evaluation against the initial policy</h2>
<p>${s.seeds.length === 1 ? 'One seed: no intervals.' : 'Mean ± half-width of the 95% t-interval over seeds.'}</p>
<table><thead><tr>${COLUMNS.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>
${rowsHtml}
</tbody></table>
<p>LC win rate: σ(θ₀) of the logistic regression P(win) = σ(θ₀ + θ₁·tanh(Δlength/sd)) fitted to the gold outcomes — the win rate at equal length.</p>
<h2>Charts</h2>
${charts.map((c) => `<figure id="${c.id}">${chartSvg(c.spec)}<figcaption>${mdInline(c.caption)}</figcaption></figure>`).join('\n')}
<h2>Drift monitor</h2>
<ul>${events || '<li>No method with a monitor ran.</li>'}</ul>
<h2>Preference data and verifiers</h2>
<p>Annotators chose the longer response in ${fmt(s.data.annotatorPrefersLonger)} of held-out pairs of different lengths; the gold judge would have in ${fmt(s.data.goldPrefersLonger)}.</p>
<table><thead><tr><th>Verifier</th><th>Agreement with annotators</th><th>Agreement with gold</th><th>Prefers the longer response</th></tr></thead><tbody>
${s.verifiers.map((v) => `<tr><th>${escHtml(v.verifier)}</th><td>${fmt(v.annotatorAccuracy)}</td><td>${fmt(v.goldAccuracy)}</td><td>${fmt(v.prefersLonger)}</td></tr>`).join('\n')}
</tbody></table>
<h2>The task</h2>
<ul>${task.map((t) => `<li>${escHtml(t)}</li>`).join('')}</ul>
<h2>Example responses (seed ${s.seeds[0]})</h2>
${s.methods
  .map((m) => {
    const run = s.runs.find((r) => r.method === m.id && r.seed === s.seeds[0]);
    return run
      ? `<h3>${escHtml(m.label)}</h3><ul>${run.examples.map((e) => `<li><i>${escHtml(e.prompt)}</i>: <code>${escHtml(e.response)}</code> (gold ${e.quality.toFixed(2)})</li>`).join('')}</ul>`
      : '';
  })
  .join('\n')}
</body></html>
`;
}

// ---------------------------------------------------------------------------------------------

export interface WrittenFiles {
  dir: string;
  files: string[];
}

/** Write summary.json, summary.md, report.html and win-rate.png (metrics.jsonl is written during the run). */
export function writeReport(dir: string, s: DemoSummary, result: DemoResult): WrittenFiles {
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    const f = path.join(dir, name);
    writeFileAtomic(f, data);
    files.push(f);
  };
  put('summary.json', `${JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  put('summary.md', `${markdownSummary(s)}\n`);
  put('report.html', reportHtml(s, result));
  const main = buildCharts(result)[0]!;
  put('win-rate.png', chartPng(main.spec, 2));
  put('win-rate.svg', `${chartSvg(main.spec)}\n`);
  return { dir, files };
}
