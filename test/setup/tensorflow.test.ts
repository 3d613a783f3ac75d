/**
 * `gprl setup-tensorflow` (src/setup/tensorflow.ts): wheel checks, the errors for a missing pip,
 * compiler, a wrong wheel and an npm failure, the command line, and `gprl info`'s report of the
 * tensorflow backend. The build itself (about a minute, a 270 MB wheel) runs in CI (.ci/run), not
 * here; where tfjs-node is installed, the idempotent second run is checked.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkWheel, parseWheelName, setupTensorflow } from '../../src/setup/tensorflow.js';
import { parseArgs, SETUP_TENSORFLOW_USAGE } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { findProjectDir, findTensorflowPackage, loadTensorflowBackend, setTfBackend, tf } from '../../src/tf.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOOD = 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl';
const X64 = process.platform === 'linux' && process.arch === 'x64';

const dirs: string[] = [];
function tempProject(packageJson = '{"name":"p","version":"1.0.0","private":true}'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gprl-setup-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'package.json'), packageJson);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Run `fn` with PATH (and the variables that name tools) replaced. */
async function withPath<T>(dirsOnPath: string[], fn: () => Promise<T>): Promise<T> {
  const saved = { PATH: process.env.PATH, PYTHON: process.env.PYTHON, CXX: process.env.CXX };
  process.env.PATH = dirsOnPath.join(path.delimiter);
  delete process.env.PYTHON;
  delete process.env.CXX;
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('wheel names', () => {
  it('parses the PEP 427 parts, with and without a build tag', () => {
    expect(parseWheelName(`/x/${GOOD}`)).toEqual({ distribution: 'tensorflow_cpu', version: '2.21.0', python: 'cp311', abi: 'cp311', platforms: ['manylinux_2_27_x86_64'] });
    expect(parseWheelName('tensorflow-2.16.1-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')).toMatchObject({
      distribution: 'tensorflow',
      platforms: ['manylinux_2_17_x86_64', 'manylinux2014_x86_64'],
    });
    expect(parseWheelName('tensorflow.tar.gz')).toBeUndefined();
    expect(parseWheelName('tensorflow-2.21.0.whl')).toBeUndefined();
  });

  it.runIf(X64)('accepts a CPU or GPU TensorFlow wheel for this machine, whatever its CPython version', () => {
    expect(checkWheel(GOOD, false).distribution).toBe('tensorflow_cpu');
    expect(checkWheel('tensorflow_cpu-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl', false).python).toBe('cp313');
    expect(checkWheel('tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl', true).distribution).toBe('tensorflow');
  });

  it.runIf(X64)('rejects the wrong distribution, Python tag, platform or glibc with a gprl: message', () => {
    const bad: [string, boolean, RegExp][] = [
      ['numpy-2.0.0-cp311-cp311-manylinux_2_27_x86_64.whl', false, /expected a `tensorflow-cpu` or `tensorflow` wheel, got the distribution 'numpy'/],
      [GOOD, true, /--wheel .*expected a GPU-enabled `tensorflow` wheel, got the distribution 'tensorflow_cpu'/],
      ['tensorflow_cpu-2.21.0-py3-none-any.whl', false, /Python tag 'py3' is not a CPython binary wheel/],
      ['tensorflow_cpu-2.21.0-cp311-cp311-macosx_12_0_arm64.whl', false, /platform 'macosx_12_0_arm64' does not run here \(linux-x86_64/],
      ['tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_aarch64.whl', false, /does not run here/],
      ['tensorflow_cpu-2.21.0-cp311-cp311-win_amd64.whl', false, /does not run here/],
      ['tensorflow_cpu-2.21.0-cp311-cp311-manylinux_9_99_x86_64.whl', false, /needs glibc 9\.99 \(platform tag manylinux_9_99_x86_64\); this machine has glibc \d+\.\d+/],
      ['tensorflow_cpu.zip', false, /not a wheel file name/],
    ];
    for (const [name, gpu, re] of bad) expect(() => checkWheel(name, gpu), name).toThrow(re);
    expect(() => checkWheel('numpy-2.0.0-cp311-cp311-manylinux_2_27_x86_64.whl', false)).toThrow(/^gprl: setup-tensorflow: /);
  });
});

describe.runIf(X64)('setupTensorflow errors', () => {
  it('without Python and pip: says so, and how to do without (--wheel)', async () => {
    const project = tempProject();
    const empty = mkdtempSync(path.join(tmpdir(), 'gprl-empty-'));
    dirs.push(empty);
    await expect(withPath([empty], () => setupTensorflow({ projectDir: project, python: 'no-such-python' }))).rejects.toThrow(
      /^gprl: setup-tensorflow: no Python with pip found \(tried no-such-python: not found; python3: not found; python: not found\).*--wheel FILE/s,
    );
  });

  it('without a C++ compiler: says so, and what to install', async () => {
    const project = tempProject();
    const py = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    const bin = mkdtempSync(path.join(tmpdir(), 'gprl-bin-'));
    dirs.push(bin);
    symlinkSync(py, path.join(bin, 'python3'));
    await expect(withPath([bin], () => setupTensorflow({ projectDir: project }))).rejects.toThrow(
      /^gprl: setup-tensorflow: no C\+\+ compiler found \(tried c\+\+, g\+\+, clang\+\+\).*apt-get install g\+\+ make/s,
    );
  });

  it('a given wheel that is missing, or for another platform, is refused before anything is installed', async () => {
    const project = tempProject();
    await expect(setupTensorflow({ projectDir: project, wheel: path.join(project, GOOD) })).rejects.toThrow(/--wheel .*: no such file/);
    const mac = path.join(project, 'tensorflow_cpu-2.21.0-cp311-cp311-macosx_12_0_arm64.whl');
    writeFileSync(mac, '');
    await expect(setupTensorflow({ projectDir: project, wheel: mac })).rejects.toThrow(/platform 'macosx_12_0_arm64' does not run here/);
    expect(findTensorflowPackage(project)?.dir.startsWith(project) ?? false).toBe(false);
  });

  it('an npm failure is reported with npm’s own words', async () => {
    const project = tempProject('{ this is not json');
    const wheel = path.join(project, GOOD);
    writeFileSync(wheel, '');
    await expect(setupTensorflow({ projectDir: project, wheel })).rejects.toThrow(
      /^gprl: setup-tensorflow: npm install @tensorflow\/tfjs-node@4\.22\.0 failed: .*(JSON|EJSONPARSE)/s,
    );
  });

  it('outside any npm project: says where it looked', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gprl-noproject-'));
    dirs.push(dir);
    // tmpdir() itself may sit inside a project on some machines; only check when it does not.
    if (findProjectDir(dir) !== undefined) return;
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await expect(setupTensorflow()).rejects.toThrow(/no npm project here \(no package\.json in .* or above\)/);
    } finally {
      process.chdir(cwd);
    }
  });
});

/** Whether tfjs-node loads from the repository, checked without gprl's code. */
function tfjsNodeLoads(): boolean {
  const r = spawnSync(process.execPath, ['-e', "const tf = require('@tensorflow/tfjs-node'); process.exit(tf.getBackend() === 'tensorflow' ? 0 : 1)"], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  return r.status === 0;
}
const INSTALLED = tfjsNodeLoads();
if (!INSTALLED) console.warn('[gprl tests] @tensorflow/tfjs-node is not installed here: the idempotence check of gprl setup-tensorflow is SKIPPED');

describe('an existing install', () => {
  it.runIf(INSTALLED)('is detected and left alone (a second run builds nothing)', async () => {
    const lines: string[] = [];
    const r = await setupTensorflow({ projectDir: ROOT, onProgress: (l) => lines.push(l) });
    expect(r).toMatchObject({ status: 'already-installed', package: '@tensorflow/tfjs-node', version: '4.22.0', projectDir: ROOT });
    expect(r.tensorflow).toMatch(/^2\.\d+/);
    expect(lines).toEqual(['checking the installed @tensorflow/tfjs-node']);
  });

  it.runIf(INSTALLED)('with --wheel: checks the file first, and counts only an install built from that wheel', async () => {
    await expect(setupTensorflow({ projectDir: ROOT, wheel: path.join(ROOT, 'no-such', GOOD) })).rejects.toThrow(/--wheel .*: no such file/);
    const marker = path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node', 'deps', 'gprl-setup.json');
    if (!existsSync(marker)) return; // installed some other way: nothing recorded to compare with
    const built = (JSON.parse(readFileSync(marker, 'utf8')) as { wheel: string }).wheel;
    const dir = mkdtempSync(path.join(tmpdir(), 'gprl-wheel-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, built), ''); // only its name is compared when the install already works
    const r = await setupTensorflow({ projectDir: ROOT, wheel: path.join(dir, built) });
    expect(r.status).toBe('already-installed');
  });

  it.runIf(INSTALLED)('loadTensorflowBackend registers the backend and keeps the active one; setTfBackend switches to it', async () => {
    await setTfBackend('wasm');
    const info = await loadTensorflowBackend();
    expect(info).toMatchObject({ name: '@tensorflow/tfjs-node', version: '4.22.0' });
    expect(info.tensorflow).toMatch(/^2\.\d+/);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.findBackendFactory('tensorflow')).not.toBeNull();
    expect(await setTfBackend('tensorflow')).toBe('tensorflow');
    const t = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
    expect(Array.from(t.dataSync())).toEqual([4, 6]);
    t.dispose();
    await setTfBackend('wasm');
  });

  it('gprl info reports the tensorflow backend exactly when tfjs-node loads', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(await main(['info', '--json'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const report = JSON.parse(out.join('')) as { tfjs: { backends: Record<string, string> } };
    const tfBackend = report.tfjs.backends.tensorflow!;
    if (INSTALLED) expect(tfBackend).toMatch(/^available \(@tensorflow\/tfjs-node 4\.22\.0, TensorFlow 2\.\d+/);
    else expect(tfBackend).toMatch(/^(not installed \(gprl setup-tensorflow installs it|unavailable: )/);
  });
});

describe('gprl setup-tensorflow command line', () => {
  it('parses its options', () => {
    expect(parseArgs(['setup-tensorflow'])).toEqual({ command: 'setup-tensorflow', help: false, gpu: false, wheel: undefined, force: false });
    expect(parseArgs(['setup-tensorflow', '--gpu', '--wheel=x.whl', '--force'])).toEqual({ command: 'setup-tensorflow', help: false, gpu: true, wheel: 'x.whl', force: true });
    for (const flag of ['--gpu', '--wheel FILE', '--force', '--help']) expect(SETUP_TENSORFLOW_USAGE).toContain(flag);
  });

  it('rejects bad usage with exit code 2 and prints help with 0', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(await main(['setup-tensorflow', '--gpus'])).toBe(2);
      expect(await main(['setup-tensorflow', '--wheel'])).toBe(2);
      expect(await main(['setup-tensorflow', 'now'])).toBe(2);
      expect(await main(['setup-tensorflow', '--help'])).toBe(0);
    } finally {
      e.mockRestore();
      o.mockRestore();
    }
    expect(err.join('')).toMatch(/unknown option "--gpus" for 'gprl setup-tensorflow' \(did you mean --gpu\?\)/);
    expect(err.join('')).toMatch(/--wheel needs a file/);
    expect(err.join('')).toMatch(/unexpected argument "now"/);
    expect(out.join('')).toBe(SETUP_TENSORFLOW_USAGE);
  });
});
