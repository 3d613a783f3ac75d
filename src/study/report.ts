/**
 * The study's human-readable outputs: `summary.md` (plain markdown tables) and `report.html` (one
 * self-contained file: inline CSS and inline SVG, no scripts, fonts, images or network references, so
 * it opens offline). Both are pure functions of the {@link StudySummary} (and, for the charts, the
 * main cell's {@link ArmCurves}); missing values (null, NaN, absent budgets or cells) print as `—`.
 */
import { formatTick, layoutChart, niceTicks, PALETTE, segments, type Series } from './charts.js';
import { ARM_IDS, ARMS, type ArmId } from './arms.js';
import type { ArmCurves, ArmSummary, Comparison, DetectionQuality, Estimate, StudySummary } from './types.js';

const DASH = '—';

// ---------------------------------------------------------------------------------------------
// Number formatting

function isNum(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** `v` with `digits` decimals, or `—`. */
function num(v: number | null | undefined, digits = 3, scale = 1): string {
  if (!isNum(v)) return DASH;
  const s = (v * scale).toFixed(digits);
  // No "-0.000".
  return Number(s) === 0 ? s.replace(/^-/, '') : s;
}

/** `mean [low, high]`, just the mean when the interval is missing, `—` when the mean is. */
function est(e: Estimate | null | undefined, digits = 3, scale = 1): string {
  if (!e || !isNum(e.mean)) return DASH;
  const m = num(e.mean, digits, scale);
  if (!isNum(e.low) || !isNum(e.high)) return m;
  return `${m} [${num(e.low, digits, scale)}, ${num(e.high, digits, scale)}]`;
}

function pct(v: number | null | undefined, digits = 1): string {
  return isNum(v) ? `${num(v, digits, 100)}%` : DASH;
}

function pValue(p: number): string {
  if (!isNum(p)) return DASH;
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** A grid coordinate (bias value) without float noise. */
function coord(v: number): string {
  return isNum(v) ? String(Number(v.toPrecision(4))) : DASH;
}

function signed(v: number, digits: number, scale = 1): string {
  const s = num(v, digits, scale);
  return isNum(v) && Number(s) > 0 ? `+${s}` : s;
}

// ---------------------------------------------------------------------------------------------
// Escaping and tables

function escHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function escMdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Inline code span that survives backticks inside `s`. */
function mdCode(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  return longest > 0 ? `${fence} ${s} ${fence}` : `${fence}${s}${fence}`;
}

interface Table {
  head: string[];
  rows: string[][];
}

function mdTable(t: Table): string[] {
  if (t.rows.length === 0) return ['(none)'];
  return [
    `| ${t.head.map(escMdCell).join(' | ')} |`,
    `|${t.head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(escMdCell).join(' | ')} |`),
  ];
}

function htmlTable(t: Table): string {
  if (t.rows.length === 0) return '<p class="note">(none)</p>';
  const head = `<thead><tr>${t.head.map((h) => `<th>${escHtml(h)}</th>`).join('')}</tr></thead>`;
  const body = t.rows.map((r) => `<tr>${r.map((v, i) => (i === 0 ? `<th>${escHtml(v)}</th>` : `<td>${escHtml(v)}</td>`)).join('')}</tr>`).join('\n');
  return `<table>${head}<tbody>\n${body}\n</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------
// The tables (shared by summary.md and report.html)

function armLabel(summary: StudySummary, id: ArmId): string {
  return summary.arms.find((a) => a.id === id)?.label ?? ARMS[id]?.label ?? String(id);
}

function verifierTable(summary: StudySummary): Table {
  return {
    head: ['Verifier', 'Dims', 'Held-out accuracy', 'Gold agreement', 'Optimum gold', 'Optimum length', 'Optimum pet share', 'Cycle reproduction', 'Best epoch'],
    rows: summary.verifiers.map((v) => [
      v.id,
      isNum(v.dims) ? String(v.dims) : DASH,
      est(v.heldOutAccuracy),
      est(v.goldAgreement),
      est(v.optimumGold),
      est(v.optimumLength, 2),
      est(v.optimumPetShare),
      est(v.cycleReproduction),
      est(v.bestEpoch, 1),
    ]),
  };
}

function budgets(summary: StudySummary): number[] {
  return [...new Set(summary.arms.flatMap((a) => a.budgets.map((b) => b.steps)))].filter(isNum).sort((a, b) => a - b);
}

function headlineTable(arms: readonly ArmSummary[], steps: number): Table {
  return {
    head: ['Arm', 'Seeds', 'Gold win rate', 'Gold quality', 'LC win rate', 'Length', 'Pet share', 'Fire rate', 'Mean β'],
    rows: arms.map((a) => {
      const b = a.budgets.find((x) => x.steps === steps);
      return [
        a.label,
        String(a.seeds),
        est(b?.goldWinRate),
        est(b?.goldQuality),
        est(b?.lcWinRate),
        est(b?.length, 2),
        est(b?.petShare),
        est(a.fireRate),
        est(a.meanBeta),
      ];
    }),
  };
}

const METRIC_LABEL: Record<Comparison['metric'], string> = {
  goldWinRate: 'gold win rate (points)',
  goldQuality: 'gold quality',
  lcWinRate: 'LC win rate (points)',
};

/** Win-rate differences in points (×100, 1 decimal); gold quality as is (3 decimals). */
function diffScale(metric: Comparison['metric']): { scale: number; digits: number } {
  return metric === 'goldQuality' ? { scale: 1, digits: 3 } : { scale: 100, digits: 1 };
}

function verdict(c: Comparison): string {
  if (c.primary && isNum(c.pHolm) && c.pHolm < 0.05 && isNum(c.diff.mean)) {
    if (c.diff.mean > 0) return 'a better';
    if (c.diff.mean < 0) return 'b better';
  }
  return 'no significant difference';
}

function comparisonTable(summary: StudySummary): Table {
  return {
    head: ['Comparison (a − b)', 'Steps', 'Metric', 'Difference [95% CI]', 'p', 'p (Holm)', 'Primary', 'Verdict'],
    rows: summary.comparisons.map((c) => {
      const { scale, digits } = diffScale(c.metric);
      return [
        `${armLabel(summary, c.a)} − ${armLabel(summary, c.b)}`,
        String(c.steps),
        METRIC_LABEL[c.metric] ?? String(c.metric),
        est(c.diff, digits, scale),
        pValue(c.p),
        pValue(c.pHolm),
        c.primary ? 'yes' : 'no',
        verdict(c),
      ];
    }),
  };
}

/** Per-detector quality (absent in older summaries). */
function extraDetectors(summary: StudySummary): [string, DetectionQuality][] {
  return Object.entries(summary.monitor?.detectors ?? {}).sort(([a], [b]) => a.localeCompare(b));
}

function detectionTable(summary: StudySummary): Table {
  const cols: [string, DetectionQuality | undefined][] = [
    ['Observing monitor (no-monitor arm)', summary.monitor?.detection],
    ['Acting monitor (monitor arm)', summary.monitor?.acting],
    ...extraDetectors(summary).map(([k, q]): [string, DetectionQuality] => [`Detector ${k} alone (observing)`, q]),
  ];
  const row = (name: string, f: (q: DetectionQuality) => string): string[] => [name, ...cols.map(([, q]) => (q ? f(q) : DASH))];
  return {
    head: ['Measure', ...cols.map(([h]) => h)],
    rows: [
      row('Precision', (q) => num(q.precision)),
      row('Recall', (q) => num(q.recall)),
      row('Median lead (steps)', (q) => num(q.medianLeadSteps, 1)),
      row('False alarms per 1000 steps (control)', (q) => num(q.falseAlarmsPer1000Steps, 2)),
      row('Control firings per 1000 steps', (q) => num(q.controlFiringsPer1000Steps, 2)),
      row('Episodes', (q) => (isNum(q.episodes) ? String(q.episodes) : DASH)),
      row('Detected', (q) => (isNum(q.detected) ? String(q.detected) : DASH)),
      row('Labelled share of steps', (q) => pct(q.labelledShare)),
      row('Runs / steps', (q) => `${isNum(q.runs) ? q.runs : DASH} / ${isNum(q.steps) ? q.steps : DASH}`),
    ],
  };
}

type SweepEntry = StudySummary['sweep'][number];

interface SweepGrid {
  arm: ArmId;
  label: string;
  steps: number;
  lengthBiases: number[];
  petBiases: number[];
  at: (lengthBias: number, petBias: number) => SweepEntry | undefined;
}

function sortedUnique(xs: readonly number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

function gridAt(summary: StudySummary, arm: ArmId, steps: number): SweepGrid {
  const entries = summary.sweep.filter((e) => e.arm === arm && e.steps === steps);
  return {
    arm,
    label: armLabel(summary, arm),
    steps,
    lengthBiases: sortedUnique(entries.map((e) => e.lengthBias)),
    petBiases: sortedUnique(entries.map((e) => e.petBias)),
    at: (lb, pb) => entries.find((e) => e.lengthBias === lb && e.petBias === pb),
  };
}

/** One grid per sweep arm (order of first appearance) at that arm's largest budget. */
function sweepGrids(summary: StudySummary): SweepGrid[] {
  const arms = [...new Set(summary.sweep.map((e) => e.arm))];
  return arms.map((arm) => gridAt(summary, arm, Math.max(...summary.sweep.filter((e) => e.arm === arm).map((e) => e.steps))));
}

function sweepTable(g: SweepGrid): Table {
  return {
    head: ['length bias \\ pet bias', ...g.petBiases.map(coord)],
    rows: g.lengthBiases.map((lb) => [coord(lb), ...g.petBiases.map((pb) => est(g.at(lb, pb)?.goldWinRate))]),
  };
}

// ---------------------------------------------------------------------------------------------
// summary.md

/** Renders `summary.md`: header, intransitivity, verifiers, headline tables per budget, comparisons, monitor detection, sweep grids. */
function interruptedNote(s: StudySummary): string {
  return `this summary covers the ${s.unitsDone} of ${s.units} cell × seed units (and the arms) that finished before the study was stopped; continue it with gprl study --resume <run folder>.`;
}

export function renderSummaryMarkdown(summary: StudySummary): string {
  const out: string[] = [
    '# gprl study',
    '',
    `Command: ${mdCode(summary.command)}`,
    '',
    `Commit: ${summary.commit ? mdCode(summary.commit) : 'unknown'}`,
    '',
    `Seconds: ${isNum(summary.seconds) ? summary.seconds.toFixed(0) : DASH}`,
    '',
    ...(summary.status === 'interrupted' ? [`**Interrupted:** ${interruptedNote(summary)}`, ''] : []),
    '## Intransitivity of the preference data',
    '',
    `Cyclic triples (random same-prompt triples of the response pools, aggregate population preference): ${pct(summary.cyclicTripleShare)} (clearly cyclic: ${pct(summary.clearCyclicTripleShare)}).`,
  ];
  if (summary.labelGoldAgreement) out.push('', `Held-out labels' agreement with the gold judge: ${est(summary.labelGoldAgreement)}.`);
  out.push('', '## Verifiers', '', 'Mean [95% t-interval] over seeds.', '', ...mdTable(verifierTable(summary)));

  out.push('', '## Headline: gold-judge evaluation against the initial policy', '');
  out.push('Mean [95% t-interval] over seeds; only the mean with one seed. Fire rate and mean β are over the whole run.');
  const bs = budgets(summary);
  if (bs.length === 0) out.push('', '(no arms)');
  for (const steps of bs) out.push('', `### ${steps} steps`, '', ...mdTable(headlineTable(summary.arms, steps)));

  out.push('', '## Comparisons', '');
  out.push('Paired difference a − b by seed: win rates in points (×100), gold quality as is. p: two-sided paired t-test; p (Holm): Holm-adjusted within its family (primary: every primary comparison at the largest budget; secondary: each budget × metric). Verdict: a primary comparison with Holm p < 0.05.');
  out.push('', ...mdTable(comparisonTable(summary)));

  out.push('', '## Drift-monitor detection', '');
  out.push('Observing: the monitor runs on the no-monitor arm without acting. Acting: the monitor arm (its actions change the trajectory it is judged on).');
  out.push('', ...mdTable(detectionTable(summary)));

  out.push('', '## Bias sweep: gold win rate', '');
  const grids = sweepGrids(summary);
  if (grids.length === 0) out.push('(no sweep)');
  else out.push('Rows: annotator length bias; columns: annotator pet-word bias; cells: gold win rate, mean [95% t-interval].');
  for (const g of grids) out.push('', `### ${g.label} (${g.steps} steps)`, '', ...mdTable(sweepTable(g)));
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG helpers

const EXTRA_COLORS = ['#8c564b', '#7f7f7f', '#6a3d9a'] as const;
const ARM_COLORS: readonly string[] = [...PALETTE, ...EXTRA_COLORS];

/** A fixed colour per arm (distinct for the nine arms), so every chart agrees. */
function armColor(arm: ArmId, fallbackIndex: number): string {
  const i = ARM_IDS.indexOf(arm);
  return ARM_COLORS[(i >= 0 ? i : fallbackIndex) % ARM_COLORS.length]!;
}

const SVG_OPEN = (w: number, h: number, title: string): string =>
  `<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12" role="img" aria-label="${escHtml(title)}">`;

const f1 = (v: number): string => v.toFixed(1);

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

interface FiredStrip {
  label: string;
  color: string;
  /** Bin ends (steps) and the share of seeds that fired in each bin. */
  steps: readonly number[];
  share: readonly number[];
}

/** A line chart (one line per arm) with one strip per monitored arm underneath, shaded by its firing share per bin. */
function curveChart(title: string, yLabel: string, series: Series[], strips: FiredStrip[]): string {
  const L = layoutChart({ title, xLabel: 'training step', yLabel, series, width: 880, height: 340 });
  const rowH = 14;
  const stripTop = L.height + 6;
  const H = strips.length > 0 ? stripTop + strips.length * rowH + 8 : L.height;
  const pr = L.width - L.right;
  const pb = L.height - L.bottom;
  const p: string[] = [SVG_OPEN(L.width, H, title), `<rect width="${L.width}" height="${H}" fill="#ffffff"/>`];
  p.push(`<text x="${L.left}" y="20" font-size="14" font-weight="600">${escHtml(title)}</text>`);
  for (const t of L.yTicks) {
    const y = L.sy(t);
    if (y < L.top - 0.5 || y > pb + 0.5) continue;
    p.push(`<line x1="${L.left}" x2="${pr}" y1="${f1(y)}" y2="${f1(y)}" stroke="#e5e5e5"/>`);
    p.push(`<text x="${L.left - 6}" y="${f1(y + 4)}" text-anchor="end" fill="#444">${formatTick(t)}</text>`);
  }
  for (const t of L.xTicks) {
    const x = L.sx(t);
    if (x < L.left - 0.5 || x > pr + 0.5) continue;
    p.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${L.top}" y2="${pb}" stroke="#f0f0f0"/>`);
    p.push(`<text x="${f1(x)}" y="${pb + 16}" text-anchor="middle" fill="#444">${formatTick(t)}</text>`);
  }
  p.push(`<rect x="${L.left}" y="${L.top}" width="${pr - L.left}" height="${pb - L.top}" fill="none" stroke="#888"/>`);
  p.push(`<text x="${(L.left + pr) / 2}" y="${L.height - 10}" text-anchor="middle" fill="#222">training step</text>`);
  p.push(`<text transform="translate(16 ${(L.top + pb) / 2}) rotate(-90)" text-anchor="middle" fill="#222">${escHtml(yLabel)}</text>`);
  for (const s of series) {
    for (const seg of segments(s.points)) {
      if (seg.length === 1) p.push(`<circle cx="${f1(L.sx(seg[0]![0]))}" cy="${f1(L.sy(seg[0]![1]))}" r="2.5" fill="${s.color}"/>`);
      else p.push(`<polyline points="${seg.map(([x, y]) => `${f1(L.sx(x))},${f1(L.sy(y))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`);
    }
  }
  series.forEach((s, i) => {
    const y = L.top + 8 + i * 18;
    p.push(`<line x1="${pr + 12}" x2="${pr + 36}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`);
    p.push(`<text x="${pr + 42}" y="${y + 4}" fill="#222">${escHtml(s.name)}</text>`);
  });
  strips.forEach((st, r) => {
    const y = stripTop + r * rowH;
    const h = rowH - 4;
    p.push(`<text x="${L.left - 6}" y="${y + h - 1}" text-anchor="end" font-size="10" fill="#444">fired</text>`);
    p.push(`<rect x="${L.left}" y="${y}" width="${pr - L.left}" height="${h}" fill="none" stroke="#ddd"/>`);
    const n = Math.min(st.steps.length, st.share.length);
    for (let i = 0; i < n; i++) {
      const share = st.share[i]!;
      const end = st.steps[i]!;
      if (!isNum(share) || share <= 0 || !isNum(end)) continue;
      const prev = i > 0 ? st.steps[i - 1]! : n > 1 ? end - (st.steps[1]! - end) : end - 1;
      const x0 = clamp(L.sx(isNum(prev) ? prev : end - 1), L.left, pr);
      const x1 = clamp(L.sx(end), L.left, pr);
      const op = Number(clamp(share, 0, 1).toFixed(3));
      p.push(
        `<rect class="fired" x="${f1(x0)}" y="${y}" width="${f1(Math.max(0.5, x1 - x0))}" height="${h}" fill="${st.color}" fill-opacity="${op}"><title>${escHtml(`${st.label}: fired in ${pct(share, 0)} of seeds, steps ${isNum(prev) ? prev + 1 : DASH}–${end}`)}</title></rect>`,
      );
    }
    p.push(`<text x="${pr + 12}" y="${y + h - 1}" font-size="10" fill="${st.color}">${escHtml(st.label)}</text>`);
  });
  p.push('</svg>');
  return p.join('\n');
}

interface ForestRow {
  label: string;
  mean: number;
  low: number | null;
  high: number | null;
  right: string;
  primary: boolean;
}

/** Forest plot: one row per comparison, point at the mean, line over the interval, zero line. */
function forestSvg(title: string, xLabel: string, rows: ForestRow[]): string {
  const labelW = clamp(Math.max(0, ...rows.map((r) => [...r.label].length)) * 6.6 + 16, 160, 520);
  const rightW = 130;
  const plotW = 420;
  const top = 40;
  const rowH = 24;
  const bottom = 44;
  const W = labelW + plotW + rightW;
  const H = top + rows.length * rowH + bottom;
  const vals = [0, ...rows.flatMap((r) => [r.mean, r.low ?? Number.NaN, r.high ?? Number.NaN]).filter(isNum)];
  let x0 = Math.min(...vals);
  let x1 = Math.max(...vals);
  if (!(x1 > x0)) {
    x0 -= 1;
    x1 += 1;
  }
  const pad = (x1 - x0) * 0.06;
  x0 -= pad;
  x1 += pad;
  const sx = (v: number): number => labelW + ((v - x0) / (x1 - x0)) * plotW;
  const pb = top + rows.length * rowH;
  const p: string[] = [SVG_OPEN(W, H, title), `<rect width="${W}" height="${H}" fill="#ffffff"/>`];
  p.push(`<text x="8" y="20" font-size="14" font-weight="600">${escHtml(title)}</text>`);
  p.push(`<text x="${labelW + plotW + 8}" y="${top - 8}" fill="#444">p (Holm)</text>`);
  rows.forEach((_, i) => {
    if (i % 2 === 0) p.push(`<rect x="0" y="${top + i * rowH}" width="${W}" height="${rowH}" fill="#f7f7f7"/>`);
  });
  for (const t of niceTicks(x0, x1, 6)) {
    const x = sx(t);
    if (x < labelW - 0.5 || x > labelW + plotW + 0.5) continue;
    p.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${top}" y2="${pb}" stroke="#e5e5e5"/>`);
    p.push(`<text x="${f1(x)}" y="${pb + 16}" text-anchor="middle" fill="#444">${formatTick(t)}</text>`);
  }
  p.push(`<line x1="${f1(sx(0))}" x2="${f1(sx(0))}" y1="${top}" y2="${pb}" stroke="#333" stroke-width="1.5"/>`);
  p.push(`<text x="${labelW + plotW / 2}" y="${H - 10}" text-anchor="middle" fill="#222">${escHtml(xLabel)}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    p.push(`<text x="${labelW - 8}" y="${f1(y + 4)}" text-anchor="end" fill="#222">${escHtml(r.label)}</text>`);
    p.push(`<text x="${labelW + plotW + 8}" y="${f1(y + 4)}" fill="#222">${escHtml(r.right)}</text>`);
    if (isNum(r.low) && isNum(r.high)) {
      p.push(`<line class="ci" x1="${f1(sx(r.low))}" x2="${f1(sx(r.high))}" y1="${f1(y)}" y2="${f1(y)}" stroke="#0072b2" stroke-width="2"/>`);
    }
    if (isNum(r.mean)) {
      p.push(
        `<circle cx="${f1(sx(r.mean))}" cy="${f1(y)}" r="4.5" fill="${r.primary ? '#0072b2' : '#ffffff'}" stroke="#0072b2" stroke-width="1.5"/>`,
      );
    }
  });
  p.push('</svg>');
  return p.join('\n');
}

interface HeatCell {
  fill: string;
  text: string;
  sub?: string;
  title: string;
}

type Rgb = readonly [number, number, number];
const RED: Rgb = [215, 48, 39];
const WHITE: Rgb = [255, 255, 255];
const GREEN: Rgb = [26, 152, 80];
const PURPLE: Rgb = [118, 42, 131];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => Math.round(a[i]! + (b[i]! - a[i]!) * t)) as unknown as Rgb;
}

function hex(c: Rgb): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Win rate colour: 0.3 red → 0.5 white → 0.9 green, clamped. */
function winRateColor(v: number): Rgb {
  if (v <= 0.5) return mix(RED, WHITE, (clamp(v, 0.3, 0.5) - 0.3) / 0.2);
  return mix(WHITE, GREEN, (clamp(v, 0.5, 0.9) - 0.5) / 0.4);
}

/** Diverging colour for a difference: negative purple, zero white, positive green (|d| ≥ `span` saturates). */
function diffColor(d: number, span: number): Rgb {
  const t = clamp(d / span, -1, 1);
  return t >= 0 ? mix(WHITE, GREEN, t) : mix(WHITE, PURPLE, -t);
}

function textColor(c: Rgb): string {
  const lum = (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
  return lum < 0.5 ? '#ffffff' : '#111111';
}

/** A grid heat map: rows length bias, columns pet bias, the value printed in each cell. */
function heatSvg(title: string, rows: number[], cols: number[], cell: (lb: number, pb: number) => HeatCell | null): string {
  const cw = 112;
  const ch = 46;
  const left = 96;
  const top = 64;
  // Wide enough for the title (about 7.5 px per character at 14 px).
  const W = Math.max(left + cols.length * cw + 16, Math.ceil(16 + 7.5 * [...title].length), 360);
  const H = top + rows.length * ch + 16;
  const p: string[] = [SVG_OPEN(W, H, title), `<rect width="${W}" height="${H}" fill="#ffffff"/>`];
  p.push(`<text x="8" y="20" font-size="14" font-weight="600">${escHtml(title)}</text>`);
  p.push(`<text x="${left + (cols.length * cw) / 2}" y="${top - 28}" text-anchor="middle" fill="#444">pet bias →</text>`);
  p.push(`<text x="8" y="${top - 8}" fill="#444">length bias ↓</text>`);
  cols.forEach((pb, j) => p.push(`<text x="${left + j * cw + cw / 2}" y="${top - 8}" text-anchor="middle" fill="#222">${escHtml(coord(pb))}</text>`));
  rows.forEach((lb, i) => {
    const y = top + i * ch;
    p.push(`<text x="${left - 8}" y="${y + ch / 2 + 4}" text-anchor="end" fill="#222">${escHtml(coord(lb))}</text>`);
    cols.forEach((pb, j) => {
      const x = left + j * cw;
      const c = cell(lb, pb);
      const fill = c?.fill ?? '#eeeeee';
      const fg = c ? textColor(hexToRgb(fill)) : '#666';
      p.push(`<rect class="cell" x="${x}" y="${y}" width="${cw}" height="${ch}" fill="${fill}" stroke="#ffffff" stroke-width="2">${c ? `<title>${escHtml(c.title)}</title>` : ''}</rect>`);
      const ty = c?.sub ? y + ch / 2 - 2 : y + ch / 2 + 5;
      p.push(`<text x="${x + cw / 2}" y="${ty}" text-anchor="middle" font-size="14" font-weight="600" fill="${fg}">${escHtml(c?.text ?? DASH)}</text>`);
      if (c?.sub) p.push(`<text x="${x + cw / 2}" y="${y + ch / 2 + 13}" text-anchor="middle" font-size="10" fill="${fg}">${escHtml(c.sub)}</text>`);
    });
  });
  p.push('</svg>');
  return p.join('\n');
}

function hexToRgb(h: string): Rgb {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(h);
  return m ? [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)] : WHITE;
}

// ---------------------------------------------------------------------------------------------
// report.html sections

function curvesSection(curves: readonly ArmCurves[]): string {
  const withData = curves.filter((c) => c.steps.length > 0);
  if (withData.length === 0) return '<p class="note">No training curves.</p>';
  const strips: FiredStrip[] = withData
    .map((c, i) => ({ c, color: armColor(c.arm, i) }))
    .filter(({ c }) => c.fired.some((v) => isNum(v) && v > 0))
    .map(({ c, color }) => ({ label: c.label, color, steps: c.steps, share: c.fired }));
  const chart = (key: 'gold' | 'proxy' | 'length', title: string, yLabel: string): string => {
    const series: Series[] = withData.map((c, i) => ({
      name: c.label,
      color: armColor(c.arm, i),
      points: c.steps.map((s, j) => [s, c[key][j] ?? Number.NaN] as const),
    }));
    return `<figure>${curveChart(title, yLabel, series, strips)}</figure>`;
  };
  return [
    chart('gold', 'Gold quality of the training samples', 'gold quality'),
    chart('proxy', "Proxy: the arm's verifier's preference over the initial responses", 'P(sample ≻ initial)'),
    chart('length', 'Response length of the training samples', 'mean length (words)'),
    '<p class="note">Main cell, mean over seeds of 10-step moving averages. ' +
      (strips.length > 0
        ? 'Strips under each chart: share of seeds on which the monitor declared drift in each bin (darker = more seeds).'
        : 'No monitor fired.') +
      '</p>',
  ].join('\n');
}

function forestSection(summary: StudySummary): string {
  const out: string[] = [];
  for (const metric of ['goldWinRate', 'goldQuality'] as const) {
    const cs = summary.comparisons.filter((c) => c.metric === metric);
    const { scale } = diffScale(metric);
    const name = metric === 'goldWinRate' ? 'gold win rate' : 'gold quality';
    if (cs.length === 0) {
      out.push(`<p class="note">No comparisons on the ${name}.</p>`);
      continue;
    }
    const rows: ForestRow[] = cs.map((c) => ({
      label: `${armLabel(summary, c.a)} − ${armLabel(summary, c.b)} @ ${c.steps}`,
      mean: isNum(c.diff.mean) ? c.diff.mean * scale : Number.NaN,
      low: isNum(c.diff.low) ? c.diff.low * scale : null,
      high: isNum(c.diff.high) ? c.diff.high * scale : null,
      right: `${pValue(c.pHolm)}${c.primary ? '' : ' (secondary)'}`,
      primary: c.primary,
    }));
    const xLabel = metric === 'goldWinRate' ? 'difference a − b, gold win rate (points)' : 'difference a − b, gold quality';
    out.push(`<figure>${forestSvg(`Paired differences: ${name}`, xLabel, rows)}</figure>`);
  }
  out.push('<p class="note">Point: mean paired difference over seeds (filled: primary comparison); line: 95% t-interval (absent with one seed); right: Holm-adjusted p.</p>');
  return out.join('\n');
}

function sweepSection(summary: StudySummary): string {
  const grids = sweepGrids(summary);
  if (grids.length === 0) return '<p class="note">No sweep.</p>';
  const out: string[] = [];
  for (const g of grids) {
    out.push(
      `<figure>${heatSvg(`${g.label}: gold win rate at ${g.steps} steps`, g.lengthBiases, g.petBiases, (lb, pb) => {
        const e = g.at(lb, pb);
        if (!e || !isNum(e.goldWinRate.mean)) return null;
        const w = e.goldWinRate;
        return {
          fill: hex(winRateColor(w.mean)),
          text: num(w.mean),
          ...(isNum(w.low) && isNum(w.high) ? { sub: `[${num(w.low)}, ${num(w.high)}]` } : {}),
          title: `length bias ${coord(lb)}, pet bias ${coord(pb)}: ${est(w)} (${e.seeds} seeds)`,
        };
      })}</figure>`,
    );
  }
  const arms = new Set(grids.map((g) => g.arm));
  if (arms.has('grpo-bt') && arms.has('gprl-monitor')) {
    const stepsOf = (arm: ArmId): Set<number> => new Set(summary.sweep.filter((e) => e.arm === arm).map((e) => e.steps));
    const bt = stepsOf('grpo-bt');
    const common = [...stepsOf('gprl-monitor')].filter((s) => bt.has(s));
    if (common.length === 0) out.push('<p class="note">The two arms share no budget: no difference map.</p>');
    else {
      const steps = Math.max(...common);
      const a = gridAt(summary, 'gprl-monitor', steps);
      const b = gridAt(summary, 'grpo-bt', steps);
      const rows = sortedUnique([...a.lengthBiases, ...b.lengthBiases]);
      const cols = sortedUnique([...a.petBiases, ...b.petBiases]);
      const diff = (lb: number, pb: number): number => (a.at(lb, pb)?.goldWinRate.mean ?? Number.NaN) - (b.at(lb, pb)?.goldWinRate.mean ?? Number.NaN);
      const span = Math.max(0.05, ...rows.flatMap((lb) => cols.map((pb) => Math.abs(diff(lb, pb)))).filter(isNum));
      out.push(
        `<figure>${heatSvg(`${a.label} − ${b.label}: gold win rate at ${steps} steps`, rows, cols, (lb, pb) => {
          const d = diff(lb, pb);
          if (!isNum(d)) return null;
          return { fill: hex(diffColor(d, span)), text: signed(d, 3), title: `length bias ${coord(lb)}, pet bias ${coord(pb)}: ${signed(d, 3)} (difference of means)` };
        })}</figure>`,
      );
    }
  }
  out.push('<p class="note">Cells: gold win rate against the initial policy, mean over the sweep seeds [95% t-interval]. Colour: 0.3 red, 0.5 white, 0.9 green (clamped). Difference map: green where the first arm is better, purple where worse.</p>');
  return out.join('\n');
}

const CSS = `body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
th:first-child{text-align:left}thead th{background:#f4f4f4}code{background:#f4f4f4;padding:0 3px}
figure{margin:1.5em 0;overflow-x:auto}svg{max-width:100%;height:auto}.note{font-size:13px;color:#555;max-width:800px}`;

/**
 * Renders `report.html`: one offline, self-contained page (inline CSS and SVG, no scripts or external
 * references). Sections: training curves (gold, proxy, length; one `<svg>` each when `curves` has
 * data, with monitor-firing strips), forest plots of the comparisons (one `<svg>` each for the gold
 * win rate and the gold quality when there are such comparisons), sweep heat maps (one `<svg>` per
 * sweep arm, plus a GPRL-monitor − GRPO-BT difference map when both swept), then the verifier,
 * monitor-detection and headline tables. All text is HTML-escaped.
 */
export function renderReportHtml(summary: StudySummary, curves: readonly ArmCurves[]): string {
  const bs = budgets(summary);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gprl study report</title>
<style>
${CSS}
</style></head><body>
<h1>gprl study</h1>
${summary.status === 'interrupted' ? `<p><strong>Interrupted:</strong> ${escHtml(interruptedNote(summary))}</p>\n` : ''}<p>Command: <code>${escHtml(summary.command)}</code><br>Commit: ${summary.commit ? `<code>${escHtml(summary.commit)}</code>` : 'unknown'}; ${isNum(summary.seconds) ? summary.seconds.toFixed(0) : DASH} s.<br>
Cyclic triples (random same-prompt triples of the response pools, aggregate population preference): ${escHtml(pct(summary.cyclicTripleShare))} (clearly cyclic: ${escHtml(pct(summary.clearCyclicTripleShare))}).${
    summary.labelGoldAgreement ? ` Labels' agreement with the gold judge: ${escHtml(est(summary.labelGoldAgreement))}.` : ''
  }</p>
<section id="curves"><h2>1. Training curves</h2>
${curvesSection(curves)}
</section>
<section id="comparisons"><h2>2. Comparisons</h2>
${forestSection(summary)}
${htmlTable(comparisonTable(summary))}
</section>
<section id="sweep"><h2>3. Bias sweep</h2>
${sweepSection(summary)}
</section>
<section id="verifiers"><h2>4. Verifiers</h2>
<p class="note">Mean [95% t-interval] over seeds.</p>
${htmlTable(verifierTable(summary))}
</section>
<section id="monitor"><h2>5. Drift-monitor detection</h2>
<p class="note">Observing: the monitor runs on the no-monitor arm without acting. Acting: the monitor arm (its actions change the trajectory it is judged on).</p>
${htmlTable(detectionTable(summary))}
</section>
<section id="headline"><h2>6. Headline: gold-judge evaluation against the initial policy</h2>
<p class="note">Mean [95% t-interval] over seeds; only the mean with one seed. Fire rate and mean β are over the whole run.</p>
${bs.length === 0 ? '<p class="note">(no arms)</p>' : bs.map((steps) => `<h3>${steps} steps</h3>\n${htmlTable(headlineTable(summary.arms, steps))}`).join('\n')}
</section>
</body></html>
`;
}
