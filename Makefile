# The two commands of the README:
#   make run    set up .venv and run the main job
#   make test   set up .venv with the dev extras and run the test suite
# Everything installs from the package registries; nothing downloads at run time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install when pyproject.toml changes.
STAMP     := $(VENV)/.stamp-$(shell cksum pyproject.toml | cut -d' ' -f1)
PEERS_STAMP := $(STAMP)-peers-$(shell cksum requirements-litert.txt | cut -d' ' -f1)
DEV_STAMP := $(PEERS_STAMP)-dev

.PHONY: run test lint fuzz check-gpu check-full check-train builtin-weights setup setup-dev clean system-deps

ART := artifacts
MV  := $(VENV)/bin/mobilevid

# The main job: VMF-560M to ExecuTorch (fp32, int8, for phones), OpenVINO IR
# (fp32, bf16, int8, for Xeon-class CPUs) and Core ML at the paper's input, verified
# against PyTorch, then timed on this CPU beside eager PyTorch and every peer a
# CPU user would otherwise pick (OpenVINO's own int8, ONNX Runtime, LiteRT); the
# bench reuses the files exported here.
run: $(PEERS_STAMP)
	$(MV) export --variant 560m --target executorch --output $(ART) --force
	$(MV) export --variant 560m --target executorch --quantize int8 --output $(ART) --force
	$(MV) export --variant 560m --target openvino --output $(ART) --force
	$(MV) export --variant 560m --target openvino --quantize bf16 --output $(ART) --force
	$(MV) export --variant 560m --target openvino --quantize int8 --output $(ART) --force
	$(MV) export --variant 560m --target coreml --output $(ART) --force
	$(MV) verify $(ART)/vmf-560m_xnnpack_fp32.pte $(ART)/vmf-560m_xnnpack_int8.pte $(ART)/vmf-560m_openvino_*.xml \
	  $(ART)/vmf-560m_coreml_fp16.mlpackage
	$(MV) bench --device host --variant 560m --artifacts-dir $(ART) --report reports/bench-host-560m
	@echo "artifacts: $(CURDIR)/$(ART)"; ls -1 $(ART); echo "bench report: $(CURDIR)/reports/bench-host-560m/report.md"

# The long export claims: every VMF variant at the paper's input (fp32 and int8
# .pte, OpenVINO IR, Core ML), Table 12 through the Xeon path, and int8 top-1 agreement on trained 1G/2G/5G models. About
# 1.5 h on 2 cores, so not part of `make test`.
check-full: $(DEV_STAMP)
	$(MV) export --variant 560m 1g 2g 5g --target executorch --output $(ART)/full --force
	$(MV) export --variant 560m 1g 2g 5g --target executorch --quantize int8 --output $(ART)/full --force
	$(MV) export --variant 560m --target coreml --quantize fp32 --output $(ART)/full --force
	$(MV) export --variant 560m --target coreml --quantize fp16 --output $(ART)/full --force
	$(MV) export --variant 560m --target coreml --quantize int8 --output $(ART)/full --force
	$(MV) export --variant 560m 1g 2g 5g x3d-s --target openvino --output $(ART)/full --force
	$(MV) export --variant 560m 1g 2g 5g x3d-s --target openvino --quantize bf16 --output $(ART)/full --force
	$(MV) export --variant 560m 1g 2g 5g x3d-s --target openvino --quantize int8 --output $(ART)/full --force
	$(MV) export --variant movinet-a0 movinet-a1 movinet-a2 x3d-xs --target executorch --output $(ART)/full --force
	$(MV) export --variant movinet-a0 movinet-a1 movinet-a2 x3d-xs --target executorch --quantize int8 --output $(ART)/full --force
	$(MV) export --variant movinet-a0 movinet-a0-stream --target coreml --output $(ART)/full --force
	for q in fp32 int8; do $(MV) export --variant movinet-a0-stream --checkpoint builtin:movinet-a0-stream-motion \
	  --frames 50 --size 172 -q $$q -o $(ART)/full/movinet-a0-stream_motion_$$q.pte --force || exit 1; done
	$(MV) verify $(ART)/full/*.pte $(ART)/full/*.xml $(ART)/full/*.mlpackage
	du -sh $(ART)/full/*.mlpackage
	$(PY) -m pytest -m full -s -q tests
	$(MV) setup arm64
	$(MV) export --variant x3d-s --target executorch --quantize int8 --output $(ART)/full --force
	$(MV) export --variant vit-s-sta --target executorch --output $(ART)/full --force
	$(MV) verify $(ART)/full/vmf-560m_xnnpack_fp32.pte $(ART)/full/vmf-560m_xnnpack_int8.pte \
	  $(ART)/full/vmf-5g_xnnpack_int8.pte $(ART)/full/x3d-s_xnnpack_int8.pte \
	  $(ART)/full/vit-s-sta_xnnpack_fp32.pte --on pixel7
	$(MV) verify $(ART)/full/vmf-560m_xnnpack_int8.pte --on galaxys23
	$(MV) bench --device host --variant 560m 1g 2g 5g x3d-s --artifacts-dir $(ART) --report reports/bench-host-table12
	$(MV) bench --device host --variant 560m 1g 2g 5g x3d-s --runtime eager openvino-ir openvino-int8 \
	  --artifacts-dir $(ART) --report reports/bench-xeon-table12
	test -f $(X3DXS)/best.pt || $(MV) train --variant x3d-xs --train synthetic:1024 --val synthetic:256 \
	  --epochs 3 --frames 4 --size 64 --out $(X3DXS)
	for q in fp32 int8; do $(MV) export --checkpoint $(X3DXS)/best.pt --frames 4 --size 160 -q $$q \
	  -o $(ART)/full/x3d-xs_motion_$$q.pte --force || exit 1; done
	$(MV) verify $(ART)/full/x3d-xs_motion_*.pte
	$(MV) bench --device host --variant 560m 1g movinet-a0 movinet-a1 x3d-s movinet-a0-stream \
	  --artifact $(ART)/full/x3d-xs_motion_fp32.pte $(ART)/full/x3d-xs_motion_int8.pte \
	  --paper-input --runtime executorch --artifacts-dir $(ART) --report reports/bench-host-peers
	$(MV) profile --pruning
	$(MV) export --variant uniformer-s tsnet-uniformer-s videoswin-t tsnet-videoswin-t \
	  --target executorch --output $(ART)/full --force
	$(MV) export --variant tsnet-uniformer-s --target executorch --quantize int8 --output $(ART)/full --force
	$(MV) verify $(ART)/full/uniformer-s_xnnpack_fp32.pte $(ART)/full/tsnet-uniformer-s_xnnpack_*.pte \
	  $(ART)/full/videoswin-t_xnnpack_fp32.pte $(ART)/full/tsnet-videoswin-t_xnnpack_fp32.pte
	$(MV) bench --device host --runtime executorch --runs 20 --report reports/bench-host-tsnet --artifact \
	  $(ART)/full/uniformer-s_xnnpack_fp32.pte $(ART)/full/tsnet-uniformer-s_xnnpack_fp32.pte \
	  $(ART)/full/tsnet-uniformer-s_xnnpack_int8.pte $(ART)/full/videoswin-t_xnnpack_fp32.pte \
	  $(ART)/full/tsnet-videoswin-t_xnnpack_fp32.pte

# X3D-XS for the peers bench, trained on the synthetic motion set (~5 min): X3D
# zero-initialises every residual branch's last BN (as pytorchvideo does), so
# seeded weights give near-zero logits that int8 noise dominates (cosine
# 0.989 < the 0.99 gate); trained weights are what a user quantizes.
X3DXS := runs/motion-x3d-xs

# GPU checks (docs/gpu.md): on a machine with an NVIDIA GPU, the AMP training
# smoke test (300 steps of VMF-560M, loss must fall) then the same through
# torchrun + NCCL, and Table 12's GPU column.
.PHONY: check-gpu gpu-wheels
check-gpu: $(STAMP)
	$(PY) -m mobilevid.train.smoke --steps 300 --out runs/smoke-gpu
	$(PY) -m torch.distributed.run --standalone --nproc_per_node 1 -m mobilevid.train.smoke \
	  --steps 100 --out runs/smoke-gpu-ddp
	$(MV) bench --device cuda --variant 560m 1g 2g 5g x3d-s --runs 50 --report reports/bench-gpu-table12

# The wheels gpu/table12.sh needs on the GPU image (Python 3.12, its own torch):
# what mobilevid imports there that the image lacks or has at another version.
GPU_WHEELS := typer==0.29.2 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 annotated-doc==0.0.7 rich==15.0.0 shellingham==1.5.4
gpu-wheels:
	grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
	$(PY) -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)

# The training claims of docs/train.md: VMF-560M from chance to >= 90% top-1 on
# the synthetic motion set (16 x 64 x 64), exported and scored as a .pte; then
# quantization-aware fine-tuning for XNNPACK and its int8 .pte scored the same
# way, beside post-training int8. About 25 min on 2 cores.
RUN := runs/motion
check-train: $(STAMP)
	rm -rf $(RUN) $(RUN)-qat
	$(MV) train --variant 560m --train synthetic:4096 --val synthetic:512 --epochs 2 --out $(RUN)
	$(MV) export --checkpoint $(RUN)/best.pt -o $(RUN)/fp32.pte --force
	$(MV) export --checkpoint $(RUN)/best.pt -q int8 -o $(RUN)/ptq-int8.pte --force
	$(MV) train --qat xnnpack --init $(RUN)/best.pt --train synthetic:1024 --val synthetic:512 \
	  --epochs 1 --lr 1e-4 --out $(RUN)-qat
	$(MV) export --checkpoint $(RUN)-qat/best.pt -o $(RUN)/qat-int8.pte --force
	for m in fp32 ptq-int8 qat-int8; do $(MV) evaluate synthetic:512 --artifact $(RUN)/$$m.pte; done

# The checkpoint `mobilevid predict` uses by default (builtin:vmf-560m-motion):
# the fp32 run of check-train, weights only, in fp16.
# builtin:movinet-a0-stream-motion: MoViNet-A0-Stream on the same set (~3 min).
A0S := runs/motion-a0-stream
builtin-weights: $(STAMP)
	test -f $(RUN)/best.pt || $(MAKE) check-train
	$(PY) -c "from mobilevid.checkpoint import slim; slim('$(RUN)/best.pt', 'mobilevid/weights/vmf-560m_motion.pt')"
	test -f $(A0S)/best.pt || $(MV) train --variant movinet-a0-stream --train synthetic:1024 \
	  --val synthetic:256 --epochs 2 --frames 16 --size 64 --out $(A0S)
	$(PY) -c "from mobilevid.checkpoint import slim; slim('$(A0S)/best.pt', 'mobilevid/weights/movinet-a0-stream_motion.pt')"

# System tools the tests build with: javac (the Android core), cmake and g++ (the
# C++ runner). Installed with apt-get when missing and possible (CI, as root).
system-deps:
	@missing=""; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (install them to run every test)"; exit 1; fi; \
	fi

test: $(DEV_STAMP) system-deps
	$(VENV)/bin/ruff check mobilevid tests fuzz
	$(PY) -m pytest -q
	$(MAKE) test-java

# The Android demo's Java core against the shared vectors (javac + Debian's JUnit 4).
.PHONY: test-java
test-java:
	android_demo/core/run_tests.sh

# Coverage-guided fuzzing (atheris) of the video path and of sidecar/recipe
# parsing, FUZZ_SECONDS each (10 minutes in all by default). The corpus grows
# in fuzz/corpus/ between runs; a crash is saved to fuzz/crashes/ and fails
# the target (then: fix it, and move the input to fuzz/regressions/<target>/,
# which `make test` replays).
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz: $(DEV_STAMP)
	mkdir -p fuzz/crashes
	for t in video sidecar; do mkdir -p fuzz/corpus/$$t; \
	  (cd fuzz && ../$(PY) $$t.py -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=4096 \
	    -artifact_prefix=crashes/$$t- -print_final_stats=1 corpus/$$t 2>&1 \
	    | grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss|==.*ERROR|SUMMARY)|Uncaught|Error" ) ; \
	  test -z "$$(ls fuzz/crashes | grep "^$$t-")" || { echo "fuzz $$t: crash saved in fuzz/crashes"; exit 1; }; \
	done

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check mobilevid tests fuzz
	$(VENV)/bin/ruff format --check mobilevid tests fuzz

setup: $(STAMP)
setup-dev: $(DEV_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "mobilevid needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[onnx]"
	touch $@

# The bench peers (OpenVINO + NNCF, ONNX Runtime, LiteRT): `make peers`. LiteRT
# installs without its declared deps (they would replace the pinned torch):
# requirements-litert.txt says why.
$(PEERS_STAMP): pyproject.toml requirements-litert.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[peers]"
	$(PY) -m pip install --quiet --no-deps -r requirements-litert.txt
	touch $(STAMP) $@

# dev = the tests' tools on top of every peer, so CI exercises them all
$(DEV_STAMP): $(PEERS_STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

.PHONY: peers arm64
peers: $(PEERS_STAMP)

# The phone's aarch64 kernels under QEMU, for `mobilevid verify --on pixel7`
# (Debian packages: run as root; cached in ~/.cache/mobilevid)
arm64: $(STAMP)
	$(MV) setup arm64

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
