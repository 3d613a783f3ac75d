#!/usr/bin/env bash
# One command on a GPU machine (CUDA toolkit and cmake; Node.js optional):
#
#   scripts/gpu-check.sh [OUT_DIR]          (default OUT_DIR: gpu-check/)
#
# 1. Builds the native test programs (native/test) for the present card's architecture only
#    (nvidia-smi --query-gpu=compute_cap; GPRL_GPU_CHECK_ARCH=90 overrides it).
# 2. Runs them with GPRL_TEST_REQUIRE_CUDA=1, so a missing device or a too-old driver fails instead of
#    skipping: every CUDA kernel and option against the C++ path, device-output poison, large groups,
#    a > 48 KiB shared-memory workspace, concurrent calls, out-of-memory then recovery, null outputs,
#    device selection; then times the fused kernel at B=65536, G=16, k=8 on the device next to a
#    cudaMemcpy device-to-device probe (GB/s and % of it), and host-array calls on both paths (the
#    data behind backend 'auto', docs/kernels.md). Then, when compute-sanitizer is present, memcheck
#    and racecheck on a reduced run (GPRL_TEST_QUICK=1; GPRL_GPU_CHECK_SANITIZE=0 skips them).
# 3. If `node` is on PATH and node_modules/ exists: builds the addon for the same architecture and runs
#    the kernel test suite (test/kernels) on it with GPRL_TEST_REQUIRE_CUDA=1, so the 'cuda' backend
#    must be available and every spec runs on it.
# Writes OUT_DIR/gpu-check.json (card, versions, exit codes, the test program's counts and timings)
# and OUT_DIR/gpu-check.log (everything printed). Exit status 0 only when every step passed.
# Without a usable GPU it stops with one line saying why and a non-zero status.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-gpu-check}
mkdir -p "$OUT" || { echo "gpu-check: FAILED: cannot create $OUT" >&2; exit 2; }
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/gpu-check.log"
: >"$LOG"

say() { echo "$*" | tee -a "$LOG"; }
fail() {
  echo "gpu-check: FAILED: $*" | tee -a "$LOG" >&2
  exit 1
}
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\000-\037')"; }

command -v cmake >/dev/null 2>&1 || fail "cmake not found on PATH"

# The card's architecture (compute capability, e.g. "9.0" -> 90).
ARCH=${GPRL_GPU_CHECK_ARCH:-}
CARD="" DRIVER="" MEMORY=""
if command -v nvidia-smi >/dev/null 2>&1; then
  if INFO=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>>"$LOG"); then
    INFO=$(printf '%s\n' "$INFO" | head -n 1)
    CARD=$(printf '%s' "$INFO" | cut -d, -f1 | sed 's/^ *//; s/ *$//')
    [ -n "$ARCH" ] || ARCH=$(printf '%s' "$INFO" | cut -d, -f2 | tr -d ' .')
    DRIVER=$(printf '%s' "$INFO" | cut -d, -f3 | tr -d ' ')
    MEMORY=$(printf '%s' "$INFO" | cut -d, -f4 | sed 's/^ *//')
  fi
fi
if [ -z "$ARCH" ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    fail "CUDA is required but nvidia-smi reports no GPU (see $LOG)"
  fi
  fail "CUDA is required but no NVIDIA driver was found (nvidia-smi is not on PATH); set GPRL_GPU_CHECK_ARCH to build anyway"
fi
case "$ARCH" in *[!0-9]*) fail "unexpected compute capability '$ARCH'" ;; esac
say "gpu-check: card '${CARD:-unknown}', sm_$ARCH, driver ${DRIVER:-unknown}, memory ${MEMORY:-unknown}"

BUILD="$OUT/build-test"
JOBS=$(nproc 2>/dev/null || echo 4)
say "gpu-check: building native/test for sm_$ARCH in $BUILD"
cmake -S "$ROOT/native/test" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGPRL_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${ARCH}-real" >>"$LOG" 2>&1 || fail "cmake configure failed (see $LOG)"
cmake --build "$BUILD" -j "$JOBS" >>"$LOG" 2>&1 || fail "build failed (see $LOG)"

export GPRL_TEST_REQUIRE_CUDA=1
rm -f "$OUT/kernels_test.json"
say "gpu-check: kernels_test"
GPRL_TEST_JSON="$OUT/kernels_test.json" "$BUILD/kernels_test" 2>&1 | tee -a "$LOG"
RC_KERNELS=${PIPESTATUS[0]}
if NOCUDA=$(grep -m 1 'GPRL_TEST_REQUIRE_CUDA=1 but CUDA is not available' "$LOG"); then
  fail "${NOCUDA#FAILED: }"
fi
say "gpu-check: policy_loss_test"
"$BUILD/policy_loss_test" 2>&1 | tee -a "$LOG"
RC_POLICY=${PIPESTATUS[0]}

# compute-sanitizer (shipped with the toolkit): memcheck and racecheck on a reduced run
# (GPRL_TEST_QUICK=1: every 8th case, two block sizes, the hazard tests, no timings).
RC_MEMCHECK=null RC_RACECHECK=null
SANITIZER=$(command -v compute-sanitizer || true)
[ -n "$SANITIZER" ] || [ ! -x /usr/local/cuda/bin/compute-sanitizer ] || SANITIZER=/usr/local/cuda/bin/compute-sanitizer
if [ "${GPRL_GPU_CHECK_SANITIZE:-1}" = 0 ]; then
  say "gpu-check: GPRL_GPU_CHECK_SANITIZE=0, memcheck/racecheck skipped"
elif [ -n "$SANITIZER" ]; then
  for TOOL in memcheck racecheck; do
    say "gpu-check: compute-sanitizer --tool $TOOL kernels_test (GPRL_TEST_QUICK=1)"
    # --report-api-errors no: the forced out-of-memory error is part of the test.
    GPRL_TEST_QUICK=1 timeout 600 "$SANITIZER" --tool "$TOOL" --report-api-errors no --error-exitcode 99 \
      "$BUILD/kernels_test" 2>&1 |
      tail -n 40 | tee -a "$LOG"
    RC=${PIPESTATUS[0]}
    if [ "$TOOL" = memcheck ]; then RC_MEMCHECK=$RC; else RC_RACECHECK=$RC; fi
  done
else
  say "gpu-check: compute-sanitizer not found, memcheck/racecheck skipped"
fi

RC_NODE=null NODE_NOTE="node not on PATH"
if command -v node >/dev/null 2>&1; then
  if [ -d "$ROOT/node_modules" ]; then
    say "gpu-check: building the addon for sm_$ARCH and running test/kernels with the cuda backend required"
    ADDON_BUILD="$OUT/build-addon"
    if (cd "$ROOT" && node scripts/build-native.mjs --builder cmake --cuda on --cuda-arch "${ARCH}-real" \
      --build-dir "$ADDON_BUILD") >>"$LOG" 2>&1; then
      ADDON=$(find "$ADDON_BUILD" -name gprl.node | head -n 1)
      (cd "$ROOT" && GPRL_ADDON_PATH="$ADDON" npx vitest run test/kernels) 2>&1 | tee -a "$LOG"
      RC_NODE=${PIPESTATUS[0]}
      NODE_NOTE="test/kernels with $ADDON"
    else
      RC_NODE=1
      NODE_NOTE="addon build failed (see log)"
    fi
  else
    NODE_NOTE="node_modules missing (run npm ci first)"
  fi
fi
say "gpu-check: node suite: $NODE_NOTE (exit code: $RC_NODE)"

{
  printf '{\n  "card": %s,\n  "computeCapability": %s,\n  "driver": %s,\n  "memory": %s,\n' \
    "$(json_str "$CARD")" "$ARCH" "$(json_str "$DRIVER")" "$(json_str "$MEMORY")"
  printf '  "commit": %s,\n  "date": %s,\n' \
    "$(json_str "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)")" "$(json_str "$(date -u +%FT%TZ)")"
  printf '  "exitCodes": {"kernels_test": %s, "policy_loss_test": %s, "memcheck": %s, "racecheck": %s, "nodeKernelSuite": %s},\n' \
    "$RC_KERNELS" "$RC_POLICY" "$RC_MEMCHECK" "$RC_RACECHECK" "$RC_NODE"
  printf '  "nodeKernelSuite": %s,\n' "$(json_str "$NODE_NOTE")"
  printf '  "kernelsTest": '
  if [ -s "$OUT/kernels_test.json" ]; then sed '1!s/^/  /' "$OUT/kernels_test.json"; else printf 'null\n'; fi
  printf '}\n'
} >"$OUT/gpu-check.json"

bad() { [ "$1" != null ] && [ "$1" -ne 0 ]; }
if bad "$RC_KERNELS" || bad "$RC_POLICY" || bad "$RC_MEMCHECK" || bad "$RC_RACECHECK" || bad "$RC_NODE"; then
  fail "kernels_test exit $RC_KERNELS, policy_loss_test exit $RC_POLICY, memcheck $RC_MEMCHECK, racecheck $RC_RACECHECK, node suite exit $RC_NODE (results: $OUT/gpu-check.json, log: $LOG)"
fi
say "gpu-check: PASSED (results: $OUT/gpu-check.json, log: $LOG)"
