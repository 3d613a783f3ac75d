import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../src/suggest.js';
import { parseArgs } from '../../src/cli/args.js';
import { resolveStudyConfig } from '../../src/study/config.js';

describe('did you mean', () => {
  it('edit distance counts insertions, deletions, substitutions and adjacent transpositions', () => {
    expect(editDistance('stduy', 'study')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('seeds', 'seeds')).toBe(0);
    expect(editDistance('--sede', '--seed')).toBe(1); // one transposition
    expect(editDistance('ab', 'ca')).toBe(2);
  });

  it('suggests only close candidates', () => {
    expect(closest('--seds', ['--seed', '--seeds', '--steps'])).toBe('--seeds');
    expect(closest('--jbos', ['--jobs', '--json'])).toBe('--jobs');
    expect(closest('--resu', ['--resume', '--out'])).toBe('--resume'); // prefix
    expect(closest('--frobnicate', ['--seeds', '--jobs'])).toBeNull();
    expect(didYouMean('zz', ['seeds'])).toBe('');
  });

  it('appears in CLI and config errors', () => {
    expect(() => parseArgs(['study', '--seed', '3'])).toThrow(/unknown option "--seed" for 'gprl study' \(did you mean --seeds\?\)/);
    expect(() => parseArgs(['demo', '--seeds', '3'])).toThrow(/unknown option "--seeds" for 'gprl demo' \(did you mean --seed\?\)/);
    expect(() => parseArgs(['stduy'])).toThrow(/unknown command "stduy" \(did you mean study\?\)/);
    expect(() => resolveStudyConfig({ verifiers: { epochz: 3 } })).toThrow(/gprl: invalid config\.verifiers\.epochz: an unknown key \(did you mean epochs\?\); known keys: epochs, /);
    expect(() => resolveStudyConfig({ sweeps: {} })).toThrow(/gprl: invalid config\.sweeps: an unknown key \(did you mean sweep\?\)/);
  });
});
