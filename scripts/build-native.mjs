#!/usr/bin/env node
/**
 * Build the native addon.
 *
 *   node scripts/build-native.mjs --builder cmake|gyp [--cuda auto|on|off] [--cuda-arch <list>]
 *                                  [--build-dir <dir>] [--out <file.node>]
 *
 * Output scheme (the kernel tests pick a binary with GPRL_ADDON_PATH=<path to .node>):
 * - `--builder cmake` (canonical, cmake-js): configures and builds in `build/`, result
 *   `build/Release/gprl.node` (where node-gyp-build looks first; `--build-dir <dir>` builds in another
 *   directory, result `<dir>/Release/gprl.node`). `--cuda` maps to the CMake option
 *   GPRL_CUDA (default auto: CUDA when nvcc is found); `--cuda-arch` sets CMAKE_CUDA_ARCHITECTURES.
 *   cmake-js uses the Node-API headers from the `node-api-headers` package (package.json declares
 *   `binary.napi_versions`), so no Node.js headers are downloaded.
 * - `--builder gyp` (CPU only, node-gyp): builds from a copy of binding.gyp, package.json and native/
 *   in `build-gyp/src/` so that it never clobbers the cmake build; result `build-gyp/gprl.node`.
 *   Node.js headers come from `--nodedir` / npm's `nodedir` setting when set, else from the running
 *   Node's own install prefix when it ships them (`<prefix>/include/node`), else node-gyp downloads them.
 * - `--out <file>` also copies the result there (the install script uses `build/Release/gprl.node`
 *   for the gyp fallback so node-gyp-build finds it).
 *
 * Arguments node-gyp would receive from prebuildify (`rebuild --target=... --devdir=... --release`)
 * are accepted and ignored, so this script can stand in for node-gyp (see scripts/prebuild.mjs).
 * Exits non-zero when the build fails.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

function parseArgs(argv) {
  const opts = { builder: 'cmake', cuda: 'auto', cudaArch: undefined, out: undefined, buildDir: 'build' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`build-native: ${a} needs a value`);
      return v;
    };
    if (a === '--builder') opts.builder = next();
    else if (a.startsWith('--builder=')) opts.builder = a.slice(10);
    else if (a === '--cuda') opts.cuda = next();
    else if (a.startsWith('--cuda=')) opts.cuda = a.slice(7);
    else if (a === '--cuda-arch') opts.cudaArch = next();
    else if (a === '--out') opts.out = next();
    else if (a === '--build-dir') opts.buildDir = next();
    else if (a === 'rebuild' || a === 'build' || a === '--release' || a.startsWith('--target=') || a.startsWith('--devdir=') || a.startsWith('--arch=')) continue;
    else throw new Error(`build-native: unknown argument ${a}`);
  }
  if (!['cmake', 'gyp'].includes(opts.builder)) throw new Error(`build-native: --builder must be cmake or gyp, got ${opts.builder}`);
  if (!['auto', 'on', 'off'].includes(opts.cuda)) throw new Error(`build-native: --cuda must be auto, on or off, got ${opts.cuda}`);
  return opts;
}

function run(label, cmd, args, cwd) {
  console.log(`> ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.error) throw new Error(`${label}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal})`);
}

/** The first of `names` found on PATH, or undefined. */
function which(...names) {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      for (const ext of exts) {
        const p = path.join(dir, name + ext);
        if (fs.existsSync(p)) return p;
      }
    }
  }
  return undefined;
}

/** Fail early, with a clear reason, when a required tool is missing. */
function requireTools(builder) {
  if (process.platform === 'win32') return; // MSVC discovery is left to the build tools
  if (!process.env.CXX && !which('c++', 'g++', 'clang++')) throw new Error('no C++ compiler (c++, g++ or clang++) on PATH');
  if (builder === 'cmake' && !which('cmake')) throw new Error('cmake was not found on PATH');
  if (builder === 'gyp') {
    if (!which('make')) throw new Error('make was not found on PATH');
    if (!process.env.PYTHON && !which('python3', 'python')) throw new Error('python3 was not found on PATH (node-gyp needs it)');
  }
}

function resolveBin(spec) {
  try {
    return require.resolve(spec);
  } catch {
    return undefined;
  }
}

function jobs() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function copyAtomic(src, dest) {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.copyFileSync(src, tmp);
  fs.renameSync(tmp, dest);
}

function buildCmake(opts) {
  const cmakeJs = resolveBin('cmake-js/bin/cmake-js');
  if (!cmakeJs) throw new Error('cmake-js is not installed');
  requireTools('cmake');
  const buildDir = path.resolve(root, opts.buildDir);
  const common = ['-d', root, '-O', buildDir, '--CDGPRL_CUDA=' + opts.cuda.toUpperCase()];
  if (opts.cudaArch) common.push('--CDCMAKE_CUDA_ARCHITECTURES=' + opts.cudaArch);
  // configure every time (cheap, incremental) so that changed options always take effect
  run('cmake-js configure', process.execPath, [cmakeJs, 'configure', ...common], root);
  run('cmake-js build', process.execPath, [cmakeJs, 'build', ...common, '--parallel', String(jobs())], root);
  return path.join(buildDir, 'Release', 'gprl.node');
}

function nodeGypPath() {
  const candidates = [
    process.env.npm_config_node_gyp,
    resolveBin('node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && fs.existsSync(p));
}

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const headers = path.join(prefix, 'include', 'node');
  if (fs.existsSync(path.join(headers, 'node_api.h')) && fs.existsSync(path.join(headers, 'common.gypi'))) return prefix;
  return undefined;
}

function buildGyp(opts) {
  if (opts.cuda === 'on') throw new Error('the gyp build is CPU-only; use --builder cmake for CUDA');
  const gyp = nodeGypPath();
  if (!gyp) throw new Error('node-gyp was not found');
  requireTools('gyp');
  const stage = path.join(root, 'build-gyp', 'src');
  fs.mkdirSync(stage, { recursive: true });
  for (const item of ['binding.gyp', 'package.json', 'native']) {
    fs.cpSync(path.join(root, item), path.join(stage, item), { recursive: true, preserveTimestamps: true, force: true });
  }
  const args = [gyp, 'configure', 'build', '--release', `--jobs=${jobs()}`];
  const nd = nodeDir();
  if (nd) args.push(`--nodedir=${nd}`);
  run('node-gyp', process.execPath, args, stage);
  const built = path.join(stage, 'build', 'Release', 'gprl.node');
  const dest = path.join(root, 'build-gyp', 'gprl.node');
  copyAtomic(built, dest);
  return dest;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const result = opts.builder === 'cmake' ? buildCmake(opts) : buildGyp(opts);
  if (!fs.existsSync(result)) throw new Error(`build finished but ${result} is missing`);
  if (opts.out && path.resolve(opts.out) !== result) copyAtomic(result, path.resolve(opts.out));
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`build-native: ${opts.builder} build done in ${secs} s: ${path.relative(root, opts.out ? path.resolve(opts.out) : result)}`);
}

try {
  main();
} catch (err) {
  console.error(`build-native: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
