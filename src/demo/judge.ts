/**
 * The gold judge: the unbiased evaluator of the demo. It sees the hidden gold quality (the prompt's
 * weighted sum of relevance, fluency and length fit) and prefers the better response; it has no
 * preference for length or for any token as such.
 */
import { goldAxes, goldQuality, type Prompt } from './task.js';

/** Qualities closer than this are a tie (the gold quality is a ratio of small integers; 1e-9 only absorbs rounding). */
export const TIE_TOLERANCE = 1e-9;

/** 1 when `a` is better than `b` for `prompt`, 0 when worse, 0.5 on a tie. */
export function goldPreference(prompt: Prompt, a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = goldQuality(prompt, a) - goldQuality(prompt, b);
  if (Math.abs(d) <= TIE_TOLERANCE) return 0.5;
  return d > 0 ? 1 : 0;
}

/** Gold quality and axes of a response (re-exported for callers that only import the judge). */
export { goldAxes, goldQuality };
