/**
 * The study's arms (docs/study-protocol.md §3). Every arm starts from the same initial policy, sees
 * the same prompts and sampling seed, and runs the same number of steps; they differ only in the
 * verifier, the advantage normalization and the trust-region control.
 */
export const ARM_IDS = [
  'gprl-monitor',
  'grpo-bt',
  'grpo-bt-matched-beta',
  'grpo-bt-adaptive-kl',
  'gprl-nomon',
  'gprl-sham',
  'gpm-scalar',
  'gdpo',
  'gprl-k1',
] as const;
export type ArmId = (typeof ARM_IDS)[number];

export type VerifierId = 'bt' | 'gpm' | 'gpm-k1';

export interface ArmSpec {
  id: ArmId;
  label: string;
  verifier: VerifierId;
  normalize: 'per-dimension' | 'scalar' | 'gdpo';
  /**
   * Trust-region control: `none`; `monitor` (the drift monitor acts); `observe` (the monitor runs and
   * logs but never acts: the detection measurement); `sham` (fires at random steps at the monitor
   * arm's rate, same actions); `adaptive-kl` (Ziegler controller on β, nothing else);
   * `matched-beta` (fixed β equal to the monitor arm's mean β in the same seed).
   */
  control: 'none' | 'monitor' | 'observe' | 'sham' | 'adaptive-kl' | 'matched-beta';
}

export const ARMS: Readonly<Record<ArmId, ArmSpec>> = {
  'gprl-monitor': { id: 'gprl-monitor', label: 'GPRL k=3 + monitor', verifier: 'gpm', normalize: 'per-dimension', control: 'monitor' },
  'grpo-bt': { id: 'grpo-bt', label: 'GRPO + BT', verifier: 'bt', normalize: 'per-dimension', control: 'none' },
  'grpo-bt-matched-beta': { id: 'grpo-bt-matched-beta', label: 'GRPO + BT, β matched to the monitor', verifier: 'bt', normalize: 'per-dimension', control: 'matched-beta' },
  'grpo-bt-adaptive-kl': { id: 'grpo-bt-adaptive-kl', label: 'GRPO + BT, adaptive KL', verifier: 'bt', normalize: 'per-dimension', control: 'adaptive-kl' },
  'gprl-nomon': { id: 'gprl-nomon', label: 'GPRL k=3, no monitor', verifier: 'gpm', normalize: 'per-dimension', control: 'observe' },
  'gprl-sham': { id: 'gprl-sham', label: 'GPRL k=3 + sham monitor', verifier: 'gpm', normalize: 'per-dimension', control: 'sham' },
  'gpm-scalar': { id: 'gpm-scalar', label: 'GPM k=3, scalar normalization', verifier: 'gpm', normalize: 'scalar', control: 'none' },
  gdpo: { id: 'gdpo', label: 'GDPO (GPM k=3)', verifier: 'gpm', normalize: 'gdpo', control: 'none' },
  'gprl-k1': { id: 'gprl-k1', label: 'GPRL k=1', verifier: 'gpm-k1', normalize: 'per-dimension', control: 'none' },
};

/** Arms that need the monitor arm of the same seed to have run first. */
export function dependsOnMonitor(id: ArmId): boolean {
  const c = ARMS[id].control;
  return c === 'sham' || c === 'matched-beta';
}

/** Run order inside one cell × seed: the monitor arm first (the sham and matched-β arms copy its rate and β). */
export function orderArms(arms: readonly ArmId[]): ArmId[] {
  const out = [...arms].sort((a, b) => ARM_IDS.indexOf(a) - ARM_IDS.indexOf(b));
  if (out.some(dependsOnMonitor) && !out.includes('gprl-monitor')) out.unshift('gprl-monitor');
  return out;
}

/** Paired comparisons (a − b) of the primary analysis, in the protocol's order. */
export const PRIMARY_COMPARISONS: readonly [ArmId, ArmId][] = [
  ['gprl-monitor', 'grpo-bt'],
  ['gprl-monitor', 'grpo-bt-matched-beta'],
  ['gprl-monitor', 'grpo-bt-adaptive-kl'],
  ['gprl-monitor', 'gprl-nomon'],
  ['gprl-monitor', 'gprl-sham'],
  ['gprl-nomon', 'gpm-scalar'],
  ['gprl-nomon', 'gdpo'],
  ['gprl-nomon', 'gprl-k1'],
  ['gprl-nomon', 'grpo-bt'],
];
