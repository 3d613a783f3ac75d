/**
 * Fresh outputs of native calls over recycled memory (src/native/outputPool.ts): a returned array is
 * the caller's until it is garbage, and only then does its memory return to the pool.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gprlAdvantages } from '../../src/kernels/index.js';
import { loadAddon } from '../../src/native/addon.js';
import { POOL_MIN_BYTES } from '../../src/native/outputPool.js';
import { Rng } from '../../src/random.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { addon } = loadAddon();
const pooling = addon !== null && typeof addon.pooledFloat32Array === 'function';

describe.skipIf(!pooling)('output pool', () => {
  it('gives large outputs of native calls pooled memory and small ones ordinary arrays', () => {
    const shape = { groups: 1024, groupSize: 16, dims: 8 };
    const emb = new Rng(1).normalArray(shape.groups * shape.groupSize * 2 * shape.dims);
    const live0 = addon!.outputPoolStats().liveBytes;
    const r = gprlAdvantages(emb, shape, { backend: 'cpu' });
    // dimAdvantages and scores are 512 KiB (pooled); advantages 64 KiB, dimMean/dimStd 32 KiB (not).
    expect(r.dimAdvantages.byteLength).toBeGreaterThanOrEqual(POOL_MIN_BYTES);
    expect(addon!.outputPoolStats().liveBytes - live0).toBeGreaterThanOrEqual(2 * r.dimAdvantages.byteLength);
  });

  it('keeps a returned array the caller\'s until it is garbage, then reuses its memory (child process, --expose-gc)', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, 'fixtures/outputPool.ts')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(r.shared).toBe(false); // no live array's memory handed out again
    expect(r.unchanged).toBe(true); // later calls did not write into the first result
    expect(r.pooled).toBe(true);
    expect(r.dropped).toBe(null);
    expect(r.liveAfterGc as number).toBeLessThan(r.liveBefore as number); // finalizers gave the memory back
    expect(r.idleAfterGc as number).toBeGreaterThan(0);
    expect(r.hitsDuringCall as number).toBeGreaterThanOrEqual(2); // the next call reused it
    expect(r.againFirst).not.toBe(12345.5); // and overwrote it with its own result
  });

  it('rejects bad lengths naming the argument', () => {
    expect(() => addon!.pooledFloat32Array(0)).toThrow(RangeError);
    expect(() => addon!.pooledFloat32Array(1.5)).toThrow(/pooledFloat32Array length/);
    expect(() => addon!.pooledFloat32Array('8' as unknown as number)).toThrow(TypeError);
  });
});
