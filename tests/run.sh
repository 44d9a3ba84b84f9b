#!/usr/bin/env bash
# Runs the whole test suite: installs the Debian/Ubuntu packages the tests talk to (Dovecot, GNOME Keyring,
# D-Bus, Xvfb, Mesa) when they are missing, checks formatting and lints, then runs every test under cargo-nextest
# (one process per test, which the keyring tests need). Each test starts its own Dovecot, keyring and sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  ca-certificates pkg-config openssl python3
  dovecot-core dovecot-imapd dovecot-submissiond
  dbus gnome-keyring libsecret-tools systemd
  xvfb x11-utils imagemagick libgl1-mesa-dri libegl1 mesa-vulkan-drivers
  libwayland-dev libxkbcommon-dev
  msmtp isync neomutt libsasl2-modules-kdexoauth2 swaks
  iproute2 util-linux
)
scripts/install-packages "${packages[@]}"

if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# Build outside the clone so repeated runs on one machine rebuild only what changed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mailconnect/target}"
export RUST_BACKTRACE=1

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast "$@"
