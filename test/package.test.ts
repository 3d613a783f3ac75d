/**
 * Packaging, as a publisher and a new user meet it (`npm run test:package`; CI runs it, `npm test`
 * skips it because it builds and installs whole packages):
 *
 * 1. A fresh clone of the committed HEAD (uncommitted changes are not part of it), `npm ci
 *    --ignore-scripts` (so nothing is built by the install), then `npm pack`: its `prepack` alone must
 *    build dist/ and the CUDA prebuild and check the file list. When this checkout has a prebuild, it is
 *    copied into the clone first; prepack reuses it only if its provenance record matches the clone's
 *    native sources (scripts/prebuild.mjs), else it builds (about 30 s to minutes with nvcc).
 * 2. The tarball, installed into an empty project WITH install scripts: the install script must find
 *    the prebuild and build nothing (no `build/` folder, no build-native output), and npm must run no
 *    lifecycle script of gprl but `install`. Installed again with `--ignore-scripts`: the same binary loads.
 * 3. From the installed package, with a PATH that reaches `node` and nothing else (no compiler, cmake,
 *    nvcc or npm): `gprlAdvantages` on the `cpu` backend against a float64 reference, the compiled
 *    examples (quickstart checked value by value), and the `gprl` program.
 * 4. Nothing the user reads points at a file the package lacks: `gprl --help` and every subcommand's
 *    help, and the relative links of the installed README.md and docs.
 * Durations (clone, npm ci, npm pack, both installs) are printed, not asserted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refGprlAdvantages } from './reference.js';
import { checkQuickstartOutput } from './quickstartOutput.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TWENTY_MINUTES = 1_200_000;
const enabled = process.env.GPRL_PACKAGE_TEST === '1';
const platformDir = `prebuilds/${process.platform}-${process.arch}`;
const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund'];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  // stderr joins stdout so that npm's lifecycle lines and script output can be checked
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

function runAll(cmd: string, args: string[], cwd: string): string {
  return execFileSync('sh', ['-c', '"$0" "$@" 2>&1', cmd, ...args], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

const timings: Record<string, number> = {};
function timed<T>(label: string, f: () => T): T {
  const t0 = performance.now();
  const r = f();
  timings[label] = (performance.now() - t0) / 1000;
  return r;
}

function newProject(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  return dir;
}

describe.skipIf(!enabled)('npm package (fresh clone → npm pack → npm install)', () => {
  const tmp = enabled ? fs.mkdtempSync(path.join(os.tmpdir(), 'gprl-package-')) : '';
  const clone = path.join(tmp, 'clone');
  const project = path.join(tmp, 'consumer');
  const plain = path.join(tmp, 'consumer-ignore-scripts');
  const bin = path.join(tmp, 'bin');
  const env: NodeJS.ProcessEnv = { PATH: bin, HOME: tmp, LANG: 'C' };
  let tarball = '';
  let tarFiles: string[] = [];
  let packLog = '';
  let installLog = '';
  let reused = false;

  beforeAll(() => {
    const head = run('git', ['rev-parse', 'HEAD'], root).trim();
    timed('git clone', () => {
      run('git', ['clone', '--quiet', '--no-checkout', root, clone], tmp);
      run('git', ['checkout', '--quiet', head], clone);
    });
    timed('npm ci --ignore-scripts', () => run(npm, ['ci', '--ignore-scripts', ...npmFlags], clone));
    expect(fs.existsSync(path.join(clone, 'dist'))).toBe(false);
    expect(fs.existsSync(path.join(clone, 'prebuilds'))).toBe(false);
    if (fs.existsSync(path.join(root, platformDir, 'gprl.node.json'))) {
      fs.cpSync(path.join(root, 'prebuilds'), path.join(clone, 'prebuilds'), { recursive: true });
    }
    packLog = timed('npm pack (prepack)', () => runAll(npm, ['pack', '--pack-destination', tmp, ...npmFlags], clone));
    reused = packLog.includes('is up to date');
    const name = packLog.split('\n').map((l) => l.trim()).filter((l) => /^gprl-.*\.tgz$/.test(l));
    expect(name, 'npm pack names one tarball').toHaveLength(1);
    tarball = path.join(tmp, name[0]!);
    tarFiles = run('tar', ['-tzf', tarball], tmp).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));

    newProject(project);
    installLog = timed('npm install <tarball> (install scripts on)', () =>
      runAll(npm, ['install', tarball, '--foreground-scripts', '--loglevel=verbose', ...npmFlags], project),
    );
    newProject(plain);
    timed('npm install <tarball> --ignore-scripts', () => run(npm, ['install', tarball, '--ignore-scripts', ...npmFlags], plain));

    // A PATH with node alone: no compiler, cmake, nvcc or npm can be reached.
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const size = fs.statSync(tarball).size;
    console.log(
      `packaging: HEAD ${head.slice(0, 7)}; prebuild ${reused ? 'reused (sources unchanged)' : 'built'}; tarball ${(size / 1e6).toFixed(2)} MB, ` +
        `${tarFiles.length} files; ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join('; ')}`,
    );
  }, TWENTY_MINUTES);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('prepack built and checked everything, and the tarball carries the CUDA prebuild', () => {
    expect(packLog).toMatch(/^prepack: \d+ files checked/m);
    expect(tarFiles).toContain(`${platformDir}/gprl.node`);
    const record = JSON.parse(fs.readFileSync(path.join(clone, platformDir, 'gprl.node.json'), 'utf8')) as {
      cuda: string;
      buildInfo: { cuda: boolean };
    };
    expect(tarFiles).toContain(`${platformDir}/gprl.node.json`);
    // CUDA is required unless the publisher opted out (GPRL_PREBUILD_CUDA=auto|off).
    if ((process.env.GPRL_PREBUILD_CUDA ?? 'on') === 'on') {
      expect(record.cuda).toBe('on');
      expect(record.buildInfo.cuda).toBe(true);
    }
    const elf = fs.readFileSync(path.join(clone, platformDir, 'gprl.node'));
    expect(elf.subarray(1, 4).toString()).toBe('ELF');
    expect(run('file', ['-b', path.join(clone, platformDir, 'gprl.node')], tmp)).toMatch(/, stripped/);
  });

  it('ships dist, the compiled examples, native sources and build files, and no tests or build folders', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'scripts/install.mjs', 'scripts/build-native.mjs', 'CMakeLists.txt', 'binding.gyp', 'native/kernels/kernels.cmake', 'README.md']) {
      expect(tarFiles).toContain(f);
    }
    for (const stem of ['quickstart', 'train-gpm', 'train-policy']) {
      expect(tarFiles).toContain(`examples/${stem}.ts`);
      expect(tarFiles).toContain(`dist/examples/${stem}.js`);
    }
    expect(tarFiles).toContain('examples/data/prefs.jsonl');
    expect(tarFiles.some((f) => /^native\/kernels\/.*\.cu$/.test(f))).toBe(true);
    expect(tarFiles.some((f) => /^native\/binding\/.*\.cc$/.test(f))).toBe(true);
    expect(tarFiles.filter((f) => /^(native\/test\/|build|src\/|test\/|bench\/|node_modules\/|\.ci\/)/.test(f))).toEqual([]);
    // Source maps carry their sources (src/ does not ship).
    const maps = tarFiles.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const f of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'gprl', f), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      expect(map.sourcesContent?.length, f).toBe(map.sources.length);
      for (const s of map.sourcesContent!) expect(typeof s, f).toBe('string');
    }
  });

  it('installs with scripts enabled without compiling anything', () => {
    const installed = path.join(project, 'node_modules', 'gprl');
    // The install script's whole output (between npm's start and exit lines for it) is one line.
    const lines = installLog.split('\n');
    const start = lines.findIndex((l) => /^npm info run gprl@\S+ install node_modules\/gprl /.test(l));
    const end = lines.findIndex((l, i) => i > start && /^npm info run gprl@\S+ install \{ code: 0/.test(l));
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const output = lines.slice(start + 1, end).filter((l) => l.trim() !== '' && !l.startsWith('> '));
    expect(output).toEqual([`gprl: using the prebuilt binary ${platformDir}/gprl.node; nothing to build`]);
    // npm runs no other lifecycle script of gprl (no prepare/preinstall/postinstall from a tarball).
    const events = [...installLog.matchAll(/npm info run gprl@[^ ]+ (\w+) /g)].map((m) => m[1]);
    expect(new Set(events)).toEqual(new Set(['install']));
    for (const dir of ['build', 'build-gyp', 'build-prebuild']) expect(fs.existsSync(path.join(installed, dir)), dir).toBe(false);
  });

  it('computes gprlAdvantages on the cpu backend from the prebuild with no compiler on PATH (both installs)', () => {
    const B = 3, G = 4, k = 2;
    const emb: number[] = [];
    for (let t = 0; t < B * G * 2 * k; t++) emb.push(Math.fround(Math.sin(1.7 * t + 0.3) * 1.5));
    const script = [
      "import { backendInfo, gprlAdvantages } from 'gprl';",
      'const info = backendInfo();',
      `const emb = Float32Array.from(${JSON.stringify(emb)});`,
      `const r = gprlAdvantages(emb, { groups: ${B}, groupSize: ${G}, dims: ${k} }, { backend: 'cpu' });`,
      'console.log(JSON.stringify({ info, backend: r.backend, advantages: Array.from(r.advantages), masked: r.masked }));',
    ].join('\n');
    // float32 outputs of float64 computations: 1e-5 absolute + relative (advantages are O(1))
    const want = refGprlAdvantages(emb, { groups: B, groupSize: G, dims: k }, { eps: 1e-4 }).advantages;
    for (const dir of [project, plain]) {
      fs.writeFileSync(path.join(dir, 'check.mjs'), script);
      const out = JSON.parse(run(path.join(bin, 'node'), ['check.mjs'], dir, env)) as {
        info: { available: string[]; build?: { path: string; builder: string } };
        backend: string;
        advantages: number[];
        masked: number;
      };
      expect(out.info.available).toContain('cpu');
      expect(out.info.build?.builder).toBe('cmake');
      expect(out.info.build?.path).toBe(path.join(dir, 'node_modules', 'gprl', platformDir, 'gprl.node'));
      expect(out.backend).toBe('cpu');
      expect(out.masked).toBe(0);
      expect(out.advantages).toHaveLength(want.length);
      out.advantages.forEach((a, i) => expect(Math.abs(a - want[i]!)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want[i]!)));
    }
  });

  it('runs the examples from the installed package', () => {
    const examples = path.join(project, 'node_modules', 'gprl', 'dist', 'examples');
    checkQuickstartOutput(run(path.join(bin, 'node'), [path.join(examples, 'quickstart.js')], project, env));
    // train-gpm reads the data file that ships in the package and round-trips the model on disk.
    const gpm = run(path.join(bin, 'node'), [path.join(examples, 'train-gpm.js')], project, env);
    expect(gpm).toMatch(/\d+ pairs from .*prefs\.jsonl \(0 invalid lines skipped\)/);
    expect(gpm).toContain('identical matrix = true');
    const policy = run(path.join(bin, 'node'), [path.join(examples, 'train-policy.js'), '4', path.join(tmp, 'train-policy')], project, env);
    expect(policy).toMatch(/saved step 2 to .*; resuming/);
    expect(fs.readFileSync(path.join(tmp, 'train-policy', 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('the gprl program runs, and no help text or README/docs link points at a file the package lacks', () => {
    const installed = path.join(project, 'node_modules', 'gprl');
    const gprlBin = path.join(project, 'node_modules', '.bin', 'gprl');
    expect(fs.lstatSync(gprlBin).isSymbolicLink()).toBe(true);
    expect(run(path.join(bin, 'node'), [gprlBin, 'info'], project, env)).toMatch(/Kernels:\s+(cuda, )?cpu, js \(auto = (cuda|cpu)\)/);

    const helps = ['--help', 'study --help', 'demo --help', 'info --help', 'bench --help'].map((a) => run(path.join(bin, 'node'), [gprlBin, ...a.split(' ')], project, env));
    let mentioned = 0;
    for (const line of helps.join('\n').split('\n')) {
      if (/source checkout/.test(line)) continue; // `gprl bench` says it needs the repository
      for (const m of line.matchAll(/\b((?:docs|examples|native|scripts|bench|src|test|prebuilds|dist)\/[\w./-]*\w)/g)) {
        mentioned++;
        expect(fs.existsSync(path.join(installed, m[1]!)), `${m[1]} (help: ${line.trim()})`).toBe(true);
      }
    }
    expect(mentioned).toBeGreaterThan(0);

    const docs = ['README.md', ...fs.readdirSync(path.join(installed, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    let links = 0;
    for (const doc of docs) {
      const text = fs.readFileSync(path.join(installed, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
        links++;
        const file = path.join(installed, path.dirname(doc), target.split('#')[0]!);
        expect(fs.existsSync(file), `${doc} links to ${target}`).toBe(true);
      }
    }
    expect(links).toBeGreaterThan(10);
  });

  // Last: it changes the --ignore-scripts install. Where no prebuild matches (another platform), the
  // install script builds from the shipped sources: native/ without native/test/ must be enough.
  it('builds from the shipped sources when no prebuild is there (CPU only)', () => {
    const installed = path.join(plain, 'node_modules', 'gprl');
    fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
    const out = timed('source build in the installed package (GPRL_CUDA=off)', () =>
      run(process.execPath, [path.join(installed, 'scripts', 'install.mjs')], installed, { ...process.env, GPRL_CUDA: 'off' }),
    );
    console.log(`packaging: source build from the installed package in ${timings['source build in the installed package (GPRL_CUDA=off)']!.toFixed(1)} s`);
    expect(out).toContain('gprl: built the native addon with CMake');
    const check = "import { backendInfo } from 'gprl'; console.log(JSON.stringify(backendInfo().build));";
    fs.writeFileSync(path.join(plain, 'build-check.mjs'), check);
    const build = JSON.parse(run(path.join(bin, 'node'), ['build-check.mjs'], plain, env)) as { path: string; builder: string };
    expect(build.path).toBe(path.join(installed, 'build', 'Release', 'gprl.node'));
  }, TWENTY_MINUTES);
});
