/**
 * The files of a study run folder, as types (docs/study.md):
 *
 * - `study.json`: the resolved {@link StudyConfig} with the command and commit (resume checks it);
 * - `units/<cell>-s<seed>/unit.json`: a {@link UnitRecord} (data and verifiers of one cell × seed);
 * - `units/<cell>-s<seed>/<arm>.json`: an {@link ArmRecord} (one arm's run: evaluations at every
 *   budget and the per-step metrics);
 * - `summary.json` ({@link StudySummary}), `summary.md`, `report.html`, written at the end.
 */
import type { ArmId } from './arms.js';

/** Mean and 95% t-interval over seeds; `low`/`high` are null with one seed. */
export interface Estimate {
  mean: number;
  low: number | null;
  high: number | null;
  n: number;
}

/** Gold-judge evaluation of a policy against the initial policy's fixed reference responses. */
export interface Evaluation {
  steps: number;
  /** Raw gold win rate against the initial policy (ties count 1/2). */
  goldWinRate: number;
  /** Mean gold quality of the policy's responses, in [0, 1]. */
  goldQuality: number;
  /** Length-controlled gold win rate (logistic regression on the length difference, σ(intercept)). */
  lcWinRate: number;
  /** Mean response length (words). */
  length: number;
  /** Share of response words that are the pet word. */
  petShare: number;
}

/** Per-step series of one run (index i = step i + 1). */
export interface StepSeries {
  /** Mean gold quality of the step's training samples. */
  gold: number[];
  /** The arm's own verifier: mean P(sample ≻ the initial policy's reference response). */
  proxy: number[];
  length: number[];
  petShare: number[];
  beta: number[];
  epsilon: number[];
  kl: number[];
  /** Steps (1-based) on which the monitor (acting, observing or sham) declared drift. */
  fired: number[];
  /** Count of every monitor event kind over the run. */
  events: Record<string, number>;
  /** Steps on which each detector event fired ('spectrum-drift' and the secondary detectors). */
  eventSteps: Record<string, number[]>;
}

export interface ArmRecord {
  cell: string;
  seed: number;
  arm: ArmId;
  /** Evaluations at every budget, ascending. */
  evaluations: Evaluation[];
  series: StepSeries;
  /** Mean β applied over the run (the matched-β arm uses the monitor arm's). */
  meanBeta: number;
  /** Share of steps on which drift was declared (the sham arm fires at the monitor arm's rate). */
  fireRate: number;
  seconds: number;
  /** Four example responses of the final policy, rendered. */
  examples: { prompt: string; response: string; quality: number }[];
}

export interface VerifierRecord {
  id: 'bt' | 'gpm' | 'gpm-k1';
  dims: number;
  /** Held-out agreement with the annotators' labels. */
  heldOutAccuracy: number;
  /** Held-out agreement with the gold judge (gold ties left out). */
  goldAgreement: number;
  /** Mean gold quality of the verifier's own optimum (local search over responses), or null when not searched. */
  optimumGold: number | null;
  /** Mean length and pet share of those optima, or null. */
  optimumLength: number | null;
  optimumPetShare: number | null;
  /** Share of the held-out cyclic triples the verifier reproduces (BT: 0 by construction), or null. */
  cycleReproduction: number | null;
  bestEpoch: number;
  epochs: number;
  seconds: number;
}

export interface UnitRecord {
  cell: string;
  seed: number;
  lengthBias: number;
  petBias: number;
  cyclicTripleShare: number;
  clearCyclicTripleShare: number;
  /** Held-out labels' agreement with the gold judge. */
  labelGoldAgreement: number;
  verifiers: VerifierRecord[];
}

export interface ArmSummary {
  id: ArmId;
  label: string;
  seeds: number;
  budgets: ({ steps: number } & { [K in Exclude<keyof Evaluation, 'steps'>]: Estimate })[];
  fireRate: Estimate;
  meanBeta: Estimate;
}

export interface Comparison {
  a: ArmId;
  b: ArmId;
  steps: number;
  metric: 'goldWinRate' | 'goldQuality' | 'lcWinRate';
  /** Paired difference a − b by seed. */
  diff: Estimate;
  /** Two-sided paired t-test p-value, and Holm-adjusted within its family: the primary comparisons (largest budget, primary metrics) together; each secondary (budget, metric) family on its own. */
  p: number;
  pHolm: number;
  primary: boolean;
}

export interface DetectionQuality {
  /** Runs and steps it was measured on. */
  runs: number;
  steps: number;
  /** Gold-labelled exploitation episodes and how many the monitor detected. */
  episodes: number;
  detected: number;
  precision: number | null;
  recall: number | null;
  medianLeadSteps: number | null;
  /** Alarms that detect no episode, per 1000 steps, on the no-bias control cell. */
  falseAlarmsPer1000Steps: number | null;
  /** Firings per 1000 steps on the no-bias control (all firings). */
  controlFiringsPer1000Steps: number | null;
  /** Share of steps labelled exploitation in the measured runs. */
  labelledShare: number;
}

export interface StudySummary {
  version: 1;
  /** `'interrupted'`: the study was stopped (Ctrl-C / SIGTERM) and this summary covers only what finished; `gprl study --resume` continues it. */
  status: 'complete' | 'interrupted';
  /** Cell × seed units finished, of `units`. */
  unitsDone: number;
  units: number;
  command: string;
  commit: string | null;
  config: unknown;
  /** Wall-clock seconds of every run of the folder (the first run plus any resumes). */
  seconds: number;
  cyclicTripleShare: number;
  clearCyclicTripleShare: number;
  /** Held-out annotator labels' agreement with the gold judge (main cell). */
  labelGoldAgreement: Estimate;
  verifiers: (Omit<VerifierRecord, 'heldOutAccuracy' | 'goldAgreement' | 'optimumGold' | 'cycleReproduction' | 'bestEpoch' | 'epochs' | 'seconds' | 'optimumLength' | 'optimumPetShare'> & {
    heldOutAccuracy: Estimate;
    goldAgreement: Estimate;
    optimumGold: Estimate | null;
    optimumLength: Estimate | null;
    optimumPetShare: Estimate | null;
    cycleReproduction: Estimate | null;
    bestEpoch: Estimate;
  })[];
  arms: ArmSummary[];
  comparisons: Comparison[];
  monitor: {
    /** Measured on the GPRL-without-monitor arm with the monitor observing (not acting). */
    detection: DetectionQuality;
    /** The same for the acting monitor arm (its actions change the trajectory it is judged on). */
    acting: DetectionQuality;
    /** Each detector event of the observing monitor on its own (its event steps as firings). */
    detectors: Record<string, DetectionQuality>;
  };
  sweep: { lengthBias: number; petBias: number; arm: ArmId; steps: number; goldWinRate: Estimate; goldQuality: Estimate; seeds: number }[];
}

/** Training curves of one arm in the main cell, averaged over seeds (for report.html). */
export interface ArmCurves {
  arm: ArmId;
  label: string;
  /** Step of each point (1-based), every `every` steps. */
  steps: number[];
  /** Mean over seeds of the 10-step moving average of the training samples' gold quality. */
  gold: number[];
  /** The same for the arm's proxy (its verifier's preference over the initial greedy responses). */
  proxy: number[];
  /** The same for the mean response length (words). */
  length: number[];
  /** Share of seeds on which the monitor declared drift in each bin of `every` steps (0 without a monitor). */
  fired: number[];
}
