/**
 * `StudyConfig`: every constant of the study's task, annotators, verifiers, arms and analysis, with
 * the pre-registered defaults (docs/study-protocol.md). A JSON file given to `gprl study --config`
 * may set any subset; unknown keys and bad values are rejected with a `gprl:` error naming the key.
 */
import { readFileSync } from 'node:fs';
import { assertNumber, assertOneOf, assertPositiveInt, invalidType, invalidValue } from '../errors.js';
import { validateAnnotatorType, type AnnotatorType } from '../demo/population.js';
import { DriftMonitor } from '../monitor/driftMonitor.js';
import { didYouMean } from '../suggest.js';
import { ARM_IDS, type ArmId } from './arms.js';

export interface StudyConfig {
  /** Seeds of the main cell, ≥ 1 (seed i is `firstSeed + i`). Defaults to `20`. */
  seeds: number;
  /** First seed. Defaults to `1`. */
  firstSeed: number;
  /** Evaluation budgets in policy steps, ascending; every arm runs the largest. Defaults to `[120, 480, 960]`. */
  budgets: number[];
  /** Arms of the main cell. Defaults to all nine. */
  arms: ArmId[];
  /** The annotator population; the type named `biasedType` takes each cell's length and pet bias. Defaults to content / style / biased (see the protocol). */
  population: AnnotatorType[];
  /** Name of the biased type. Defaults to `'biased'`. */
  biasedType: string;
  /** Bias strengths of the main cell. Defaults to `{ lengthBias: 0.8, petBias: 0.8 }`. */
  main: { lengthBias: number; petBias: number };
  /** Bias sweep: grid of length × pet bias, seeds per cell, arms (an empty list: no sweep). A cell equal to the main cell reuses its first seeds. Defaults to `{0, 0.4, 0.8}²`, 5 seeds, GRPO + BT / GPRL + monitor / GPRL without monitor. */
  sweep: { lengthBias: number[]; petBias: number[]; seeds: number; arms: ArmId[] };
  /** Preference data: labelled pairs per cell × seed, share held out, triples drawn for the intransitivity measure. Defaults to `{ pairs: 3000, heldOutShare: 0.2, triples: 20000 }`. */
  data: { pairs: number; heldOutShare: number; triples: number };
  /** Verifier training and the exploitability search. Defaults in {@link DEFAULT_STUDY_CONFIG}. */
  verifiers: {
    epochs: number;
    patience: number;
    batchSize: number;
    learningRate: number;
    weightDecay: number;
    gpmDims: number;
    /** Local-search starts per prompt for the verifier's optimum (0 = skip the search). */
    searchStarts: number;
    /** Hill-climbing iterations per start. */
    searchIterations: number;
    /** Run the optimum search only on the main cell. */
    searchMainOnly: boolean;
  };
  /**
   * Policy training (every arm). `model` picks the policy every arm trains: `'context'` (the demo's
   * log-linear policy, hand-set initial weights) or `'transformer'` (a {@link TransformerPolicy} warm-started
   * by teacher forcing on the initial context policy's samples, see {@link TransformerStudyOptions}).
   * `learningRate` is the context policy's; the transformer uses `transformer.learningRate`.
   * Defaults to `{ batchSize: 12, groupSize: 8, learningRate: 0.03, beta: 0.04, epsilon: 0.2, model: 'context' }`.
   */
  policy: { batchSize: number; groupSize: number; learningRate: number; beta: number; epsilon: number; model: PolicyModel; transformer: TransformerStudyOptions };
  /** Drift-monitor options (DriftMonitorOptions without dims/beta/epsilon/mode/sham*), merged key by key over the defaults. Defaults to `{ driftTriggers: ['single-axis-gain', 'length-drift'] }`. */
  monitor: Record<string, unknown>;
  /** Adaptive-KL arm: target KL per token (nats) and horizon (sequences). */
  adaptiveKl: { target: number; horizon: number };
  /** Gold evaluation at each budget: responses per prompt (× 12 prompts). */
  evaluation: { perPrompt: number };
  /** Gold exploitation label: window w (steps) and the gold drop δ over it. */
  label: { window: number; goldDrop: number };
}

/** The policy every arm trains: the demo's log-linear context policy, or a small transformer. */
export const POLICY_MODELS = ['context', 'transformer'] as const;
export type PolicyModel = (typeof POLICY_MODELS)[number];

/** The transformer policy of a study (`policy.model: 'transformer'`); any subset may be given, the rest keep their defaults. */
export interface TransformerStudyOptions {
  /** Model width. Defaults to `32`. */
  dModel: number;
  /** Attention heads (divides dModel). Defaults to `2`. */
  heads: number;
  /** Transformer blocks. Defaults to `2`. */
  layers: number;
  /** Feed-forward hidden size. Defaults to `64`. */
  ffnSize: number;
  /** Adam learning rate of the RL updates. Defaults to `0.001`. */
  learningRate: number;
  /** Warm start: responses sampled per prompt from the initial context policy, imitated by teacher forcing. Defaults to `128`. */
  warmStartSamples: number;
  /** Warm start: passes over those responses. Defaults to `4`. */
  warmStartEpochs: number;
  /** Warm start: Adam learning rate. Defaults to `0.003`. */
  warmStartLearningRate: number;
}

export const DEFAULT_POPULATION: readonly AnnotatorType[] = Object.freeze([
  { id: 'content', share: 0.35, relevance: 0.8, fluency: 0.1, lengthFit: 0.1, lengthBias: 0, petBias: 0, temperature: 0.05 },
  { id: 'style', share: 0.35, relevance: 0.1, fluency: 0.8, lengthFit: 0.1, lengthBias: 0, petBias: 0, temperature: 0.05 },
  { id: 'biased', share: 0.3, relevance: 0.2, fluency: 0.2, lengthFit: 0.2, lengthBias: 0.8, petBias: 0.8, temperature: 0.05 },
]);

export const DEFAULT_STUDY_CONFIG: Readonly<StudyConfig> = Object.freeze({
  seeds: 20,
  firstSeed: 1,
  budgets: [120, 480, 960],
  arms: [...ARM_IDS],
  population: DEFAULT_POPULATION.map((t) => ({ ...t })),
  biasedType: 'biased',
  main: { lengthBias: 0.8, petBias: 0.8 },
  sweep: { lengthBias: [0, 0.4, 0.8], petBias: [0, 0.4, 0.8], seeds: 5, arms: ['grpo-bt', 'gprl-monitor', 'gprl-nomon'] as ArmId[] },
  data: { pairs: 3000, heldOutShare: 0.2, triples: 20000 },
  verifiers: { epochs: 30, patience: 3, batchSize: 64, learningRate: 0.003, weightDecay: 1e-4, gpmDims: 3, searchStarts: 3, searchIterations: 20, searchMainOnly: true },
  policy: {
    batchSize: 12, groupSize: 8, learningRate: 0.03, beta: 0.04, epsilon: 0.2, model: 'context' as PolicyModel,
    transformer: { dModel: 32, heads: 2, layers: 2, ffnSize: 64, learningRate: 0.001, warmStartSamples: 128, warmStartEpochs: 4, warmStartLearningRate: 0.003 },
  },
  monitor: { driftTriggers: ['single-axis-gain', 'length-drift'] },
  adaptiveKl: { target: 0.5, horizon: 2000 },
  evaluation: { perPrompt: 50 },
  label: { window: 40, goldDrop: 0.02 },
});

type Check = (name: string, v: unknown) => void;
const posInt: Check = (n, v) => assertPositiveInt(n, v);
const nonNegInt: Check = (n, v) => {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalidValue(n, 'a non-negative integer', v);
};
const num = (min?: number, exclusiveMin = false, max?: number): Check => (n, v) => assertNumber(n, v, { ...(min !== undefined ? { min } : {}), exclusiveMin, ...(max !== undefined ? { max } : {}) });
const bool: Check = (n, v) => {
  if (typeof v !== 'boolean') throw invalidType(n, 'a boolean', v);
};
const numList = (min: number): Check => (n, v) => {
  if (!Array.isArray(v) || v.length === 0) throw invalidType(n, 'a non-empty array of numbers', v);
  v.forEach((x, i) => assertNumber(`${n}[${i}]`, x, { min }));
};
const armList = (allowEmpty: boolean): Check => (n, v) => {
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0)) throw invalidType(n, allowEmpty ? 'an array of arm ids' : 'a non-empty array of arm ids', v);
  v.forEach((x, i) => {
    if (!(ARM_IDS as readonly unknown[]).includes(x)) throw invalidValue(`${n}[${i}]`, `an arm id (${ARM_IDS.join(', ')})`, x);
  });
  if (new Set(v).size !== v.length) throw invalidValue(n, 'distinct arm ids', v);
};

const SECTIONS: Record<string, Record<string, Check>> = {
  main: { lengthBias: num(0), petBias: num(0) },
  sweep: { lengthBias: numList(0), petBias: numList(0), seeds: posInt, arms: armList(true) },
  data: { pairs: (n, v) => { posInt(n, v); if ((v as number) < 20) throw invalidValue(n, 'at least 20', v); }, heldOutShare: num(0, true, 0.9), triples: nonNegInt },
  verifiers: {
    epochs: posInt, patience: posInt, batchSize: posInt, learningRate: num(0, true), weightDecay: num(0), gpmDims: posInt,
    searchStarts: nonNegInt, searchIterations: posInt, searchMainOnly: bool,
  },
  policy: {
    batchSize: posInt, groupSize: (n, v) => { posInt(n, v); if ((v as number) < 2) throw invalidValue(n, 'at least 2', v); }, learningRate: num(0, true), beta: num(0), epsilon: num(0, true, 1),
    model: (n, v) => assertOneOf(n, v, POLICY_MODELS),
    transformer: (n, v) => {
      if (!isObject(v)) throw invalidType(n, 'an object', v);
      const checks: Record<keyof TransformerStudyOptions, Check> = {
        dModel: posInt, heads: posInt, layers: posInt, ffnSize: posInt, learningRate: num(0, true),
        warmStartSamples: posInt, warmStartEpochs: posInt, warmStartLearningRate: num(0, true),
      };
      for (const [key, x] of Object.entries(v)) {
        const check = checks[key as keyof TransformerStudyOptions];
        if (!check) throw unknownKey(`${n}.${key}`, key, Object.keys(checks));
        check(`${n}.${key}`, x);
      }
      const t = { ...DEFAULT_STUDY_CONFIG.policy.transformer, ...v };
      if (t.dModel % t.heads !== 0) throw invalidValue(`${n}.heads`, `a divisor of ${n}.dModel (${t.dModel})`, t.heads);
    },
  },
  adaptiveKl: { target: num(0, true), horizon: num(0, true) },
  evaluation: { perPrompt: posInt },
  label: { window: (n, v) => { posInt(n, v); if ((v as number) < 2) throw invalidValue(n, 'at least 2', v); }, goldDrop: num(0) },
};
const TOP: Record<string, Check> = {
  seeds: posInt,
  firstSeed: (n, v) => { if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalidValue(n, 'a non-negative integer', v); },
  budgets: (n, v) => {
    if (!Array.isArray(v) || v.length === 0) throw invalidType(n, 'a non-empty array of step counts', v);
    v.forEach((x, i) => assertPositiveInt(`${n}[${i}]`, x));
    for (let i = 1; i < v.length; i++) if ((v[i] as number) <= (v[i - 1] as number)) throw invalidValue(n, 'strictly ascending step counts', v);
  },
  arms: armList(false),
  population: (n, v) => {
    if (!Array.isArray(v) || v.length === 0) throw invalidType(n, 'a non-empty array of annotator types', v);
    v.forEach((t, i) => validateAnnotatorType(`${n}[${i}]`, t));
  },
  biasedType: (n, v) => { if (typeof v !== 'string') throw invalidType(n, 'a string', v); },
  monitor: (n, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidType(n, 'an object of DriftMonitorOptions', v);
    for (const key of ['dims', 'beta', 'epsilon', 'mode', 'shamRate', 'shamSeed']) {
      if (key in v) throw invalidValue(`${n}.${key}`, 'not set here (the study sets it per arm: dims from the verifier, beta/epsilon from policy, mode/sham from the arm)', (v as Record<string, unknown>)[key]);
    }
    try {
      new DriftMonitor({ dims: 3, ...(v as object) });
    } catch (err) {
      const e = err as Error;
      const msg = e.message.replace(/options\./g, `${n}.`);
      throw e instanceof TypeError ? new TypeError(msg) : e instanceof RangeError ? new RangeError(msg) : new Error(msg);
    }
  },
};

function unknownKey(name: string, key: string, known: readonly string[]): RangeError {
  return new RangeError(`gprl: invalid ${name}: an unknown key${didYouMean(key, known)}; known keys: ${known.join(', ')}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Merge `partial` over the defaults and validate every value; `where` prefixes error names (e.g. the file). */
export function resolveStudyConfig(partial: unknown = {}, where = 'config'): StudyConfig {
  if (!isObject(partial)) throw invalidType(where, 'a JSON object', partial);
  const known = [...Object.keys(TOP), ...Object.keys(SECTIONS)];
  for (const key of Object.keys(partial)) if (!known.includes(key)) throw unknownKey(`${where}.${key}`, key, known);
  const base = structuredClone(DEFAULT_STUDY_CONFIG) as unknown as Record<string, unknown>;
  for (const [key, check] of Object.entries(TOP)) {
    if (key in partial) {
      check(`${where}.${key}`, partial[key]);
      // monitor options merge over the pre-registered ones (set driftTriggers to change the triggers)
      base[key] = key === 'monitor' ? { ...(base.monitor as object), ...structuredClone(partial[key] as object) } : structuredClone(partial[key]);
    }
  }
  for (const [section, checks] of Object.entries(SECTIONS)) {
    if (!(section in partial)) continue;
    const value = partial[section];
    if (!isObject(value)) throw invalidType(`${where}.${section}`, 'an object', value);
    for (const key of Object.keys(value)) if (!(key in checks)) throw unknownKey(`${where}.${section}.${key}`, key, Object.keys(checks));
    const merged = { ...(base[section] as Record<string, unknown>) };
    for (const [key, v] of Object.entries(value)) {
      checks[key]!(`${where}.${section}.${key}`, v);
      merged[key] = structuredClone(v);
    }
    // The transformer's options merge key by key over the defaults.
    if (section === 'policy' && 'transformer' in value) merged.transformer = { ...DEFAULT_STUDY_CONFIG.policy.transformer, ...(value.transformer as object) };
    base[section] = merged;
  }
  const c = base as unknown as StudyConfig;
  if (!c.population.some((t) => t.id === c.biasedType)) throw invalidValue(`${where}.biasedType`, `the id of a population type (${c.population.map((t) => t.id).join(', ')})`, c.biasedType);
  if (c.sweep.arms.length > 0 && c.sweep.seeds > c.seeds && c.sweep.lengthBias.includes(c.main.lengthBias) && c.sweep.petBias.includes(c.main.petBias)) {
    // The main cell's seeds stand in for its sweep cell; there must be enough of them.
    throw invalidValue(`${where}.sweep.seeds`, `at most seeds (${c.seeds}) when the sweep contains the main cell`, c.sweep.seeds);
  }
  return c;
}

/** Read and resolve a JSON config file; errors name the file and the key. */
export function loadStudyConfig(file: string): StudyConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`gprl: cannot read the study config ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`gprl: the study config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return resolveStudyConfig(json, file);
}

/** `--steps N`: scale the budgets so the largest is N (rounded, at least 1, distinct). */
export function scaleBudgets(budgets: readonly number[], steps: number): number[] {
  const max = budgets[budgets.length - 1]!;
  const out = budgets.map((b) => Math.max(1, Math.round((b * steps) / max)));
  return [...new Set(out)].sort((a, b) => a - b);
}

/** One cell of the design: the bias strengths and the arms run there. */
export interface Cell {
  id: string;
  lengthBias: number;
  petBias: number;
  seeds: number[];
  arms: ArmId[];
  main: boolean;
}

export function cellId(lengthBias: number, petBias: number): string {
  return `L${lengthBias}-P${petBias}`;
}

/** Every cell × seed to run: the main cell (all its arms), then the sweep cells (the main cell's sweep entry reuses its seeds). */
export function studyCells(c: StudyConfig): Cell[] {
  const seeds = (n: number) => Array.from({ length: n }, (_, i) => c.firstSeed + i);
  const main: Cell = { id: cellId(c.main.lengthBias, c.main.petBias), lengthBias: c.main.lengthBias, petBias: c.main.petBias, seeds: seeds(c.seeds), arms: [...c.arms], main: true };
  const cells = [main];
  if (c.sweep.arms.length === 0) return cells; // no sweep
  for (const lb of c.sweep.lengthBias) {
    for (const pb of c.sweep.petBias) {
      if (lb === c.main.lengthBias && pb === c.main.petBias) {
        for (const a of c.sweep.arms) if (!main.arms.includes(a)) main.arms.push(a);
        continue;
      }
      cells.push({ id: cellId(lb, pb), lengthBias: lb, petBias: pb, seeds: seeds(c.sweep.seeds), arms: [...c.sweep.arms], main: false });
    }
  }
  return cells;
}

/** The population of a cell: the biased type takes the cell's biases. */
export function cellPopulation(c: StudyConfig, cell: { lengthBias: number; petBias: number }): AnnotatorType[] {
  return c.population.map((t) => (t.id === c.biasedType ? { ...t, lengthBias: cell.lengthBias, petBias: cell.petBias } : { ...t }));
}
