/** Public types shared by the kernels. Layout conventions: design §2 (row-major [B][G][2k], [B][G][k], [B][k], [B][G]). */

/** Shape of a batch: `groups` prompts (B), `groupSize` responses each (G), `dims` preference dimensions (k). */
export type GroupShape = { groups: number; groupSize: number; dims: number };

/** Which implementation runs a kernel. `'auto'` picks CUDA when a device works, else C++, else TypeScript. */
export type Backend = 'auto' | 'cuda' | 'cpu' | 'js';

/** The implementation that actually ran. */
export type ResolvedBackend = 'cuda' | 'cpu' | 'js';

/** Group score mode (design §2.2). */
export type ScoreMode = 'logit' | 'winrate';

/** Normalization scheme (design §2.3). */
export type NormalizeMode = 'per-dimension' | 'scalar' | 'gdpo';

/** Standard-deviation convention. */
export type StdMode = 'unbiased' | 'biased';

export interface GroupScoresOptions {
  /** `'logit'` (closed form, O(G·k)) or `'winrate'` (O(G²·k)). Defaults to `'logit'`. */
  mode?: ScoreMode;
  /** Temperature of the win-rate sigmoid, > 0. Used only by `'winrate'`. Defaults to `0.1`. */
  tau?: number;
  /** `B·G` entries, 1 = valid, 0 = masked. Defaults to all valid. */
  mask?: Uint8Array;
  /** Defaults to `'auto'`. */
  backend?: Backend;
}

/**
 * Caller-owned output arrays (advanced): each given array is written in full and returned in the
 * result instead of a fresh allocation, so a training loop that calls the kernel every step reuses
 * its memory (fresh multi-megabyte arrays cost page faults on first write). Lengths must match the
 * shape; arrays must not overlap each other or the inputs.
 */
export interface AdvantageOutputBuffers {
  /** `B·G` */
  advantages?: Float32Array;
  /** `B·G·k` */
  dimAdvantages?: Float32Array;
  /** `B·k` */
  dimMean?: Float32Array;
  /** `B·k` */
  dimStd?: Float32Array;
  /** `B·G·k` (`gprlAdvantages` only) */
  scores?: Float32Array;
}

export interface AdvantageOptions {
  /** GPM eigenvalues λ, `B·k` entries, finite and ≥ 0 with a positive sum per group. Defaults to uniform. */
  lambdas?: Float32Array;
  /** Drift-controller dimension weights m, `k` entries, finite and ≥ 0 with a positive sum. Defaults to all 1. */
  dimWeights?: Float32Array;
  /** `B·G` entries, 1 = valid, 0 = masked. Defaults to all valid. */
  mask?: Uint8Array;
  /** ε added to the standard deviation, ≥ 0. Defaults to `1e-4`. */
  eps?: number;
  /** A standard deviation ≤ stdFloor marks the normalization degenerate (advantage 0), ≥ 0. Defaults to `1e-6`. */
  stdFloor?: number;
  /** `'unbiased'` (Bessel, as TRL and GDPO) or `'biased'`. Defaults to `'unbiased'`. */
  std?: StdMode;
  /** `'per-dimension'` (GPRL), `'scalar'` (GRPO on the aggregate score) or `'gdpo'`. Defaults to `'per-dimension'`. */
  normalize?: NormalizeMode;
  /** Defaults to `'auto'`. */
  backend?: Backend;
  /** Preallocated output arrays, each optional. Defaults to fresh arrays. */
  out?: AdvantageOutputBuffers;
}

/** The output arrays of `gprlAdvantages`, as named in its result and in `options.outputs`. */
export type GprlOutputName = 'advantages' | 'dimAdvantages' | 'dimMean' | 'dimStd' | 'scores';

export interface GprlAdvantageOptions extends AdvantageOptions {
  /**
   * The outputs to compute and return, e.g. `['advantages', 'dimMean', 'dimStd']`. An output not
   * listed is neither written nor allocated, and comes back as an empty `Float32Array` (length 0);
   * the counts are always computed. An `options.out` array may only be given for a listed output.
   * Defaults to all five.
   */
  outputs?: readonly GprlOutputName[];
  /** Group score mode, `'logit'` (closed form, O(G·k)) or `'winrate'` (O(G²·k)). Defaults to `'logit'`. */
  mode?: ScoreMode;
  /** Temperature of the win-rate sigmoid, > 0. Used only by `'winrate'`. Defaults to `0.1`. */
  tau?: number;
}

export interface AdvantageResult {
  /** Aggregated advantage per response, `B·G`. Invalid responses get 0. */
  advantages: Float32Array;
  /** Normalized per-dimension advantages Â_l, `B·G·k`. */
  dimAdvantages: Float32Array;
  /** Per-group, per-dimension mean of the scores over valid responses, `B·k`. */
  dimMean: Float32Array;
  /** Per-group, per-dimension standard deviation of the scores over valid responses, `B·k` (±Infinity beyond float32). */
  dimStd: Float32Array;
  /** Number of normalizations whose std was ≤ stdFloor (see README, "Degenerate normalizations"). */
  degenerate: number;
  /** Number of responses excluded: masked, or with a non-finite input value. */
  masked: number;
  /** The implementation that ran. */
  backend: ResolvedBackend;
}

export interface GprlAdvantageResult extends AdvantageResult {
  /**
   * Per-dimension group scores ŝ, `B·G·k` (NaN for invalid responses; ±Infinity for a valid response
   * whose float64 score exceeds float32, see docs/kernels.md, "Float32 overflow").
   */
  scores: Float32Array;
}

export interface PreferenceMatrixOptions {
  /** Eigenvalues λ, `B·k` entries. Defaults to all 1 (a head without a gate). */
  lambdas?: Float32Array;
  /** Temperature τ > 0. Defaults to `0.1`. */
  tau?: number;
  /** Defaults to `'auto'`. */
  backend?: Backend;
}

export interface BackendInfo {
  /** Backends usable now, best first, e.g. `['cuda', 'cpu', 'js']`. */
  available: ResolvedBackend[];
  /** What `'auto'` resolves to for memory-bound calls (CUDA only for large O(G²) calls: docs/kernels.md). */
  default: ResolvedBackend;
  /** CUDA device name when one works. */
  device?: string;
  /** Why CUDA is not available (not compiled in, no driver, no device). */
  cudaError?: string;
  /** Why the native addon is not available, when it is not. */
  addonError?: string;
  /** How the loaded addon was built. */
  build?: { builder: string; cuda: boolean; path: string };
}
