/**
 * Fresh output arrays over recycled native memory.
 *
 * A kernel called every training step with fresh outputs would otherwise get new multi-megabyte
 * `Float32Array`s each time, and the operating system zero-fills every page on its first write
 * (page faults that cost more than the kernel). Large outputs of native calls instead come from the
 * addon's output pool: memory that earlier results gave back when they were garbage collected.
 * Ownership is unchanged: a returned array is the caller's until it is garbage; only then does its
 * memory go back to the pool (docs/kernels.md, "Output memory").
 */
import { loadAddon } from './addon.js';
import { allocateOutput } from '../kernels/validate.js';

/** Outputs smaller than this are ordinary `Float32Array`s (V8 allocates small ones faster than a native call). */
export const POOL_MIN_BYTES = 256 * 1024;

/** A fresh output of `n` float32 elements: pooled native memory when large and available, else `new Float32Array(n)`. */
export function pooledOutput(n: number, name: string): Float32Array {
  if (n * 4 >= POOL_MIN_BYTES) {
    const { addon } = loadAddon();
    const arr = typeof addon?.pooledFloat32Array === 'function' ? addon.pooledFloat32Array(n) : null;
    if (arr !== null) return arr;
  }
  return allocateOutput(n, name);
}
