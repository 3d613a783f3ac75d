/**
 * TensorFlow.js setup. gprl uses `@tensorflow/tfjs-core` only, so it runs on whichever backend the
 * user has: `tensorflow` (when `@tensorflow/tfjs-node` or `-node-gpu` is installed: imported by the
 * user, or loaded by {@link loadTensorflowBackend}), `wasm` (the default here: SIMD, multi-threaded
 * where available) or `cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { assertOneOf } from './errors.js';

export { tf };

export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';
const TF_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;

let wasmPathsSet = false;

function prepareWasm(): void {
  if (wasmPathsSet) return;
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(path.join(dir, 'dist') + path.sep);
  wasmPathsSet = true;
}

/** The packages that provide the `tensorflow` backend, in the order they are looked for. */
export const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
export type TensorflowPackage = (typeof TENSORFLOW_PACKAGES)[number];

/** The nearest directory at or above `from` that holds a package.json (the user's npm project), or undefined. */
export function findProjectDir(from: string = process.cwd()): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Where an installed tfjs-node package was found. */
export interface TensorflowPackageLocation {
  name: TensorflowPackage;
  /** The package's directory. */
  dir: string;
  version: string;
}

/**
 * Find an installed `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node`: first where Node resolves
 * it from gprl itself (gprl installed in the user's project), then from the nearest npm project at or
 * above the working directory (where `gprl setup-tensorflow` installs it, also when gprl runs from a
 * global install or another checkout). Undefined when none is installed. Finding it does not mean
 * it loads: its native binding may be missing (see {@link loadTensorflowBackend}).
 */
export function findTensorflowPackage(cwd: string = process.cwd()): TensorflowPackageLocation | undefined {
  const project = findProjectDir(cwd);
  const bases = [import.meta.url, ...(project ? [path.join(project, 'package.json')] : [])];
  for (const name of TENSORFLOW_PACKAGES) {
    for (const base of bases) {
      try {
        const pj = createRequire(base).resolve(`${name}/package.json`);
        return { name, dir: path.dirname(pj), version: (JSON.parse(readFileSync(pj, 'utf8')) as { version: string }).version };
      } catch {
        // not installed there
      }
    }
  }
  return undefined;
}

/** The `tensorflow` backend after {@link loadTensorflowBackend}. */
export interface TensorflowBackendInfo extends TensorflowPackageLocation {
  /** The TensorFlow C library's version, as it reports it (`TF_Version()`). */
  tensorflow: string;
}

let tensorflowLoaded: TensorflowBackendInfo | undefined;

/**
 * Load the installed tfjs-node package (see {@link findTensorflowPackage}) so that the `tensorflow`
 * backend is registered. tfjs-node makes itself the active backend when it loads; the previously
 * active backend is restored, so `setTfBackend('tensorflow')` is what switches. Throws a `gprl:`
 * Error saying why when no package is installed or it does not load (e.g. its native binding was
 * never built: run `gprl setup-tensorflow`). Loading twice returns the first result.
 */
export async function loadTensorflowBackend(cwd: string = process.cwd()): Promise<TensorflowBackendInfo> {
  if (tensorflowLoaded) return { ...tensorflowLoaded };
  const where = findTensorflowPackage(cwd);
  if (!where) {
    throw new Error('gprl: the tensorflow backend needs @tensorflow/tfjs-node (or -node-gpu); install it with `npx gprl setup-tensorflow`');
  }
  const previous = tf.getBackend();
  // TensorFlow's C++ start-up log lines (oneDNN, CPU features) unless the user asked for them.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  let tfnode: { version?: Record<string, string> };
  try {
    tfnode = createRequire(path.join(where.dir, 'package.json'))(where.dir) as typeof tfnode;
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new Error(`gprl: ${where.name} ${where.version} at ${where.dir} does not load (${first}); rebuild it with \`npx gprl setup-tensorflow --force\``);
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(`gprl: ${where.name} ${where.version} loaded but registered no 'tensorflow' backend (is its @tensorflow/tfjs-core a different version from gprl's ${tf.version_core}?)`);
  }
  if (previous && tf.getBackend() !== previous) await tf.setBackend(previous);
  tensorflowLoaded = { ...where, version: tfnode.version?.['tfjs-node'] ?? where.version, tensorflow: tensorflowCVersion() };
  return { ...tensorflowLoaded };
}

/** `TF_Version()` of the loaded TensorFlow C library, through the tensorflow backend's binding. */
function tensorflowCVersion(): string {
  const backend = tf.findBackend('tensorflow') as unknown as { binding?: { TF_Version?: string } } | null;
  return backend?.binding?.TF_Version ?? 'unknown';
}

/**
 * Make `name` the active tfjs backend, or pick the best one: `tensorflow` when registered, else
 * `wasm`, else `cpu`. Returns the backend in use. `'tensorflow'` named explicitly loads an installed
 * tfjs-node first when the backend is not registered yet ({@link loadTensorflowBackend}).
 */
export async function setTfBackend(name?: TfBackendName): Promise<TfBackendName> {
  if (name !== undefined) assertOneOf('backend', name, TF_BACKENDS);
  const order: TfBackendName[] = name ? [name] : ['tensorflow', 'wasm', 'cpu'];
  for (const candidate of order) {
    if (candidate === 'wasm') prepareWasm();
    if (candidate === 'tensorflow' && name === 'tensorflow' && tf.findBackendFactory('tensorflow') === null) await loadTensorflowBackend();
    if (tf.findBackendFactory(candidate) === null) {
      if (name) throw new Error(`gprl: tfjs backend '${name}' is not registered (install and import its package)`);
      continue;
    }
    if (tf.getBackend() === candidate) return candidate;
    if (await tf.setBackend(candidate)) {
      await tf.ready();
      return candidate;
    }
    if (name) throw new Error(`gprl: tfjs backend '${name}' failed to initialize`);
  }
  throw new Error('gprl: no tfjs backend could be initialized');
}

// Importing gprl leaves tfjs ready to use: the wasm files are located and the best registered
// backend (tensorflow > wasm > cpu, by tfjs's own priorities) is initialized, so user code does not
// trip over an uninitialized asynchronous backend. `setTfBackend` switches later.
prepareWasm();
await tf.ready();
