#!/usr/bin/env bash
# Builds the WebAssembly package: pkg-web/ (ES module, `--target web`) and pkg-node/ (CommonJS,
# `--target nodejs`), each with an `wasm-opt -Oz` optimised .wasm and TypeScript types (generated
# from the core's serde types: its `typescript` feature derives them with tsify).
#
# With a rustup wasm32-unknown-unknown target installed this is a plain cargo build; without one
# (rustup cannot download it on our build machines) it uses Debian's rustc-web and its std
# sources with -Zbuild-std, installing what is missing.
#
# Environment: CARGO (default cargo), PROBITY_WASM_TARGET_DIR (default <workspace>/target/wasm).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cargo="${CARGO:-cargo}"
target_dir="${PROBITY_WASM_TARGET_DIR:-$root/target/wasm}"
bindgen_version="0.2.130"
profile="wasm-release"
crate="probity_wasm"

say() { printf '\033[1mbuild.sh:\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1
  fi
}

# 1. Compile the crate for wasm32-unknown-unknown.
cd "$root"
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup has wasm32-unknown-unknown: plain cargo build"
  CARGO_TARGET_DIR="$target_dir" "$cargo" build -p probity-wasm --profile "$profile" --target wasm32-unknown-unknown
else
  say "no rustup wasm32 target: Debian rustc-web with -Zbuild-std"
  if ! dpkg -s rustc-web rust-web-src lld-19 >/dev/null 2>&1; then
    say "installing rustc-web rust-web-src lld-19 with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web rust-web-src lld-19
  fi
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
    CARGO_TARGET_DIR="$target_dir" "$cargo" build -p probity-wasm --profile "$profile" \
    -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown
fi
wasm="$target_dir/wasm32-unknown-unknown/$profile/$crate.wasm"
[ -f "$wasm" ] || { say "expected $wasm after the build"; exit 1; }

# 2. Generate the JS glue and TypeScript types with the matching wasm-bindgen CLI.
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version (a few minutes)"
  # Not --locked: its lockfile pins a crate version our registry index lacks.
  "$cargo" install wasm-bindgen-cli --version "$bindgen_version"
fi

# 3. Optimise with wasm-opt from the npm `binaryen` package (never Debian's binaryen 108: its
#    output crashes on load).
cd "$here"
if [ ! -x node_modules/.bin/wasm-opt ]; then
  say "installing npm dev dependencies (binaryen's wasm-opt)"
  npm install --no-audit --no-fund
fi

for target in web nodejs; do
  out="pkg-${target%js}"
  rm -rf "$out"
  wasm-bindgen --target "$target" --out-dir "$out" "$wasm"
  # The TypeScript types come from the core's `typescript` feature (tsify), through wasm-bindgen.
  grep -q '^export interface Decision {' "$out/$crate.d.ts" ||
    { say "$out/$crate.d.ts lacks the generated types (is probity's typescript feature on?)"; exit 1; }
  before=$(stat -c %s "$out/${crate}_bg.wasm")
  npx --no-install wasm-opt -Oz "$out/${crate}_bg.wasm" -o "$out/${crate}_bg.opt.wasm"
  mv "$out/${crate}_bg.opt.wasm" "$out/${crate}_bg.wasm"
  after=$(stat -c %s "$out/${crate}_bg.wasm")
  say "$out/${crate}_bg.wasm: $before → $after bytes (wasm-opt -Oz)"
done
# wasm-bindgen writes a .gitignore of `*` into each output; the package's own `files` list
# decides what is published, so drop it (npm would otherwise skip the directories).
rm -f pkg-web/.gitignore pkg-node/.gitignore
