/** The terminal headline of a study: the main cell's arms at the largest budget and the primary comparisons. */
import { ARMS } from './arms.js';
import type { Estimate, StudySummary } from './types.js';

function fmt(e: Estimate, digits = 3): string {
  if (!Number.isFinite(e.mean)) return '—';
  return e.low === null || e.high === null ? e.mean.toFixed(digits) : `${e.mean.toFixed(digits)} [${e.low.toFixed(digits)}, ${e.high.toFixed(digits)}]`;
}

export function headline(s: StudySummary): string {
  const largest = Math.max(...s.arms.flatMap((a) => a.budgets.map((b) => b.steps)));
  const rows = s.arms.map((a) => {
    const b = a.budgets.find((x) => x.steps === largest)!;
    return [a.label, String(a.seeds), fmt(b.goldWinRate), fmt(b.goldQuality), fmt(b.lcWinRate), fmt(b.length, 2)];
  });
  const head = ['Arm', 'Seeds', 'Gold win rate', 'Gold quality', 'LC win rate', 'Length'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`gprl study — main cell at ${largest} steps (mean [95% t-interval] over seeds; win rates against the initial policy)`, '', line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line), ''];
  for (const c of s.comparisons.filter((x) => x.primary)) {
    const unit = c.metric === 'goldQuality' ? 1 : 100;
    const d = c.diff;
    const iv = d.low === null || d.high === null ? 'no interval' : `[${(d.low * unit).toFixed(unit === 1 ? 3 : 1)}, ${(d.high * unit).toFixed(unit === 1 ? 3 : 1)}]`;
    out.push(`${ARMS[c.a].label} − ${ARMS[c.b].label}, ${c.metric}: ${(d.mean * unit).toFixed(unit === 1 ? 3 : 1)}${unit === 1 ? '' : ' points'} ${iv}, Holm p = ${Number.isFinite(c.pHolm) ? c.pHolm.toPrecision(2) : '—'}`);
  }
  if (s.arms.some((a) => a.seeds < 2)) out.push('', 'One seed decides nothing: intervals need at least 2 seeds (the committed study uses 20).');
  return out.join('\n');
}
