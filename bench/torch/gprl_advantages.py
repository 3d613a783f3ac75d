"""gprl_advantages as PyTorch code (eager and torch.compile), for bench/gprlAdvantages.bench.ts.

The computation of the benchmark's gprlAdvantages call: logit group scores, per-dimension mean and
unbiased std, normalized per-dimension advantages (eps 1e-4, a std <= 1e-6 gives 0), aggregated with
the weights lambda / sum(lambda). Every benchmark response is valid (no mask, finite embeddings), so
this version has no masking. It returns the five outputs of the kernel (fresh tensors each call).

usage: python gprl_advantages.py <dir> <B> <G> <k> <threads> <max_seconds> <min_samples>
  <dir>/embeddings.f32 ([B][G][2k] float32) and <dir>/lambdas.f32 ([B][k]) are the inputs.
Prints one JSON object: for each thread count (1 and <threads>), medians (ms) of eager and compiled
calls and sample counts; versions; the first outputs of the compiled call for the caller to check
against gprl's. (With other work on the machine, PyTorch's multi-threaded runs can be much slower
than its single-threaded ones, so both are reported.)
"""
import json
import statistics
import sys
import time

import torch


def gprl_advantages(emb, lambdas, eps: float = 1e-4, std_floor: float = 1e-6):
    B, G, two_k = emb.shape
    e = emb.view(B, G, two_k // 2, 2)
    a, b = e[..., 0], e[..., 1]  # [B, G, k]
    ma, mb = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
    scores = (G / (G - 1)) * (a * mb - b * ma)
    mean = scores.mean(1, keepdim=True)
    std = scores.std(1, keepdim=True, unbiased=True)
    inv = torch.where(std <= std_floor, torch.zeros_like(std), 1.0 / (std + eps))
    dim_adv = (scores - mean) * inv
    w = lambdas / lambdas.sum(-1, keepdim=True)
    adv = (dim_adv * w[:, None, :]).sum(-1)
    return adv, dim_adv, mean.squeeze(1), std.squeeze(1), scores


def timed(fn, max_seconds: float, min_samples: int):
    samples = []
    start = time.perf_counter()
    while len(samples) < min_samples or (time.perf_counter() - start < max_seconds and len(samples) < 1000):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples), len(samples)


def main() -> None:
    d, B, G, k, threads, max_s, min_n = sys.argv[1], *map(int, sys.argv[2:6]), float(sys.argv[6]), int(sys.argv[7])
    emb = torch.from_file(f"{d}/embeddings.f32", size=B * G * 2 * k, dtype=torch.float32).view(B, G, 2 * k)
    lam = torch.from_file(f"{d}/lambdas.f32", size=B * k, dtype=torch.float32).view(B, k)
    out = {"torch": torch.__version__, "runs": []}
    compiled = torch.compile(gprl_advantages, dynamic=False)
    res = None
    with torch.inference_mode():
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            run = {"threads": torch.get_num_threads()}
            for _ in range(2):
                gprl_advantages(emb, lam)
            run["eagerMs"], run["eagerSamples"] = timed(lambda: gprl_advantages(emb, lam), max_s, min_n)
            try:
                t = time.perf_counter()
                compiled(emb, lam)
                run["compileSeconds"] = time.perf_counter() - t
                for _ in range(2):
                    compiled(emb, lam)
                run["compiledMs"], run["compiledSamples"] = timed(lambda: compiled(emb, lam), max_s, min_n)
                res = compiled(emb, lam)
            except Exception as err:  # noqa: BLE001 - reported, the eager row still stands
                run["compileError"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            out["runs"].append(run)
        if res is None:
            res = gprl_advantages(emb, lam)
    names = ["advantages", "dimAdvantages", "dimMean", "dimStd", "scores"]
    out["check"] = {n: r.reshape(-1)[:8].tolist() for n, r in zip(names, res)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
