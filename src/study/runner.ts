/**
 * `gprl study`'s engine: runs every cell × seed of the design, in parallel child processes
 * (`jobs` > 1) or in this process, writes each record as it completes (so an interrupted study
 * resumes where it stopped), reports progress with an ETA, then writes summary.json, summary.md and
 * report.html.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../demo/files.js';
import { orderArms } from './arms.js';
import { studyCells, type Cell, type StudyConfig } from './config.js';
import { armCurves, summarize, type StudyRecords } from './analysis.js';
import { readManifest, readUnitRecords, STUDY_FILE, unitDir, writeJson, type StudyManifest } from './files.js';
import type { StudySummary } from './types.js';

export interface StudyProgress {
  /** Work units (policy steps plus a verifier allowance) done in this session, and the total left at its start. */
  done: number;
  total: number;
  unitsDone: number;
  units: number;
  label: string;
}

export interface RunStudyOptions {
  config: StudyConfig;
  out: string;
  /** Continue the run folder `out` (its study.json config is used). */
  resume?: boolean;
  /** Parallel child processes; 1 runs in this process. Defaults to `1`. */
  jobs?: number;
  /** tfjs backend of the workers. Defaults to `'wasm'`. */
  backend?: 'wasm' | 'cpu' | 'tensorflow';
  command?: string;
  commit?: string | null;
  onProgress?: (p: StudyProgress) => void;
  /** Aborting it stops the study at the next safe point (between two policy steps): finished arms are kept, the summary is written with `status: 'interrupted'`, and `--resume` continues. */
  signal?: AbortSignal;
}

/** Progress allowance of a unit's verifiers (training and the optimum search cost about this many policy steps each). */
const VERIFIER_WORK = 250;

interface Task {
  cell: Cell;
  seed: number;
  work: number;
}

/** The design's cell × seed tasks, with the sweep cells' seeds; `remaining` work accounts for finished arms. */
export function plan(config: StudyConfig, out: string): { tasks: Task[]; units: number } {
  const steps = config.budgets[config.budgets.length - 1]!;
  const tasks: Task[] = [];
  let units = 0;
  for (const cell of studyCells(config)) {
    for (const seed of cell.seeds) {
      units++;
      const { unit, arms } = readUnitRecords(out, cell, seed);
      const missing = orderArms(cell.arms).filter((a) => !arms.has(a));
      if (missing.length === 0 && unit) continue;
      tasks.push({ cell, seed, work: (unit ? 0 : VERIFIER_WORK * 3) + missing.length * steps });
    }
  }
  return { tasks, units };
}

/** Every record of the run folder; with `partial`, whatever is there (an interrupted study), else a missing record is an error. */
export function loadRecords(config: StudyConfig, out: string, partial = false): StudyRecords {
  const records: StudyRecords = { units: [], arms: [] };
  for (const cell of studyCells(config)) {
    for (const seed of cell.seeds) {
      const { unit, arms } = readUnitRecords(out, cell, seed);
      if (!unit) {
        if (partial) continue;
        throw new Error(`gprl: ${unitDir(out, cell.id, seed)} has no unit.json; resume the study to compute it`);
      }
      records.units.push(unit);
      for (const a of cell.arms) {
        const r = arms.get(a);
        if (!r) {
          if (partial) continue;
          throw new Error(`gprl: ${unitDir(out, cell.id, seed)} has no ${a}.json; resume the study to compute it`);
        }
        records.arms.push(r);
      }
    }
  }
  return records;
}

type WorkerMessage = { type: 'progress'; work: number; label: string } | { type: 'done' } | { type: 'stopped' } | { type: 'error'; message: string };

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), `worker${path.extname(fileURLToPath(import.meta.url))}`);

/** Run (or resume) a study and write its outputs. Returns the summary. */
export async function runStudy(options: RunStudyOptions): Promise<StudySummary> {
  const out = path.resolve(options.out);
  const t0 = performance.now();
  let manifest: StudyManifest;
  if (options.resume) {
    manifest = readManifest(out);
  } else {
    if (existsSync(path.join(out, STUDY_FILE))) throw new Error(`gprl: ${out} already holds a study; continue it with --resume ${options.out} or choose another --out`);
    mkdirSync(out, { recursive: true });
    manifest = { version: 1, config: options.config, command: options.command ?? 'gprl study', commit: options.commit ?? null, created: new Date().toISOString() };
    writeJson(path.join(out, STUDY_FILE), manifest);
  }
  const config = manifest.config;
  const { tasks, units } = plan(config, out);
  const total = tasks.reduce((a, t) => a + t.work, 0);
  let done = 0;
  let unitsDone = units - tasks.length;
  const report = (label: string) => options.onProgress?.({ done, total, unitsDone, units, label });
  report(tasks.length < units ? `resuming: ${unitsDone} of ${units} cell × seed units already done` : 'starting');

  const jobs = Math.max(1, Math.min(options.jobs ?? 1, tasks.length || 1));
  const signal = options.signal;
  let interrupted = false;
  if (jobs === 1) {
    const { runUnitToDir } = await import('./worker.js');
    const { StudyInterrupted } = await import('./unit.js');
    for (const t of tasks) {
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      try {
        await runUnitToDir(
          config, t.cell, t.seed, out,
          (work, label) => {
            done += work;
            report(label);
          },
          signal ? () => signal.aborted : undefined,
        );
      } catch (err) {
        if (!(err instanceof StudyInterrupted)) throw err;
        interrupted = true;
        break;
      }
      unitsDone++;
      report(`${t.cell.id} seed ${t.seed} done`);
    }
  } else {
    const queue = [...tasks];
    const children: ChildProcess[] = [];
    const onAbort = () => {
      queue.length = 0; // dispatch nothing more
      for (const c of children) if (c.connected) c.send({ type: 'stop' });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all(
        Array.from({ length: jobs }, async () => {
          const child = fork(WORKER, [], {
            execArgv: process.execArgv,
            env: { ...process.env, GPRL_STUDY_WORKER: '1', GPRL_STUDY_BACKEND: options.backend ?? 'wasm' },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          children.push(child);
          for (let t = queue.shift(); t && !signal?.aborted; t = queue.shift()) {
            const task = t;
            const finished = await new Promise<boolean>((resolve, reject) => {
              const onMessage = (m: WorkerMessage) => {
                if (m.type === 'progress') {
                  done += m.work;
                  report(m.label);
                } else {
                  child.off('message', onMessage);
                  child.off('exit', onExit);
                  if (m.type === 'done') resolve(true);
                  else if (m.type === 'stopped') resolve(false);
                  else reject(new Error(m.message));
                }
              };
              const onExit = (code: number | null, signal: string | null) => {
                child.off('message', onMessage);
                reject(new Error(`gprl: a study worker exited (${signal ?? `code ${code}`}) while running ${task.cell.id} seed ${task.seed}; rerun with --resume`));
              };
              child.on('message', onMessage);
              child.on('exit', onExit);
              child.send({ type: 'run', config, cell: task.cell, seed: task.seed, out });
            });
            if (!finished) {
              interrupted = true;
              break;
            }
            unitsDone++;
            report(`${task.cell.id} seed ${task.seed} done`);
          }
          if (signal?.aborted) interrupted = true;
          child.disconnect();
        }),
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
    }
  }

  report(interrupted ? 'interrupted: summarizing what finished' : 'summarizing');
  const records = loadRecords(config, out, interrupted);
  manifest = { ...manifest, seconds: (manifest.seconds ?? 0) + (performance.now() - t0) / 1000 };
  writeJson(path.join(out, STUDY_FILE), manifest);
  const summary = summarize(config, records, {
    command: manifest.command,
    commit: manifest.commit,
    seconds: manifest.seconds!,
    status: interrupted ? 'interrupted' : 'complete',
    unitsDone,
    units,
  });
  const { renderReportHtml, renderSummaryMarkdown } = await import('./report.js');
  writeFileAtomic(path.join(out, 'summary.json'), `${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`);
  writeFileAtomic(path.join(out, 'summary.md'), renderSummaryMarkdown(summary));
  writeFileAtomic(path.join(out, 'report.html'), renderReportHtml(summary, armCurves(config, records)));
  return summary;
}
