/**
 * Command-line parsing for `gprl`. Bad usage throws a {@link UsageError} (exit code 2) whose
 * message names the offending argument.
 */

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

export interface DemoArgs {
  command: 'demo';
  help: boolean;
  /** Number of seeds. Defaults to `1` (the quick run). */
  seeds: number;
  /** First seed. Defaults to `1`. */
  seed: number;
  /** Steps per method; `undefined` = the default (120). */
  steps: number | undefined;
  /** Output directory; `undefined` = `runs/<timestamp>`. */
  out: string | undefined;
  /** tfjs backend. Defaults to `'wasm'`. */
  backend: TfBackendChoice;
  /** Kernel backend. Defaults to `'auto'`. */
  kernels: KernelBackendChoice;
  extended: boolean;
  json: boolean;
  /** Skip the PNG chart. Defaults to `false`. */
  noPng: boolean;
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

export interface TopArgs {
  command: 'help' | 'version';
}

export type ParsedArgs = DemoArgs | InfoArgs | BenchArgs | TopArgs;

export const USAGE = `Usage: gprl <command> [options]

Commands:
  demo     Run the paper's experiment in miniature on the embedded toy task (no download)
  info     Show the backends found: CUDA device, native C++ path, tfjs backends
  bench    Run the benchmarks (needs the source checkout)

Options:
  -h, --help     Show help (also: gprl <command> --help)
  -v, --version  Show the version
`;

export const DEMO_USAGE = `Usage: gprl demo [options]

Runs the whole pipeline on a toy task: biased annotators label preference pairs, a GPM (k=3), a
GPM (k=1) and a Bradley-Terry model are trained on them, the same initial policy is trained by
GRPO+BT, GPRL without and with the drift monitor, and GPRL k=1, and an unbiased gold judge
evaluates each policy against the initial one. See docs/demo.md.

Options:
  --quick             One seed with the default budget (the default; a few minutes on 2 cores)
  --seeds N           Number of seeds (full repetitions); N ≥ 1. Default 1
  --seed N            First seed (integer). Default 1
  --steps N           Policy-training steps per method; N ≥ 1. Default 120
  --extended          Also run GPRL + monitor for 2× the steps
  --out DIR           Output directory. Default runs/<timestamp>
  --backend NAME      tfjs backend: wasm | cpu | tensorflow (needs @tensorflow/tfjs-node). Default wasm
  --kernels NAME      Kernel backend: auto | cuda | cpu (the C++ addon) | js. Default auto
  --json              Print the summary as JSON on stdout (the table goes to stderr)
  --no-png            Do not write the PNG chart
  -h, --help          Show this help
`;

export const INFO_USAGE = `Usage: gprl info [--json]

Shows the kernel backends (CUDA device or why there is none, the native C++ addon and its path),
the tfjs backends, and the versions.
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

function parseDemo(argv: string[]): DemoArgs {
  const a: DemoArgs = {
    command: 'demo', help: false, seeds: 1, seed: 1, steps: undefined, out: undefined,
    backend: 'wasm', kernels: 'auto', extended: false, json: false, noPng: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '-h':
      case '--help':
        a.help = true;
        break;
      case '--quick':
        break;
      case '--seeds':
        a.seeds = intValue(flag, argv[++i], 1);
        break;
      case '--seed':
        a.seed = intValue(flag, argv[++i], -2147483648);
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
      case '--extended':
        a.extended = true;
        break;
      case '--json':
        a.json = true;
        break;
      case '--no-png':
        a.noPng = true;
        break;
      default:
        throw new UsageError(
          flag.startsWith('-')
            ? `gprl: unknown option ${JSON.stringify(flag)} for 'gprl demo' (see gprl demo --help)`
            : `gprl: unexpected argument ${JSON.stringify(flag)} for 'gprl demo' (see gprl demo --help)`,
        );
    }
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
    case 'info': {
      const a: InfoArgs = { command: 'info', help: false, json: false };
      for (const flag of rest) {
        if (flag === '--json') a.json = true;
        else if (flag === '-h' || flag === '--help') a.help = true;
        else throw new UsageError(`gprl: unknown option ${JSON.stringify(flag)} for 'gprl info' (see gprl info --help)`);
      }
      return a;
    }
    case 'bench': {
      const help = rest.includes('-h') || rest.includes('--help');
      return { command: 'bench', help, rest: [...argv.slice(1)] };
    }
    default:
      throw new UsageError(`gprl: unknown command ${JSON.stringify(cmd)} (commands: demo, info, bench; see gprl --help)`);
  }
}
