/**
 * Shared by the kill -9 tests (GPM saves, trainer checkpoints) and their child processes: the
 * weights of save number `id`, different in every value from those of any other save, so a load can
 * be matched to exactly one save; and the harness that runs a saving child and kills it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

/** The values of variable number `index` (of `size` values) in save `id`. */
export function saveValues(id: number, index: number, size: number): Float32Array {
  const out = new Float32Array(size);
  let h = (Math.imul(id, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  for (let j = 0; j < size; j++) {
    h = (h + 0x6d2b79f5) >>> 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    // id in the integer part keeps saves apart even where the hash collides.
    out[j] = id + ((z ^ (z >>> 14)) >>> 0) / 2 ** 33;
  }
  return out;
}

/**
 * Run `script` (a child that prints `start`, then `saved <id>` after each complete save from `first`
 * on) until `delayMs` after it is ready, kill it with SIGKILL, and return the save ids it completed.
 */
export async function runAndKill(script: string, dir: string, first: number, delayMs: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(first)], {
    cwd: path.join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.startsWith('start\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the saving child exited early (${code}): ${err}`)));
    });
    await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    child.kill('SIGKILL');
    // stdout is a pipe written synchronously by the child: every 'saved' line arrives before 'close'.
    await closed;
  }
  return [...out.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1]));
}
