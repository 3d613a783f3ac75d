/** Backend selection: 'auto' picks cuda → cpu → js, results say which ran, unavailable backends fail clearly. */
import { describe, expect, it, vi } from 'vitest';
import { backendInfo, gprlAdvantages, groupAdvantages } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape } from '../../src/types.js';
import { randomEmbeddings } from '../helpers.js';

const shape: GroupShape = { groups: 2, groupSize: 4, dims: 2 };
const emb = randomEmbeddings(new Rng(1), shape);

describe('backend selection', () => {
  it("'auto' picks the first of cuda, cpu, js that is available, and reports it", () => {
    const info = backendInfo();
    const order = ['cuda', 'cpu', 'js'];
    expect(info.available.at(-1)).toBe('js');
    expect(info.available).toEqual(order.filter((b) => info.available.includes(b as never)));
    expect(info.default).toBe(info.available[0]);
    expect(gprlAdvantages(emb, shape).backend).toBe(info.default);
    expect(gprlAdvantages(emb, shape, { backend: 'auto' }).backend).toBe(info.default);
    expect(groupAdvantages(new Float32Array(16), shape, { backend: 'auto' }).backend).toBe(info.default);
    for (const b of info.available) expect(gprlAdvantages(emb, shape, { backend: b }).backend).toBe(b);
  });

  it('loads the addon named by GPRL_ADDON_PATH when set (CI runs this suite against each build)', async () => {
    const explicit = process.env.GPRL_ADDON_PATH;
    const info = backendInfo();
    if (process.env.GPRL_DISABLE_NATIVE === '1') {
      expect(info.available).toEqual(['js']);
      expect(info.addonError).toMatch(/GPRL_DISABLE_NATIVE/);
      return;
    }
    if (!explicit) return;
    const path = await import('node:path');
    expect(info.build?.path).toBe(path.resolve(explicit));
    expect(info.available).toContain('cpu');
  });

  it('requesting an unavailable backend throws an Error that says why', () => {
    const info = backendInfo();
    if (info.available.includes('cuda')) return; // Nothing to check on a machine with a working GPU.
    expect(info.cudaError).toBeTruthy();
    expect(() => gprlAdvantages(emb, shape, { backend: 'cuda' })).toThrow(
      new Error(`gprl: backend 'cuda' is not available: ${info.cudaError}`),
    );
    if (!info.available.includes('cpu')) {
      expect(() => gprlAdvantages(emb, shape, { backend: 'cpu' })).toThrow(
        new Error(`gprl: backend 'cpu' is not available: ${info.addonError}`),
      );
    }
  });

  it('GPRL_DISABLE_NATIVE=1 leaves only the TypeScript path', async () => {
    vi.stubEnv('GPRL_DISABLE_NATIVE', '1');
    vi.resetModules();
    try {
      const fresh = await import('../../src/kernels/index.js');
      const info = fresh.backendInfo();
      expect(info.available).toEqual(['js']);
      expect(info.addonError).toBe('disabled by GPRL_DISABLE_NATIVE=1');
      expect(fresh.gprlAdvantages(emb, shape).backend).toBe('js');
      expect(() => fresh.gprlAdvantages(emb, shape, { backend: 'cpu' })).toThrow(
        new Error("gprl: backend 'cpu' is not available: disabled by GPRL_DISABLE_NATIVE=1"),
      );
      expect(() => fresh.gprlAdvantages(emb, shape, { backend: 'cuda' })).toThrow(
        new Error("gprl: backend 'cuda' is not available: native addon not loaded"),
      );
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
