/**
 * A study worker: runs cell × seed units for `gprl study --jobs N` (a child process), or in the
 * parent process when jobs = 1. Every record is written atomically as soon as it is complete.
 */
import path from 'node:path';
import type { Cell, StudyConfig } from './config.js';
import { readUnitRecords, unitDir, writeJson } from './files.js';
import { runUnit, StudyInterrupted } from './unit.js';

/** Run one unit into its folder, skipping what is already there; `progress(work, label)` reports work done. */
export async function runUnitToDir(config: StudyConfig, cell: Cell, seed: number, out: string, progress: (work: number, label: string) => void, shouldStop?: () => boolean): Promise<void> {
  const dir = unitDir(out, cell.id, seed);
  const existing = readUnitRecords(out, cell, seed);
  let pending = 0;
  const where = `${cell.main ? 'main' : 'sweep'} ${cell.id} seed ${seed}`;
  await runUnit(config, cell, seed, {
    done: existing.arms,
    unit: existing.unit,
    onUnit: (u) => {
      writeJson(path.join(dir, 'unit.json'), u);
      progress(existing.unit ? 0 : 750, `${where}: verifiers trained`);
    },
    onArm: (r) => writeJson(path.join(dir, `${r.arm}.json`), r),
    ...(shouldStop ? { shouldStop } : {}),
    onStep: (arm, step, steps) => {
      pending++;
      if (pending >= 20) {
        progress(pending, `${where}: ${arm}, step ${step}/${steps}`);
        pending = 0;
      }
    },
  });
  if (pending > 0) progress(pending, `${where}: done`);
}

if (process.env.GPRL_STUDY_WORKER === '1' && process.send) {
  const { enableTfjsEsmResolution } = await import('../tfjs/gradients.js');
  enableTfjsEsmResolution();
  const { setTfBackend } = await import('../tf.js');
  await setTfBackend((process.env.GPRL_STUDY_BACKEND ?? 'wasm') as 'wasm');
  // The parent decides when to stop (Ctrl-C reaches the whole process group): ignore the signals here,
  // stop at the next safe point when told, and exit if the parent goes away.
  let stop = false;
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m: { type: 'run'; config: StudyConfig; cell: Cell; seed: number; out: string } | { type: 'stop' }) => {
    if (m.type === 'stop') {
      stop = true;
      return;
    }
    if (m.type !== 'run') return;
    runUnitToDir(m.config, m.cell, m.seed, m.out, (work, label) => process.send!({ type: 'progress', work, label }), () => stop).then(
      () => process.send!({ type: 'done' }),
      (err: unknown) =>
        err instanceof StudyInterrupted ? process.send!({ type: 'stopped' }) : process.send!({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
