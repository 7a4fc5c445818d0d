#!/usr/bin/env bash
# The figures of docs/BENCHMARKS.md ("herd-bench"): starts the default herd
# and a one-node herd in temporary directories, runs every herd-bench mode,
# stops what it started. Needs a release build (cargo build --release
# --workspace --bins).
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release/herd-bench
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

target/release/herdctl up --no-tui --data-dir "$work/herd" >"$work/up.log" 2>&1 &
pids+=($!)
sleep 3
$B iamat --echo
$B iamat --echo --mode oneshot
$B whatsat --echo
$B propagate --rate 1000 --seconds 5
$B propagate --rate 20000 --seconds 5
$B heal --records 100000

target/release/herd-node --config examples/solo.toml --data-dir "$work/solo" Solo 2>/dev/null &
pids+=($!)
sleep 1
$B iamat --addr 127.0.0.1:13000 --echo
$B memory --config examples/solo.toml --node Solo --records 1000000
$B startup --runs 10
