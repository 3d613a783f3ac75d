/**
 * A hidden population of annotators (the study's preference data, docs/study-protocol.md). Each
 * labelled pair is judged by one annotator drawn at random from a few *types*; the learner never
 * sees which. A type's utility of a response is a weighted sum of the gold axes plus, for a biased
 * type, a pull toward length and toward the pet word:
 *
 *   U_t(y) = r_t·relevance + f_t·fluency + l_t·lengthFit + lengthBias_t·|y|/16 + petBias_t·share(truly, y)
 *
 * and it prefers `a` over `b` with probability σ((U_t(a) − U_t(b)) / temperature_t). The aggregate
 * preference P(a ≻ b) = Σ_t share_t · σ(ΔU_t / T_t) is generally not of the form σ(r(a) − r(b)):
 * a scalar (Bradley-Terry) reward is misspecified for it, and it can be intransitive.
 */
import { assertNumber, invalidType, invalidValue } from '../errors.js';
import type { Rng } from '../random.js';
import { countToken, goldAxes, MAX_LEN, PET_TOKEN, type Prompt } from './task.js';

export interface AnnotatorType {
  /** Name of the type (reports only). */
  id: string;
  /** Probability that a pair is labelled by this type, > 0 (the shares are normalized to sum 1). */
  share: number;
  /** Weight of the relevance axis, ≥ 0. */
  relevance: number;
  /** Weight of the fluency axis, ≥ 0. */
  fluency: number;
  /** Weight of the length-fit axis, ≥ 0. */
  lengthFit: number;
  /** Utility per unit of |y|/16, ≥ 0 (the length bias). */
  lengthBias: number;
  /** Utility per unit of pet-word share, ≥ 0 (the pet-word bias). */
  petBias: number;
  /** Choice temperature, > 0 (smaller = more decisive). */
  temperature: number;
}

/** One labelled comparison: `chosen` was preferred over `rejected` for `prompt`. */
export interface LabelledPair {
  prompt: Prompt;
  chosen: number[];
  rejected: number[];
  /** Index of the annotator type that labelled it (hidden from every learner; reports only). */
  type: number;
}

const TYPE_KEYS = ['id', 'share', 'relevance', 'fluency', 'lengthFit', 'lengthBias', 'petBias', 'temperature'] as const;

export function validateAnnotatorType(name: string, t: unknown): asserts t is AnnotatorType {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw invalidType(name, 'an annotator type object', t);
  const o = t as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(TYPE_KEYS as readonly string[]).includes(key)) throw invalidValue(`${name}.${key}`, `a known key (${TYPE_KEYS.join(', ')})`, key);
  }
  if (typeof o.id !== 'string' || o.id.length === 0) throw invalidType(`${name}.id`, 'a non-empty string', o.id);
  assertNumber(`${name}.share`, o.share, { min: 0, exclusiveMin: true });
  for (const key of ['relevance', 'fluency', 'lengthFit', 'lengthBias', 'petBias'] as const) assertNumber(`${name}.${key}`, o[key], { min: 0 });
  assertNumber(`${name}.temperature`, o.temperature, { min: 0, exclusiveMin: true });
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export class AnnotatorPopulation {
  readonly types: readonly AnnotatorType[];
  /** Normalized shares (sum 1), in the order of `types`. */
  readonly shares: readonly number[];

  constructor(types: readonly AnnotatorType[]) {
    if (!Array.isArray(types) || types.length === 0) throw invalidValue('types', 'a non-empty array of annotator types', types);
    types.forEach((t, i) => validateAnnotatorType(`types[${i}]`, t));
    const total = types.reduce((a, t) => a + t.share, 0);
    this.types = types.map((t) => ({ ...t }));
    this.shares = types.map((t) => t.share / total);
  }

  /** Utility of `response` for type `type`. */
  utility(type: number, prompt: Prompt, response: ArrayLike<number>): number {
    const t = this.types[type]!;
    const n = response.length;
    const [rel, flu, fit] = goldAxes(prompt, response);
    const pet = n > 0 ? countToken(response, PET_TOKEN) / n : 0;
    return t.relevance * rel + t.fluency * flu + t.lengthFit * fit + (t.lengthBias * n) / MAX_LEN + t.petBias * pet;
  }

  /** P(type `type` prefers `a` over `b`). */
  typeProbability(type: number, prompt: Prompt, a: ArrayLike<number>, b: ArrayLike<number>): number {
    return sigmoid((this.utility(type, prompt, a) - this.utility(type, prompt, b)) / this.types[type]!.temperature);
  }

  /** Aggregate P(a ≻ b): the mixture over types. */
  probability(prompt: Prompt, a: ArrayLike<number>, b: ArrayLike<number>): number {
    let p = 0;
    for (let t = 0; t < this.types.length; t++) p += this.shares[t]! * this.typeProbability(t, prompt, a, b);
    return p;
  }

  /** Draw a type by share, then its label. */
  label(prompt: Prompt, a: number[], b: number[], rng: Rng): LabelledPair {
    let u = rng.next();
    let type = this.types.length - 1;
    for (let t = 0; t < this.types.length; t++) {
      u -= this.shares[t]!;
      if (u < 0) {
        type = t;
        break;
      }
    }
    return rng.next() < this.typeProbability(type, prompt, a, b) ? { prompt, chosen: a, rejected: b, type } : { prompt, chosen: b, rejected: a, type };
  }
}

/** Is the triple (a, b, c) cyclic under the pairwise probabilities p(x, y) = P(x ≻ y)? A cycle needs all three beyond `margin` from 1/2. */
export function isCyclic(pab: number, pbc: number, pca: number, margin = 0): boolean {
  const fwd = pab > 0.5 + margin && pbc > 0.5 + margin && pca > 0.5 + margin;
  const back = pab < 0.5 - margin && pbc < 0.5 - margin && pca < 0.5 - margin;
  return fwd || back;
}

export interface CyclicTripleReport {
  /** Triples drawn (distinct responses of one prompt's pool). */
  triples: number;
  /** Share of triples on which the aggregate preference is cyclic (A ≻ B ≻ C ≻ A). */
  share: number;
  /** Share that is cyclic with every pairwise probability at least 0.05 from 1/2. */
  clearShare: number;
}

/** Measure the aggregate intransitivity: draw `triples` triples of distinct responses from one prompt's pool each. */
export function cyclicTriples(
  population: AnnotatorPopulation,
  prompts: readonly Prompt[],
  pools: readonly (readonly number[][])[],
  triples: number,
  rng: Rng,
  visit?: (prompt: number, a: number[], b: number[], c: number[], cyclic: boolean) => void,
): CyclicTripleReport {
  let cyc = 0, clear = 0, drawn = 0;
  for (let j = 0; j < triples; j++) {
    const b = rng.int(prompts.length);
    const pool = pools[b]!;
    if (pool.length < 3) continue;
    const i1 = rng.int(pool.length);
    const i2 = rng.int(pool.length);
    const i3 = rng.int(pool.length);
    if (i1 === i2 || i2 === i3 || i1 === i3) continue;
    const [x, y, z] = [pool[i1]!, pool[i2]!, pool[i3]!];
    const p = prompts[b]!;
    const pab = population.probability(p, x, y), pbc = population.probability(p, y, z), pca = population.probability(p, z, x);
    drawn++;
    const c = isCyclic(pab, pbc, pca);
    if (c) cyc++;
    if (isCyclic(pab, pbc, pca, 0.05)) clear++;
    visit?.(b, x, y, z, c);
  }
  return { triples: drawn, share: drawn ? cyc / drawn : 0, clearShare: drawn ? clear / drawn : 0 };
}
