/**
 * The gold exploitation label and detection quality (src/study/label.ts) on synthetic series, against
 * a direct O(n·w) transcription of the documented rule and hand-worked alarm/episode cases.
 *
 * Rule (docs/study-protocol.md §4): step t = i + 1 (i ≥ 2w − 1) is labelled when
 * mean(proxy[i−w+1..i]) − mean(proxy[i−2w+1..i−w]) > 0 and the same gold difference < −δ.
 */
import { describe, expect, it } from 'vitest';
import { alarmOnsets, detectRun, episodes, exploitationLabel, median } from '../../src/study/label.js';

/** The documented label, straight from the definition (each window summed afresh). */
function referenceLabel(proxy: readonly number[], gold: readonly number[], w: number, delta: number): boolean[] {
  const mean = (x: readonly number[], lo: number, hi: number): number => {
    let s = 0;
    for (let j = lo; j <= hi; j++) s += x[j]!;
    return s / (hi - lo + 1);
  };
  return proxy.map((_, i) => {
    if (i < 2 * w - 1) return false;
    const dp = mean(proxy, i - w + 1, i) - mean(proxy, i - 2 * w + 1, i - w);
    const dg = mean(gold, i - w + 1, i) - mean(gold, i - 2 * w + 1, i - w);
    return dp > 0 && dg < -delta;
  });
}

const n = 120;
const w = 10;
const delta = 0.02;
const rising = Array.from({ length: n }, (_, t) => 0.3 + 0.01 * t);
const falling = Array.from({ length: n }, (_, t) => 0.9 - 0.01 * t);
const flat = Array.from({ length: n }, () => 0.7);
/** Gold flat at 1 until index 50, then falling by 0.01 per step. */
const goldDrop = Array.from({ length: n }, (_, t) => (t < 50 ? 1 : 1 - 0.01 * (t - 50)));

describe('exploitationLabel', () => {
  it('proxy rising, gold flat: no label', () => {
    const l = exploitationLabel(rising, flat, w, delta);
    expect(l).toHaveLength(n);
    expect(l.some(Boolean)).toBe(false);
    expect(l).toEqual(referenceLabel(rising, flat, w, delta));
  });

  it('proxy rising, gold falling by more than δ over w: labelled from the first qualifying step on', () => {
    const l = exploitationLabel(rising, goldDrop, w, delta);
    expect(l).toEqual(referenceLabel(rising, goldDrop, w, delta));
    // By hand: for i ≤ 59 the older gold window is flat (mean 1); the newer window's mean drops by
    // 0.01·Σ_{j=i−9..i} max(0, j − 50)/10. i = 55: (1+…+5)/1000 = 0.015 (not > δ); i = 56:
    // (1+…+6)/1000 = 0.021 > δ. From then on the drop only grows (0.1 once both windows fall).
    const first = l.indexOf(true);
    expect(first).toBe(56);
    for (let i = 0; i < n; i++) expect(l[i]).toBe(i >= 56);
  });

  it('proxy falling and gold falling: no label (the verifier is not being exploited)', () => {
    const l = exploitationLabel(falling, goldDrop, w, delta);
    expect(l.some(Boolean)).toBe(false);
    expect(l).toEqual(referenceLabel(falling, goldDrop, w, delta));
  });

  it('a steady gold drop above δ per w is labelled from the first eligible step; one below δ never', () => {
    // gold falling by s per step ⇒ moving-average difference −s·w: 0.025 > δ, 0.015 < δ.
    const slow = Array.from({ length: n }, (_, t) => 1 - 0.0025 * t);
    const l = exploitationLabel(rising, slow, w, delta);
    // 0.0025·10 = 0.025 > 0.02 from the first eligible step (i = 2w − 1)
    expect(l.indexOf(true)).toBe(2 * w - 1);
    expect(l.slice(0, 2 * w - 1).some(Boolean)).toBe(false);
    const tiny = Array.from({ length: n }, (_, t) => 1 - 0.0015 * t);
    expect(exploitationLabel(rising, tiny, w, delta).some(Boolean)).toBe(false);
  });

  it('agrees with the reference on noisy random-walk series', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 4294967296 - 0.5;
    };
    for (let trial = 0; trial < 5; trial++) {
      const p: number[] = [], g: number[] = [];
      let x = 0.5, y = 0.8;
      for (let t = 0; t < 300; t++) {
        x += 0.004 + 0.02 * rnd();
        y += (t > 120 ? -0.004 : 0) + 0.02 * rnd();
        p.push(x);
        g.push(y);
      }
      for (const ww of [2, 7, 20]) {
        const l = exploitationLabel(p, g, ww, delta);
        const r = referenceLabel(p, g, ww, delta);
        // The running-sum moving average differs from the fresh sums by rounding only (no margin of
        // these series is within rounding of 0 or −δ).
        expect(l).toEqual(r);
        // not vacuous: both labelled and unlabelled steps occur
        if (ww > 2) expect(r.some(Boolean) && !r.every(Boolean)).toBe(true);
      }
    }
  });

  it('rejects mismatched lengths and a window < 2', () => {
    expect(() => exploitationLabel([1, 2], [1], 2, 0)).toThrow(/^gprl: invalid gold\.length/);
    expect(() => exploitationLabel([1, 2], [1, 2], 1, 0)).toThrow(/^gprl: invalid window/);
  });
});

/** A label of `length` steps with the given 1-based inclusive ranges set. */
function labelWith(length: number, ranges: [number, number][]): boolean[] {
  const l = new Array<boolean>(length).fill(false);
  for (const [s, e] of ranges) for (let t = s; t <= e; t++) l[t - 1] = true;
  return l;
}

describe('episodes', () => {
  it('merges gaps shorter than w, keeps gaps of w or more apart (1-based inclusive steps)', () => {
    // gaps measured as start − previous end: 170 − 140 = 30 < 40 (merge); 250 − 180 = 70 (new);
    // 300 − 260 = 40 (not < 40: new)
    const l = labelWith(400, [[100, 140], [170, 180], [250, 260], [300, 300]]);
    expect(episodes(l, 40)).toEqual([
      { start: 100, end: 180 },
      { start: 250, end: 260 },
      { start: 300, end: 300 },
    ]);
    expect(episodes(l, 2)).toEqual([
      { start: 100, end: 140 },
      { start: 170, end: 180 },
      { start: 250, end: 260 },
      { start: 300, end: 300 },
    ]);
    expect(episodes(new Array<boolean>(10).fill(false), 3)).toEqual([]);
    expect(episodes([true, false, true], 3)).toEqual([{ start: 1, end: 3 }]);
  });
});

describe('alarmOnsets', () => {
  it('a firing fewer than w steps after the previous firing continues its alarm', () => {
    expect(alarmOnsets([70, 95, 96, 300], 40)).toEqual([70, 300]);
    // a chain of firings each < w apart is one alarm, however long it lasts
    expect(alarmOnsets([10, 40, 70, 100, 130], 40)).toEqual([10]);
    // exactly w apart starts a new alarm
    expect(alarmOnsets([10, 50, 89, 129], 40)).toEqual([10, 50, 129]);
    expect(alarmOnsets([], 5)).toEqual([]);
  });
});

describe('detectRun', () => {
  it('one episode [100, 140], firings 70, 95, 96, 300, w = 40, worked by hand', () => {
    // alarms: 70 (95 and 96 continue it), 300. 70 ∈ [100 − 40, 140] detects the episode with lead
    // 100 − 70 = 30; 300 detects nothing. precision 1/2, recall 1/1.
    const l = labelWith(400, [[100, 140]]);
    const d = detectRun(l, [70, 95, 96, 300], 40);
    expect(d).toEqual({
      steps: 400,
      episodes: 1,
      detected: 1,
      leads: [30],
      alarms: [70, 300],
      trueAlarms: 1,
      firings: 4,
      labelledSteps: 41,
    });
  });

  it('an alarm before s − w misses; one at s − w hits; one inside the episode has a negative lead; the first hit counts', () => {
    const l = labelWith(600, [[100, 140], [400, 420]]);
    // alarms: 59 (misses [100,140]: 59 < 60), 130 (hits, lead −30), 360 (= 400 − 40: hits, lead 40), 415 (hits too, not first)
    const d = detectRun(l, [59, 130, 360, 415], 40);
    expect(d.alarms).toEqual([59, 130, 360, 415]);
    expect(d.episodes).toBe(2);
    expect(d.detected).toBe(2);
    expect(d.leads).toEqual([-30, 40]);
    expect(d.trueAlarms).toBe(3);
    expect(d.labelledSteps).toBe(41 + 21);
    // no firings: nothing detected, no alarms
    const none = detectRun(l, [], 40);
    expect(none).toMatchObject({ detected: 0, leads: [], alarms: [], trueAlarms: 0, firings: 0 });
  });

  it('median', () => {
    expect(median([])).toBeNull();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 10])).toBe(3.5);
  });
});
