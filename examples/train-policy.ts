/**
 * Train a small GRU policy with GPRL against a three-dimensional verifier, then resume from a checkpoint.
 *
 *   npx tsx examples/train-policy.ts [steps] [outDir]                  (in a clone)
 *   node node_modules/gprl/dist/examples/train-policy.js [steps] [outDir]  (after npm install gprl)
 *
 * The verifier is a hand-written function standing in for a trained GPM: dimension 0 rewards the
 * token 3, dimension 1 rewards short answers that end with the EOS token (0), dimension 2 rewards
 * using several distinct tokens. It returns GPM-style embeddings (a_l, b_l) = (score_l, 1), so the
 * per-dimension group score is the score's deviation from the group mean, and prompt-dependent
 * eigenvalues λ. Metrics go to `<outDir>/metrics.jsonl`, the checkpoint to `<outDir>/checkpoint`.
 */
import path from 'node:path';
import { tmpdir } from 'node:os';
import { GPRLTrainer, GruPolicy, setTfBackend, type VerifierFn } from 'gprl';

const steps = Number(process.argv[2] ?? 12);
const outDir = process.argv[3] ?? path.join(tmpdir(), 'gprl-train-policy');
const VOCAB = 8;
const EOS = 0;
const K = 3;

const verifier: VerifierFn = (prompts, groups) => {
  const B = prompts.length;
  const G = groups[0]!.length;
  const embeddings = new Float32Array(B * G * 2 * K);
  const lambdas = new Float32Array(B * K);
  groups.forEach((group, b) => {
    // Longer prompts weigh "mentions 3" more, as a context-dependent gate would.
    const w = [1 + prompts[b]!.length, 1, 1];
    const sum = w.reduce((a, x) => a + x, 0);
    w.forEach((x, l) => (lambdas[b * K + l] = x / sum));
    group.forEach((r, i) => {
      const scores = [
        r.filter((t) => t === 3).length / r.length,
        r[r.length - 1] === EOS ? 1 / r.length : 0,
        new Set(r).size / VOCAB,
      ];
      scores.forEach((s, l) => {
        embeddings[((b * G + i) * K + l) * 2] = s;
        embeddings[((b * G + i) * K + l) * 2 + 1] = 1;
      });
    });
  });
  return { embeddings, lambdas };
};

async function main(): Promise<void> {
  const backend = await setTfBackend();
  const prompts = [[1, 2], [4], [5, 6, 7], [2, 4, 6, 1], [7, 1]];
  const config = {
    promptsPerStep: 4,
    numGenerations: 6,
    maxCompletionLength: 8,
    eosToken: EOS,
    learningRate: 5e-3,
    numIterations: 2,
    beta: 0.02,
    maxSteps: steps,
    lrSchedulerType: 'cosine' as const,
    warmupSteps: 2,
    drift: { warmupSteps: 3 },
    metricsPath: path.join(outDir, 'metrics.jsonl'),
    seed: 7,
  };
  const policy = new GruPolicy({ vocabSize: VOCAB, hiddenSize: 32, seed: 1 });
  const trainer = new GPRLTrainer({
    policy,
    verifier,
    prompts,
    config,
    onStep: (m) =>
      console.log(
        `step ${m.step}  loss ${m.loss.toFixed(4)}  kl ${m.kl.toFixed(4)}  entropy ${m.entropy.toFixed(3)}  ` +
          `len ${m.responseLength.toFixed(2)}  contribution [${m.dimContribution.map((x) => x.toFixed(2)).join(', ')}]  ` +
          `D ${m.drift?.toFixed(4)}  β ${m.beta.toFixed(3)}  ε ${m.epsilon.toFixed(3)}  ${m.timing.stepMs.toFixed(0)} ms`,
      ),
    onEvent: (e) => console.log(`  event ${e.kind}: ${e.reason}`),
  });
  console.log(`tfjs backend: ${backend}`);
  const half = Math.floor(steps / 2);
  await trainer.train(half);
  const checkpoint = path.join(outDir, 'checkpoint');
  await trainer.save(checkpoint);
  trainer.dispose();
  policy.dispose();
  console.log(`saved step ${half} to ${checkpoint}; resuming`);

  const resumed = await GPRLTrainer.resume(checkpoint, {
    policy: () => new GruPolicy({ vocabSize: VOCAB, hiddenSize: 32 }),
    verifier,
    prompts,
    onStep: (m) => console.log(`step ${m.step}  loss ${m.loss.toFixed(4)}  len ${m.responseLength.toFixed(2)}`),
  });
  await resumed.train();
  const sample = resumed.policy.sample([[1, 2]], { groupSize: 3, maxLength: 8, eosToken: EOS, temperature: 0.7, seed: 1 });
  console.log('samples for [1, 2]:', sample.responses.map((r) => r.join(' ')));
  resumed.dispose();
  resumed.policy.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
