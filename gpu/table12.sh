#!/usr/bin/env bash
# Table 12's GPU column and the GPU training smoke test, in one call on a
# machine with an NVIDIA GPU and no network (docs/gpu.md). From the repository
# root, with the wheels of `make gpu-wheels` carried in .whl/:
#
#   OUT=/some/folder bash gpu/table12.sh
#
# 1. installs mobilevid from this tree without network: the image's PyTorch
#    stays (no dependency is resolved), the few packages the image lacks or
#    has at other versions come from .whl/ into /tmp/site;
# 2. `mobilevid bench --device cuda` on VMF-560M/1G/2G/5G and X3D-S (64-frame
#    clips, as Table 12), every eager/compile mode, plus throughput;
# 3. the AMP training smoke test (300 steps), then once more through torchrun
#    with NCCL (one process);
# everything under $OUT: the bench report (JSON, Markdown, PNG), the smoke
# JSON, a log. Sized for one 10-minute call (about 6 minutes on an H100).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 3
fi
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
$PY -c 'import torch, mobilevid; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' || exit 3

status=0
$PY -m mobilevid bench --device cuda --variant 560m 1g 2g 5g x3d-s --runs 50 --warmup 5 \
  --report "$OUT/bench-gpu-table12" || status=1
$PY -m mobilevid.train.smoke --steps 300 --batch 16 --out "$OUT/smoke" > "$OUT/smoke.json" || status=1
$PY -m torch.distributed.run --standalone --nproc_per_node 1 -m mobilevid.train.smoke \
  --steps 100 --batch 16 --out "$OUT/smoke-ddp" > "$OUT/smoke-ddp.json" || status=1
rm -rf "$OUT/smoke" "$OUT/smoke-ddp"  # checkpoints: large, and not what the call is for
cat "$OUT/smoke.json" "$OUT/smoke-ddp.json"
exit $status
