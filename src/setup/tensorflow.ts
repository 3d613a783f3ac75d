/**
 * `gprl setup-tensorflow`: builds `@tensorflow/tfjs-node` (or `-node-gpu`) against the shared
 * libraries of a TensorFlow pip wheel, so the `tensorflow` tfjs backend works without the download
 * that tfjs-node's own install script makes (libtensorflow 2.9, CUDA 11.2, from the tfjs host).
 * See docs/tensorflow.md.
 *
 * Steps: find a working install (then stop: the command is idempotent; with a given wheel, only one
 * built from that wheel counts); check for Python with pip,
 * a C++ compiler and make; get the wheel (`pip download`, into a cache that outlives
 * `node_modules`) or check the one given; `npm install <pkg> --ignore-scripts --no-save` in the
 * user's project; unpack the wheel's `libtensorflow_cc.so.2`, `libtensorflow_framework.so.2` and the
 * C API headers into the package's `deps/`; build its binding with node-gyp (nothing downloaded when
 * the Node headers are found locally); load it in a child process to check.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findProjectDir, type TensorflowPackage } from '../tf.js';

/** Options of {@link setupTensorflow}. */
export interface SetupTensorflowOptions {
  /** Build `@tensorflow/tfjs-node-gpu` from the GPU-enabled `tensorflow` wheel. Default `false`. */
  gpu?: boolean;
  /** A TensorFlow wheel file to use instead of `pip download`. Default: download. */
  wheel?: string;
  /** The npm project to install into. Default: the nearest directory with a package.json at or above the working directory. */
  projectDir?: string;
  /** Where downloaded wheels are kept. Default: `$GPRL_CACHE_DIR`, else `$XDG_CACHE_HOME/gprl`, else `~/.cache/gprl` (plus `/wheels`). */
  cacheDir?: string;
  /** The Python interpreter whose pip downloads the wheel. Default: `$PYTHON`, else `python3`, else `python`. */
  python?: string;
  /** Rebuild even when a working install is found. Default `false`. */
  force?: boolean;
  /** Progress lines (one per step, plus a heartbeat during long steps). Default: none. */
  onProgress?: (line: string) => void;
}

/** What {@link setupTensorflow} did. */
export interface SetupTensorflowResult {
  status: 'installed' | 'already-installed';
  package: TensorflowPackage;
  /** The package's version. */
  version: string;
  /** The TensorFlow C library's version (`TF_Version()`). */
  tensorflow: string;
  projectDir: string;
  packageDir: string;
  /** The wheel used (undefined when nothing was built). */
  wheel?: string;
  /** Wall-clock seconds of the whole command. */
  seconds: number;
  /** With `gpu`: how to make the CUDA libraries loadable. */
  gpuNote?: string;
}

/** The tfjs version gprl is built on: the tfjs-node package must match it. */
function tfjsVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;
}

function run(cmd: string, args: readonly string[], cwd?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function fail(message: string): never {
  throw new Error(`gprl: setup-tensorflow: ${message}`);
}

/** The default cache directory for wheels. */
export function defaultCacheDir(): string {
  if (process.env.GPRL_CACHE_DIR) return path.join(process.env.GPRL_CACHE_DIR, 'wheels');
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'gprl', 'wheels');
}

// ---------------------------------------------------------------------------------------------
// Wheels
// ---------------------------------------------------------------------------------------------

/** The parts of a wheel file name (PEP 427): `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`. */
export interface WheelTags {
  distribution: string;
  version: string;
  python: string;
  abi: string;
  platforms: string[];
}

export function parseWheelName(file: string): WheelTags | undefined {
  const base = path.basename(file);
  if (!base.endsWith('.whl')) return undefined;
  const parts = base.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  const [distribution, version] = parts as [string, string];
  const [python, abi, platform] = parts.slice(-3) as [string, string, string];
  return { distribution: distribution.toLowerCase().replace(/[-.]+/g, '_'), version, python, abi, platforms: platform.split('.') };
}

/** The wheel platform-tag suffix of this machine's architecture. */
function archTag(): string | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
}

/** The C library's glibc version (`major.minor`), or undefined (e.g. musl). */
function glibcVersion(): [number, number] | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const m = /^(\d+)\.(\d+)/.exec(header?.glibcVersionRuntime ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The TensorFlow distributions whose wheels carry the shared libraries, per mode. */
const CPU_DISTRIBUTIONS = ['tensorflow_cpu', 'tensorflow', 'tf_nightly_cpu', 'tf_nightly', 'intel_tensorflow'];
const GPU_DISTRIBUTIONS = ['tensorflow', 'tf_nightly'];

/**
 * Check a wheel against this machine before anything is unpacked: a TensorFlow distribution (with
 * `gpu`, the GPU-enabled `tensorflow`), a CPython binary wheel (a pure-Python `py3-none-any` wheel
 * holds no libraries), a Linux platform tag for this architecture, and a manylinux glibc no newer
 * than this machine's. The CPython version itself does not matter: the libraries do not link Python.
 */
export function checkWheel(file: string, gpu: boolean): WheelTags {
  const tags = parseWheelName(file);
  if (!tags) fail(`--wheel ${file}: not a wheel file name ({name}-{version}-{python}-{abi}-{platform}.whl)`);
  const allowed = gpu ? GPU_DISTRIBUTIONS : CPU_DISTRIBUTIONS;
  if (!allowed.includes(tags.distribution)) {
    fail(`--wheel ${path.basename(file)}: expected a ${gpu ? 'GPU-enabled `tensorflow`' : '`tensorflow-cpu` or `tensorflow`'} wheel, got the distribution '${tags.distribution}'`);
  }
  if (!/^cp\d+$/.test(tags.python)) {
    fail(`--wheel ${path.basename(file)}: Python tag '${tags.python}' is not a CPython binary wheel (expected e.g. cp311); a pure-Python wheel holds no TensorFlow libraries`);
  }
  const arch = archTag();
  const linux = tags.platforms.filter((p) => /^(manylinux|linux)/.test(p));
  if (linux.length === 0 || !linux.some((p) => p.endsWith(`_${arch}`))) {
    fail(`--wheel ${path.basename(file)}: platform '${tags.platforms.join('.')}' does not run here (linux-${arch ?? process.arch}: expected a manylinux…_${arch ?? process.arch} wheel)`);
  }
  const glibc = glibcVersion();
  if (glibc) {
    for (const p of linux) {
      const m = /^manylinux_(\d+)_(\d+)_/.exec(p);
      if (m && (Number(m[1]) > glibc[0] || (Number(m[1]) === glibc[0] && Number(m[2]) > glibc[1]))) {
        fail(`--wheel ${path.basename(file)}: needs glibc ${m[1]}.${m[2]} (platform tag ${p}); this machine has glibc ${glibc.join('.')}`);
      }
    }
  }
  return tags;
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/** A Python interpreter with pip: `[command, pip version line]`. */
function findPython(preferred: string | undefined): string {
  const candidates = [preferred, process.env.PYTHON, 'python3', 'python'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const c of candidates) {
    const r = run(c, ['-m', 'pip', '--version']);
    if (r.status === 0) return c;
    tried.push(r.error ? `${c}: not found` : `${c}: ${tail(r.stderr || r.stdout, 1) || `exit ${r.status}`}`);
  }
  return fail(
    `no Python with pip found (tried ${tried.join('; ')}). pip downloads the TensorFlow wheel; install Python 3 with pip, set PYTHON=/path/to/python, or pass --wheel FILE with a wheel downloaded elsewhere (pip download tensorflow-cpu --no-deps)`,
  );
}

/** Check for a C++ compiler and make (node-gyp's build on Linux). */
function checkCompiler(): string {
  const cxx = process.env.CXX?.trim().split(/\s+/)[0];
  const candidates = [cxx, 'c++', 'g++', 'clang++'].filter((c): c is string => !!c);
  let found: string | undefined;
  for (const c of candidates) {
    const r = run(c, ['--version']);
    if (r.status === 0) {
      found = `${c} (${r.stdout.split('\n')[0]!.trim()})`;
      break;
    }
  }
  if (!found) fail(`no C++ compiler found (tried ${candidates.join(', ')}); the tfjs-node binding is compiled here. Install one (Debian/Ubuntu: apt-get install g++ make) or set CXX`);
  const make = run('make', ['--version']);
  if (make.status !== 0) fail('`make` not found; node-gyp builds with it (Debian/Ubuntu: apt-get install make)');
  return found;
}

/** A directory with this Node's headers (`include/node/node_api.h`), so node-gyp downloads nothing; or undefined. */
export function findNodeHeaders(): string | undefined {
  const has = (dir: string | undefined): dir is string => !!dir && existsSync(path.join(dir, 'include', 'node', 'node_api.h'));
  const version = process.version.slice(1);
  const gypCache = process.platform === 'darwin' ? path.join(os.homedir(), 'Library', 'Caches', 'node-gyp') : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-gyp');
  const candidates = [
    process.env.npm_config_nodedir,
    path.resolve(path.dirname(realpathSync(process.execPath)), '..'),
    path.join(gypCache, version),
    path.join(os.homedir(), '.node-gyp', version),
  ];
  const found = candidates.find(has);
  if (found) return found;
  const npm = npmCommand();
  const r = run(npm[0]!, [...npm.slice(1), 'config', 'get', 'nodedir']);
  const dir = r.status === 0 ? r.stdout.trim() : undefined;
  return has(dir) ? dir : undefined;
}

/** How to run npm: `[command, ...leading args]`. */
function npmCommand(): string[] {
  const cli = process.env.npm_execpath;
  if (cli && /npm-cli\.js$/.test(cli) && existsSync(cli)) return [process.execPath, cli];
  return [process.platform === 'win32' ? 'npm.cmd' : 'npm'];
}

/** node-gyp's entry script: the project's, gprl's, or the one npm bundles. */
function findNodeGyp(projectDir: string): string {
  for (const base of [path.join(projectDir, 'package.json'), import.meta.url]) {
    try {
      return createRequire(base).resolve('node-gyp/bin/node-gyp.js');
    } catch {
      // not there
    }
  }
  const npm = npmCommand();
  const cli = npm.length > 1 ? npm[1]! : run('which', ['npm']).stdout.trim();
  if (cli) {
    try {
      const npmRoot = path.resolve(path.dirname(realpathSync(cli)), '..');
      const gyp = path.join(npmRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
      if (existsSync(gyp)) return gyp;
    } catch {
      // fall through
    }
  }
  return fail('node-gyp not found (npm bundles it; is npm installed?); install it with npm install -g node-gyp');
}

/** Run a long command with a heartbeat; resolves with its combined output, rejects with a `gprl:` error. */
function runLong(cmd: string, args: readonly string[], cwd: string, what: string, progress: (line: string) => void, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setInterval(() => progress(`  … ${what}: ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
    timer.unref();
    child.on('error', (err) => {
      clearInterval(timer);
      reject(new Error(`gprl: setup-tensorflow: ${what}: could not start ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`gprl: setup-tensorflow: ${what} failed (${signal ?? `exit ${code}`}); its last output:\n${tail(out, 25)}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The install
// ---------------------------------------------------------------------------------------------

const PROBE = `
const name = process.argv[1];
const tf = require(name);
const t = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
const ok = tf.getBackend() === 'tensorflow' && t.dataSync()[1] === 6;
process.stdout.write(JSON.stringify({ ok, version: tf.version['tfjs-node'], tensorflow: tf.backend().binding.TF_Version }));
`;

interface Probe {
  ok: boolean;
  version?: string;
  tensorflow?: string;
  error?: string;
}

/** Load the package in a child process (a broken binding can crash the process that loads it). */
function probe(projectDir: string, name: TensorflowPackage): Probe {
  const r = spawnSync(process.execPath, ['-e', PROBE, name], { cwd: projectDir, encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  if (r.status === 0) {
    try {
      return JSON.parse(r.stdout) as Probe;
    } catch {
      // fall through
    }
  }
  const err = (r.stderr || r.stdout || `exit ${r.status}`).split('\n').find((l) => /Error|error:/.test(l)) ?? tail(r.stderr || r.stdout, 1);
  return { ok: false, error: err.trim() };
}

/** Download the wheel with pip into `cacheDir`; returns its path. */
async function downloadWheel(python: string, distribution: string, cacheDir: string, progress: (line: string) => void): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const args = ['-m', 'pip', 'download', distribution, '--no-deps', '--only-binary=:all:', '-d', cacheDir];
  let out: string;
  try {
    out = await runLong(python, args, cacheDir, `pip download ${distribution}`, progress);
  } catch (err) {
    const msg = (err as Error).message;
    const pyVersion = run(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']).stdout.trim();
    if (/No matching distribution|Could not find a version/.test(msg)) {
      fail(
        `pip found no ${distribution} wheel for Python ${pyVersion} on ${process.platform}-${process.arch} (TensorFlow publishes CPython wheels for a few recent Python versions). Use a Python that TensorFlow supports (PYTHON=/path/to/python3.12), or download a wheel for another CPython version and pass it with --wheel FILE: the libraries in it do not depend on the Python version:\n  ${python} -m pip download ${distribution} --no-deps --only-binary=:all: --python-version 3.12 -d DIR`,
      );
    }
    throw err;
  }
  const m = /(?:Saved|File was already downloaded)\s+(\S+\.whl)/.exec(out);
  const file = m ? path.resolve(cacheDir, m[1]!) : undefined;
  if (file && existsSync(file)) return file;
  const wheels = readdirSync(cacheDir).filter((f) => f.endsWith('.whl') && parseWheelName(f)?.distribution === distribution.replace(/-/g, '_'));
  if (wheels.length === 0) fail(`pip download ${distribution} reported success but left no wheel in ${cacheDir}:\n${tail(out)}`);
  return path.join(cacheDir, wheels.sort().at(-1)!);
}

const UNPACK = `
import json, os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2': 'lib/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2': 'lib/libtensorflow_framework.so.2'}
prefixes = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/ctstring', 'tensorflow/include/tsl/', 'tensorflow/include/xla/tsl/')
found, headers, cuda = set(), 0, []
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        target = libs.get(name)
        if target is None and name.startswith(prefixes) and not name.endswith('/'):
            target = 'include/' + name[len('tensorflow/include/'):]
            headers += 1
        if target is None:
            if name.endswith('.dist-info/METADATA'):
                for line in z.read(info).decode('utf-8', 'replace').splitlines():
                    if line.startswith('Requires-Dist:') and 'and-cuda' in line:
                        cuda.append(line.split(':', 1)[1].split(';')[0].strip())
            continue
        if name in libs: found.add(name)
        path = os.path.join(dest, target)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, 'wb') as out:
            shutil.copyfileobj(src, out, 1 << 20)
missing = sorted(set(libs) - found)
print(json.dumps({'missing': missing, 'headers': headers, 'cuda': cuda}))
`;

/** Unpack the libraries and headers into `<packageDir>/deps` (staged, then renamed into place). */
function unpackWheel(python: string, wheel: string, packageDir: string): { cuda: string[] } {
  const deps = path.join(packageDir, 'deps');
  const staging = `${deps}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const r = run(python, ['-c', UNPACK, wheel, staging]);
  if (r.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    fail(`could not unpack ${path.basename(wheel)} (${tail(r.stderr, 3)}); is it a complete wheel file?`);
  }
  const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { missing: string[]; headers: number; cuda: string[] };
  if (report.missing.length > 0 || report.headers === 0) {
    rmSync(staging, { recursive: true, force: true });
    fail(`${path.basename(wheel)} lacks ${report.missing.length > 0 ? report.missing.join(', ') : 'the C API headers (tensorflow/include/tensorflow/c)'}; use a TensorFlow 2.x wheel from PyPI`);
  }
  const lib = path.join(staging, 'lib');
  // The names the binding links against (-ltensorflow -ltensorflow_framework), and the one tfjs-node's
  // own install script checks before it would download libtensorflow (so a later `npm rebuild` does not).
  symlinkSync('libtensorflow_cc.so.2', path.join(lib, 'libtensorflow.so'));
  symlinkSync('libtensorflow_framework.so.2', path.join(lib, 'libtensorflow_framework.so'));
  symlinkSync('libtensorflow_cc.so.2', path.join(lib, 'libtensorflow.so.2.9.1'));
  symlinkSync('libtensorflow_framework.so.2', path.join(lib, 'libtensorflow_framework.so.2.9.1'));
  rmSync(deps, { recursive: true, force: true });
  renameSync(staging, deps);
  return { cuda: report.cuda };
}

/** The wheel file name a previous run built from (recorded in `deps/gprl-setup.json`), or undefined. */
function builtWheel(packageDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(packageDir, 'deps', 'gprl-setup.json'), 'utf8')) as { wheel?: string }).wheel;
  } catch {
    return undefined;
  }
}

/** The N-API version tfjs-node's loader looks for: the highest it lists that this Node supports. */
function napiBuildVersion(packageDir: string): number {
  const pj = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { binary?: { napi_versions?: number[] } };
  const ours = Number(process.versions.napi);
  const usable = (pj.binary?.napi_versions ?? []).filter((v) => v <= ours);
  if (usable.length === 0) fail(`this Node's N-API ${ours} is older than any that the package supports`);
  return Math.max(...usable);
}

function gpuNote(cuda: string[]): string {
  const install =
    cuda.length > 0
      ? `(they match this wheel): pip install ${cuda.map((p) => `'${p}'`).join(' ')}`
      : "(the wheel lists none: pip install 'tensorflow[and-cuda]' installs the matching nvidia-*-cu12 packages)";
  return [
    'The GPU build loads the CUDA 12 libraries at run time; the wheel does not contain them. Install them with pip',
    install,
    'then put their lib folders on the loader path before running node, e.g.',
    `  export LD_LIBRARY_PATH=$(python3 -c "import nvidia, os; print(':'.join(os.path.join(p, d, 'lib') for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p, d, 'lib'))))")`,
    'Without them TensorFlow runs on the CPU (it logs that it could not load the CUDA libraries).',
  ].join('\n');
}

/**
 * Build and install the `tensorflow` backend (see the module comment). Resolves with what was done;
 * rejects with a `gprl: setup-tensorflow:` Error that says what is missing and how to fix it.
 */
export async function setupTensorflow(options: SetupTensorflowOptions = {}): Promise<SetupTensorflowResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => {});
  const gpu = options.gpu ?? false;
  const name: TensorflowPackage = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const seconds = (): number => Math.round((Date.now() - started) / 100) / 10;
  if (process.platform !== 'linux' || archTag() === undefined) {
    fail(`builds against a TensorFlow wheel on Linux (x86_64, aarch64) only; on ${process.platform}-${process.arch} install ${name} the usual way (npm install ${name})`);
  }
  if (gpu && process.arch !== 'x64') fail('--gpu: the GPU-enabled TensorFlow wheels are for Linux x86_64');
  const projectDir = options.projectDir ? path.resolve(options.projectDir) : findProjectDir();
  if (!projectDir) fail(`no npm project here (no package.json in ${process.cwd()} or above); run it in the project that uses gprl`);
  const packageDir = path.join(projectDir, 'node_modules', ...name.split('/'));
  const version = tfjsVersion();

  // A given wheel is checked first, so a wrong one is reported even when nothing else would be done.
  const givenWheel = options.wheel === undefined ? undefined : path.resolve(options.wheel);
  if (givenWheel !== undefined) {
    if (!existsSync(givenWheel) || !statSync(givenWheel).isFile()) fail(`--wheel ${options.wheel}: no such file`);
    checkWheel(givenWheel, gpu);
  }

  // 1. An install that works already (built from the given wheel, when one is given): nothing to do.
  if (!options.force && existsSync(path.join(packageDir, 'package.json'))) {
    progress(`checking the installed ${name}`);
    const p = probe(projectDir, name);
    const builtFrom = builtWheel(packageDir);
    const sameWheel = givenWheel === undefined || builtFrom === path.basename(givenWheel);
    if (p.ok && p.version === version && sameWheel) {
      return { status: 'already-installed', package: name, version, tensorflow: p.tensorflow ?? 'unknown', projectDir, packageDir, seconds: seconds() };
    }
    progress(
      !p.ok
        ? `  it does not load (${p.error ?? 'unknown'}): rebuilding`
        : p.version !== version
          ? `  installed ${name} is ${p.version}; gprl needs ${version}: reinstalling`
          : `  it was built from ${builtFrom ?? 'another TensorFlow'}, not ${path.basename(givenWheel!)}: rebuilding`,
    );
  }

  // 2. Tools.
  progress('checking for Python with pip, a C++ compiler and make');
  const python = findPython(options.python);
  const compiler = checkCompiler();
  const nodeGyp = findNodeGyp(projectDir);
  const headers = findNodeHeaders();
  progress(`  ${python}, ${compiler}, Node headers ${headers ?? 'not found locally (node-gyp will download them from nodejs.org)'}`);

  // 3. The wheel.
  let wheel: string;
  if (givenWheel !== undefined) {
    wheel = givenWheel;
  } else {
    const distribution = gpu ? 'tensorflow' : 'tensorflow-cpu';
    const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
    progress(`downloading the ${distribution} wheel with pip into ${cacheDir} (about 300 MB${gpu ? '+' : ''}; reused on the next run)`);
    wheel = await downloadWheel(python, distribution, cacheDir, progress);
    checkWheel(wheel, gpu);
  }
  progress(`  wheel: ${path.basename(wheel)}`);

  // 4. The package, without its install script (which downloads libtensorflow 2.9).
  const installedVersion = existsSync(path.join(packageDir, 'package.json'))
    ? (JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }).version
    : undefined;
  if (installedVersion !== version) {
    progress(`npm install ${name}@${version} --ignore-scripts --no-save (in ${projectDir})`);
    const npm = npmCommand();
    await runLong(npm[0]!, [...npm.slice(1), 'install', `${name}@${version}`, '--ignore-scripts', '--no-save', '--no-audit', '--no-fund'], projectDir, `npm install ${name}`, progress).catch((err: Error) => {
      fail(`npm install ${name}@${version} failed: ${err.message.replace(/^gprl: setup-tensorflow: /, '')}`);
    });
    if (!existsSync(path.join(packageDir, 'package.json'))) fail(`npm install ${name}@${version} did not create ${packageDir}`);
  }

  // 5. Libraries and headers from the wheel.
  progress(`unpacking libtensorflow and the C API headers from the wheel into ${path.relative(projectDir, path.join(packageDir, 'deps'))}`);
  const { cuda } = unpackWheel(python, wheel, packageDir);
  // Make tfjs-node's own install script build from source if npm ever runs it (never fetch a prebuilt binding).
  writeFileSync(path.join(packageDir, 'scripts', 'custom-binary.json'), `${JSON.stringify({ 'tf-lib': `file://${wheel}` }, null, 2)}\n`);

  // 6. The binding.
  const napi = napiBuildVersion(packageDir);
  const modulePath = path.join(packageDir, 'lib', `napi-v${napi}`);
  progress(`compiling the ${name} binding with node-gyp (about a minute)`);
  const gypArgs = [
    nodeGyp,
    'rebuild',
    ...(headers ? [`--nodedir=${headers}`] : []),
    `--napi_build_version=${napi}`,
    '--module_name=tfjs_binding',
    `--module_path=${modulePath}`,
    `--jobs=${Math.max(1, os.availableParallelism())}`,
  ];
  await runLong(process.execPath, gypArgs, packageDir, 'node-gyp rebuild', progress).catch((err: Error) => {
    fail(`${err.message.replace(/^gprl: setup-tensorflow: /, '')}\n(compiler: ${compiler})`);
  });
  if (!existsSync(path.join(modulePath, 'tfjs_binding.node'))) fail(`node-gyp finished but ${path.join(modulePath, 'tfjs_binding.node')} is missing`);

  // 7. Check.
  progress(`loading ${name}`);
  const p = probe(projectDir, name);
  if (!p.ok) fail(`${name} was built but does not load: ${p.error ?? 'unknown error'}`);
  writeFileSync(path.join(packageDir, 'deps', 'gprl-setup.json'), `${JSON.stringify({ wheel: path.basename(wheel), tensorflow: p.tensorflow, napi, builtAt: new Date().toISOString() }, null, 2)}\n`);
  return {
    status: 'installed',
    package: name,
    version,
    tensorflow: p.tensorflow ?? 'unknown',
    projectDir,
    packageDir,
    wheel,
    seconds: seconds(),
    ...(gpu ? { gpuNote: gpuNote(cuda) } : {}),
  };
}
