/**
 * The README's kernel example runs as written and prints values that match an independent float64
 * computation of the same advantages (test/reference.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { refGprlAdvantages, refPreferenceMatrix } from './reference.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('examples/quickstart.ts', () => {
  it('is the README example, and runs', () => {
    const source = readFileSync(path.join(root, 'examples/quickstart.ts'), 'utf8');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const body = source.slice(source.indexOf("import { backendInfo"));
    expect(readme).toContain(body.trim());
    const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'examples/quickstart.ts')], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out).toMatch(/masked responses: 1 degenerate dimensions: 0/);
    const line = out.split('\n').find((l) => l.startsWith('advantages:'));
    expect(line).toBeDefined();
    const values = line!.slice('advantages:'.length).trim().split(/\s+/).map(Number);
    expect(values).toHaveLength(8);
    for (const v of values) expect(Number.isFinite(v)).toBe(true);
    expect(values[6]).toBe(0); // the NaN response

    // The same inputs through the float64 reference; the example prints 3 decimals.
    const embeddings = [
      0.9, 0.1, 0.2, 0.8, 0.1, 0.9, 0.7, 0.3, 0.5, 0.5, 0.5, 0.5, 0.3, 0.6, 0.9, 0.1,
      0.2, 0.7, 0.4, 0.4, 0.8, 0.2, 0.1, 0.9, NaN, 0.3, 0.2, 0.1, 0.6, 0.6, 0.3, 0.2,
    ].map(Math.fround);
    const lambdas = [0.7, 0.3, 0.5, 0.5].map(Math.fround);
    const shape = { groups: 2, groupSize: 4, dims: 2 };
    const ref = refGprlAdvantages(embeddings, shape, { lambdas, eps: 1e-4 });
    values.forEach((v, i) => expect(Math.abs(v - ref.advantages[i]!)).toBeLessThanOrEqual(0.0005 + 1e-9));
    const scalarLine = out.split('\n').find((l) => l.startsWith('scalar advantages:'))!;
    const scalar = scalarLine.slice('scalar advantages:'.length).trim().split(/\s+/).map(Number);
    const refScalar = refGprlAdvantages(embeddings, shape, { lambdas, eps: 1e-4, normalize: 'scalar' });
    scalar.forEach((v, i) => expect(Math.abs(v - refScalar.advantages[i]!)).toBeLessThanOrEqual(0.0005 + 1e-9));
    const p01 = Number(out.split('\n').find((l) => l.startsWith('P('))!.split('=').pop());
    expect(Math.abs(p01 - refPreferenceMatrix(embeddings, shape, { lambdas })[1]!)).toBeLessThanOrEqual(0.0005 + 1e-9);
  });
});
