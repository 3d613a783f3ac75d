/**
 * Ctrl-C for `gprl study` (and so `gprl demo`, which runs the same engine): the first SIGINT stops at a
 * safe point, keeps every finished record, writes a summary marked "interrupted", says how to resume
 * and exits 130; a second SIGINT exits at once; `--resume` then completes the study.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gprl-interrupt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const config = path.join(tmp, 'small.json');
writeFileSync(
  config,
  JSON.stringify({ seeds: 2, budgets: [200, 600], arms: ['grpo-bt'], sweep: { arms: [] }, data: { pairs: 200, triples: 200 }, verifiers: { epochs: 2, searchStarts: 0 }, evaluation: { perPrompt: 2 } }),
);

/** Run the CLI; call `interrupt(child)` once `trigger` (a file) exists; resolve with the exit code and stderr. */
function run(args: string[], trigger: string | null, signals: number, gapMs = 50, delayMs = 0): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = trigger
      ? setInterval(() => {
          if (!existsSync(trigger)) return;
          clearInterval(poll);
          for (let i = 0; i < signals; i++) setTimeout(() => child.kill('SIGINT'), delayMs + gapMs * i);
        }, 50)
      : undefined;
    child.on('error', reject);
    child.on('exit', (code) => {
      if (poll) clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

describe('gprl study and Ctrl-C', () => {
  it.each([1, 2])('stops at a safe point with --jobs %i, writes an interrupted summary, exits 130, and --resume completes it', async (jobs) => {
    const out = path.join(tmp, `run-${jobs}`);
    const first = await run(['study', '--config', config, '--jobs', String(jobs), '--out', out], path.join(out, 'units', 'L0.8-P0.8-s1', 'unit.json'), 1);
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toContain('stopping at the next safe point');
    expect(first.stderr).toContain(`Continue with: gprl study --resume`);
    const partial = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(partial.status).toBe('interrupted');
    expect(partial.unitsDone).toBeLessThan(2);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toContain('**Interrupted:**');
    const second = await run(['study', '--resume', out, '--jobs', String(jobs)], null, 0);
    expect(second.code, second.stderr).toBe(0);
    const full = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(full.status).toBe('complete');
    expect(full.unitsDone).toBe(2);
    expect(full.arms[0].seeds).toBe(2);
  }, 120_000);

  it('exits at once on a second SIGINT (the handler the study and demo commands install)', () => {
    // The first signal only aborts (the command keeps running to its next safe point); the second exits 130.
    const script = [
      `const { interruptible } = await import(${JSON.stringify(entry)});`,
      `const stop = interruptible('study');`,
      `process.kill(process.pid, 'SIGINT');`,
      `setTimeout(() => { process.stderr.write('aborted=' + stop.signal.aborted + '\\n'); process.kill(process.pid, 'SIGINT'); }, 200);`,
      `setTimeout(() => process.exit(0), 5000);`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(130);
    expect(r.stderr).toContain('stopping at the next safe point');
    expect(r.stderr).toContain('aborted=true');
    expect(r.stderr).toContain('SIGINT again: exiting now');
  }, 60_000);
});
