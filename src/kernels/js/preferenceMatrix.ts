/**
 * Pure-TypeScript `preference_matrix` (docs/kernels.md):
 * `P[b,i,j] = σ(Σ_l λ_{b,l}·s_l(i,j) / τ)`, NaN in the row and column of a response with a
 * non-finite embedding value.
 */
import type { GroupShape } from '../../types.js';
import type { ResolvedPreferenceOptions } from '../validate.js';

export function preferenceMatrixJs(
  embeddings: Float32Array,
  shape: GroupShape,
  opts: ResolvedPreferenceOptions,
  out: Float32Array,
): void {
  const { groups: B, groupSize: G, dims: k } = shape;
  const { lambdas, tau } = opts;
  const k2 = 2 * k;
  const finite = new Uint8Array(G);
  const lam = new Float64Array(k);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < k; l++) lam[l] = lambdas ? lambdas[b * k + l]! : 1;
    for (let i = 0; i < G; i++) {
      const row = (b * G + i) * k2;
      let t = 0;
      for (let c = 0; c < k2; c++) t += embeddings[row + c]!;
      finite[i] = Number.isFinite(t) ? 1 : 0;
    }
    const o = b * G * G;
    for (let i = 0; i < G; i++) {
      out[o + i * G + i] = finite[i] ? 0.5 : NaN;
      const ri = (b * G + i) * k2;
      for (let j = i + 1; j < G; j++) {
        if (!finite[i] || !finite[j]) {
          out[o + i * G + j] = NaN;
          out[o + j * G + i] = NaN;
          continue;
        }
        const rj = (b * G + j) * k2;
        let s = 0;
        for (let l = 0; l < k; l++) {
          s += lam[l]! * (embeddings[ri + 2 * l]! * embeddings[rj + 2 * l + 1]! - embeddings[ri + 2 * l + 1]! * embeddings[rj + 2 * l]!);
        }
        const x = s / tau;
        // σ(x) and σ(−x) = 1 − σ(x) from one exp, without overflow.
        const e = Math.exp(-Math.abs(x));
        const big = 1 / (1 + e);
        const small = e / (1 + e);
        out[o + i * G + j] = x >= 0 ? big : small;
        out[o + j * G + i] = x >= 0 ? small : big;
      }
    }
  }
}
