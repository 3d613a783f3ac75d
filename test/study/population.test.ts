/**
 * The hidden annotator population (src/demo/population.ts): utilities and the mixture probability
 * against hand-computed gold axes, label draws against their probabilities, measured intransitivity
 * (a constructed rock-paper-scissors population, and the default study population against a
 * brute-force recount), the pet word's gold cost, and validation.
 *
 * Tolerances: probabilities are sums of a few σ terms in float64: 1e-12. Empirical frequencies of N
 * independent draws are checked within 4.5 binomial standard deviations, √(p(1−p)/N) (a false
 * failure has probability < 1e-5 per check; every stream is seeded, so the outcome is fixed anyway).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTfBackend } from '../../src/tf.js';
import '../../src/tfjs/gradients.js';
import { Rng } from '../../src/random.js';
import { AnnotatorPopulation, cyclicTriples, isCyclic, validateAnnotatorType, type AnnotatorType } from '../../src/demo/population.js';
import { allowedBigram, allPrompts, goldAxes, PET_TOKEN, VOCAB, type Prompt } from '../../src/demo/task.js';
import { cellPopulation, DEFAULT_POPULATION, DEFAULT_STUDY_CONFIG, resolveStudyConfig } from '../../src/study/config.js';
import { responsePools } from '../../src/study/unit.js';

const Z = 4.5;
const sigma = (x: number): number => 1 / (1 + Math.exp(-x));
const binomialTol = (p: number, n: number): number => Z * Math.sqrt((p * (1 - p)) / n);

function type(id: string, share: number, w: Partial<AnnotatorType>): AnnotatorType {
  return { id, share, relevance: 0, fluency: 0, lengthFit: 0, lengthBias: 0, petBias: 0, temperature: 1, ...w };
}

// Prompt sea (topic 0: wave 0, salt 1, boat 2), 4 words. Gold axes worked out by hand from task.ts:
//   a = wave salt boat wave           relevance 4/4, fluency 3/3 (0→1, 1→2, 2→0), length fit 1, |a| = 4, pet 0
//   b = wave truly salt the           relevance 2/4, fluency 1/3 (only salt→the), length fit 1, |b| = 4, pet 1/4
//   c = cloud star wind the street tower train and
//                                     relevance 0, fluency 7/7, length fit 1 − |8 − 4|/4 = 0, |c| = 8, pet 0
const sea4: Prompt = { topic: 0, length: 4 };
const a = [0, 1, 2, 0];
const b = [0, PET_TOKEN, 1, 12];
const c = [3, 4, 5, 12, 6, 7, 8, 13];
const axes = { a: [1, 1, 1], b: [0.5, 1 / 3, 1], c: [0, 1, 0] };
const len = { a: 4, b: 4, c: 8 };
const pet = { a: 0, b: 0.25, c: 0 };

describe('AnnotatorPopulation: utilities and the mixture probability by hand', () => {
  const t1 = type('content', 2, { relevance: 1, fluency: 0.5, lengthFit: 0.2, temperature: 0.1 });
  const t2 = type('biased', 1, { relevance: 0.1, fluency: 0.1, lengthBias: 1, petBias: 2, temperature: 0.3 });
  const pop = new AnnotatorPopulation([t1, t2]);
  /** U_t(y) = r·rel + f·flu + l·fit + lengthBias·|y|/16 + petBias·pet, from the hand-computed axes. */
  const U = (t: AnnotatorType, y: 'a' | 'b' | 'c'): number =>
    t.relevance * axes[y][0]! + t.fluency * axes[y][1]! + t.lengthFit * axes[y][2]! + (t.lengthBias * len[y]) / 16 + t.petBias * pet[y];

  it('the hand-computed axes are what task.ts computes', () => {
    expect(goldAxes(sea4, a)).toEqual(axes.a);
    const gb = goldAxes(sea4, b);
    expect(gb[0]).toBe(0.5);
    expect(gb[1]).toBeCloseTo(1 / 3, 15);
    expect(gb[2]).toBe(1);
    expect(goldAxes(sea4, c)).toEqual(axes.c);
  });

  it('normalizes the shares and computes U_t by the documented formula', () => {
    expect(pop.shares[0]).toBeCloseTo(2 / 3, 15);
    expect(pop.shares[1]).toBeCloseTo(1 / 3, 15);
    // by hand: U1(a) = 1 + 0.5 + 0.2 = 1.7; U2(b) = 0.05 + 0.1/3 + 4/16 + 2·0.25 = 0.8333…
    expect(pop.utility(0, sea4, a)).toBeCloseTo(1.7, 12);
    expect(pop.utility(1, sea4, b)).toBeCloseTo(0.05 + 0.1 / 3 + 0.25 + 0.5, 12);
    for (const y of ['a', 'b', 'c'] as const) {
      const r = { a, b, c }[y];
      expect(pop.utility(0, sea4, r)).toBeCloseTo(U(t1, y), 12);
      expect(pop.utility(1, sea4, r)).toBeCloseTo(U(t2, y), 12);
    }
    expect(pop.utility(0, sea4, [])).toBe(0);
  });

  it('P(x ≻ y) = Σ_t share_t σ((U_t(x) − U_t(y)) / T_t)', () => {
    const pairs: ['a' | 'b' | 'c', 'a' | 'b' | 'c'][] = [['a', 'b'], ['b', 'c'], ['c', 'a'], ['b', 'a']];
    for (const [x, y] of pairs) {
      const want = (2 / 3) * sigma((U(t1, x) - U(t1, y)) / 0.1) + (1 / 3) * sigma((U(t2, x) - U(t2, y)) / 0.3);
      const got = pop.probability(sea4, { a, b, c }[x], { a, b, c }[y]);
      expect(Math.abs(got - want)).toBeLessThan(1e-12);
    }
    // the two concrete values: P(a ≻ b) = ⅔σ(0.8333/0.1) + ⅓σ(−0.3833/0.3)
    const pab = (2 / 3) * sigma((1.7 - (0.5 + 0.5 / 3 + 0.2)) / 0.1) + (1 / 3) * sigma((0.45 - (0.05 + 0.1 / 3 + 0.75)) / 0.3);
    expect(Math.abs(pop.probability(sea4, a, b) - pab)).toBeLessThan(1e-12);
    expect(pab).toBeCloseTo(0.73915, 4); // ⅔·0.99976 + ⅓·0.21792
    // complementary and ½ against itself
    expect(pop.probability(sea4, a, b) + pop.probability(sea4, b, a)).toBeCloseTo(1, 14);
    expect(pop.probability(sea4, c, c)).toBe(0.5);
  });

  it('a one-type population is Bradley-Terry in U/T', () => {
    const bt = new AnnotatorPopulation([t2]);
    expect(bt.probability(sea4, a, c)).toBeCloseTo(sigma((U(t2, 'a') - U(t2, 'c')) / 0.3), 14);
  });
});

describe('AnnotatorPopulation.label: draws match the shares and the probabilities', () => {
  it('type shares, P(chosen = a) overall and per type, within 4.5 binomial σ', () => {
    const pop = new AnnotatorPopulation([
      type('r', 5, { relevance: 1, temperature: 1 }),
      type('f', 3, { fluency: 1, temperature: 0.5 }),
      type('l', 2, { lengthBias: 1, petBias: 1, temperature: 2 }),
    ]);
    const x = [0, PET_TOKEN, 1, 12, 0, 1];
    const y = [0, 1, 2];
    const N = 20000;
    const rng = new Rng(2024);
    const typeCount = [0, 0, 0];
    const chosenX = [0, 0, 0];
    for (let i = 0; i < N; i++) {
      const l = pop.label(sea4, x, y, rng);
      expect(l.prompt).toBe(sea4);
      expect((l.chosen === x && l.rejected === y) || (l.chosen === y && l.rejected === x)).toBe(true);
      typeCount[l.type]!++;
      if (l.chosen === x) chosenX[l.type]!++;
    }
    const shares = [0.5, 0.3, 0.2];
    shares.forEach((s, t) => expect(Math.abs(typeCount[t]! / N - s)).toBeLessThan(binomialTol(s, N)));
    const p = pop.probability(sea4, x, y);
    expect(p).toBeGreaterThan(0.2);
    expect(p).toBeLessThan(0.8);
    const total = chosenX.reduce((s, v) => s + v, 0);
    expect(Math.abs(total / N - p)).toBeLessThan(binomialTol(p, N));
    for (let t = 0; t < 3; t++) {
      const pt = pop.typeProbability(t, sea4, x, y);
      expect(Math.abs(chosenX[t]! / typeCount[t]! - pt)).toBeLessThan(binomialTol(pt, typeCount[t]!));
    }
    // the types disagree, so the per-type probabilities differ
    const pts = [0, 1, 2].map((t) => pop.typeProbability(t, sea4, x, y));
    expect(Math.max(...pts) - Math.min(...pts)).toBeGreaterThan(0.2);
  });

  it('is reproducible for a seed', () => {
    const pop = new AnnotatorPopulation(DEFAULT_POPULATION.map((t) => ({ ...t })));
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 50 }, () => {
        const l = pop.label(sea4, a, c, rng);
        return `${l.type}${l.chosen === a ? 'a' : 'c'}`;
      }).join(',');
    };
    expect(draw(5)).toBe(draw(5));
    expect(draw(5)).not.toBe(draw(6));
  });
});

describe('isCyclic', () => {
  it('cycles in either direction, beyond the margin on all three pairs', () => {
    expect(isCyclic(0.6, 0.6, 0.6)).toBe(true);
    expect(isCyclic(0.4, 0.4, 0.4)).toBe(true);
    expect(isCyclic(0.6, 0.6, 0.4)).toBe(false);
    expect(isCyclic(0.4, 0.6, 0.4)).toBe(false);
    expect(isCyclic(0.5, 0.6, 0.6)).toBe(false);
    expect(isCyclic(0.6, 0.6, 0.6, 0.05)).toBe(true);
    expect(isCyclic(0.6, 0.6, 0.6, 0.1)).toBe(false); // 0.6 is not > 0.5 + 0.1
    expect(isCyclic(0.6, 0.56, 0.9, 0.05)).toBe(true);
    expect(isCyclic(0.6, 0.54, 0.9, 0.05)).toBe(false);
    expect(isCyclic(0.3, 0.44, 0.1, 0.05)).toBe(true);
    expect(isCyclic(0.3, 0.46, 0.1, 0.05)).toBe(false);
  });
});

describe('measured intransitivity', () => {
  // Three single-axis types with equal shares and decisive temperatures, and three responses to the
  // sea/4 prompt, each best on one axis and second on another (axes by hand, checked below):
  //   x = wave salt boat wave wave wave wave wave   relevance 1,   fluency 3/7, length fit 0
  //   y = cloud star wind the wave salt             relevance 1/3, fluency 1,   length fit 1/2
  //   z = wave truly salt the                       relevance 1/2, fluency 1/3, length fit 1
  // relevance: x > z > y; fluency: y > x > z; length fit: z > y > x. Majorities: y ≻ x (fluency,
  // length fit), z ≻ y (relevance, length fit), x ≻ z (relevance, fluency): a cycle x → z → y → x.
  const x = [0, 1, 2, 0, 0, 0, 0, 0];
  const y = [3, 4, 5, 12, 0, 1];
  const z = [0, PET_TOKEN, 1, 12];
  const rps = new AnnotatorPopulation([
    type('R', 1, { relevance: 1, temperature: 0.01 }),
    type('F', 1, { fluency: 1, temperature: 0.01 }),
    type('L', 1, { lengthFit: 1, temperature: 0.01 }),
  ]);

  it('the responses have the stated axes', () => {
    const close = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 14));
    close(goldAxes(sea4, x), [1, 3 / 7, 0]);
    close(goldAxes(sea4, y), [1 / 3, 1, 0.5]);
    close(goldAxes(sea4, z), [0.5, 1 / 3, 1]);
  });

  it('the rock-paper-scissors population is cyclic on (x, y, z) in both orders; a single type is not', () => {
    const pxy = rps.probability(sea4, x, y);
    const pyz = rps.probability(sea4, y, z);
    const pzx = rps.probability(sea4, z, x);
    // each pair is decided 2 : 1 by near-deterministic types: probabilities ≈ 1/3
    for (const p of [pxy, pyz, pzx]) expect(Math.abs(p - 1 / 3)).toBeLessThan(1e-3);
    expect(isCyclic(pxy, pyz, pzx)).toBe(true);
    expect(isCyclic(rps.probability(sea4, x, z), rps.probability(sea4, z, y), rps.probability(sea4, y, x))).toBe(true);
    expect(isCyclic(pxy, pyz, pzx, 0.15)).toBe(true);
    expect(isCyclic(pxy, pyz, pzx, 0.17)).toBe(false);
    const single = new AnnotatorPopulation([type('R', 1, { relevance: 1, temperature: 0.01 })]);
    expect(isCyclic(single.probability(sea4, x, y), single.probability(sea4, y, z), single.probability(sea4, z, x))).toBe(false);
  });

  it('cyclicTriples on a pool of {x, y, z}: every drawn triple is cyclic (and clearly so); none for a single type', () => {
    const prompts = [sea4];
    const pools = [[x, y, z]];
    const seen: boolean[] = [];
    const r = cyclicTriples(rps, prompts, pools, 600, new Rng(3), (_b, _p, _q, _r, cyc) => seen.push(cyc));
    // 3 indices drawn with replacement: a triple is kept when all differ, probability 3!/27 = 2/9
    expect(r.triples).toBe(seen.length);
    expect(Math.abs(r.triples / 600 - 2 / 9)).toBeLessThan(binomialTol(2 / 9, 600));
    expect(r.share).toBe(1);
    expect(r.clearShare).toBe(1);
    expect(seen.every(Boolean)).toBe(true);
    const single = new AnnotatorPopulation([type('F', 1, { fluency: 1, temperature: 0.01 })]);
    const s = cyclicTriples(single, prompts, pools, 600, new Rng(3));
    expect(s.triples).toBe(r.triples);
    expect(s.share).toBe(0);
    expect(s.clearShare).toBe(0);
    // pools smaller than 3 contribute nothing
    expect(cyclicTriples(rps, prompts, [[x, y]], 100, new Rng(1))).toEqual({ triples: 0, share: 0, clearShare: 0 });
  });

  describe('the default study population on sampled response pools', () => {
    beforeAll(async () => {
      await setTfBackend('cpu');
    });
    afterAll(() => undefined);

    it('the measured share equals a brute-force recount, agrees with exhaustive enumeration, and respects the tournament bound', () => {
      const config = resolveStudyConfig({});
      const population = new AnnotatorPopulation(cellPopulation(config, config.main));
      // the biased type carries the main cell's biases
      expect(population.types[2]).toMatchObject({ id: 'biased', lengthBias: 0.8, petBias: 0.8 });
      expect(population.types.map((t) => t.id)).toEqual(DEFAULT_STUDY_CONFIG.population.map((t) => t.id));
      const prompts = allPrompts();
      const pools = responsePools(5, new Rng(11));
      expect(pools).toHaveLength(12);
      const n = pools[0]!.length;
      expect(n).toBe(5 * 8); // 5 per variant × 8 data variants
      for (const pool of pools) expect(pool).toHaveLength(n);

      // (1) recount of the drawn triples, with an independent cycle test
      let visits = 0, cyc = 0, clear = 0;
      const strict = (p: number[], m: number) => p.every((v) => v > 0.5 + m) || p.every((v) => v < 0.5 - m);
      const T = 4000;
      const r = cyclicTriples(population, prompts, pools, T, new Rng(12), (bi, p, q, s, flagged) => {
        visits++;
        const pr = prompts[bi]!;
        const ps = [population.probability(pr, p, q), population.probability(pr, q, s), population.probability(pr, s, p)];
        const mine = strict(ps, 0);
        expect(flagged).toBe(mine);
        if (mine) cyc++;
        if (strict(ps, 0.05)) clear++;
      });
      expect(r.triples).toBe(visits);
      // distinct-index acceptance: (n−1)(n−2)/n² of the draws
      const accept = ((n - 1) * (n - 2)) / (n * n);
      expect(Math.abs(r.triples / T - accept)).toBeLessThan(binomialTol(accept, T));
      expect(r.share).toBe(cyc / visits);
      expect(r.clearShare).toBe(clear / visits);
      expect(r.clearShare).toBeLessThanOrEqual(r.share);

      // (2) exhaustive: every unordered triple of distinct indices of every pool
      let sets = 0, cyclicSets = 0;
      prompts.forEach((pr, bi) => {
        const pool = pools[bi]!;
        const P = pool.map((u) => pool.map((v) => population.probability(pr, u, v)));
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            for (let k = j + 1; k < n; k++) {
              sets++;
              if (strict([P[i]![j]!, P[j]![k]!, P[k]![i]!], 0)) cyclicSets++;
            }
          }
        }
      });
      const exact = cyclicSets / sets;
      // the default population is intransitive on these pools (1.5% of triples with seed 11), so the checks below are not vacuous
      expect(cyclicSets).toBeGreaterThan(0);
      // the random draws estimate the exhaustive share (each drawn triple is a uniform unordered set)
      expect(Math.abs(r.share - exact)).toBeLessThan(binomialTol(Math.max(exact, 1 / r.triples), r.triples));
      // A tournament on n vertices has at most (n³ − n)/24 cyclic triples (n odd; fewer for even n),
      // i.e. a share of at most (n + 1)/(4(n − 2)) of the C(n, 3) triples (→ 1/4 as n grows); ties
      // (P = ½ exactly, e.g. duplicate responses) only remove cycles.
      const bound = (n + 1) / (4 * (n - 2));
      expect(exact).toBeGreaterThanOrEqual(0);
      expect(exact).toBeLessThanOrEqual(bound);
      expect(r.share).toBeGreaterThanOrEqual(0);
      expect(r.share).toBeLessThanOrEqual(bound + binomialTol(bound, r.triples));
    });
  });
});

describe('the pet word costs gold', () => {
  it('truly never forms a grammatical bigram', () => {
    for (let t = 0; t < VOCAB; t++) {
      expect(allowedBigram(t, PET_TOKEN)).toBe(false);
      expect(allowedBigram(PET_TOKEN, t)).toBe(false);
    }
  });

  it('inserting truly lowers fluency and relevance (exact values for one case; every insertion point of a few responses)', () => {
    // wave salt boat wave → wave salt truly boat wave: relevance 4/5, fluency 2/4 (salt→truly, truly→boat broken)
    expect(goldAxes(sea4, [0, 1, PET_TOKEN, 2, 0])).toEqual([0.8, 0.5, 0.75]);
    expect(goldAxes(sea4, [0, 1, 2, 0])).toEqual([1, 1, 1]);
    const responses = [
      [0, 1, 2, 0],
      [0, 1, 12, 2, 0, 13, 1],
      [3, 4, 5, 12, 0],
      [9, 10, 11, 9, 14, 6, 7, 8],
    ];
    for (const p of allPrompts()) {
      for (const r of responses) {
        const [rel, flu] = goldAxes(p, r);
        for (let i = 0; i <= r.length; i++) {
          const withPet = [...r.slice(0, i), PET_TOKEN, ...r.slice(i)];
          const [rel2, flu2] = goldAxes(p, withPet);
          // relevance: relevant/(n+1) < relevant/n when relevant > 0, else both 0
          expect(rel2).toBeLessThanOrEqual(rel);
          if (rel > 0) expect(rel2).toBeLessThan(rel);
          expect(flu2).toBeLessThan(flu);
        }
      }
    }
  });

  it('the biased type prefers a response padded with truly; the content type does not', () => {
    const population = new AnnotatorPopulation(DEFAULT_POPULATION.map((t) => ({ ...t })));
    const plain = [0, 1, 2, 0];
    const padded = [0, 1, 2, 0, PET_TOKEN, PET_TOKEN];
    expect(population.typeProbability(2, sea4, padded, plain)).toBeGreaterThan(0.5);
    expect(population.typeProbability(0, sea4, padded, plain)).toBeLessThan(0.5);
  });
});

describe('validation', () => {
  const good = type('ok', 1, { relevance: 1 });
  const cases: [unknown, string][] = [
    [{ ...good, temperature: 0 }, 'types[0].temperature'],
    [{ ...good, temperature: Number.NaN }, 'types[0].temperature'],
    [{ ...good, share: 0 }, 'types[0].share'],
    [{ ...good, relevance: -1 }, 'types[0].relevance'],
    [{ ...good, petBias: '1' }, 'types[0].petBias'],
    [{ ...good, id: '' }, 'types[0].id'],
    [{ ...good, colour: 'red' }, 'types[0].colour'],
    [null, 'types[0]'],
  ];

  it('validateAnnotatorType errors name the field and start with gprl:', () => {
    for (const [t, name] of cases) {
      expect(() => validateAnnotatorType('types[0]', t)).toThrow(new RegExp(`^gprl: invalid ${name.replace(/[[\].]/g, '\\$&')}: `));
    }
    expect(() => validateAnnotatorType('types[0]', good)).not.toThrow();
  });

  it('the constructor names the index of the bad type; an empty list is rejected', () => {
    expect(() => new AnnotatorPopulation([good, { ...good, lengthFit: -0.5 }])).toThrow(/^gprl: invalid types\[1\]\.lengthFit: /);
    expect(() => new AnnotatorPopulation([])).toThrow(/^gprl: invalid types: /);
    expect(() => new AnnotatorPopulation([{ ...good, temperature: -1 }])).toThrow(RangeError);
    expect(() => new AnnotatorPopulation([{ ...good, id: 3 } as unknown as AnnotatorType])).toThrow(TypeError);
  });
});
