/**
 * Shared by the kill -9 tests (GPM saves, trainer checkpoints) and their child processes: the
 * weights of save number `id`, different in every value from those of any other save, so a load can
 * be matched to exactly one save; and the harness that runs a saving child and kills it.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
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

export interface KillTrialOptions {
  /** The saving child script (see {@link runAndKill}). */
  script: string;
  /** Folder for the trial directories; `prefix` names them. */
  root: string;
  prefix: string;
  tries: number;
  /** Kills per directory before a fresh one. */
  triesPerDir: number;
  rng: { uniform(lo: number, hi: number): number };
  /** The first try in a directory is killed within this many ms (often before its first save completes). */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Load `dir`; return which of `ids` it holds bit for bit (null: neither) and any warning the load gave; throw on failure. */
  load: (dir: string, ids: number[]) => Promise<{ id: number | null; warning?: string }>;
  /** A clean save into `dir` after its last kill (it must remove every leftover). */
  cleanSave: (dir: string) => Promise<void>;
}

export interface KillTrialResult {
  outcomes: { lastComplete: number; inProgress: number; nothingSavedError: number; withWarning: number };
  failures: string[];
  maxEntries: number;
  savesDone: number;
}

/**
 * Kill a saving child `tries` times and check every load: it must give the last complete save or the
 * one in progress (bit for bit), or — only while nothing was completed in that directory — a
 * `gprl:` error; a warning (a fallback) only while nothing was committed; at most 6 entries after a
 * kill, and at most 3 (no hidden leftovers) after a clean save.
 */
export async function killTrials(o: KillTrialOptions): Promise<KillTrialResult> {
  const outcomes = { lastComplete: 0, inProgress: 0, nothingSavedError: 0, withWarning: 0 };
  const failures: string[] = [];
  let maxEntries = 0;
  let savesDone = 0;
  let dir = '';
  let lastComplete: number | null = null;
  // Whether some save in this directory committed (returned, or loaded without a fallback).
  let committed = false;
  for (let t = 0; t < o.tries; t++) {
    if (t % o.triesPerDir === 0) {
      dir = path.join(o.root, `${o.prefix}${t}`);
      lastComplete = null;
      committed = false;
    }
    const first = (t + 1) * 100_000;
    const delay = t % o.triesPerDir === 0 ? o.rng.uniform(0, o.firstDelayMs) : o.rng.uniform(0, o.maxDelayMs);
    const done = await runAndKill(o.script, dir, first, delay);
    savesDone += done.length;
    if (done.length > 0) {
      lastComplete = done[done.length - 1]!;
      committed = true;
    }
    const inProgress = done.length > 0 ? lastComplete! + 1 : first;
    const label = `try ${t} (delay ${delay.toFixed(1)} ms, ${done.length} saves, last complete ${lastComplete}, in progress ${inProgress})`;
    try {
      const { id, warning } = await o.load(dir, lastComplete === null ? [inProgress] : [lastComplete, inProgress]);
      // A warning (a fallback) is only legitimate while nothing was committed: a first save's
      // directory complete, its pointer not yet written.
      if (warning !== undefined) {
        outcomes.withWarning++;
        if (committed) failures.push(`${label}: warning ${warning}`);
      } else committed = true;
      if (id === null) failures.push(`${label}: loaded a save that is neither`);
      else if (id === lastComplete) outcomes.lastComplete++;
      else {
        // Committed just before the kill, before its 'saved' line: now the last complete save.
        outcomes.inProgress++;
        lastComplete = id;
      }
    } catch (err) {
      const msg = (err as Error).message;
      if (lastComplete === null && /^gprl: /.test(msg)) outcomes.nothingSavedError++;
      else failures.push(`${label}: ${msg}`);
    }
    const entries = await readdir(dir).catch(() => [] as string[]);
    maxEntries = Math.max(maxEntries, entries.length);
    // The pointer, the current and previous saves, and at most one of each kind of leftover of the killed save.
    if (entries.length > 6) failures.push(`${label}: ${entries.length} entries: ${entries.join(' ')}`);
    if (t % o.triesPerDir === o.triesPerDir - 1 || t === o.tries - 1) {
      await o.cleanSave(dir);
      const after = await readdir(dir);
      if (after.length > 3 || after.some((e) => e.startsWith('.'))) failures.push(`${label}: after a clean save: ${after.join(' ')}`);
    }
  }
  return { outcomes, failures, maxEntries, savesDone };
}
