/**
 * Backend selection: 'auto' picks cpu → js, and cuda only for large O(G²) calls (docs/kernels.md), results
 * say which ran, unavailable backends fail clearly.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  AUTO_CUDA_MIN_GROUP_SIZE,
  AUTO_CUDA_MIN_PAIRS,
  autoBackend,
  autoCudaMinPairs,
  pairwiseWork,
} from '../../src/backend.js';
import { backendInfo, gprlAdvantages, groupAdvantages } from '../../src/kernels/index.js';
import { Rng } from '../../src/random.js';
import type { GroupShape } from '../../src/types.js';
import { randomEmbeddings } from '../helpers.js';

const shape: GroupShape = { groups: 2, groupSize: 4, dims: 2 };
const emb = randomEmbeddings(new Rng(1), shape);

describe('backend selection', () => {
  it("'auto' picks the first of cpu, js for memory-bound calls, and reports it", () => {
    const info = backendInfo();
    const order = ['cuda', 'cpu', 'js'];
    expect(info.available.at(-1)).toBe('js');
    expect(info.available).toEqual(order.filter((b) => info.available.includes(b as never)));
    expect(info.default).toBe(info.available.filter((b) => b !== 'cuda')[0]);
    expect(gprlAdvantages(emb, shape).backend).toBe(info.default);
    expect(gprlAdvantages(emb, shape, { backend: 'auto' }).backend).toBe(info.default);
    expect(groupAdvantages(new Float32Array(16), shape, { backend: 'auto' }).backend).toBe(info.default);
    for (const b of info.available) expect(gprlAdvantages(emb, shape, { backend: b }).backend).toBe(b);
  });

  it("the 'auto' rule: CUDA only for O(G²) calls with enough pairs and large enough groups", () => {
    const all = ['cuda', 'cpu', 'js'] as const;
    const big = { pairs: AUTO_CUDA_MIN_PAIRS, groupSize: AUTO_CUDA_MIN_GROUP_SIZE };
    expect(autoBackend(all, big, AUTO_CUDA_MIN_PAIRS)).toBe('cuda');
    expect(autoBackend(all, { ...big, pairs: AUTO_CUDA_MIN_PAIRS - 1 }, AUTO_CUDA_MIN_PAIRS)).toBe('cpu');
    expect(autoBackend(all, { ...big, groupSize: AUTO_CUDA_MIN_GROUP_SIZE - 1 }, AUTO_CUDA_MIN_PAIRS)).toBe('cpu');
    expect(autoBackend(all, undefined, 0)).toBe('cpu'); // memory-bound: never CUDA
    expect(autoBackend(all, big, Infinity)).toBe('cpu');
    expect(autoBackend(['cpu', 'js'], big, 0)).toBe('cpu');
    expect(autoBackend(['js'], big, 0)).toBe('js');
    expect(pairwiseWork({ groups: 3, groupSize: 64, dims: 8 })).toEqual({ pairs: 3 * 64 * 64 * 8, groupSize: 64 });
  });

  it('GPRL_AUTO_CUDA_MIN_PAIRS sets the threshold; a malformed value is a RangeError', () => {
    expect(autoCudaMinPairs({})).toBe(AUTO_CUDA_MIN_PAIRS);
    expect(autoCudaMinPairs({ GPRL_AUTO_CUDA_MIN_PAIRS: '0' })).toBe(0);
    expect(autoCudaMinPairs({ GPRL_AUTO_CUDA_MIN_PAIRS: '1e7' })).toBe(1e7);
    expect(autoCudaMinPairs({ GPRL_AUTO_CUDA_MIN_PAIRS: 'Infinity' })).toBe(Infinity);
    for (const bad of ['-1', 'abc', '1e', 'NaN']) {
      expect(() => autoCudaMinPairs({ GPRL_AUTO_CUDA_MIN_PAIRS: bad })).toThrow(
        new RangeError(
          `gprl: invalid GPRL_AUTO_CUDA_MIN_PAIRS: expected a number >= 0 or Infinity, got ${JSON.stringify(bad)}`,
        ),
      );
    }
  });

  it("a win-rate call above the threshold runs on cuda under 'auto' when cuda is available", () => {
    vi.stubEnv('GPRL_AUTO_CUDA_MIN_PAIRS', '0');
    try {
      const info = backendInfo();
      const s = { groups: 1, groupSize: AUTO_CUDA_MIN_GROUP_SIZE, dims: 1 };
      const e = randomEmbeddings(new Rng(2), s);
      const want = info.available.includes('cuda') ? 'cuda' : info.default;
      expect(gprlAdvantages(e, s, { mode: 'winrate' }).backend).toBe(want);
      expect(gprlAdvantages(e, s, { mode: 'logit' }).backend).toBe(info.default);
      const small = { groups: 1, groupSize: AUTO_CUDA_MIN_GROUP_SIZE - 1, dims: 1 };
      expect(gprlAdvantages(randomEmbeddings(new Rng(3), small), small, { mode: 'winrate' }).backend).toBe(info.default);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('GPRL_TEST_REQUIRE_CUDA=1 (the GPU check) requires the cuda backend', () => {
    if (process.env.GPRL_TEST_REQUIRE_CUDA !== '1') return;
    const info = backendInfo();
    expect(info.cudaError).toBeUndefined();
    expect(info.available).toContain('cuda');
  });

  it('a malformed or out-of-range GPRL_CUDA_DEVICE makes cuda and auto throw a RangeError', async () => {
    for (const bad of ['abc', '-1', '1.5', '4096']) {
      vi.stubEnv('GPRL_CUDA_DEVICE', bad);
      vi.resetModules();
      try {
        const fresh = await import('../../src/kernels/index.js');
        const info = fresh.backendInfo();
        if (!info.build) continue; // no addon: no CUDA to select
        const msg = /^gprl: invalid GPRL_CUDA_DEVICE: expected (an integer in \[0, \d+\)|a CUDA device index \(a decimal integer >= 0\)), got "/;
        expect(() => fresh.gprlAdvantages(emb, shape)).toThrow(RangeError);
        expect(() => fresh.gprlAdvantages(emb, shape)).toThrow(msg);
        expect(() => fresh.gprlAdvantages(emb, shape, { backend: 'cuda' })).toThrow(msg);
        expect(fresh.gprlAdvantages(emb, shape, { backend: 'cpu' }).backend).toBe('cpu');
      } finally {
        vi.unstubAllEnvs();
        vi.resetModules();
      }
    }
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
