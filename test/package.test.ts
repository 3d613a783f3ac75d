/**
 * Packaging: the published tarball carries a prebuilt binary that loads on a machine with no compiler.
 *
 * Builds dist (`npm run build:ts`) and the prebuilt binary (`npm run prebuild -- --cuda auto`: CUDA when
 * nvcc is present), packs the package, installs the tarball into an empty project with
 * `--ignore-scripts` (so nothing can be built there), and runs a script with a PATH that reaches
 * `node` and nothing else (no gcc/g++/cc/c++/nvcc/cmake/make). The script must get the C++ backend
 * from `prebuilds/` and compute gprlAdvantages matching a float64 computation done here.
 * Slow (a native build the first time): minutes, hence the long timeouts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TEN_MINUTES = 600_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gprl-package-'));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** Float64 reference of gprlAdvantages (logit scores, per-dimension normalization, unbiased std). */
function referenceAdvantages(emb: number[], G: number, k: number, eps: number): number[] {
  const B = emb.length / (G * 2 * k);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const e = (i: number, t: number): number => emb[(b * G + i) * 2 * k + t]!;
    const dimAdv: number[][] = [];
    for (let l = 0; l < k; l++) {
      const s: number[] = [];
      for (let i = 0; i < G; i++) {
        let t = 0;
        for (let j = 0; j < G; j++) if (j !== i) t += e(i, 2 * l) * e(j, 2 * l + 1) - e(i, 2 * l + 1) * e(j, 2 * l);
        s.push(t / (G - 1));
      }
      const mu = s.reduce((x, y) => x + y, 0) / G;
      const sd = Math.sqrt(s.reduce((x, y) => x + (y - mu) ** 2, 0) / (G - 1));
      dimAdv.push(s.map((v) => (v - mu) / (sd + eps)));
    }
    for (let i = 0; i < G; i++) out.push(dimAdv.reduce((x, d) => x + d[i]! / k, 0));
  }
  return out;
}

describe('npm package', () => {
  let pack: PackResult;
  let project: string;

  beforeAll(() => {
    run(npm, ['run', 'build:ts'], root);
    run(npm, ['run', 'prebuild', '--', '--cuda', 'auto'], root);
    const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root)) as PackResult[];
    pack = packed[0]!;
    project = path.join(tmp, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    run(npm, ['install', path.join(tmp, pack.filename), '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], project);
  }, TEN_MINUTES);

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the prebuilt binary, the native sources and the build scripts', () => {
    const files = pack.files.map((f) => f.path);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/gprl.node`);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('scripts/install.mjs');
    expect(files).toContain('CMakeLists.txt');
    expect(files).toContain('binding.gyp');
    expect(files.some((f) => f.startsWith('native/kernels/') && f.endsWith('.cu'))).toBe(true);
    expect(files.some((f) => f.startsWith('build/'))).toBe(false);
  });

  it('loads the prebuilt binary and computes gprlAdvantages with no compiler on PATH', () => {
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const tool of ['gcc', 'g++', 'cc', 'c++', 'nvcc', 'cmake', 'make', 'npm']) {
      expect(fs.existsSync(path.join(bin, tool))).toBe(false);
    }
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
    fs.writeFileSync(path.join(project, 'check.mjs'), script);
    const env: NodeJS.ProcessEnv = { PATH: bin, HOME: tmp, LANG: 'C' };
    const out = JSON.parse(run(path.join(bin, 'node'), ['check.mjs'], project, env)) as {
      info: { available: string[]; build?: { path: string; builder: string } };
      backend: string;
      advantages: number[];
      masked: number;
    };
    expect(out.info.available).toContain('cpu');
    expect(out.info.build?.builder).toBe('cmake');
    expect(out.info.build?.path).toBe(path.join(project, 'node_modules', 'gprl', 'prebuilds', `${process.platform}-${process.arch}`, 'gprl.node'));
    expect(out.backend).toBe('cpu');
    expect(out.masked).toBe(0);
    // float32 outputs of float64 computations: 1e-5 absolute + relative (advantages are O(1))
    const want = referenceAdvantages(emb, G, k, 1e-4);
    expect(out.advantages).toHaveLength(want.length);
    out.advantages.forEach((a, i) => expect(Math.abs(a - want[i]!)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want[i]!)));

    // The installed program, started through its node_modules/.bin symlink as npx does.
    const gprlBin = path.join(project, 'node_modules', '.bin', 'gprl');
    expect(fs.lstatSync(gprlBin).isSymbolicLink()).toBe(true);
    const info = run(path.join(bin, 'node'), [gprlBin, 'info'], project, env);
    expect(info).toMatch(/Kernels:\s+(cuda, )?cpu, js \(auto = (cuda|cpu)\)/);
  });
});
