/** "Did you mean …?" for unknown flags and keys: the closest candidate by edit distance, when it is close. */

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent transpositions (case-sensitive). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word` if it is within max(1, ⌊length/3⌋) edits (ties: the first in
 * `candidates`), or a candidate that starts with `word` (at least 3 characters), else null.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== null && bestD <= Math.max(1, Math.floor(word.length / 3))) return best;
  if (word.length >= 3) return candidates.find((c) => c.startsWith(word)) ?? null;
  return null;
}

/** ` (did you mean X?)` or the empty string. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === null ? '' : ` (did you mean ${c}?)`;
}
