/**
 * Biased annotators: they label preference pairs the way human data is biased. An annotator's
 * utility of a response is its gold quality plus a pull toward longer answers and toward a pet
 * token:
 *
 *   U(y) = Q(x, y) + lengthBias · |y| / 16 + petBias · count(truly, y) / max(1, |y|)
 *
 * and it prefers `a` over `b` with probability σ((U(a) − U(b)) / temperature). A verifier trained
 * on these labels inherits both biases: that is the exploitable axis the demo's policies meet.
 */
import { assertNumber } from '../errors.js';
import type { Rng } from '../random.js';
import { countToken, goldQuality, MAX_LEN, PET_TOKEN, type Prompt } from './task.js';

export interface AnnotatorOptions {
  /** Utility added per unit of length/16 (a 16-token answer gains this much over an empty one), ≥ 0. Defaults to `0.25`. */
  lengthBias?: number;
  /** Utility added per unit of pet-token fraction (an all-`truly` answer gains this much), ≥ 0. Defaults to `0.1`. */
  petBias?: number;
  /** Temperature of the annotator's choice (smaller = more decisive), > 0. Defaults to `0.05`. */
  temperature?: number;
}

export const DEFAULT_ANNOTATOR: Required<AnnotatorOptions> = { lengthBias: 0.25, petBias: 0.1, temperature: 0.05 };

/** One labelled comparison: `chosen` was preferred over `rejected` for `prompt`. */
export interface PreferencePair {
  prompt: Prompt;
  chosen: number[];
  rejected: number[];
}

export class BiasedAnnotator {
  readonly lengthBias: number;
  readonly petBias: number;
  readonly temperature: number;

  constructor(options: AnnotatorOptions = {}) {
    const o = { ...DEFAULT_ANNOTATOR, ...options };
    assertNumber('options.lengthBias', o.lengthBias, { min: 0 });
    assertNumber('options.petBias', o.petBias, { min: 0 });
    assertNumber('options.temperature', o.temperature, { min: 0, exclusiveMin: true });
    this.lengthBias = o.lengthBias;
    this.petBias = o.petBias;
    this.temperature = o.temperature;
  }

  /** The annotator's (biased) utility of a response. */
  utility(prompt: Prompt, response: ArrayLike<number>): number {
    const n = response.length;
    return goldQuality(prompt, response) + (this.lengthBias * n) / MAX_LEN + (this.petBias * countToken(response, PET_TOKEN)) / Math.max(1, n);
  }

  /** Probability that the annotator prefers `a` over `b`. */
  probability(prompt: Prompt, a: ArrayLike<number>, b: ArrayLike<number>): number {
    const z = (this.utility(prompt, a) - this.utility(prompt, b)) / this.temperature;
    return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  }

  /** Draw one label: the pair ordered as the annotator chose. */
  label(prompt: Prompt, a: number[], b: number[], rng: Rng): PreferencePair {
    return rng.next() < this.probability(prompt, a, b) ? { prompt, chosen: a, rejected: b } : { prompt, chosen: b, rejected: a };
  }
}
