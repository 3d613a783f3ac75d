/**
 * The study's transformer path (policy.model: 'transformer') on a tiny design: the warm start
 * imitates the initial context policy (its teacher-forcing loss falls), and a unit runs end to end,
 * deterministically given the config and the seed.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { setTfBackend, tf } from '../../src/tf.js';
import { resolveStudyConfig, studyCells } from '../../src/study/config.js';
import { runUnit, warmStartTransformer } from '../../src/study/unit.js';
import { TransformerPolicy } from '../../src/policy/transformerPolicy.js';
import { ContextPolicy } from '../../src/demo/policy.js';
import { allPrompts, EOS, MAX_LEN, POLICY_VOCAB, promptTokens } from '../../src/demo/task.js';

const config = resolveStudyConfig({
  seeds: 1,
  budgets: [2],
  arms: ['grpo-bt'],
  sweep: { arms: [] },
  data: { pairs: 60, triples: 0 },
  verifiers: { epochs: 1, searchStarts: 0 },
  evaluation: { perPrompt: 1 },
  policy: { batchSize: 2, groupSize: 2, model: 'transformer', transformer: { dModel: 8, heads: 2, layers: 1, ffnSize: 16, warmStartSamples: 32, warmStartEpochs: 4, warmStartLearningRate: 0.02 } },
});

describe('study with policy.model transformer', () => {
  beforeAll(async () => {
    await setTfBackend('wasm');
  });

  it('the warm start lowers the NLL of the initial context policy\'s responses', async () => {
    const before = tf.memory().numTensors;
    const weights = await warmStartTransformer(config, 5);
    const prompts = allPrompts().map(promptTokens);
    const teacher = new ContextPolicy();
    const s = teacher.sample(prompts, { groupSize: 8, maxLength: MAX_LEN, eosToken: EOS, seed: 99 });
    teacher.dispose();
    const expanded = s.responses.map((_, n) => prompts[Math.floor(n / 8)]!);
    const t = config.policy.transformer;
    const fresh = new TransformerPolicy({ vocabSize: POLICY_VOCAB, dModel: t.dModel, heads: t.heads, layers: t.layers, ffnSize: t.ffnSize, maxLength: 2 + MAX_LEN });
    const nll = (): number => tf.tidy(() => -tf.sum(fresh.logProbs(expanded, s.responses).logp).dataSync()[0]!);
    const untrained = nll();
    fresh.setWeights(weights);
    const warm = nll();
    fresh.dispose();
    // A no-op warm start gives 1.0; 24 Adam steps on a d = 8 model take it to ≈ 0.86 (the teacher's own entropy bounds it below ≈ 0.5).
    expect(warm).toBeLessThan(0.9 * untrained);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('a unit runs end to end and is deterministic', async () => {
    const cell = studyCells(config)[0]!;
    const a = await runUnit(config, cell, 1);
    const b = await runUnit(config, cell, 1);
    const strip = (r: object): string => JSON.stringify(r, (k, v: unknown) => (k === 'seconds' ? undefined : v));
    expect(a.arms).toHaveLength(1);
    expect(a.arms[0]!.evaluations.map((e) => e.steps)).toEqual([2]);
    expect(a.arms[0]!.series.gold).toHaveLength(2);
    expect(strip(a.arms)).toBe(strip(b.arms));
  }, 120_000);
});
