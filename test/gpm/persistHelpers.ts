/** Test helpers for model directories: the current save, bit patterns of weights, and a writer of the gprl 0.1 layout. */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PreferenceModel } from '../../src/gpm/index.js';

/** The save directory name `LATEST` points to. */
export async function currentSave(dir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dir, 'LATEST'), 'utf8')) as { save: string }).save;
}

/** Every variable's float32 values as raw bits, by name (bitwise comparison, NaN-safe). */
export function weightBits(model: PreferenceModel): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, v] of model.variables()) {
    const f = Float32Array.from(v.dataSync() as Float32Array);
    out[name] = Array.from(new Uint32Array(f.buffer));
  }
  return out;
}

/**
 * Write `model` in the gprl 0.1 layout (format version 1: `model.json` + `weights.bin` directly in
 * `dir`, no checksum of model.json), as that version's saveModel did. Built-in encoders only.
 */
export async function writeLegacySave(model: PreferenceModel, dir: string): Promise<void> {
  const weights: { name: string; shape: number[]; dtype: 'float32'; offset: number; byteLength: number }[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, v] of model.variables()) {
    const f = Float32Array.from(v.dataSync() as Float32Array);
    const b = Buffer.alloc(f.length * 4);
    f.forEach((x, i) => b.writeFloatLE(x, 4 * i));
    weights.push({ name, shape: [...v.shape], dtype: 'float32', offset, byteLength: b.length });
    parts.push(b);
    offset += b.length;
  }
  const bin = Buffer.concat(parts);
  const m = model as PreferenceModel & { head?: { config: Record<string, unknown> }; embeddingConstant?: number; seed?: number };
  const config = model.kind === 'gpm' ? { ...m.head!.config } : { inputDim: model.encoder.outputDim, tau: model.tau, embeddingConstant: m.embeddingConstant, seed: m.seed };
  const json = {
    format: 'gprl-preference-model',
    version: 1,
    kind: model.kind,
    config,
    encoder: model.encoder.config,
    weightsFile: 'weights.bin',
    weightsByteLength: bin.length,
    weightsSha256: createHash('sha256').update(bin).digest('hex'),
    weights,
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'weights.bin'), bin);
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(json, null, 2) + '\n');
}
