# Conveniences; every recipe is a plain command you can run without just.

# Build and run the default five-node herd until Ctrl-C.
herd:
    cargo run --release -p herdctl -- up --no-tui

# The herd's status (needs a running herd).
status:
    cargo run --release -p herdctl -- status

build:
    cargo build --workspace

# The test command CI runs.
test:
    cargo build --workspace && cargo test --workspace

lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# IAMAT throughput against the echo ceiling and propagation at 1,000/s
# (docs/BENCHMARKS.md): needs a running herd (just herd).
measure:
    cargo build --release -p herd-bench
    target/release/herd-bench iamat --echo
    target/release/herd-bench iamat --echo --mode oneshot
    target/release/herd-bench propagate --rate 1000 --seconds 5

# What the admin port costs at 1,000,000 records, and watch's throughput
# (docs/BENCHMARKS.md): needs a one-node herd, see there.
admin-cost:
    cargo build --release --workspace --examples
    target/release/examples/admin_cost 127.0.0.1:13000 127.0.0.1:13200 1000000 target/release/herdctl examples/solo.toml

# The herd simulator (docs/repair.md): 10,000 seeds of 3-50 nodes, then
# 1,000-node herds. CI runs 500 seeds in `cargo test`.
sim:
    cargo run --release -p herd-sim -- --seeds 10000
    cargo run --release -p herd-sim -- --seeds 4 --nodes 1000

# Every figure of docs/BENCHMARKS.md's herd-bench table (a quiet machine;
# takes about two minutes). Starts and stops its own herds.
bench:
    cargo build --release --workspace --bins
    scripts/bench.sh
