/**
 * Checks the printed output of examples/quickstart.ts (run from the sources or from the installed
 * package) against an independent float64 computation of the same inputs (test/reference.ts).
 */
import { expect } from 'vitest';
import { refGprlAdvantages, refPreferenceMatrix } from './reference.js';

/** The example's inputs, copied here so the reference does not read them from the example. */
const embeddings = [
  0.9, 0.1, 0.2, 0.8, 0.1, 0.9, 0.7, 0.3, 0.5, 0.5, 0.5, 0.5, 0.3, 0.6, 0.9, 0.1,
  0.2, 0.7, 0.4, 0.4, 0.8, 0.2, 0.1, 0.9, NaN, 0.3, 0.2, 0.1, 0.6, 0.6, 0.3, 0.2,
].map(Math.fround);
const lambdas = [0.7, 0.3, 0.5, 0.5].map(Math.fround);
const shape = { groups: 2, groupSize: 4, dims: 2 };

function numbersAfter(out: string, prefix: string): number[] {
  const line = out.split('\n').find((l) => l.startsWith(prefix));
  expect(line, `a line starting with ${JSON.stringify(prefix)}`).toBeDefined();
  return line!.slice(prefix.length).trim().split(/\s+/).map(Number);
}

export function checkQuickstartOutput(out: string): void {
  expect(out).toMatch(/masked responses: 1 degenerate dimensions: 0/);
  const values = numbersAfter(out, 'advantages:');
  expect(values).toHaveLength(8);
  for (const v of values) expect(Number.isFinite(v)).toBe(true);
  expect(values[6]).toBe(0); // the NaN response
  // The example prints 3 decimals: |printed − reference| ≤ half a unit of the last digit (+ rounding slack).
  const tol = 0.0005 + 1e-9;
  const ref = refGprlAdvantages(embeddings, shape, { lambdas, eps: 1e-4 });
  values.forEach((v, i) => expect(Math.abs(v - ref.advantages[i]!)).toBeLessThanOrEqual(tol));
  const scalar = numbersAfter(out, 'scalar advantages:');
  const refScalar = refGprlAdvantages(embeddings, shape, { lambdas, eps: 1e-4, normalize: 'scalar' });
  expect(scalar).toHaveLength(8);
  scalar.forEach((v, i) => expect(Math.abs(v - refScalar.advantages[i]!)).toBeLessThanOrEqual(tol));
  const p01 = Number(out.split('\n').find((l) => l.startsWith('P('))!.split('=').pop());
  expect(Math.abs(p01 - refPreferenceMatrix(embeddings, shape, { lambdas })[1]!)).toBeLessThanOrEqual(tol);
}
