#!/usr/bin/env node
/**
 * The package's `install` script. It never fails the installation:
 * 1. `GPRL_SKIP_BUILD=1`: do nothing (the pure-TypeScript path, or a prebuilt binary, is used).
 * 2. A prebuilt binary for this platform under `prebuilds/<platform>-<arch>/` that loads: print one line
 *    saying so and build nothing (the published package always carries one for linux-x64).
 * 3. Else build from source: the CMake build (CUDA when nvcc is found; `GPRL_CUDA=on|off|auto`), then,
 *    if that fails, the CPU-only node-gyp build (copied to `build/Release/gprl.node`).
 * 4. If both fail (no compiler, no cmake...), print ONE warning that the pure-TypeScript path will be
 *    used, with the path of the build log, and exit 0.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const logPath = path.join(root, 'build', 'native-build.log');

function loads(file) {
  try {
    const addon = require(file);
    return typeof addon.gprlAdvantages === 'function';
  } catch {
    return false;
  }
}

function prebuilt() {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let files = [];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.node'));
  } catch {
    return undefined;
  }
  return files.map((f) => path.join(dir, f)).find(loads);
}

function build(args) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}\n` : ''}`;
  fs.appendFileSync(logPath, `\n$ build-native ${args.join(' ')}\n${output}`);
  if (r.status === 0) return { ok: true };
  const reason = output
    .split('\n')
    .reverse()
    .find((line) => line.startsWith('build-native:'));
  return { ok: false, reason: reason ? reason.replace('build-native: ', '') : `exit ${r.status ?? r.signal}` };
}

function main() {
  if (process.env.GPRL_SKIP_BUILD === '1') {
    console.log('gprl: GPRL_SKIP_BUILD=1, not building the native addon');
    return;
  }
  const pre = prebuilt();
  if (pre) {
    console.log(`gprl: using the prebuilt binary ${path.relative(root, pre).split(path.sep).join('/')}; nothing to build`);
    return;
  }

  fs.mkdirSync(path.dirname(logPath), { recursive: true });
  fs.writeFileSync(logPath, `gprl native build log (${new Date().toISOString()})\n`);
  const cuda = ['on', 'off', 'auto'].includes(process.env.GPRL_CUDA ?? '') ? process.env.GPRL_CUDA : 'auto';
  const cmake = build(['--builder', 'cmake', '--cuda', cuda]);
  if (cmake.ok && loads(path.join(root, 'build', 'Release', 'gprl.node'))) {
    console.log('gprl: built the native addon with CMake');
    return;
  }
  const gyp = build(['--builder', 'gyp', '--out', path.join(root, 'build', 'Release', 'gprl.node')]);
  if (gyp.ok && loads(path.join(root, 'build', 'Release', 'gprl.node'))) {
    console.log('gprl: built the CPU-only native addon with node-gyp');
    return;
  }
  console.warn(
    `gprl: warning: no prebuilt binary for ${process.platform}-${process.arch} and the native build failed ` +
      `(cmake: ${cmake.reason ?? 'the binary did not load'}; node-gyp: ${gyp.reason ?? 'the binary did not load'}); ` +
      `the pure-TypeScript path will be used. Build log: ${logPath}`,
  );
}

try {
  main();
} catch (err) {
  console.warn(`gprl: warning: native addon setup failed (${err instanceof Error ? err.message : String(err)}); the pure-TypeScript path will be used`);
}
process.exit(0);
