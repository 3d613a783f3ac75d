/**
 * Command-line parsing for `gprl`. Bad usage throws a {@link UsageError} (exit code 2) whose
 * message names the offending argument.
 */
import { didYouMean } from '../suggest.js';

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const TF_BACKENDS = ['cpu', 'wasm', 'tensorflow'] as const;
export type TfBackendChoice = (typeof TF_BACKENDS)[number];
export const KERNEL_BACKENDS = ['auto', 'cuda', 'cpu', 'js'] as const;
export type KernelBackendChoice = (typeof KERNEL_BACKENDS)[number];
export const POLICY_CHOICES = ['context', 'transformer'] as const;
export type PolicyChoice = (typeof POLICY_CHOICES)[number];

export interface DemoArgs {
  command: 'demo';
  help: boolean;
  /** The seed. Defaults to `1`. */
  seed: number;
  /** Policy-training steps per arm; `undefined` = the default (480). */
  steps: number | undefined;
  /** Output directory; `undefined` = `runs/demo-<timestamp>`. */
  out: string | undefined;
  /** tfjs backend. Defaults to `'wasm'`. */
  backend: TfBackendChoice;
  /** Kernel backend. Defaults to `'auto'`. */
  kernels: KernelBackendChoice;
  /** Print summary.json on stdout. Defaults to `false`. */
  json: boolean;
  /** The policy every arm trains. Defaults to `'context'`. */
  policy: PolicyChoice;
}

export interface InfoArgs {
  command: 'info';
  help: boolean;
  json: boolean;
}

export interface BenchArgs {
  command: 'bench';
  help: boolean;
  /** Arguments passed through to the benchmark runner. */
  rest: string[];
}

export interface StudyArgs {
  command: 'study';
  help: boolean;
  /** JSON config file; `undefined` = the pre-registered defaults. */
  config: string | undefined;
  /** Main-cell seeds (the sweep uses at most this many); `undefined` = the config's. */
  seeds: number | undefined;
  /** Longest budget (the budgets are scaled to it); `undefined` = the config's. */
  steps: number | undefined;
  out: string | undefined;
  /** Run folder to continue. */
  resume: string | undefined;
  /** Parallel worker processes; `undefined` = one per CPU. */
  jobs: number | undefined;
  backend: TfBackendChoice;
  kernels: KernelBackendChoice;
  /** The policy every arm trains; `undefined` = the config's. */
  policy: PolicyChoice | undefined;
}

export interface SetupTensorflowArgs {
  command: 'setup-tensorflow';
  help: boolean;
  /** Build `@tensorflow/tfjs-node-gpu` from the GPU-enabled wheel. Default `false`. */
  gpu: boolean;
  /** A wheel file instead of `pip download`. */
  wheel: string | undefined;
  /** Rebuild even when a working install is found. Default `false`. */
  force: boolean;
}

export interface TopArgs {
  command: 'help' | 'version';
}

export type ParsedArgs = DemoArgs | StudyArgs | InfoArgs | BenchArgs | SetupTensorflowArgs | TopArgs;

export const USAGE = `Usage: gprl <command> [options]

Commands:
  study    The pre-registered study of GPRL's claims: every arm, paired seeds, a bias sweep (docs/study-protocol.md)
  demo     A single-seed view of the study's main cell (34 s measured; one seed decides nothing)
  info     Show the backends found: CUDA device, native C++ path, tfjs backends
  bench    Run the benchmarks (needs the source checkout)
  setup-tensorflow  Build @tensorflow/tfjs-node against a TensorFlow pip wheel (the tensorflow backend)

Options:
  -h, --help     Show help (also: gprl <command> --help)
  -v, --version  Show the version
`;

export const DEMO_USAGE = `Usage: gprl demo [options]

A single-seed view of the study's main cell (docs/study-protocol.md): the hidden annotator
population labels preference pairs of the toy task, the three verifiers are trained, and all nine
arms train the same initial policy for 480 steps (evaluated at 60, 240 and 480) — 34 s measured
on a 2-core machine. One seed decides nothing: the study (gprl study) runs 20 paired seeds and a bias sweep.

Options:
  --seed N            The seed (integer). Default 1
  --steps N           Policy-training steps per arm (evaluations at 1/8, 1/2 and all of it); N ≥ 1. Default 480
  --out DIR           Output directory. Default runs/demo-<timestamp>
  --backend NAME      tfjs backend: wasm | cpu | tensorflow (gprl setup-tensorflow). Default wasm
  --kernels NAME      Kernel backend: auto | cuda | cpu (the C++ addon) | js. Default auto
  --json              Print summary.json on stdout (the table goes to stderr)
  --policy NAME       Policy every arm trains: context (log-linear, hand-set start) | transformer (a small
                      TransformerPolicy warm-started by teacher forcing on the context policy; its
                      default is 120 steps: 3 min 10 s measured on an idle 2-core machine).
                      Default context
  -h, --help          Show this help

Writes DIR/summary.json, summary.md, report.html and DIR/units/ (per-step metrics), as gprl study does.
`;

export const STUDY_USAGE = `Usage: gprl study [options]

Runs the pre-registered study (docs/study-protocol.md): a hidden population of annotators labels
preference pairs of the toy task; Bradley-Terry, GPM k=3 and GPM k=1 verifiers are trained with early
stopping and weight decay; nine arms (GRPO + BT with fixed, matched and adaptive β; GPRL k=3 with,
without and with a sham monitor; GPM with scalar normalization; GDPO; GPRL k=1) train the same
initial policy on paired seeds; an unbiased gold judge evaluates each at every budget; a bias sweep
runs GRPO + BT and GPRL with and without the monitor over a grid of length and pet-word bias.

Options:
  --config FILE   JSON file overriding any constant of the task, annotators, verifiers, arms and
                  analysis (see docs/study.md for every key); unknown keys are rejected
  --seeds N       Seeds of the main cell; the sweep uses min(N, its own seeds). N ≥ 1. Default 20
  --steps N       Longest budget in policy steps; the budgets (120, 480, 960) scale to it. N ≥ 1
  --out DIR       Run folder. Default runs/study-<timestamp>
  --resume DIR    Continue an interrupted study in DIR (its study.json fixes the config; only --jobs,
                  --backend and --kernels may be given with it)
  --jobs N        Parallel worker processes. Default: one per CPU
  --backend NAME  tfjs backend: wasm | cpu | tensorflow (gprl setup-tensorflow). Default wasm
  --kernels NAME  Kernel backend: auto | cuda | cpu | js. Default auto
  --policy NAME   Policy every arm trains: context | transformer (sets the config's policy.model).
                  Default: the config's (context)
  -h, --help      Show this help

Writes DIR/summary.json, summary.md, report.html, and DIR/units/<cell>-s<seed>/ with each arm's
per-step metrics and evaluations (written as they complete, so --resume loses nothing finished).
`;

export const INFO_USAGE = `Usage: gprl info [--json]

Shows the kernel backends (CUDA device or why there is none, the native C++ addon and its path),
the tfjs backends, and the versions.
`;

export const SETUP_TENSORFLOW_USAGE = `Usage: gprl setup-tensorflow [--gpu] [--wheel FILE] [--force]

Makes the tfjs 'tensorflow' backend (--backend tensorflow) work: installs @tensorflow/tfjs-node into
the nearest npm project (the folder with package.json at or above this one) with its install script
off, and builds its binding against the shared libraries of a TensorFlow pip wheel, instead of the
libtensorflow 2.9 that its install script downloads. Needs Python with pip (or --wheel), a C++
compiler and make. Idempotent: a working install is detected and left alone. Linux x86_64/aarch64.
See docs/tensorflow.md.

Options:
  --gpu         Build @tensorflow/tfjs-node-gpu from the GPU-enabled 'tensorflow' wheel (Linux x86_64;
                the CUDA 12 libraries come from the nvidia-* pip packages: the command prints how)
  --wheel FILE  Use this wheel (tensorflow-cpu, or tensorflow with --gpu) instead of pip download
  --force       Rebuild even when a working install is found
  -h, --help    Show this help

Downloaded wheels are kept in $GPRL_CACHE_DIR/wheels (default ~/.cache/gprl/wheels).
`;

export const BENCH_USAGE = `Usage: gprl bench [benchmark options]

Runs the benchmarks (node --import tsx bench/run.ts) from a source checkout; further arguments are
passed to the benchmark runner.
`;

function intValue(flag: string, raw: string | undefined, min: number): number {
  if (raw === undefined || raw.startsWith('--')) throw new UsageError(`gprl: option ${flag} needs a value`);
  if (!/^-?\d+$/.test(raw)) throw new UsageError(`gprl: invalid ${flag}: expected an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`gprl: invalid ${flag}: expected an integer ≥ ${min}, got ${raw}`);
  return v;
}

function choice<T extends string>(flag: string, raw: string | undefined, allowed: readonly T[]): T {
  if (raw === undefined || raw.startsWith('--')) throw new UsageError(`gprl: option ${flag} needs a value (${allowed.join(' | ')})`);
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`gprl: invalid ${flag}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

/** Split `--flag=value` into `--flag value`. */
function expand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const m = /^(--[a-z-]+)=(.*)$/s.exec(a);
    if (m) out.push(m[1]!, m[2]!);
    else out.push(a);
  }
  return out;
}

const DEMO_FLAGS = ['--seed', '--steps', '--out', '--backend', '--kernels', '--json', '--policy', '--help'];
const STUDY_FLAGS = ['--config', '--seeds', '--steps', '--out', '--resume', '--jobs', '--backend', '--kernels', '--policy', '--help'];

function parseDemo(argv: string[]): DemoArgs {
  const a: DemoArgs = { command: 'demo', help: false, seed: 1, steps: undefined, out: undefined, backend: 'wasm', kernels: 'auto', json: false, policy: 'context' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '-h':
      case '--help':
        a.help = true;
        break;
      case '--seed':
        a.seed = intValue(flag, argv[++i], 0);
        break;
      case '--steps':
        a.steps = intValue(flag, argv[++i], 1);
        break;
      case '--out': {
        const v = argv[++i];
        if (v === undefined || v === '' || v.startsWith('--')) throw new UsageError('gprl: option --out needs a directory');
        a.out = v;
        break;
      }
      case '--backend':
        a.backend = choice(flag, argv[++i], TF_BACKENDS);
        break;
      case '--kernels':
        a.kernels = choice(flag, argv[++i], KERNEL_BACKENDS);
        break;
      case '--json':
        a.json = true;
        break;
      case '--policy':
        a.policy = choice(flag, argv[++i], POLICY_CHOICES);
        break;
      default:
        throw new UsageError(
          flag.startsWith('-')
            ? `gprl: unknown option ${JSON.stringify(flag)} for 'gprl demo'${didYouMean(flag, DEMO_FLAGS)} (see gprl demo --help)`
            : `gprl: unexpected argument ${JSON.stringify(flag)} for 'gprl demo' (see gprl demo --help)`,
        );
    }
  }
  return a;
}

function parseStudy(argv: string[]): StudyArgs {
  const a: StudyArgs = { command: 'study', help: false, config: undefined, seeds: undefined, steps: undefined, out: undefined, resume: undefined, jobs: undefined, backend: 'wasm', kernels: 'auto', policy: undefined };
  const path = (flag: string, v: string | undefined): string => {
    if (v === undefined || v === '' || v.startsWith('--')) throw new UsageError(`gprl: option ${flag} needs a path`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '-h':
      case '--help':
        a.help = true;
        break;
      case '--config':
        a.config = path(flag, argv[++i]);
        break;
      case '--seeds':
        a.seeds = intValue(flag, argv[++i], 1);
        break;
      case '--steps':
        a.steps = intValue(flag, argv[++i], 1);
        break;
      case '--out':
        a.out = path(flag, argv[++i]);
        break;
      case '--resume':
        a.resume = path(flag, argv[++i]);
        break;
      case '--jobs':
        a.jobs = intValue(flag, argv[++i], 1);
        break;
      case '--backend':
        a.backend = choice(flag, argv[++i], TF_BACKENDS);
        break;
      case '--kernels':
        a.kernels = choice(flag, argv[++i], KERNEL_BACKENDS);
        break;
      case '--policy':
        a.policy = choice(flag, argv[++i], POLICY_CHOICES);
        break;
      default:
        throw new UsageError(
          flag.startsWith('-')
            ? `gprl: unknown option ${JSON.stringify(flag)} for 'gprl study'${didYouMean(flag, STUDY_FLAGS)} (see gprl study --help)`
            : `gprl: unexpected argument ${JSON.stringify(flag)} for 'gprl study' (see gprl study --help)`,
        );
    }
  }
  if (a.resume !== undefined && (a.config !== undefined || a.seeds !== undefined || a.steps !== undefined || a.out !== undefined || a.policy !== undefined)) {
    throw new UsageError('gprl: --resume DIR continues a study with the config in DIR/study.json; it cannot be combined with --config, --seeds, --steps or --out (nor --policy)');
  }
  return a;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const args = expand(argv);
  const [cmd, ...rest] = args;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') return { command: 'help' };
  if (cmd === '-v' || cmd === '--version') return { command: 'version' };
  switch (cmd) {
    case 'demo':
      return parseDemo(rest);
    case 'study':
      return parseStudy(rest);
    case 'info': {
      const a: InfoArgs = { command: 'info', help: false, json: false };
      for (const flag of rest) {
        if (flag === '--json') a.json = true;
        else if (flag === '-h' || flag === '--help') a.help = true;
        else throw new UsageError(`gprl: unknown option ${JSON.stringify(flag)} for 'gprl info'${didYouMean(flag, ['--json', '--help'])} (see gprl info --help)`);
      }
      return a;
    }
    case 'setup-tensorflow': {
      const a: SetupTensorflowArgs = { command: 'setup-tensorflow', help: false, gpu: false, wheel: undefined, force: false };
      for (let i = 0; i < rest.length; i++) {
        const flag = rest[i]!;
        if (flag === '--gpu') a.gpu = true;
        else if (flag === '--force') a.force = true;
        else if (flag === '-h' || flag === '--help') a.help = true;
        else if (flag === '--wheel') {
          const v = rest[++i];
          if (v === undefined || v === '' || v.startsWith('--')) throw new UsageError('gprl: option --wheel needs a file');
          a.wheel = v;
        } else {
          throw new UsageError(
            flag.startsWith('-')
              ? `gprl: unknown option ${JSON.stringify(flag)} for 'gprl setup-tensorflow'${didYouMean(flag, ['--gpu', '--wheel', '--force', '--help'])} (see gprl setup-tensorflow --help)`
              : `gprl: unexpected argument ${JSON.stringify(flag)} for 'gprl setup-tensorflow' (see gprl setup-tensorflow --help)`,
          );
        }
      }
      return a;
    }
    case 'bench': {
      const help = rest.includes('-h') || rest.includes('--help');
      return { command: 'bench', help, rest: [...argv.slice(1)] };
    }
    default:
      throw new UsageError(`gprl: unknown command ${JSON.stringify(cmd)}${didYouMean(cmd, ['study', 'demo', 'info', 'bench', 'setup-tensorflow'])} (commands: study, demo, info, bench, setup-tensorflow; see gprl --help)`);
  }
}
