#!/usr/bin/env node
// `npm run fuzz` runs the kernel fuzz (hostile inputs included) and the kill -9 tests of GPM saves and
// trainer checkpoints at their `npm test` sizes; `npm run fuzz -- --full` runs 10^5 fuzz calls per part
// and 100 kill tries per test. Exit code: vitest's.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--full');
if (unknown.length > 0) {
  process.stderr.write(`gprl fuzz: unknown argument ${JSON.stringify(unknown[0])} (only --full)\n`);
  process.exit(2);
}
const env = { ...process.env };
if (args.includes('--full')) {
  env.GPRL_FUZZ_CALLS ??= '100000';
  env.GPRL_KILL_TRIES ??= '100';
}
const files = ['test/kernels/fuzz.test.ts', 'test/gpm/kill.test.ts', 'test/trainer/checkpoint-kill.test.ts'];
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
