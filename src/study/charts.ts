/**
 * Chart layout for the study's report.html (src/study/report.ts draws the SVG): data ranges, nice
 * ticks and scales, line segments broken at non-finite values. No external scripts, fonts or network.
 */

export interface Series {
  name: string;
  /** CSS hex color `#rrggbb`. */
  color: string;
  /** Points (x, y); non-finite y values break the line. */
  points: readonly (readonly [number, number])[];
  /** Dashed line. Defaults to `false`. */
  dashed?: boolean;
  /** Shaded band (low, high) per point, same x as `points`, e.g. a 95% interval. */
  band?: readonly (readonly [number, number, number])[];
}

/** A vertical marker (e.g. a drift-monitor event). */
export interface Marker {
  x: number;
  color: string;
  label?: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  markers?: readonly Marker[];
  /** Fixed y range; defaults to the data's range with 5% padding. */
  yRange?: readonly [number, number];
  /** Horizontal reference line (e.g. 0.5 for a win rate). */
  yRef?: number;
  width?: number;
  height?: number;
}

/** The colors used for the methods, in order (color-blind-safe Okabe-Ito palette). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'] as const;

export interface ChartLayout {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  sx: (x: number) => number;
  sy: (y: number) => number;
  xTicks: number[];
  yTicks: number[];
}

/** Round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

export function layoutChart(spec: ChartSpec): ChartLayout {
  const width = spec.width ?? 800;
  const height = spec.height ?? 360;
  const left = 64;
  // Room for the legend: about 7 px per character of the longest series name at 12 px.
  const right = Math.max(150, 48 + 7 * Math.max(0, ...spec.series.map((s) => [...s.name].length)));
  const top = 36;
  const bottom = 48;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x)) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      if (Number.isFinite(y)) {
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
    for (const [, lo, hi] of s.band ?? []) {
      if (Number.isFinite(lo)) y0 = Math.min(y0, lo);
      if (Number.isFinite(hi)) y1 = Math.max(y1, hi);
    }
  }
  if (spec.yRef !== undefined) {
    y0 = Math.min(y0, spec.yRef);
    y1 = Math.max(y1, spec.yRef);
  }
  if (!Number.isFinite(x0)) {
    x0 = 0;
    x1 = 1;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (spec.yRange) [y0, y1] = spec.yRange;
  else {
    if (!Number.isFinite(y0)) {
      y0 = 0;
      y1 = 1;
    }
    if (y1 === y0) {
      y0 -= 0.5;
      y1 += 0.5;
    }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  const pw = width - left - right;
  const ph = height - top - bottom;
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => top + (1 - (y - y0) / (y1 - y0)) * ph;
  return { width, height, left, right, top, bottom, x0, x1, y0, y1, sx, sy, xTicks: niceTicks(x0, x1, 6), yTicks: niceTicks(y0, y1, 8) };
}

/** Split a series into runs of finite points. */
export function segments(points: readonly (readonly [number, number])[]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const [x, y] of points) {
    if (Number.isFinite(x) && Number.isFinite(y)) cur.push([x, y]);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}
