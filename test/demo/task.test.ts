import { describe, expect, it } from 'vitest';
import { goldAxes, goldQuality, allowedBigram, responseFeatures, RESPONSE_FEATURES, promptTokens, parsePromptTokens, responseWords, allPrompts, EOS, MAX_LEN, render } from '../../src/demo/task.js';
import { goldPreference } from '../../src/demo/judge.js';

// Token ids: wave 0, salt 1, boat 2, cloud 3, ..., the 12, and 13, of 14, truly 15.
const sea4 = { topic: 0, length: 4 };
const sea8 = { topic: 0, length: 8 };

describe('gold judge', () => {
  it('scores hand-computed responses', () => {
    // The sea cycle wave→salt→boat→wave, fully on topic, exact length: every axis 1.
    expect(goldAxes(sea4, [0, 1, 2, 0])).toEqual([1, 1, 1]);
    expect(goldQuality(sea4, [0, 1, 2, 0])).toBeCloseTo(1, 12);
    // wave wave: on topic, wave→wave breaks the grammar, half the requested length.
    expect(goldAxes(sea4, [0, 0])).toEqual([1, 0, 0.5]);
    expect(goldQuality(sea4, [0, 0])).toBeCloseTo(0.6 * 1 + 0.25 * 0 + 0.15 * 0.5, 12);
    // the and: off topic, function→function is ungrammatical.
    expect(goldAxes(sea4, [12, 13])).toEqual([0, 0, 0.5]);
    // wave the cloud: 1/3 relevant; wave→the and the→cloud are both grammatical.
    expect(goldAxes(sea4, [0, 12, 3])).toEqual([1 / 3, 1, 0.75]);
    // 12 words for 4 requested: length fit clipped at 0.
    expect(goldAxes(sea4, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])[2]).toBe(0);
    // Empty response: worthless.
    expect(goldAxes(sea4, [])).toEqual([0, 0, 0]);
    expect(goldQuality(sea4, [])).toBe(0);
    // A non-word token (a prompt marker) is irrelevant and breaks the grammar on both sides.
    expect(goldAxes(sea4, [0, 20, 1])).toEqual([2 / 3, 0, 0.75]);
  });

  it('weights the axes per topic', () => {
    // Same response, different topic weights: sky weighs fluency 0.6.
    const r = [3, 4, 5, 3]; // cloud star wind cloud: the sky cycle
    expect(goldQuality({ topic: 1, length: 4 }, r)).toBeCloseTo(1, 12);
    const offTopic = [3, 4, 5, 3];
    // On a city prompt the same words are irrelevant: 0.25·0 + 0.15·1 + 0.6·1.
    expect(goldQuality({ topic: 2, length: 4 }, offTopic)).toBeCloseTo(0.75, 12);
  });

  it('has no length preference of its own', () => {
    // 4 and 12 cycle words for 8 requested: same relevance, fluency and length fit → a tie.
    const short = [0, 1, 2, 0];
    const long = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2];
    expect(goldPreference(sea8, short, long)).toBe(0.5);
    expect(goldPreference(sea8, long, short)).toBe(0.5);
  });

  it('is antisymmetric', () => {
    const a = [0, 1, 2];
    const b = [12, 0, 0];
    expect(goldPreference(sea4, a, b)).toBe(1);
    expect(goldPreference(sea4, b, a)).toBe(0);
    expect(goldPreference(sea4, a, a)).toBe(0.5);
  });

  it('follows the hidden grammar', () => {
    expect(allowedBigram(0, 1)).toBe(true); // wave → salt
    expect(allowedBigram(1, 0)).toBe(false); // salt → wave (not the cycle)
    expect(allowedBigram(2, 0)).toBe(true); // boat → wave
    expect(allowedBigram(0, 15)).toBe(false); // wave → truly: the pet word never fits
    expect(allowedBigram(15, 12)).toBe(false); // truly → the
    expect(allowedBigram(12, 15)).toBe(false); // the → truly
    expect(allowedBigram(0, 12)).toBe(true); // wave → the
    expect(allowedBigram(12, 9)).toBe(true); // the → tree
    expect(allowedBigram(0, 3)).toBe(false); // wave → cloud (other topic)
  });
});

describe('task encoding', () => {
  it('round-trips prompts and strips EOS', () => {
    for (const p of allPrompts()) expect(parsePromptTokens(promptTokens(p))).toEqual(p);
    expect(() => parsePromptTokens([0, 1])).toThrow(RangeError);
    expect(responseWords([0, 1, EOS, 2])).toEqual([0, 1]);
    expect(responseWords([0, 1])).toEqual([0, 1]);
    expect(render([0, 15])).toBe('wave truly');
    expect(render([])).toBe('∅');
  });

  it('builds response features with the documented layout', () => {
    const f = responseFeatures(sea4, [0, 1, 15]);
    expect(f.length).toBe(RESPONSE_FEATURES);
    // prompt one-hots: topic 0, length index 0, constant.
    expect(Array.from(f.subarray(0, 8))).toEqual([1, 0, 0, 0, 1, 0, 0, 1]);
    expect(f[8]).toBeCloseTo(3 / MAX_LEN, 7); // length/16
    expect(f[9]).toBe(0); // non-word count
    expect(f[10 + 15]).toBeCloseTo(1 / MAX_LEN, 7); // unigram 'truly'
    // Ratio features (the last 20): relevance 2/3, fluency 1/2 (wave→salt yes, salt→truly no),
    // length fit 1 − |3 − 4|/4, pet share 1/3; then topic 0's copy of the same four, other topics 0.
    const ratio = Array.from(f.subarray(RESPONSE_FEATURES - 20));
    const want = [2 / 3, 1 / 2, 0.75, 1 / 3];
    ratio.slice(0, 8).forEach((v, i) => expect(v).toBeCloseTo(want[i % 4]!, 6));
    expect(ratio.slice(8)).toEqual(new Array(12).fill(0));
    // All entries finite, non-negative.
    expect(Array.from(f).every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
  });
});
