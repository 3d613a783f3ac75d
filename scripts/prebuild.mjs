#!/usr/bin/env node
/**
 * `npm run prebuild [-- --cuda on|off|auto] [--if-stale]`: build the CUDA-enabled addon with CMake and
 * store it, stripped, as the prebuilt binary for this platform: `prebuilds/<platform>-<arch>/gprl.node`.
 * It ships in the npm package; node-gyp-build loads it when there is no local `build/Release` build (an
 * N-API binary: the file name carries no ABI tag, so it matches every Node.js version).
 *
 * The build runs in its own directory, `build-prebuild/` (incremental across runs), and the result is
 * copied into place atomically, so a developer's `build/Release/gprl.node`, which tests may be loading
 * at the same time, is never touched. CUDA defaults to `on`, so a machine without nvcc fails loudly
 * instead of shipping a CPU-only binary; pass `--cuda auto` (or set GPRL_PREBUILD_CUDA=auto) to allow
 * that, or `--cuda off` for a CPU-only binary on purpose.
 *
 * Provenance: next to the binary, `gprl.node.json` records the SHA-256 of the binary and of everything
 * the build reads from the package (see `sourceDigest`), the CUDA mode and the binary's `buildInfo`.
 * `--if-stale` (what `npm pack` uses, through scripts/prepack.mjs) skips the build when that record
 * matches the present sources and CUDA mode, the binary's SHA-256 matches the record, and the binary
 * loads (with CUDA compiled in when the mode is `on`). A changed compiler or CUDA toolkit is not part
 * of the digest: run `npm run prebuild` (always builds) after changing the toolchain.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

export const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
export const prebuildPath = path.join(prebuildDir, 'gprl.node');
export const recordPath = `${prebuildPath}.json`;

function parseArgs(argv) {
  let cuda = process.env.GPRL_PREBUILD_CUDA ?? 'on';
  let ifStale = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cuda') cuda = argv[++i] ?? '';
    else if (argv[i]?.startsWith('--cuda=')) cuda = argv[i].slice(7);
    else if (argv[i] === '--if-stale') ifStale = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!['on', 'off', 'auto'].includes(cuda)) throw new Error(`--cuda (or GPRL_PREBUILD_CUDA) must be on, off or auto, got ${JSON.stringify(cuda)}`);
  return { cuda, ifStale };
}

function listFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * SHA-256 over what the addon build reads from the package: every file under native/ except the test
 * program (native/test/), CMakeLists.txt, the package's `version` and `binary` fields (compiled in /
 * read by cmake-js) and the installed node-addon-api version.
 */
export function sourceDigest() {
  const h = createHash('sha256');
  const files = listFiles(path.join(root, 'native'))
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .filter((f) => !f.startsWith('native/test/'))
    .concat('CMakeLists.txt')
    .sort();
  for (const f of files) h.update(`${f}\0${sha256(fs.readFileSync(path.join(root, f)))}\n`);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  let addonApi = 'none';
  try {
    addonApi = JSON.parse(fs.readFileSync(require.resolve('node-addon-api/package.json'), 'utf8')).version;
  } catch {
    // not installed: the build fails later with its own message
  }
  h.update(`version\0${pkg.version}\nbinary\0${JSON.stringify(pkg.binary ?? null)}\nnode-addon-api\0${addonApi}\n`);
  return h.digest('hex');
}

/** The binary's buildInfo, or an Error saying why it does not load. */
function buildInfoOf(file) {
  try {
    const addon = require(file);
    if (typeof addon.gprlAdvantages !== 'function' || typeof addon.buildInfo !== 'object') return new Error('it is not a gprl addon');
    return addon.buildInfo;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Why the present prebuild cannot be reused for `cuda`, or undefined when it can. */
export function staleReason(cuda) {
  if (!fs.existsSync(prebuildPath)) return `${path.relative(root, prebuildPath)} does not exist`;
  let record;
  try {
    record = JSON.parse(fs.readFileSync(recordPath, 'utf8'));
  } catch {
    return `${path.relative(root, recordPath)} is missing or unreadable`;
  }
  if (record.cuda !== cuda) return `it was built with --cuda ${record.cuda}, not ${cuda}`;
  if (record.sources !== sourceDigest()) return 'the native sources changed since it was built';
  if (record.sha256 !== sha256(fs.readFileSync(prebuildPath))) return 'the binary is not the one recorded';
  const info = buildInfoOf(prebuildPath);
  if (info instanceof Error) return `it does not load (${info.message})`;
  if (cuda === 'on' && info.cuda !== true) return 'it has no CUDA compiled in';
  return undefined;
}

function build(cuda) {
  const started = performance.now();
  const digest = sourceDigest();
  const script = path.join(root, 'scripts', 'build-native.mjs');
  const r = spawnSync(process.execPath, [script, '--builder', 'cmake', '--cuda', cuda, '--build-dir', 'build-prebuild'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    throw new Error(
      `the CMake build failed (exit ${r.status ?? r.signal})` +
        (cuda === 'on' ? '; a CUDA prebuild needs nvcc (CUDA ≥ 12): set GPRL_PREBUILD_CUDA=auto to allow a CPU-only prebuild' : ''),
    );
  }
  const built = path.join(root, 'build-prebuild', 'Release', 'gprl.node');
  fs.mkdirSync(prebuildDir, { recursive: true });
  const tmp = `${prebuildPath}.tmp-${process.pid}`;
  fs.copyFileSync(built, tmp);
  if (process.platform === 'linux' || process.platform === 'darwin') {
    const s = spawnSync('strip', process.platform === 'darwin' ? ['-Sx', tmp] : ['--strip-unneeded', tmp], { stdio: 'inherit' });
    if (s.status !== 0) console.warn('prebuild: strip failed or is missing; keeping the unstripped binary');
  }
  // The old record goes first, then the binary moves in, then its record: a binary without a matching
  // record is rebuilt, never trusted.
  fs.rmSync(recordPath, { force: true });
  fs.renameSync(tmp, prebuildPath);
  const info = buildInfoOf(prebuildPath);
  const wrong = info instanceof Error ? `the built binary does not load: ${info.message}` : cuda === 'on' && info.cuda !== true ? 'the build succeeded without CUDA although --cuda on was given' : undefined;
  if (wrong) {
    fs.rmSync(prebuildPath, { force: true });
    throw new Error(wrong);
  }
  const record = { sources: digest, cuda, sha256: sha256(fs.readFileSync(prebuildPath)), buildInfo: info };
  const recordTmp = `${recordPath}.tmp-${process.pid}`;
  fs.writeFileSync(recordTmp, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(recordTmp, recordPath);
  return { info, seconds: (performance.now() - started) / 1000 };
}

function describe(info) {
  return `${(fs.statSync(prebuildPath).size / 1e6).toFixed(1)} MB, cuda ${info.cuda}, ${info.cudaArchitectures || 'no CUDA architectures'}`;
}

function main() {
  const { cuda, ifStale } = parseArgs(process.argv.slice(2));
  const rel = path.relative(root, prebuildPath);
  if (ifStale) {
    const reason = staleReason(cuda);
    if (reason === undefined) {
      console.log(`prebuild: ${rel} is up to date (${describe(buildInfoOf(prebuildPath))}; sources unchanged), not rebuilding`);
      return;
    }
    console.log(`prebuild: building ${rel}: ${reason}`);
  }
  const { info, seconds } = build(cuda);
  const resolved = require('node-gyp-build').resolve(root);
  console.log(`prebuild: ${rel} (${describe(info)}) in ${seconds.toFixed(1)} s; node-gyp-build resolves ${path.relative(root, resolved)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`prebuild: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
