#!/usr/bin/env bash
# The main job: the Email Connection Wizard against the built-in practice sandbox (fully offline). Installs the few
# system libraries the window needs when they are missing (as root, or with sudo), then builds and starts it.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-packages ca-certificates pkg-config libwayland-dev libxkbcommon-dev libegl1 libgl1-mesa-dri
if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
exec cargo run --release -- --demo "$@"
