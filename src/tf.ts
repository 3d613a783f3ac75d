/**
 * TensorFlow.js setup. gprl uses `@tensorflow/tfjs-core` only, so it runs on whichever backend the
 * user has: `tensorflow` (when `@tensorflow/tfjs-node` or `-node-gpu` is installed and imported by
 * the user), `wasm` (the default here: SIMD, multi-threaded where available) or `cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
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

/**
 * Make `name` the active tfjs backend, or pick the best one: `tensorflow` when registered, else
 * `wasm`, else `cpu`. Returns the backend in use.
 */
export async function setTfBackend(name?: TfBackendName): Promise<TfBackendName> {
  if (name !== undefined) assertOneOf('backend', name, TF_BACKENDS);
  const order: TfBackendName[] = name ? [name] : ['tensorflow', 'wasm', 'cpu'];
  for (const candidate of order) {
    if (candidate === 'wasm') prepareWasm();
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
