/**
 * The README's kernel example: per-dimension GPRL advantages for 2 prompts × 4 responses, k = 2.
 *
 *   npx tsx examples/quickstart.ts                        (in a clone)
 *   node node_modules/gprl/dist/examples/quickstart.js    (after npm install gprl)
 */
import { backendInfo, gprlAdvantages, preferenceMatrix } from 'gprl';

// Embeddings from a GPM: [B][G][2k], dimension l is the pair (e[2l], e[2l+1]).
const shape = { groups: 2, groupSize: 4, dims: 2 };
const embeddings = new Float32Array([
  // prompt 0: four responses
  0.9, 0.1, 0.2, 0.8,   0.1, 0.9, 0.7, 0.3,   0.5, 0.5, 0.5, 0.5,   0.3, 0.6, 0.9, 0.1,
  // prompt 1: the third response has a NaN (it is masked and counted, never propagated)
  0.2, 0.7, 0.4, 0.4,   0.8, 0.2, 0.1, 0.9,   NaN, 0.3, 0.2, 0.1,   0.6, 0.6, 0.3, 0.2,
]);
const lambdas = new Float32Array([0.7, 0.3, 0.5, 0.5]); // the GPM's eigenvalues λ(x), [B][k]

const result = gprlAdvantages(embeddings, shape, { lambdas }); // normalize: 'per-dimension' (GPRL)
console.log('backend:', result.backend, 'of', backendInfo().available.join(', '));
console.log('advantages:', Array.from(result.advantages, (a) => a.toFixed(3)).join(' '));
console.log('masked responses:', result.masked, 'degenerate dimensions:', result.degenerate);

const grpo = gprlAdvantages(embeddings, shape, { lambdas, normalize: 'scalar' }); // GRPO baseline
console.log('scalar advantages:', Array.from(grpo.advantages, (a) => a.toFixed(3)).join(' '));

const P = preferenceMatrix(embeddings, shape, { lambdas }); // P[b][i][j] = σ(Σ λ_l s_l(i,j) / τ)
console.log('P(response 0 ≻ response 1 | prompt 0) =', P[1]!.toFixed(3));
