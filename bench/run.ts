/**
 * `npm run bench [-- --quick] [--filter <stem>[,<stem>]] [--shapes small,medium,large] [--out <dir>] [--markdown]`
 *
 * Measures the memory bandwidth, then runs every `bench/<stem>.bench.ts` module (the four kernels
 * first, then the others in name order), prints one table per module and appends its rows, with the
 * environment, to `<out>/<stem>.jsonl` (default `bench/results`); `--markdown` prints the tables
 * as Markdown. A module that is missing, does not export `run()`, or fails is reported in one line
 * and the run goes on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appendRows, formatEnvironment, formatMarkdown, formatProbe, formatTable, makeContext, parseArgs, type BenchContext, type BenchRow } from './harness.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const KERNEL_STEMS = ['groupScores', 'groupAdvantages', 'gprlAdvantages', 'preferenceMatrix'];

function discover(): string[] {
  const found = fs
    .readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.slice(0, -'.bench.ts'.length));
  const others = found.filter((s) => !KERNEL_STEMS.includes(s)).sort();
  return [...KERNEL_STEMS, ...others];
}

function isRow(x: unknown): x is BenchRow {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && typeof (x as { name?: unknown }).name === 'string';
}

async function runModule(stem: string, ctx: BenchContext): Promise<BenchRow[] | string> {
  const file = path.join(benchDir, `${stem}.bench.ts`);
  if (!fs.existsSync(file)) return 'module not found';
  let mod: { run?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { run?: unknown };
  } catch (err) {
    return `failed to load: ${(err as Error).message.split('\n')[0]}`;
  }
  if (typeof mod.run !== 'function') return 'does not export run()';
  try {
    const rows: unknown = await (mod.run as (ctx: BenchContext) => Promise<unknown>)(ctx);
    if (!Array.isArray(rows)) return `run() returned ${typeof rows}, not an array of rows`;
    const bad = rows.findIndex((r) => !isRow(r));
    if (bad >= 0) return `run() returned a row without a name (index ${bad})`;
    return rows as BenchRow[];
  } catch (err) {
    return `failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const out = path.resolve(args.out ?? path.join(benchDir, 'results'));
  const started = performance.now();
  const ctx = await makeContext(args.quick, undefined, args.shapes);
  const print = (s: string) => process.stdout.write(`${s}\n`);
  print(formatEnvironment(ctx.env));
  print(formatProbe(ctx.probe));
  const stems = discover().filter((s) => args.filter.length === 0 || args.filter.includes(s));
  for (const f of args.filter) if (!stems.includes(f)) print(`\n## ${f}: no bench/${f}.bench.ts`);
  for (const stem of stems) {
    const t = performance.now();
    ctx.log(`== ${stem}`);
    const result = await runModule(stem, ctx);
    const secs = ((performance.now() - t) / 1e3).toFixed(1);
    if (typeof result === 'string') {
      print(`\n## ${stem}: skipped (${result})`);
      continue;
    }
    print(`\n## ${stem} (${secs} s)`);
    print(args.markdown ? formatMarkdown(result) : formatTable(result));
    if (result.length > 0) print(`${result.length} rows appended to ${path.relative(process.cwd(), appendRows(out, stem, result, ctx))}`);
  }
  print(`\ntotal ${((performance.now() - started) / 1e3).toFixed(1)} s${args.quick ? ' (quick)' : ''}`);
}

await main();
