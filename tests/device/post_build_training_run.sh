#!/usr/bin/env bash
# Issue 12's closing run on the GPU, as a bench/device_final.sh hook (run from the repo root after
# ./build is built, alone on the GPU):
#
#   bash tests/device/post_build_training_run.sh FIXTURES_DIR       # SEQ=4096 by default
#
#   attnscope run --spec samples/gpt-oss-20b.json --seq $SEQ --backward --what-if --json
#
# and checks its report: eager and sink ran forward and backward on the GPU and pass the acceptance
# rule on the output and on every gradient (dq, dk, dv, dsinks); flash2 is refused and its what-if
# (sinks dropped) ran both passes with its divergence reported per tensor; every run is timed and
# none had to attribute its kernels by launch order (gpu.cupti_repeats_by_order). One PASS/FAIL line
# per check into FIXTURES_DIR/training_run.txt, the report as training_run.json; exit 1 on a FAIL.
set -u
FIX=${1:?usage: post_build_training_run.sh FIXTURES_DIR}
mkdir -p "$FIX"
BIN=${BIN:-./build/attnscope}
SEQ=${SEQ:-4096}
timeout "${RUN_TIMEOUT:-50}" "$BIN" run --spec samples/gpt-oss-20b.json --seq "$SEQ" --backward --what-if --json --quiet \
  -o /tmp/attnscope_training_run.h5 > "$FIX/training_run.json" 2> "$FIX/training_run.log"
rc=$?
python3 - "$FIX/training_run.json" "$rc" "${EXPECT_GPU:-1}" <<'PY' | tee "$FIX/training_run.txt"
import json, sys
path, rc, want_gpu = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
failed = 0
def check(ok, name, detail=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""))
    failed |= not ok
    return ok
try:
    report = json.load(open(path))
except Exception as e:  # noqa: BLE001 - a run that wrote no report is the failure to show
    check(False, "report", f"attnscope exited {rc}, no JSON report ({e})")
    sys.exit(1)
runs = {r["label"]: r for r in report["runs"]}
for label in ("eager", "sink", "flash2 (what-if)"):
    r = runs.get(label)
    if not check(r is not None and r["status"] == "ran", f"{label} ran", r["status"] if r else "missing"):
        continue
    if want_gpu:
        check(r.get("backend") == "cuda", f"{label} on the GPU", r.get("backend", ""))
        check(bool(r.get("timed")) and r.get("median_ms", 0) > 0, f"{label} timed", f"{r.get('median_ms')} ms")
    codes = [x.get("code", "") for x in r.get("verdict", {}).get("reasons", [])]
    check("gpu.cupti_repeats_by_order" not in codes, f"{label} kernels carry their repeat", ",".join(codes))
    fwd = r.get("acceptance", {})
    b = r.get("backward") or {}
    grads = b.get("gradients") or {}
    check(bool(b.get("ran")) and set(grads) >= {"dq", "dk", "dv", "dsinks"}, f"{label} backward",
          f"ran={b.get('ran')}, tensors {sorted(grads)}, {b.get('median_ms')} ms")
    if label == "flash2 (what-if)":
        check(fwd.get("applicable") and not fwd.get("pass"), f"{label} output diverges (sinks dropped)", fwd.get("text", ""))
        for t, g in sorted(grads.items()):
            print(f"INFO {label} {t}: {g['acceptance'].get('text', '')}")
    else:
        check(bool(fwd.get("pass")), f"{label} output passes the rule", fwd.get("text", ""))
        for t, g in sorted(grads.items()):
            check(bool(g["acceptance"].get("pass")), f"{label} {t} passes the rule", g["acceptance"].get("text", ""))
check(runs.get("flash2", {}).get("status") == "refused", "flash2 refused (no sinks)", runs.get("flash2", {}).get("status", "missing"))
sys.exit(1 if failed else 0)
PY
