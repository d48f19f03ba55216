//! The `inherence` command.

fn main() -> std::process::ExitCode {
    inherence::cli::main()
}
