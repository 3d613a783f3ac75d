/**
 * Line charts for the demo's report: one chart description, drawn either as inline SVG (report.html,
 * docs) or as a PNG (src/demo/png.ts). No external scripts, fonts or network.
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

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
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

/** A standalone `<svg>` element (system font stack, no external resources). */
export function chartSvg(spec: ChartSpec): string {
  const L = layoutChart(spec);
  const f = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${L.width} ${L.height}" width="${L.width}" height="${L.height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12" role="img" aria-label="${esc(spec.title)}">`,
  );
  parts.push(`<rect width="${L.width}" height="${L.height}" fill="#ffffff"/>`);
  parts.push(`<text x="${L.left}" y="20" font-size="14" font-weight="600">${esc(spec.title)}</text>`);
  const pr = L.width - L.right;
  const pb = L.height - L.bottom;
  for (const t of L.yTicks) {
    const y = L.sy(t);
    if (y < L.top - 0.5 || y > pb + 0.5) continue;
    parts.push(`<line x1="${L.left}" x2="${pr}" y1="${f(y)}" y2="${f(y)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${L.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="#444">${formatTick(t)}</text>`);
  }
  for (const t of L.xTicks) {
    const x = L.sx(t);
    if (x < L.left - 0.5 || x > pr + 0.5) continue;
    parts.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${L.top}" y2="${pb}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${f(x)}" y="${pb + 16}" text-anchor="middle" fill="#444">${formatTick(t)}</text>`);
  }
  parts.push(`<rect x="${L.left}" y="${L.top}" width="${pr - L.left}" height="${pb - L.top}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(L.left + pr) / 2}" y="${L.height - 10}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${(L.top + pb) / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`,
  );
  if (spec.yRef !== undefined) {
    const y = L.sy(spec.yRef);
    parts.push(`<line x1="${L.left}" x2="${pr}" y1="${f(y)}" y2="${f(y)}" stroke="#999" stroke-dasharray="2 3"/>`);
  }
  for (const m of spec.markers ?? []) {
    const x = L.sx(m.x);
    parts.push(
      `<line x1="${f(x)}" x2="${f(x)}" y1="${L.top}" y2="${pb}" stroke="${m.color}" stroke-opacity="0.35" stroke-width="1">${m.label ? `<title>${esc(m.label)}</title>` : ''}</line>`,
    );
  }
  for (const s of spec.series) {
    if (s.band && s.band.length > 1) {
      const up = s.band.filter(([x, lo, hi]) => Number.isFinite(x) && Number.isFinite(lo) && Number.isFinite(hi));
      if (up.length > 1) {
        const pts = [...up.map(([x, , hi]) => `${f(L.sx(x))},${f(L.sy(hi))}`), ...up.reverse().map(([x, lo]) => `${f(L.sx(x))},${f(L.sy(lo))}`)];
        parts.push(`<polygon points="${pts.join(' ')}" fill="${s.color}" fill-opacity="0.08" stroke="none"/>`);
      }
    }
    for (const seg of segments(s.points)) {
      const d = seg.map(([x, y]) => `${f(L.sx(x))},${f(L.sy(y))}`).join(' ');
      if (seg.length === 1) {
        parts.push(`<circle cx="${f(L.sx(seg[0]![0]))}" cy="${f(L.sy(seg[0]![1]))}" r="2.5" fill="${s.color}"/>`);
      } else {
        parts.push(
          `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round"/>`,
        );
      }
    }
  }
  spec.series.forEach((s, i) => {
    const y = L.top + 8 + i * 18;
    parts.push(
      `<line x1="${pr + 12}" x2="${pr + 36}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(`<text x="${pr + 42}" y="${y + 4}" fill="#222">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
