/// A million records are two small allocations each; mimalloc keeps them
/// without glibc's per-chunk header and rounding (docs/BENCHMARKS.md:
/// bytes per record).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herd_node::app::main()
}
