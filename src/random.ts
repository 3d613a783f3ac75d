/**
 * Seeded pseudo-random numbers, so every run (tests, benchmarks, training, the demo) is reproducible.
 * `Rng` is xoshiro128** seeded through splitmix32; its full state can be saved and restored
 * (checkpoints resume the same stream).
 */
import { assertNumber, invalidValue } from './errors.js';

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  /** `seed`: any finite number (its low 32 bits of the integer part are used). */
  constructor(seed = 0) {
    assertNumber('seed', seed);
    const sm = splitmix32(Math.trunc(seed) >>> 0);
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const s0 = s[0]!, s1 = s[1]!, s2 = s[2]!, s3 = s[3]!;
    const r = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s[2] = s2 ^ s0;
    s[3] = s3 ^ s1;
    s[1] = s1 ^ s[2]!;
    s[0] = s0 ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw invalidValue('n', 'a positive integer', n);
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, with the spare value cached). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Float32Array of `n` normals. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i]!;
      arr[i] = arr[j]!;
      arr[j] = tmp;
    }
    return arr;
  }

  /** A new generator whose stream is independent of this one (for sub-tasks). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  /** Serializable state (for checkpoints). */
  getState(): { s: number[]; spare: number | null } {
    return { s: Array.from(this.s), spare: this.spareNormal };
  }

  setState(state: { s: number[]; spare: number | null }): void {
    if (!Array.isArray(state?.s) || state.s.length !== 4) throw invalidValue('state.s', 'an array of 4 uint32', state?.s);
    this.s = new Uint32Array(state.s);
    this.spareNormal = state.spare ?? null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
