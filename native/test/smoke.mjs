#!/usr/bin/env node
/**
 * Smoke test of a built addon from Node.js, without the TypeScript layer:
 *   node native/test/smoke.mjs [path/to/gprl.node]     (default: GPRL_ADDON_PATH, else build/Release/gprl.node)
 * Runs every kernel entry point on small seeded inputs (sync and async, C++ device) and compares with a
 * float64 computation written here, checks the argument errors (TypeError/RangeError naming the field),
 * and prints buildInfo, cudaStatus and a bandwidth probe. Exits 1 on any mismatch.
 * Tolerance: |got - want| <= 1e-5 + 1e-5 |want| (float32 outputs of float64 computations).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = path.resolve(process.argv[2] ?? process.env.GPRL_ADDON_PATH ?? path.join(root, 'build/Release/gprl.node'));
const addon = createRequire(import.meta.url)(addonPath);

let failures = 0;
function check(name, got, want, atol = 1e-5, rtol = 1e-5) {
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= atol + rtol * Math.abs(w);
    if (!ok && bad++ < 5) console.log(`  MISMATCH ${name}[${i}]: got ${g}, want ${w}`);
  }
  if (bad) {
    failures++;
    console.log(`FAIL ${name}: ${bad}/${want.length}`);
  } else console.log(`ok   ${name}`);
}
function expectThrow(name, fn, Type, fragment) {
  try {
    fn();
  } catch (e) {
    if (e instanceof Type && e.message.includes(fragment)) return console.log(`ok   ${name}: ${e.message}`);
    failures++;
    return console.log(`FAIL ${name}: ${e.constructor.name}: ${e.message}`);
  }
  failures++;
  console.log(`FAIL ${name}: did not throw`);
}

// mulberry32
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sig = (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const std = (xs, unbiased) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (unbiased ? xs.length - 1 : xs.length));
};

const B = 4, G = 5, k = 3;
const r = rng(42);
const emb = Float32Array.from({ length: B * G * 2 * k }, () => (r() - 0.5) * 2);
emb[(1 * G + 2) * 2 * k + 3] = NaN; // group 1, response 2 invalid
const mask = Uint8Array.from({ length: B * G }, (_, i) => (i === 7 || i === 13 ? 0 : 1));
const lambdas = Float32Array.from({ length: B * k }, () => 0.1 + r());
const dimWeights = Float32Array.from({ length: k }, () => 0.5 + r());
const e = (b, i, t) => emb[(b * G + i) * 2 * k + t];
const validOf = (b, i, m) => (!m || m[b * G + i] !== 0) && Array.from({ length: 2 * k }, (_, t) => e(b, i, t)).every(Number.isFinite);

function refScores(mode, tau, m) {
  const out = [];
  for (let b = 0; b < B; b++) {
    const v = Array.from({ length: G }, (_, i) => validOf(b, i, m));
    const n = v.filter(Boolean).length;
    for (let i = 0; i < G; i++)
      for (let l = 0; l < k; l++) {
        if (!v[i]) out.push(NaN);
        else if (n < 2) out.push(0);
        else {
          let t = 0;
          for (let j = 0; j < G; j++) {
            if (j === i || !v[j]) continue;
            const s = e(b, i, 2 * l) * e(b, j, 2 * l + 1) - e(b, i, 2 * l + 1) * e(b, j, 2 * l);
            t += mode === 0 ? s : sig(s / tau);
          }
          out.push(t / (n - 1) - (mode === 1 ? 0.5 : 0));
        }
      }
  }
  return out;
}

function refAdv(scores, o) {
  const adv = new Array(B * G).fill(0), da = new Array(B * G * k).fill(0), dm = [], ds = [];
  let degenerate = 0, masked = 0;
  const batch = [];
  for (let b = 0; b < B; b++) {
    const idx = [];
    for (let i = 0; i < G; i++) {
      const ok = (!o.mask || o.mask[b * G + i] !== 0) && [...Array(k).keys()].every((l) => Number.isFinite(scores[(b * G + i) * k + l]));
      if (ok) idx.push(i);
      else masked++;
    }
    const w = [...Array(k).keys()].map((l) => (o.dimWeights ? o.dimWeights[l] : 1) * (o.lambdas ? o.lambdas[b * k + l] : 1));
    const wt = w.reduce((a, x) => a + x, 0);
    const S = (i, l) => scores[(b * G + i) * k + l];
    for (let l = 0; l < k; l++) {
      const vals = idx.map((i) => S(i, l));
      const mu = mean(vals), sd = std(vals, o.unbiased);
      dm.push(mu);
      ds.push(sd);
      const dg = idx.length >= 1 && sd <= o.stdFloor;
      if (dg && o.normalize !== 1) degenerate++;
      for (const i of idx) da[(b * G + i) * k + l] = dg ? 0 : (S(i, l) - mu) / (sd + o.eps);
    }
    if (o.normalize === 1) {
      const agg = idx.map((i) => [...Array(k).keys()].reduce((a, l) => a + (w[l] / wt) * S(i, l), 0));
      const mu = mean(agg), sd = std(agg, o.unbiased), dg = idx.length >= 1 && sd <= o.stdFloor;
      if (dg) degenerate++;
      idx.forEach((i, t) => (adv[b * G + i] = dg ? 0 : (agg[t] - mu) / (sd + o.eps)));
    } else {
      for (const i of idx) {
        const a = [...Array(k).keys()].reduce((acc, l) => acc + (w[l] / wt) * da[(b * G + i) * k + l], 0);
        if (o.normalize === 0) adv[b * G + i] = a;
        else batch.push([b * G + i, a]);
      }
    }
  }
  if (o.normalize === 2) {
    const vals = batch.map((x) => x[1]);
    const mu = mean(vals), sd = std(vals, o.unbiased), dg = vals.length >= 1 && sd <= o.stdFloor;
    if (dg) degenerate++;
    for (const [i, a] of batch) adv[i] = dg ? 0 : (a - mu) / (sd + o.eps);
  }
  return { adv, da, dm, ds, degenerate, masked };
}

function advArgs(o) {
  return {
    groups: B, groupSize: G, dims: k, lambdas: o.lambdas, dimWeights: o.dimWeights, mask: o.mask, eps: o.eps,
    stdFloor: o.stdFloor, unbiased: o.unbiased, normalize: o.normalize, device: 0,
    advantages: new Float32Array(B * G), dimAdvantages: new Float32Array(B * G * k), dimMean: new Float32Array(B * k),
    dimStd: new Float32Array(B * k),
  };
}
function checkAdv(name, args, counts, want) {
  check(`${name} advantages`, args.advantages, want.adv);
  check(`${name} dimAdvantages`, args.dimAdvantages, want.da);
  check(`${name} dimMean`, args.dimMean, want.dm);
  check(`${name} dimStd`, args.dimStd, want.ds);
  check(`${name} counts`, [counts.degenerate, counts.masked], [want.degenerate, want.masked], 0, 0);
}

console.log('addon', addonPath);
console.log('buildInfo', addon.buildInfo);
console.log('cudaStatus', addon.cudaStatus());
console.log('threads', addon.getNumThreads(), 'bandwidth', addon.memoryBandwidth({ bytes: 64 << 20, reps: 3, threads: addon.getNumThreads() }));

for (const mode of [0, 1]) {
  for (const m of [null, mask]) {
    const out = new Float32Array(B * G * k);
    addon.groupScores({ embeddings: emb, groups: B, groupSize: G, dims: k, mode, tau: 0.2, mask: m, device: 0, out });
    const want = refScores(mode, 0.2, m);
    check(`groupScores mode=${mode} mask=${!!m}`, out, want);
    for (const normalize of [0, 1, 2]) {
      const o = { lambdas, dimWeights, mask: m, eps: 1e-4, stdFloor: 1e-6, unbiased: normalize !== 1, normalize };
      const a = advArgs(o);
      const counts = addon.groupAdvantages({ ...a, scores: out });
      checkAdv(`groupAdvantages mode=${mode} norm=${normalize}`, a, counts, refAdv(Array.from(out), o));
      const g = { ...advArgs(o), embeddings: emb, mode, tau: 0.2, scores: new Float32Array(B * G * k) };
      const c2 = await addon.gprlAdvantages(g, true);
      check(`gprlAdvantages (async) scores mode=${mode} norm=${normalize}`, g.scores, want);
      checkAdv(`gprlAdvantages (async) mode=${mode} norm=${normalize}`, g, c2, refAdv(want, o));
    }
  }
}
const P = new Float32Array(B * G * G);
await addon.preferenceMatrix({ embeddings: emb, groups: B, groupSize: G, dims: k, lambdas, tau: 0.1, device: 0, out: P }, true);
const wantP = [];
for (let b = 0; b < B; b++)
  for (let i = 0; i < G; i++)
    for (let j = 0; j < G; j++) {
      if (!validOf(b, i, null) || !validOf(b, j, null)) {
        wantP.push(NaN);
        continue;
      }
      let s = 0;
      for (let l = 0; l < k; l++) s += lambdas[b * k + l] * (e(b, i, 2 * l) * e(b, j, 2 * l + 1) - e(b, i, 2 * l + 1) * e(b, j, 2 * l));
      wantP.push(sig(s / 0.1));
    }
check('preferenceMatrix (async)', P, wantP);

const base = { embeddings: emb, groups: B, groupSize: G, dims: k, mode: 0, tau: 0.1, mask: null, device: 0, out: new Float32Array(B * G * k) };
expectThrow('wrong type', () => addon.groupScores({ ...base, embeddings: new Float64Array(emb.length) }), TypeError, 'args.embeddings');
expectThrow('wrong length', () => addon.groupScores({ ...base, out: new Float32Array(3) }), RangeError, 'args.out');
expectThrow('bad device', () => addon.groupScores({ ...base, device: 2 }), RangeError, 'args.device');
expectThrow('not an object', () => addon.groupScores(5), TypeError, 'groupScores args');
const cs = addon.cudaStatus();
if (!cs.available) {
  let msg = '';
  try {
    addon.groupScores({ ...base, device: 1 });
  } catch (err) {
    msg = err.message;
  }
  if (!msg) failures++;
  console.log(`${msg ? 'ok  ' : 'FAIL'} CUDA call without a device throws: ${msg}`);
  const rejected = await addon.groupScores({ ...base, device: 1 }, true).then(() => '', (err) => err.message);
  if (!rejected) failures++;
  console.log(`${rejected ? 'ok  ' : 'FAIL'} async CUDA call without a device rejects: ${rejected}`);
}
addon.setNumThreads(1);
if (addon.getNumThreads() !== 1) failures++;
console.log(failures ? `FAILED (${failures})` : 'PASSED');
process.exit(failures ? 1 : 0);
