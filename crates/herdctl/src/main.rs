use std::process::ExitCode;

use clap::Parser;
use herdctl::cli::{Cli, Command};

/// `herdctl up` runs nodes in this program: the same allocator as
/// `herd-node` (see there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Node(args)) = cli.command {
        // A node started by `herdctl up`: runs like herd-node, no runtime
        // of ours around it.
        return herdctl::run_node::run(herdctl::run_node::Launch {
            config: cli.config,
            data_dir: args.data_dir,
            places_file: args.places_file,
            name: args.name,
        });
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return herdctl::report(Err(herdctl::Failure::failed(format!(
                "cannot start the runtime: {err}"
            ))));
        }
    };
    herdctl::report(runtime.block_on(herdctl::cli::dispatch(cli)))
}
