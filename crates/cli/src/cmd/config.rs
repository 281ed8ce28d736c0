//! `synod config`: the cluster file.

use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use synod_node::ClusterFile;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Print a commented example cluster file.
    Example,
    /// Validate a cluster file.
    Check { file: PathBuf },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Example => print!("{}", synod_node::config::EXAMPLE),
        Action::Check { file } => {
            let c = ClusterFile::load(&file)?;
            println!(
                "{}: ok ({} nodes, cluster id {:?})",
                file.display(),
                c.nodes.len(),
                c.cluster_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
