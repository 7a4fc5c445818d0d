# Conveniences; every recipe is a plain command you can run without just.

# Build and run the default five-node herd until Ctrl-C.
herd:
    scripts/herd-up

build:
    cargo build --workspace

# The test command CI runs.
test:
    cargo build --workspace && cargo test --workspace

lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# First figures (docs/BENCHMARKS.md): needs a running herd (just herd).
measure:
    cargo run --release --example measure -- 127.0.0.1:12003 127.0.0.1:12000 64 5
