//! preconf-node: an all-in-one node for Berachain preconfirmation (BRIP-0007) devnets.

mod bench;
mod chain_io;
mod cli;
mod init;
mod run;
mod validators;

fn main() -> std::process::ExitCode {
    preconf_actors::process::return_freed_memory();
    preconf_actors::process::raise_open_file_limit();
    match cli::parse().and_then(run::main) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole chain of causes, no backtrace: this is what a user reads.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
