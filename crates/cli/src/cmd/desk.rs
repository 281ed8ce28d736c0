//! `synod desk`: the order desk, a line-oriented console on the replicated
//! inventory. Each desk is a client that contacts its own node first; every
//! desk sees the one inventory the cluster agreed on. Commands come from the
//! terminal or, for scripts, from stdin. What a line means and how the desk
//! answers are synod_tools::desk's; this is the console around them.

use clap::Args as ClapArgs;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_apps::inventory::ITEMS;
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, SynodClient};
use synod_tools::desk::{DeskLine, HELP, answer, logged};

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file.
    #[arg(long)]
    cluster: PathBuf,
    /// This desk's site name (shown in its log and prompt).
    #[arg(long, default_value = "desk")]
    site: String,
    /// The node this desk talks to first (default: the first in the file).
    #[arg(long)]
    node: Option<u32>,
    /// Wait this long for a reply before broadcasting again.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// Broadcasts before giving up with an unknown outcome.
    #[arg(long, default_value_t = 6)]
    retries: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = ClientOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        retries: args.retries,
        id: None,
        first_contact: args.node,
    };
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    rt.block_on(async {
        let mut client = SynodClient::new(&cluster, options)?;
        let mut log: Vec<String> = Vec::new();
        let stdin = std::io::stdin();
        if interactive {
            println!(
                "order desk {} (items: {}); type help",
                args.site,
                ITEMS.join(", ")
            );
        }
        loop {
            if interactive {
                print!("{}> ", args.site);
                std::io::stdout().flush()?;
            }
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                break;
            }
            match DeskLine::parse(&line) {
                Ok(DeskLine::Empty) => {}
                Ok(DeskLine::Quit) => break,
                Ok(DeskLine::Help) => println!("{HELP}"),
                Ok(DeskLine::Log) => {
                    if log.is_empty() {
                        println!("(nothing yet)");
                    }
                    for l in &log {
                        println!("{l}");
                    }
                }
                Ok(DeskLine::Run(command)) => {
                    let result = client.execute(&command).await;
                    let text = answer(&command, &result);
                    println!("{text}");
                    if logged(&command) {
                        log.push(format!("[{}] {} -> {text}", args.site, line.trim()));
                    }
                }
                Err(e) => println!("{e}"),
            }
            std::io::stdout().flush()?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
