#!/usr/bin/env node
/**
 * `gprl`: the command-line program (`gprl study`, `gprl demo`, `gprl info`, `gprl bench`,
 * `gprl setup-tensorflow`). Exit codes: 0 success,
 * 1 failure, 2 bad usage.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_USAGE, DEMO_USAGE, INFO_USAGE, parseArgs, SETUP_TENSORFLOW_USAGE, STUDY_USAGE, USAGE, UsageError, type DemoArgs, type InfoArgs, type SetupTensorflowArgs, type StudyArgs, type KernelBackendChoice, type TfBackendChoice } from './args.js';
import { enableTfjsEsmResolution } from '../tfjs/gradients.js';
import type { RunStudyOptions, StudyProgress } from '../study/runner.js';
import type { StudySummary } from '../study/types.js';

/** The package root: two levels above this file (`src/cli/` in a checkout, `dist/cli/` when installed). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Select the kernel backend through the loader's environment switches, before anything loads the addon. */
function applyKernelChoice(choice: KernelBackendChoice): void {
  if (choice === 'js') process.env.GPRL_DISABLE_NATIVE = '1';
  if (choice === 'cpu') process.env.GPRL_DISABLE_CUDA = '1';
}

/** `--kernels cuda` without a usable GPU is an error, not a silent fallback. */
async function checkKernelChoice(choice: KernelBackendChoice): Promise<void> {
  if (choice !== 'cuda') return;
  const { backendInfo } = await import('../backend.js');
  const info = backendInfo();
  if (!info.available.includes('cuda')) throw new Error(`gprl: --kernels cuda: CUDA is not available: ${info.cudaError ?? 'unknown reason'}`);
}

async function setupTf(backend: TfBackendChoice): Promise<string> {
  enableTfjsEsmResolution();
  const { setTfBackend } = await import('../tf.js');
  // 'tensorflow' loads the installed tfjs-node first (or says how to install it: gprl setup-tensorflow).
  return setTfBackend(backend);
}

/** The checked-out commit when running from a git checkout (for reproducibility), else undefined. */
function gitCommit(): string | undefined {
  if (!existsSync(path.join(PACKAGE_ROOT, '.git'))) return undefined;
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
}

/**
 * SIGINT/SIGTERM for a long command: the first asks it to stop at the next safe point (the returned
 * signal aborts), the second exits at once with code 130.
 */
export function interruptible(command: string): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) {
      process.stderr.write(`\ngprl ${command}: ${sig} again: exiting now (finished arms are on disk)\n`);
      process.exit(130);
    }
    ac.abort();
    process.stderr.write(`\ngprl ${command}: ${sig}: stopping at the next safe point; finished arms are kept (${sig} again exits at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** After an interrupted study or demo: say where it is and how to continue; exit code 130. */
function reportInterrupted(command: string, out: string, s: { unitsDone: number; units: number }): 130 {
  const rel = path.relative(process.cwd(), out) || '.';
  process.stderr.write(
    `gprl ${command}: interrupted; ${s.unitsDone} of ${s.units} cell × seed units finished. ${rel}/summary.json (status "interrupted") covers what finished.\nContinue with: gprl study --resume ${rel}\n`,
  );
  return 130;
}

/**
 * Run (or resume) a study with a progress bar on stderr and Ctrl-C handling (see
 * {@link interruptible}). Returns the summary, or the exit code 130 after an interruption has been
 * reported.
 */
async function runStudyWithUi(
  command: 'study' | 'demo',
  options: Omit<RunStudyOptions, 'onProgress' | 'signal'>,
  label: (p: StudyProgress) => string,
): Promise<StudySummary | 130> {
  const { runStudy } = await import('../study/runner.js');
  const { ProgressBar } = await import('./progress.js');
  const bar = new ProgressBar(process.stderr);
  const stop = interruptible(command);
  let summary: StudySummary;
  try {
    summary = await runStudy({ ...options, onProgress: (p) => bar.update(p.done, p.total, label(p)), signal: stop.signal });
  } finally {
    stop.dispose();
    bar.finish();
  }
  return summary.status === 'interrupted' ? reportInterrupted(command, options.out, summary) : summary;
}

/** The `Files:` line after a study or demo run. */
function filesLine(out: string): string {
  return `Files: ${['summary.json', 'summary.md', 'report.html', 'units/'].map((f) => path.relative(process.cwd(), path.join(out, f))).join(', ')}\n`;
}

async function runDemoCommand(a: DemoArgs, argv: readonly string[]): Promise<number> {
  applyKernelChoice(a.kernels);
  await checkKernelChoice(a.kernels);
  await setupTf(a.backend);
  const { resolveStudyConfig, scaleBudgets, DEFAULT_STUDY_CONFIG } = await import('../study/config.js');
  // The transformer policy is about 8x slower per step than the context policy here: a shorter default keeps the demo within minutes.
  const steps = a.steps ?? (a.policy === 'transformer' ? 120 : 480);
  const config = resolveStudyConfig({
    seeds: 1,
    firstSeed: a.seed,
    budgets: scaleBudgets(DEFAULT_STUDY_CONFIG.budgets, steps),
    sweep: { arms: [] },
    verifiers: { searchStarts: 0 },
    policy: { model: a.policy },
  });
  const out = path.resolve(a.out ?? path.join('runs', `demo-${timestamp()}`));
  process.stderr.write(`gprl demo: writing to ${out}\n`);
  const summary = await runStudyWithUi('demo', { config, out, jobs: 1, backend: a.backend, command: `gprl ${argv.join(' ')}`, commit: gitCommit() ?? null }, (p) => p.label);
  if (summary === 130) return 130;
  const { headline } = await import('../study/headline.js');
  const t = config.policy.transformer;
  const policyLine =
    config.policy.model === 'transformer'
      ? `Policy: TransformerPolicy (d = ${t.dModel}, ${t.layers} layers, ${t.heads} heads) warm-started by teacher forcing on the initial context policy; win rates are against that warm-started transformer.\n`
      : '';
  const text = `${policyLine}${headline(summary)}\n\nOne seed decides nothing: this is a single-seed view of the study's main cell. The committed study (gprl study: 20 paired seeds, Holm-corrected intervals, a bias sweep) is in docs/results/study/.\n${filesLine(out)}`;
  if (a.json) {
    process.stdout.write(`${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`);
    process.stderr.write(text);
  } else {
    process.stdout.write(text);
  }
  return 0;
}

async function runStudyCommand(a: StudyArgs, argv: readonly string[]): Promise<number> {
  applyKernelChoice(a.kernels);
  await checkKernelChoice(a.kernels);
  await setupTf(a.backend);
  const { loadStudyConfig, resolveStudyConfig, scaleBudgets } = await import('../study/config.js');
  let config = a.config !== undefined ? loadStudyConfig(a.config) : resolveStudyConfig({});
  if (a.seeds !== undefined) config = { ...config, seeds: a.seeds, sweep: { ...config.sweep, seeds: Math.min(config.sweep.seeds, a.seeds) } };
  if (a.steps !== undefined) config = { ...config, budgets: scaleBudgets(config.budgets, a.steps) };
  if (a.policy !== undefined) config = { ...config, policy: { ...config.policy, model: a.policy } };
  const out = path.resolve(a.resume ?? a.out ?? path.join('runs', `study-${timestamp()}`));
  const jobs = a.jobs ?? Math.max(1, os.availableParallelism());
  process.stderr.write(`gprl study: ${a.resume ? 'resuming' : 'writing to'} ${out} (${jobs} job${jobs === 1 ? '' : 's'})\n`);
  const summary = await runStudyWithUi(
    'study',
    { config, out, resume: a.resume !== undefined, jobs, backend: a.backend, command: `gprl ${argv.join(' ')}`, commit: gitCommit() ?? null },
    // Off a TTY the bar prints a line per stage: the stage is the unit count there, not each worker's step.
    (p) => (process.stderr.isTTY ? `${p.unitsDone}/${p.units} units · ${p.label}` : `${p.unitsDone}/${p.units} cell × seed units done`),
  );
  if (summary === 130) return 130;
  const { headline } = await import('../study/headline.js');
  process.stdout.write(`${headline(summary)}\n${filesLine(out)}`);
  return 0;
}

async function runInfoCommand(a: InfoArgs): Promise<number> {
  enableTfjsEsmResolution();
  const { backendInfo } = await import('../backend.js');
  const { setTfBackend, loadTensorflowBackend, findTensorflowPackage } = await import('../tf.js');
  const info = backendInfo();
  const tfBackends: Record<string, string> = {};
  for (const name of ['wasm', 'cpu'] as const) {
    try {
      await setTfBackend(name);
      tfBackends[name] = 'available';
    } catch (err) {
      tfBackends[name] = `unavailable: ${(err as Error).message}`;
    }
  }
  // The tensorflow backend registers itself only when tfjs-node is loaded: load it to tell.
  if (findTensorflowPackage() === undefined) {
    tfBackends.tensorflow = 'not installed (gprl setup-tensorflow installs it; then --backend tensorflow)';
  } else {
    try {
      const tfn = await loadTensorflowBackend();
      tfBackends.tensorflow = `available (${tfn.name} ${tfn.version}, TensorFlow ${tfn.tensorflow}, ${tfn.dir})`;
    } catch (err) {
      tfBackends.tensorflow = `unavailable: ${(err as Error).message.replace(/^gprl: /, '')}`;
    }
  }
  const report = {
    gprl: version(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    kernels: {
      available: info.available,
      default: info.default,
      cuda: info.available.includes('cuda') ? { device: info.device ?? 'unknown' } : { unavailable: info.cudaError ?? 'unknown' },
      native: info.build ? { path: info.build.path, builder: info.build.builder, cudaCompiled: info.build.cuda } : { unavailable: info.addonError ?? 'unknown' },
    },
    tfjs: { default: 'wasm', backends: tfBackends },
  };
  if (a.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `gprl ${report.gprl} — node ${report.node}, ${report.platform}, ${report.cpus} CPUs`,
    `CUDA:          ${info.available.includes('cuda') ? `device ${info.device ?? 'unknown'}` : `not available (${info.cudaError ?? 'unknown'})`}`,
    `Native C++:    ${info.build ? `${info.build.path} (${info.build.builder} build${info.build.cuda ? ', CUDA compiled in' : ', CPU only'})` : `not loaded (${info.addonError ?? 'unknown'})`}`,
    `Kernels:       ${info.available.join(', ')} (auto = ${info.default})`,
    `tfjs backends: ${Object.entries(tfBackends).map(([k, v]) => `${k}: ${v}`).join('; ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function runSetupTensorflowCommand(a: SetupTensorflowArgs): Promise<number> {
  const { setupTensorflow } = await import('../setup/tensorflow.js');
  const say = (line: string): void => {
    process.stderr.write(`gprl setup-tensorflow: ${line}\n`);
  };
  const r = await setupTensorflow({ gpu: a.gpu, wheel: a.wheel, force: a.force, onProgress: say });
  const where = path.relative(process.cwd(), r.packageDir) || '.';
  process.stdout.write(
    r.status === 'already-installed'
      ? `${r.package} ${r.version} (TensorFlow ${r.tensorflow}) is installed and loads: nothing to do (${where}; --force rebuilds).\n`
      : `${r.package} ${r.version} built against TensorFlow ${r.tensorflow} in ${r.seconds} s (${where}). Use --backend tensorflow.\n`,
  );
  if (r.gpuNote) process.stdout.write(`${r.gpuNote}\n`);
  return 0;
}

function runBenchCommand(rest: string[]): Promise<number> {
  const runner = path.join(PACKAGE_ROOT, 'bench', 'run.ts');
  const tsx = path.join(PACKAGE_ROOT, 'node_modules', 'tsx');
  if (!existsSync(runner) || !existsSync(tsx)) {
    process.stderr.write(
      'gprl bench: the benchmarks need the source checkout (clone the repository, `npm ci`, then `npm run bench` or `npx gprl bench`).\n',
    );
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', runner, ...rest], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      process.stderr.write(`gprl bench: ${err.message}\n`);
      resolve(1);
    });
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  switch (parsed.command) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'demo':
      if (parsed.help) {
        process.stdout.write(DEMO_USAGE);
        return 0;
      }
      return runDemoCommand(parsed, argv);
    case 'study':
      if (parsed.help) {
        process.stdout.write(STUDY_USAGE);
        return 0;
      }
      return runStudyCommand(parsed, argv);
    case 'info':
      if (parsed.help) {
        process.stdout.write(INFO_USAGE);
        return 0;
      }
      return runInfoCommand(parsed);
    case 'setup-tensorflow':
      if (parsed.help) {
        process.stdout.write(SETUP_TENSORFLOW_USAGE);
        return 0;
      }
      return runSetupTensorflowCommand(parsed);
    case 'bench':
      if (parsed.help && !existsSync(path.join(PACKAGE_ROOT, 'bench', 'run.ts'))) {
        process.stdout.write(BENCH_USAGE);
        return 0;
      }
      return runBenchCommand(parsed.rest);
  }
}

/** True when this file is the process's entry point, also through a symlink (`node_modules/.bin/gprl`). */
function invokedAsProgram(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(path.resolve(entry)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invokedDirectly = invokedAsProgram();
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
