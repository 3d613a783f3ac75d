/**
 * Every export of the package entry (src/index.ts) is documented in docs/api.md, with its kind and a
 * description, and docs/api.md names nothing the package does not export. The exports come from the
 * TypeScript compiler (types included), not from a list kept by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function kindOf(symbol: ts.Symbol): string {
  const F = ts.SymbolFlags;
  if (symbol.flags & F.Class) return 'class';
  if (symbol.flags & F.Function) return 'function';
  if (symbol.flags & F.Interface) return 'interface';
  if (symbol.flags & F.TypeAlias) return 'type';
  if (symbol.flags & (F.Variable | F.ValueModule | F.Enum)) return 'const';
  return 'unknown';
}

function packageExports(): Map<string, string> {
  const entry = path.join(root, 'src', 'index.ts');
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const out = new Map<string, string>();
  for (const s of checker.getExportsOfModule(moduleSymbol)) {
    out.set(s.getName(), kindOf(s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s));
  }
  return out;
}

/** Rows `| \`name\` | kind | description |` of docs/api.md. */
function documented(): Map<string, { kind: string; description: string }> {
  const text = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
  const rows = new Map<string, { kind: string; description: string }>();
  for (const m of text.matchAll(/^\| `([A-Za-z_$][\w$]*)` \| (\w+) \| (.*) \|$/gm)) {
    expect(rows.has(m[1]!), `${m[1]} is documented twice`).toBe(false);
    rows.set(m[1]!, { kind: m[2]!, description: m[3]!.trim() });
  }
  return rows;
}

describe('docs/api.md', () => {
  const exports = packageExports();
  const docs = documented();

  it('documents every export of the package with its kind and a description', () => {
    expect(exports.size).toBeGreaterThan(150);
    const missing = [...exports.keys()].filter((name) => !docs.has(name));
    expect(missing, 'exports without a row in docs/api.md').toEqual([]);
    for (const [name, kind] of exports) {
      expect(docs.get(name)!.kind, name).toBe(kind);
      expect(docs.get(name)!.description.split(/\s+/).length, `${name}'s description`).toBeGreaterThanOrEqual(3);
    }
  });

  it('names nothing the package does not export', () => {
    expect([...docs.keys()].filter((name) => !exports.has(name))).toEqual([]);
  });
});
