import { readFileSync } from 'node:fs';
import { exploitationLabel, detectRun, episodes } from '../src/study/label.js';
for (const f of process.argv.slice(2)) {
  const d = JSON.parse(readFileSync(f, 'utf8'));
  for (const u of d.unit.verifiers) console.log(u.id, 'acc', u.heldOutAccuracy.toFixed(3), 'gold', u.goldAgreement.toFixed(3), 'opt', u.optimumGold?.toFixed(3), u.optimumLength, u.optimumPetShare, 'ep', u.bestEpoch, u.epochs);
  for (const a of d.arms) {
    const s = a.series;
    const lab = exploitationLabel(s.proxy, s.gold, 40, 0.02);
    const eps = episodes(lab, 40);
    const det = detectRun(lab, s.fired, 40);
    const pts = [40, 80, 120, 200, 300, 400, 480].map((t) => `${t}:${(s.gold.slice(t - 20, t).reduce((x: number, y: number) => x + y, 0) / 20).toFixed(2)}/${(s.proxy.slice(t - 20, t).reduce((x: number, y: number) => x + y, 0) / 20).toFixed(2)}/${(s.length.slice(t - 20, t).reduce((x: number, y: number) => x + y, 0) / 20).toFixed(1)}`);
    for (const [kind, st] of Object.entries(s.eventSteps ?? {})) { const d = detectRun(lab, st as number[], 40); console.log('   ', kind, 'fires', d.firings, 'tp', d.truePositiveFirings, 'det', d.detected, '/', d.episodes, 'leads', d.leads.join(','), 'first', (st as number[]).slice(0, 5).join(',')); }
    console.log(a.arm, pts.join(' '), 'eps', JSON.stringify(eps), 'det', det.detected, 'tpF', det.truePositiveFirings, '/', det.firings, 'first fires', s.fired.slice(0, 8).join(','));
  }
}
