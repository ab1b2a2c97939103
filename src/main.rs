//! preconf-node: an all-in-one node for Berachain preconfirmation (BRIP-0007) devnets.

mod bench;
mod chain_io;
mod cli;
mod run;

fn main() -> eyre::Result<()> {
    let cli = cli::parse()?;
    run::main(cli)
}
