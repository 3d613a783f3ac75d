#!/usr/bin/env node
/**
 * The package's `prepack` script (runs on `npm pack` and `npm publish`): builds everything the tarball
 * carries and refuses to let a tarball without the native binary through.
 *
 * 1. `dist/` from scratch (`npm run build:ts`: the library and the compiled examples), so no file of
 *    a deleted source ships.
 * 2. The prebuilt binary (scripts/prebuild.mjs --if-stale): rebuilt unless its provenance record
 *    matches the present native sources, its SHA-256 matches and it loads with CUDA compiled in.
 *    CUDA is required by default; `GPRL_PREBUILD_CUDA=auto` allows a CPU-only binary where nvcc is
 *    missing (`off` builds one on purpose).
 * 3. The file list npm is about to pack (`npm pack --dry-run --json --ignore-scripts`) is checked:
 *    the binary, its record, dist/, the compiled examples, the native sources and build files are in;
 *    the test program (native/test/), build folders, sources (src/), tests and benchmarks are out;
 *    every source map carries its sources (`sourcesContent`); every relative link of README.md and of
 *    the shipped docs points at a shipped file.
 * Any failure prints one `prepack:` line and exits 1, so npm writes no tarball.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const platformDir = `prebuilds/${process.platform}-${process.arch}`;

function npm(args, capture = false) {
  const cli = process.env.npm_execpath;
  const [cmd, argv] = cli && /\.c?js$/.test(cli) ? [process.execPath, [cli, ...args]] : [process.platform === 'win32' ? 'npm.cmd' : 'npm', args];
  return spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', maxBuffer: 64 * 1024 * 1024 });
}

function step(label, r) {
  if (r.error) throw new Error(`${label}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal})`);
  return r;
}

/** Relative link targets of a markdown file, as package paths (fragment removed). */
function markdownLinks(file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const out = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), target.split('#')[0])));
  }
  return out;
}

/** Problems with the list of files npm would pack (empty when it is fine). */
export function packProblems(files) {
  const have = new Set(files);
  const problems = [];
  const required = [
    `${platformDir}/gprl.node`,
    `${platformDir}/gprl.node.json`,
    'package.json',
    'README.md',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'scripts/install.mjs',
    'scripts/build-native.mjs',
    'CMakeLists.txt',
    'binding.gyp',
    'native/kernels/kernels.cmake',
  ];
  for (const f of fs.readdirSync(path.join(root, 'examples'))) {
    if (f.endsWith('.ts')) required.push(`examples/${f}`, `dist/examples/${f.replace(/\.ts$/, '.js')}`);
  }
  for (const f of required) if (!have.has(f)) problems.push(`${f} is missing`);
  if (!files.some((f) => /^native\/kernels\/.*\.cc$/.test(f)) || !files.some((f) => /^native\/binding\/.*\.cc$/.test(f))) {
    problems.push('the native sources (native/kernels/, native/binding/) are missing');
  }
  const forbidden = /^(native\/test\/|build\/|build-[^/]*\/|src\/|test\/|bench\/|node_modules\/|runs\/|scratch\/|\.ci\/)|\.tgz$|\.tmp-\d+$/;
  for (const f of files) if (forbidden.test(f)) problems.push(`${f} must not be shipped`);
  for (const f of files.filter((x) => x.endsWith('.map'))) {
    const map = JSON.parse(fs.readFileSync(path.join(root, f), 'utf8'));
    const ok = Array.isArray(map.sourcesContent) && map.sourcesContent.length === map.sources.length && map.sourcesContent.every((s) => typeof s === 'string');
    if (!ok) problems.push(`${f} has no sourcesContent (its sources do not ship)`);
  }
  for (const doc of files.filter((f) => f === 'README.md' || /^docs\/.*\.md$/.test(f))) {
    for (const target of markdownLinks(doc)) {
      if (!have.has(target) && !files.some((f) => f.startsWith(`${target.replace(/\/$/, '')}/`))) problems.push(`${doc} links to ${target}, which is not shipped`);
    }
  }
  return problems;
}

function main() {
  const t0 = performance.now();
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  step('npm run build:ts', npm(['run', 'build:ts']));
  step('the prebuild (see the prebuild: line above)', spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs'), '--if-stale'], { cwd: root, stdio: 'inherit' }));
  const r = step('npm pack --dry-run', npm(['pack', '--dry-run', '--json', '--ignore-scripts'], true));
  const files = JSON.parse(r.stdout)[0].files.map((f) => f.path);
  const problems = packProblems(files);
  if (problems.length > 0) throw new Error(`the tarball would be wrong: ${problems.join('; ')}`);
  console.log(`prepack: ${files.length} files checked (binary, dist, examples, native sources; no tests or build folders) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`prepack: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
