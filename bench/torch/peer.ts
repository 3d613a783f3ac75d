/**
 * PyTorch peers of the fused kernel (bench/torch/gprl_advantages.py): the same computation in eager
 * PyTorch and under `torch.compile`, run in a child Python process on the benchmark's own inputs
 * (written to a temporary directory), with as many threads as the C++ path. Runs only where
 * `import torch` works (`GPRL_BENCH_PYTHON`, else `.venv/bin/python` of the repository, else
 * `python3`); otherwise the reason is returned and the bench prints it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupShape } from '../../src/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface TorchRun {
  threads: number;
  eagerMs: number;
  eagerSamples: number;
  compiledMs?: number;
  compiledSamples?: number;
  compileSeconds?: number;
  compileError?: string;
}

export interface TorchResult {
  torch: string;
  /** One per thread count: 1 and the C++ path's. */
  runs: TorchRun[];
  /** First 8 values of each output of the compiled (or eager) call. */
  check: Record<'advantages' | 'dimAdvantages' | 'dimMean' | 'dimStd' | 'scores', number[]>;
}

let python: { exe: string } | { skip: string } | undefined;

/** The Python that can import torch, or why there is none. */
export function torchPython(): { exe: string } | { skip: string } {
  if (python) return python;
  const venv = path.resolve(here, '..', '..', '.venv', 'bin', 'python');
  const candidates = process.env.GPRL_BENCH_PYTHON ? [process.env.GPRL_BENCH_PYTHON] : [...(fs.existsSync(venv) ? [venv] : []), 'python3'];
  const why: string[] = [];
  for (const exe of candidates) {
    try {
      execFileSync(exe, ['-c', 'import torch'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
      python = { exe };
      return python;
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop() ?? '';
      why.push(`${exe}: ${stderr || (err as Error).message.split('\n')[0]}`);
    }
  }
  python = { skip: `no Python with torch (${why.join('; ')})` };
  return python;
}

/** Run the PyTorch peers on these inputs; throws when the script fails. */
export function runTorch(
  exe: string,
  embeddings: Float32Array,
  lambdas: Float32Array,
  shape: GroupShape,
  threads: number,
  maxSeconds: number,
  minSamples: number,
): TorchResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gprl-bench-torch-'));
  try {
    fs.writeFileSync(path.join(dir, 'embeddings.f32'), embeddings);
    fs.writeFileSync(path.join(dir, 'lambdas.f32'), lambdas);
    const args = [path.join(here, 'gprl_advantages.py'), dir, shape.groups, shape.groupSize, shape.dims, threads, maxSeconds, minSamples].map(String);
    const stdout = execFileSync(exe, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as TorchResult;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
