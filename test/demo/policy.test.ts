import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, setTfBackend } from '../../src/tf.js';
import '../../src/tfjs/gradients.js';
import { ContextPolicy, initialWeights, STATE_FEATURES } from '../../src/demo/policy.js';
import { allPrompts, EOS, MAX_LEN, POLICY_VOCAB, promptTokens, TOPIC_MARKER } from '../../src/demo/task.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ContextPolicy on tfjs ${backend}`, () => {
    beforeAll(async () => {
      await setTfBackend(backend);
    });
    afterAll(() => undefined);

    it('reports the same log-probs when sampling and when scoring', () => {
      const before = tf.memory().numTensors;
      const policy = new ContextPolicy();
      const prompts = allPrompts().map(promptTokens);
      const s = policy.sample(prompts, { groupSize: 4, maxLength: MAX_LEN, eosToken: EOS, seed: 3, temperature: 0.9 });
      const expanded = prompts.flatMap((p) => [p, p, p, p]);
      const r = policy.logProbs(expanded, s.responses, { maxLength: MAX_LEN, temperature: 0.9 });
      const lp = r.logp.dataSync();
      const mask = r.mask.dataSync();
      // Sampling computes log-softmax in float64 in JS, scoring in float32 on the backend; log-probs are
      // O(1..10), so 1e-4 absolute is a few float32 roundings of the logits.
      for (let i = 0; i < lp.length; i++) {
        expect(Math.abs(lp[i]! - s.logProbs[i]!)).toBeLessThan(1e-4);
        expect(mask[i]).toBe(i % MAX_LEN < s.lengths[Math.floor(i / MAX_LEN)]! ? 1 : 0);
      }
      // Marker tokens are never drawn.
      for (const resp of s.responses) for (const t of resp) expect(t < TOPIC_MARKER).toBe(true);
      tf.dispose([r.logp, r.mask, r.entropy]);
      policy.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    it('has the gradient of the log-likelihood (finite differences)', () => {
      const policy = new ContextPolicy();
      const prompt = promptTokens({ topic: 1, length: 4 });
      const response = [3, 4, 12, 5, EOS];
      const f = (): tf.Scalar => tf.sum(policy.logProbs([prompt], [response]).logp) as tf.Scalar;
      const { value, grads } = tf.variableGrads(f, policy.trainableVariables as tf.Variable[]);
      const g = grads[policy.trainableVariables[0]!.name]!.dataSync();
      const w0 = initialWeights();
      const base = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      // Central differences in float32 with h = 1e-2: truncation O(h²) ≈ 1e-4, rounding ≈ 1e-6/h = 1e-4.
      const h = 1e-2;
      const checks = [
        [1, 4], // topic 'sky' feature → 'star'
        [STATE_FEATURES - 1, EOS], // bias → EOS
        [STATE_FEATURES - 1, 0], // bias → 'wave' (not taken: negative gradient)
      ];
      for (const [f0, v] of checks) {
        const idx = f0! * POLICY_VOCAB + v!;
        const eval1 = (delta: number): number => {
          const w = Float32Array.from(w0);
          w[idx]! += delta;
          policy.setWeights([{ name: 'w', shape: [STATE_FEATURES, POLICY_VOCAB], values: w }]);
          return tf.tidy(() => f().dataSync()[0]!);
        };
        const fd = (eval1(h) - eval1(-h)) / (2 * h);
        expect(Math.abs(fd - g[idx]!)).toBeLessThan(1e-3);
      }
      expect(Number.isFinite(base)).toBe(true);
      policy.dispose();
    });

    it('rejects prompts that are not the task encoding', () => {
      const policy = new ContextPolicy();
      expect(() => policy.sample([[0, 1]], { maxLength: 4 })).toThrow(/prompts\[0\]/);
      expect(() => policy.logProbs([promptTokens({ topic: 0, length: 8 })], [[0]], { maxLength: 0 })).toThrow(/maxLength/);
      policy.dispose();
      expect(() => policy.trainableVariables).toThrow(/disposed/);
    });
  });
}
