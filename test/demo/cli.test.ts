import { describe, expect, it, vi } from 'vitest';
import { parseArgs, STUDY_USAGE, UsageError } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';

describe('gprl argument parsing', () => {
  it('parses demo options with their defaults', () => {
    expect(parseArgs(['demo'])).toEqual({ command: 'demo', help: false, seed: 1, steps: undefined, out: undefined, backend: 'wasm', kernels: 'auto', json: false, policy: 'context' });
    expect(parseArgs(['demo', '--policy', 'transformer'])).toMatchObject({ command: 'demo', policy: 'transformer' });
    const a = parseArgs(['demo', '--steps=40', '--out', 'x/y', '--backend', 'cpu', '--kernels=js', '--json', '--seed', '3']);
    expect(a).toMatchObject({ command: 'demo', steps: 40, out: 'x/y', backend: 'cpu', kernels: 'js', json: true, seed: 3 });
  });

  it('parses study options with their defaults', () => {
    expect(parseArgs(['study'])).toEqual({
      command: 'study', help: false, config: undefined, seeds: undefined, steps: undefined, out: undefined, resume: undefined, jobs: undefined, backend: 'wasm', kernels: 'auto', policy: undefined,
    });
    expect(parseArgs(['study', '--config', 'c.json', '--seeds', '2', '--steps=60', '--jobs', '2', '--out', 'o', '--backend', 'cpu', '--kernels', 'js', '--policy=transformer'])).toEqual({
      command: 'study', help: false, config: 'c.json', seeds: 2, steps: 60, out: 'o', resume: undefined, jobs: 2, backend: 'cpu', kernels: 'js', policy: 'transformer',
    });
    expect(parseArgs(['study', '--resume', 'runs/x', '--jobs', '1'])).toMatchObject({ resume: 'runs/x', jobs: 1 });
  });

  it('documents every study option in gprl study --help', () => {
    for (const flag of ['--config FILE', '--seeds N', '--steps N', '--out DIR', '--resume DIR', '--jobs N', '--backend NAME', '--kernels NAME', '--policy NAME', '--help']) {
      expect(STUDY_USAGE).toContain(flag);
    }
  });

  it('rejects bad usage with a message naming the argument', () => {
    const bad: [string[], RegExp][] = [
      [['demo', '--bogus'], /unknown option "--bogus"/],
      [['demo', '--seeds', '2'], /unknown option "--seeds" for 'gprl demo'/],
      [['demo', '--seed'], /--seed needs a value/],
      [['demo', '--seed', '-1'], /invalid --seed: expected an integer ≥ 0, got -1/],
      [['demo', '--seed', 'two'], /invalid --seed: expected an integer, got "two"/],
      [['demo', '--steps', '1.5'], /invalid --steps/],
      [['demo', '--backend', 'gpu'], /invalid --backend: expected one of cpu, wasm, tensorflow, got "gpu"/],
      [['demo', '--kernels', 'opencl'], /invalid --kernels/],
      [['demo', '--policy', 'gru'], /invalid --policy: expected one of context, transformer, got "gru"/],
      [['study', '--resume', 'x', '--policy', 'transformer'], /cannot be combined with .*--policy/],
      [['demo', '--out'], /--out needs a directory/],
      [['demo', 'extra'], /unexpected argument "extra"/],
      [['study', '--seeds', '0'], /invalid --seeds: expected an integer ≥ 1, got 0/],
      [['study', '--jobs', 'many'], /invalid --jobs: expected an integer, got "many"/],
      [['study', '--config'], /--config needs a path/],
      [['study', '--resume', 'x', '--seeds', '3'], /--resume DIR .* cannot be combined with --config, --seeds, --steps or --out/],
      [['study', '--frob'], /unknown option "--frob" for 'gprl study'/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['info', '--verbose'], /unknown option "--verbose" for 'gprl info'/],
    ];
    for (const [argv, msg] of bad) {
      expect(() => parseArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseArgs(argv), argv.join(' ')).toThrow(msg);
    }
  });

  it('recognizes help and version', () => {
    expect(parseArgs([])).toEqual({ command: 'help' });
    expect(parseArgs(['--help'])).toEqual({ command: 'help' });
    expect(parseArgs(['-v'])).toEqual({ command: 'version' });
    expect(parseArgs(['demo', '--help'])).toMatchObject({ command: 'demo', help: true });
    expect(parseArgs(['info', '--json'])).toEqual({ command: 'info', help: false, json: true });
    expect(parseArgs(['bench', '--filter', 'x'])).toEqual({ command: 'bench', help: false, rest: ['--filter', 'x'] });
  });

  it('exits with code 2 and a clear message on bad flags', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['study', '--seeds', '-1'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/invalid --seeds/);
      expect(await main(['nope'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });

  it('prints help with exit code 0', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['demo', '--help'])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toMatch(/Usage: gprl demo/);
      expect(await main(['--version'])).toBe(0);
      expect(String(out.mock.calls[1]?.[0])).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      out.mockRestore();
    }
  });
});

describe('ProgressBar', () => {
  it('prints plain lines off a TTY: at each stage and every 5%', async () => {
    const { ProgressBar } = await import('../../src/cli/progress.js');
    const lines: string[] = [];
    const bar = new ProgressBar({ write: (s: string) => lines.push(s), isTTY: false });
    bar.update(0, 100, 'seed 1: annotating');
    bar.update(0, 100, 'seed 1: annotating'); // same stage, same 5% bucket: nothing
    bar.update(1, 100, 'seed 1: GRPO, step 1/100');
    bar.update(2, 100, 'seed 1: GRPO, step 2/100'); // same stage (step suffix ignored), same bucket
    bar.update(6, 100, 'seed 1: GRPO, step 6/100'); // next 5% bucket
    bar.finish();
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines[2]).toMatch(/^\[ {2}6%\] \d+s seed 1: GRPO, step 6\/100\n$/);
  });

  it('redraws one line on a TTY and ends it with a newline', async () => {
    const { ProgressBar } = await import('../../src/cli/progress.js');
    const out: string[] = [];
    const bar = new ProgressBar({ write: (s: string) => out.push(s), isTTY: true, columns: 60 });
    bar.update(1, 2, 'half way');
    bar.update(2, 2, 'done');
    bar.finish();
    expect(out[0]!.startsWith('\r\x1b[2K')).toBe(true);
    expect(out.slice(0, -1).every((s) => s.length <= 60 + 5)).toBe(true);
    expect(out.at(-2)).toContain('100%');
    expect(out.at(-1)).toBe('\n');
  });
});

describe('gprl as an installed program', () => {
  it('runs when started through a symlink, as node_modules/.bin/gprl is', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, symlinkSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gprl-bin-'));
    try {
      const link = path.join(dir, 'gprl.ts');
      symlinkSync(entry, link);
      const out = execFileSync(process.execPath, ['--import', 'tsx', link, '--version'], { encoding: 'utf8' });
      expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
