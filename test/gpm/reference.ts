/**
 * Float64 references for the GPM tests, written from design §2.1 independently of src/gpm (plain
 * loops over number[] — no tfjs).
 */
import { expect } from 'vitest';
import type { tf } from '../../src/tf.js';

export type Vec = number[];
export type Mat = number[][]; // row-major rows

/** Weights of a model as float64 matrices, by logical name. */
export function weightsOf(vars: Map<string, tf.Variable>): Map<string, { shape: number[]; data: number[] }> {
  const out = new Map<string, { shape: number[]; data: number[] }>();
  for (const [name, v] of vars) out.set(name, { shape: [...v.shape], data: Array.from(v.dataSync()) });
  return out;
}

/** `x · W` with W stored row-major `[rows = x.length, cols]`. */
export function vecMat(x: Vec, w: number[], cols: number): Vec {
  const out = new Array<number>(cols).fill(0);
  for (let i = 0; i < x.length; i++) for (let c = 0; c < cols; c++) out[c] = (out[c] as number) + (x[i] as number) * (w[i * cols + c] as number);
  return out;
}

export function l2normalize(e: Vec): Vec {
  const n = Math.sqrt(e.reduce((a, b) => a + b * b, 0));
  return e.map((v) => v / Math.max(n, 1e-12));
}

export function softmax(z: Vec): Vec {
  const m = Math.max(...z);
  const ex = z.map((v) => Math.exp(v - m));
  const s = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / s);
}

/** s(i ≻ j) = Σ_l λ_l (a_l(i) b_l(j) − b_l(i) a_l(j)). */
export function skew(ei: Vec, ej: Vec, lam: Vec): number {
  let s = 0;
  for (let l = 0; l < lam.length; l++) {
    s += (lam[l] as number) * ((ei[2 * l] as number) * (ej[2 * l + 1] as number) - (ei[2 * l + 1] as number) * (ej[2 * l] as number));
  }
  return s;
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** −log σ(x), stable. */
export function negLogSigmoid(x: number): number {
  return Math.max(-x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export interface RefHead {
  value: number[]; // [d, 2k]
  prompt?: number[]; // [d, k]
  d: number;
  k: number;
  gate: 'softmax' | 'scaled-softmax' | 'none';
  l2Normalize: boolean;
}

export function refEmbed(h: RefHead, x: Vec): Vec {
  const e = vecMat(x, h.value, 2 * h.k);
  return h.l2Normalize ? l2normalize(e) : e;
}

export function refLambda(h: RefHead, hx: Vec): Vec {
  if (h.gate === 'none') return new Array<number>(h.k).fill(1);
  const z = vecMat(hx, h.prompt as number[], h.k);
  if (h.gate === 'softmax') return softmax(z);
  return softmax(z.map((v) => v / Math.sqrt(h.d))).map((v) => v * h.k);
}

/** Built-in token encoder, float64: segment-tagged token embeddings, pooling, dense + activation. */
export interface RefTokenEncoder {
  emb: number[]; // [V, E]
  seg: number[]; // [2, E]
  query?: number[]; // [E]
  kernel: number[]; // [E, H]
  bias: number[]; // [H]
  E: number;
  H: number;
  pooling: 'mean' | 'attention';
  activation: 'tanh' | 'gelu';
}

export function refTokenFeatures(enc: RefTokenEncoder, tokens: number[], promptLength: number): Vec {
  const { E, H } = enc;
  const rows: Vec[] = tokens.map((t, i) => {
    const s = i < promptLength ? 0 : 1;
    return Array.from({ length: E }, (_, c) => (enc.emb[t * E + c] as number) + (enc.seg[s * E + c] as number));
  });
  let pooled: Vec;
  if (enc.pooling === 'mean') {
    pooled = Array.from({ length: E }, (_, c) => rows.reduce((a, r) => a + (r[c] as number), 0) / rows.length);
  } else {
    const logits = rows.map((r) => r.reduce((a, v, c) => a + v * (enc.query as number[])[c]!, 0) / Math.sqrt(E));
    const w = softmax(logits);
    pooled = Array.from({ length: E }, (_, c) => rows.reduce((a, r, i) => a + (w[i] as number) * (r[c] as number), 0));
  }
  const pre = vecMat(pooled, enc.kernel, H).map((v, c) => v + (enc.bias[c] as number));
  if (enc.activation === 'tanh') return pre.map(Math.tanh);
  return pre.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
}

/**
 * Compare with a relative-and-absolute tolerance, reporting the first mismatches (index, got, want).
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what = 'values'): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) {
      if (bad.length < 5) bad.push(`[${i}] got ${g}, want ${w}`);
      else break;
    }
  }
  expect(bad, `${what}: first mismatches (rtol ${rtol}, atol ${atol})`).toEqual([]);
}

/** Seeded inputs helper. */
export function randomMatrix(rng: { normal(): number }, rows: number, cols: number, scale = 1): Mat {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => scale * rng.normal()));
}
