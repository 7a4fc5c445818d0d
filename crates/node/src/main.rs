fn main() -> std::process::ExitCode {
    herd_node::app::main()
}
