import { enableTfjsEsmResolution } from '../src/tfjs/gradients.js';
enableTfjsEsmResolution();
const { setTfBackend } = await import('../src/tf.js');
await setTfBackend('wasm');
const { resolveStudyConfig, studyCells } = await import('../src/study/config.js');
const { runUnit } = await import('../src/study/unit.js');
const steps = Number(process.argv[2] ?? 240);
const seed = Number(process.argv[3] ?? 1001);
const arms = (process.argv[4] ?? 'gprl-monitor,grpo-bt,gprl-nomon').split(',');
const c = resolveStudyConfig({ seeds: 1, budgets: [steps], arms, sweep: { lengthBias: [0.8], petBias: [0.8], seeds: 1, arms } });
const cell = studyCells(c)[0]!;
const t0 = performance.now();
let last = performance.now();
const out = await runUnit(c, cell, seed, {
  onPhase: (l) => { console.error(l, ((performance.now() - t0) / 1000).toFixed(1)); },
  onArm: (r) => { console.error(r.arm, r.seconds.toFixed(1), 's', JSON.stringify(r.evaluations), 'fire', r.fireRate, 'beta', r.meanBeta.toFixed(3), JSON.stringify(r.series.events)); },
});
console.error(JSON.stringify(out.unit, null, 1));
const fs = await import('node:fs');
fs.writeFileSync(`/tmp/pilot-${seed}.json`, JSON.stringify(out));
console.error('total', ((performance.now() - t0) / 1000).toFixed(1));
