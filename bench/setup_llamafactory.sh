#!/usr/bin/env bash
# A separate virtual environment with LLaMA-Factory 0.9.5 for bench/throughput.py, which is given its Python through
# --lf-python or LLAMAFACTORY_PYTHON (the last line printed is that setting). Torch is pinned to the build installed
# in the current environment (e.g. 2.13.0+cpu, from the local wheel cache), so pip never pulls a CUDA build.
# LLaMA-Factory imports torchaudio for audio inputs only, and no torchaudio build exists for every torch: when pip
# cannot install a matching one, a stub package stands in (the benchmark feeds text only).
#
#   bash bench/setup_llamafactory.sh [ENV_DIR]      (default: /work/lf-venv)
set -euo pipefail
ENV_DIR="${1:-/work/lf-venv}"
PY="${PYTHON:-python3}"
TORCH_VERSION="$($PY -c 'import torch; print(torch.__version__)')"
TORCH_BASE="${TORCH_VERSION%%+*}"
INDEX=()
case "$TORCH_VERSION" in *+cpu) INDEX=(--extra-index-url https://download.pytorch.org/whl/cpu) ;; esac

$PY -m venv "$ENV_DIR"
"$ENV_DIR/bin/pip" install -q --upgrade pip
"$ENV_DIR/bin/pip" install -q "${INDEX[@]}" "torch==$TORCH_BASE"
if ! "$ENV_DIR/bin/pip" install -q "${INDEX[@]}" "torchaudio==$TORCH_BASE" 2>/dev/null; then
  SITE="$("$ENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$SITE/torchaudio"
  echo '"""Stub: LLaMA-Factory imports torchaudio for audio inputs only; no build matches this torch."""' \
    > "$SITE/torchaudio/__init__.py"
  echo "torchaudio: no build for torch $TORCH_BASE; installed a stub"
fi
# constrain torch so llamafactory's requirements cannot replace it
echo "torch==$TORCH_BASE" > "$ENV_DIR/constraints.txt"
"$ENV_DIR/bin/pip" install -q "${INDEX[@]}" -c "$ENV_DIR/constraints.txt" "llamafactory==0.9.5" psutil
"$ENV_DIR/bin/python" -c 'import llamafactory, torch; print("llamafactory", llamafactory.__version__, "torch", torch.__version__)'
echo "LLAMAFACTORY_PYTHON=$ENV_DIR/bin/python"
