#!/usr/bin/env node
/**
 * `npm run prebuild [-- --cuda on|off|auto]`: build the CUDA-enabled addon with CMake and store it,
 * stripped, as the prebuilt binary for this platform: `prebuilds/<platform>-<arch>/gprl.node`. It ships
 * in the npm package; node-gyp-build loads it when there is no local `build/Release` build (an N-API
 * binary: the file name carries no ABI tag, so it matches every Node.js version).
 *
 * The build runs in its own directory, `build-prebuild/` (incremental across runs), and the result is
 * copied into place atomically, so a developer's `build/Release/gprl.node`, which tests may be loading
 * at the same time, is never touched. (prebuildify would build in `build/Release` and move the file
 * out of it.) CUDA defaults to `on`, so a machine without nvcc fails loudly instead of shipping a
 * CPU-only binary; pass `--cuda auto` (or set GPRL_PREBUILD_CUDA=auto) to allow that.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function parseCuda(argv) {
  let cuda = process.env.GPRL_PREBUILD_CUDA ?? 'on';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cuda') cuda = argv[++i] ?? '';
    else if (argv[i]?.startsWith('--cuda=')) cuda = argv[i].slice(7);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!['on', 'off', 'auto'].includes(cuda)) throw new Error(`--cuda must be on, off or auto, got ${cuda}`);
  return cuda;
}

function main() {
  const cuda = parseCuda(process.argv.slice(2));
  const started = performance.now();
  const script = path.join(root, 'scripts', 'build-native.mjs');
  const r = spawnSync(process.execPath, [script, '--builder', 'cmake', '--cuda', cuda, '--build-dir', 'build-prebuild'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`the CMake build failed (exit ${r.status ?? r.signal})`);
  const built = path.join(root, 'build-prebuild', 'Release', 'gprl.node');
  const destDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const dest = path.join(destDir, 'gprl.node');
  fs.mkdirSync(destDir, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.copyFileSync(built, tmp);
  if (process.platform === 'linux' || process.platform === 'darwin') {
    const s = spawnSync('strip', process.platform === 'darwin' ? ['-Sx', tmp] : ['--strip-unneeded', tmp], { stdio: 'inherit' });
    if (s.status !== 0) console.warn('prebuild: strip failed or is missing; keeping the unstripped binary');
  }
  fs.renameSync(tmp, dest);
  const addon = require(dest);
  const resolved = require('node-gyp-build').resolve(root);
  console.log(
    `prebuild: ${path.relative(root, dest)} (${(fs.statSync(dest).size / 1e6).toFixed(1)} MB, cuda ${addon.buildInfo.cuda}, ` +
      `${addon.buildInfo.cudaArchitectures || 'no CUDA architectures'}) in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `node-gyp-build resolves ${path.relative(root, resolved)}`,
  );
}

try {
  main();
} catch (err) {
  console.error(`prebuild: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
