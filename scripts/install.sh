#!/usr/bin/env bash
# Install Portrait Gallery into a virtual environment.
#   scripts/install.sh          -> .venv with the product
#   scripts/install.sh --dev    -> the same plus the test tools, the docs tools and the [cluster] extra (Ray),
#                                  which tests use
# VENV=/path overrides the environment folder.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
extra=""
[ "${1:-}" = "--dev" ] && extra="[test,docs,cluster]"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, pinned: an unpinned install pulls the newest multi-GB build
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
# the shim in the same call keeps OpenCV headless (see packaging/opencv-python-shim)
"$VENV/bin/python" -m pip install -q ./packaging/opencv-python-shim -e ".${extra}"
"$VENV/bin/python" -c "import cv2, gallery; print('installed: gallery', gallery.__version__, '| OpenCV', cv2.__version__)"
