import { describe, expect, it } from 'vitest';
import { BiasedAnnotator } from '../../src/demo/annotators.js';
import { goldPreference } from '../../src/demo/judge.js';
import { allPrompts, goldQuality, VOCAB, MAX_LEN } from '../../src/demo/task.js';
import { Rng } from '../../src/random.js';

describe('BiasedAnnotator', () => {
  it('computes the documented utility', () => {
    const a = new BiasedAnnotator({ lengthBias: 0.25, petBias: 0.1, temperature: 0.05 });
    const p = { topic: 0, length: 4 };
    // Q = 1 (see the gold-judge test), + 0.25·4/16, no pet token.
    expect(a.utility(p, [0, 1, 2, 0])).toBeCloseTo(1 + 0.25 * 4 / 16, 12);
    // Two of four tokens are 'truly': + 0.1·2/4.
    const r = [0, 15, 1, 15];
    expect(a.utility(p, r)).toBeCloseTo(goldQuality(p, r) + 0.25 * 4 / 16 + 0.1 * 0.5, 12);
    // P(a ≻ b) = σ(ΔU/T) and P(a ≻ b) + P(b ≻ a) = 1.
    const pa = a.probability(p, [0, 1, 2, 0], r);
    const du = a.utility(p, [0, 1, 2, 0]) - a.utility(p, r);
    expect(pa).toBeCloseTo(1 / (1 + Math.exp(-du / 0.05)), 12);
    expect(pa + a.probability(p, r, [0, 1, 2, 0])).toBeCloseTo(1, 12);
  });

  it('rejects bad options', () => {
    expect(() => new BiasedAnnotator({ temperature: 0 })).toThrow(/options.temperature/);
    expect(() => new BiasedAnnotator({ lengthBias: -1 })).toThrow(/options.lengthBias/);
  });

  it('prefers the longer response more often than the gold judge does', () => {
    const rng = new Rng(7);
    const annotator = new BiasedAnnotator();
    const prompts = allPrompts();
    const randomResponse = (): number[] => Array.from({ length: 1 + rng.int(MAX_LEN) }, () => rng.int(VOCAB));
    let annLonger = 0, goldLonger = 0, annCount = 0, goldCount = 0;
    for (let i = 0; i < 4000; i++) {
      const p = prompts[i % prompts.length]!;
      const a = randomResponse();
      const b = randomResponse();
      if (a.length === b.length) continue;
      const pair = annotator.label(p, a, b, rng);
      annCount++;
      if (pair.chosen.length > pair.rejected.length) annLonger++;
      const g = goldPreference(p, a, b);
      if (g === 0.5) continue;
      goldCount++;
      if ((g === 1) === a.length > b.length) goldLonger++;
    }
    const ann = annLonger / annCount;
    const gold = goldLonger / goldCount;
    // With 4000 pairs the standard error of each share is ≈ 0.008; the bias gap is far larger.
    expect(ann - gold).toBeGreaterThan(0.1);
  });

  it('is unbiased without its biases', () => {
    // lengthBias = petBias = 0: the annotator's utility is the gold quality.
    const a = new BiasedAnnotator({ lengthBias: 0, petBias: 0 });
    const p = { topic: 3, length: 8 };
    const r = [9, 10, 11, 15, 12];
    expect(a.utility(p, r)).toBe(goldQuality(p, r));
  });
});
