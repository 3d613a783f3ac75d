/**
 * Adaptive KL coefficient (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences"):
 * a proportional controller that moves the KL penalty β so that the measured policy KL tracks a target.
 *
 *   e = clip(KL / target − 1, −clip, +clip)
 *   β ← β · (1 + e · n / horizon)
 *
 * `n` is the number of sequences the KL was measured on (the controller moves faster with more
 * evidence), `horizon` the number of sequences over which a persistent error compounds into a
 * factor of about exp(±clip). The result is kept ≥ `minBeta`, so a very large `n / horizon`
 * (which can make the factor ≤ 0) cannot drive β to zero or below, from where a multiplicative
 * controller would never recover.
 */
import { assertKnownKeys, assertNumber, assertOptionsObject, invalidType, invalidValue } from '../errors.js';

export interface AdaptiveKlOptions {
  /** Initial KL coefficient β, finite and > 0 (a multiplicative controller cannot leave 0). */
  initBeta: number;
  /** Target KL (nats), finite and > 0. */
  target: number;
  /** Horizon in sequences, finite and > 0 (Ziegler et al. use 10000). */
  horizon: number;
  /** Bound on the proportional error `KL/target − 1`, in (0, 1]. Defaults to `0.2`. */
  clip?: number;
  /** Lower bound on β, finite and > 0, ≤ initBeta. Defaults to `1e-6`. */
  minBeta?: number;
}

/** Serializable controller state (for checkpoints). */
export interface AdaptiveKlState {
  value: number;
}

const KNOWN = ['initBeta', 'target', 'horizon', 'clip', 'minBeta'] as const;

export class AdaptiveKlController {
  readonly target: number;
  readonly horizon: number;
  readonly clip: number;
  readonly minBeta: number;
  private beta: number;

  constructor(options: AdaptiveKlOptions, name = 'options') {
    assertOptionsObject(name, options);
    if (options === undefined) throw invalidType(name, 'an options object', options);
    assertKnownKeys(name, options as unknown as Record<string, unknown>, KNOWN);
    assertNumber(`${name}.initBeta`, options.initBeta, { min: 0, exclusiveMin: true });
    assertNumber(`${name}.target`, options.target, { min: 0, exclusiveMin: true });
    assertNumber(`${name}.horizon`, options.horizon, { min: 0, exclusiveMin: true });
    const clip = options.clip ?? 0.2;
    assertNumber(`${name}.clip`, clip, { min: 0, max: 1, exclusiveMin: true });
    const minBeta = options.minBeta ?? 1e-6;
    assertNumber(`${name}.minBeta`, minBeta, { min: 0, exclusiveMin: true });
    if (minBeta > options.initBeta) throw invalidValue(`${name}.minBeta`, `a number <= initBeta (${options.initBeta})`, minBeta);
    this.target = options.target;
    this.horizon = options.horizon;
    this.clip = clip;
    this.minBeta = minBeta;
    this.beta = options.initBeta;
  }

  /** The current β. */
  get value(): number {
    return this.beta;
  }

  /**
   * One controller step with the KL measured on `n` sequences; returns the new β.
   * `kl` must be finite (a non-finite KL is a RangeError, never a silent update); `n` finite and > 0.
   */
  update(kl: number, n: number): number {
    assertNumber('kl', kl);
    assertNumber('n', n, { min: 0, exclusiveMin: true });
    const error = Math.min(this.clip, Math.max(-this.clip, kl / this.target - 1));
    this.beta = Math.max(this.minBeta, this.beta * (1 + (error * n) / this.horizon));
    return this.beta;
  }

  getState(): AdaptiveKlState {
    return { value: this.beta };
  }

  setState(state: AdaptiveKlState, name = 'state'): void {
    if (state === null || typeof state !== 'object') throw invalidType(name, 'an AdaptiveKlState object', state);
    assertNumber(`${name}.value`, state.value, { min: this.minBeta });
    this.beta = state.value;
  }
}
