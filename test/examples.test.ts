/**
 * The examples import the package by its own name (`'gprl'`), as a user's code does. From the sources
 * they run with tsx (tsconfig.json maps `gprl` to src/); the packaging test (test/package.test.ts) runs
 * their compiled versions from an installed tarball.
 *
 * The README's kernel example runs as written and prints values that match an independent float64
 * computation of the same advantages (test/reference.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkQuickstartOutput } from './quickstartOutput.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('examples/', () => {
  it('import only the package itself (no relative imports into src/)', () => {
    const files = readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const source = readFileSync(path.join(root, 'examples', f), 'utf8');
      const specifiers = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      expect(specifiers, f).toContain('gprl');
      for (const s of specifiers) expect(s === 'gprl' || s.startsWith('node:'), `${f} imports ${s}`).toBe(true);
    }
  });

  it('quickstart.ts is the README example, and runs', () => {
    const source = readFileSync(path.join(root, 'examples/quickstart.ts'), 'utf8');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const body = source.slice(source.indexOf('import { backendInfo'));
    expect(readme).toContain(body.trim());
    const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'examples/quickstart.ts')], {
      cwd: root,
      encoding: 'utf8',
    });
    checkQuickstartOutput(out);
  });
});
