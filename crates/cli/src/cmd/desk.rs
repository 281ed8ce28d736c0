//! `synod desk`: seed A's order desk, a line-oriented console on the
//! replicated inventory. Each desk is a client that contacts its own node
//! first; every desk sees the one inventory the cluster agreed on.
//! Commands come from the terminal or, for scripts, from stdin.

use crate::cmd::client::parse_counts;
use clap::Args as ClapArgs;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_apps::inventory::{ITEMS, describe_counts};
use synod_apps::{Command, InventoryOp};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};

#[derive(ClapArgs)]
pub struct Args {
    #[arg(long)]
    cluster: PathBuf,
    /// This desk's site name (shown in its log and prompt).
    #[arg(long, default_value = "desk")]
    site: String,
    /// The node this desk talks to first (default: the first in the file).
    #[arg(long)]
    node: Option<u32>,
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    #[arg(long, default_value_t = 6)]
    retries: u32,
}

const HELP: &str = "commands:
  order <name> <masks>,<bottles>,<rolls>,<cups>   place an order
  cancel <name>                                   cancel <name>'s latest order
  orders                                          every order on the books
  inventory                                       the stock of each item
  log                                             what this desk did
  help | quit";

/// What one desk command line asks for.
#[derive(Debug, PartialEq)]
enum Line {
    Run(Command),
    Log,
    Help,
    Quit,
    Empty,
}

fn parse(line: &str) -> Result<Line, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Ok(match words.as_slice() {
        [] => Line::Empty,
        ["order", name, counts @ ..] if !counts.is_empty() => {
            let counts = parse_counts(&counts.join("")).map_err(|e| format!("{e:#}"))?;
            Line::Run(Command::Inventory(InventoryOp::Order {
                name: name.to_string(),
                counts,
            }))
        }
        ["order", ..] => return Err("usage: order <name> <masks>,<bottles>,<rolls>,<cups>".into()),
        ["cancel", name] => Line::Run(Command::Inventory(InventoryOp::Cancel {
            name: name.to_string(),
        })),
        ["cancel", ..] => return Err("usage: cancel <name>".into()),
        ["orders"] => Line::Run(Command::Inventory(InventoryOp::Orders)),
        ["inventory"] | ["stock"] => Line::Run(Command::Inventory(InventoryOp::Stock)),
        ["log"] => Line::Log,
        ["help"] | ["?"] => Line::Help,
        ["quit"] | ["exit"] => Line::Quit,
        [other, ..] => return Err(format!("unknown command {other:?}; type help")),
    })
}

/// The desk's answer to a person.
fn answer(command: &Command, result: &CommandResult) -> String {
    match (command, result) {
        (_, CommandResult::Ok(outcome)) => outcome.to_string(),
        // An order's own rejection reads "Cannot place order for bob: ...".
        (Command::Inventory(InventoryOp::Order { .. }), CommandResult::Failed(outcome)) => {
            outcome.to_string()
        }
        (_, CommandResult::Failed(outcome)) => match outcome.refusal() {
            Some(why) => format!("Failed: {why}"),
            None => format!("Failed: {outcome}"),
        },
        (Command::Inventory(InventoryOp::Order { name, counts }), CommandResult::Unknown) => {
            format!(
                "Order for {name} ({}): no answer from a quorum after retries; it may still be placed (once). Check `orders`.",
                describe_counts(counts)
            )
        }
        (_, CommandResult::Unknown) => "No answer from a quorum after retries; try again.".into(),
    }
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
        let mut client = SynodClient::new(&cluster, options);
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
            match parse(&line) {
                Ok(Line::Empty) => {}
                Ok(Line::Quit) => break,
                Ok(Line::Help) => println!("{HELP}"),
                Ok(Line::Log) => {
                    if log.is_empty() {
                        println!("(nothing yet)");
                    }
                    for l in &log {
                        println!("{l}");
                    }
                }
                Ok(Line::Run(command)) => {
                    let result = client.execute(&command).await;
                    let text = answer(&command, &result);
                    println!("{text}");
                    if matches!(
                        &command,
                        Command::Inventory(InventoryOp::Order { .. } | InventoryOp::Cancel { .. })
                    ) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use synod_apps::{InventoryResult, OrderRejection, Outcome, Shortage};

    #[test]
    fn desk_lines_parse_and_mistakes_are_explained() {
        assert_eq!(
            parse("order alice 1, 0,2,0").unwrap(),
            Line::Run(Command::Inventory(InventoryOp::Order {
                name: "alice".into(),
                counts: [1, 0, 2, 0]
            }))
        );
        assert_eq!(parse("  ").unwrap(), Line::Empty);
        assert!(parse("order alice").unwrap_err().contains("usage"));
        assert!(
            parse("order alice 1,2")
                .unwrap_err()
                .contains("four counts")
        );
        assert!(parse("sell x").unwrap_err().contains("unknown command"));
    }

    #[test]
    fn answers_read_like_the_desk() {
        let order = Command::Inventory(InventoryOp::Order {
            name: "bob".into(),
            counts: [1, 0, 0, 0],
        });
        let rejected = Outcome::Inventory(InventoryResult::Rejected {
            name: "bob".into(),
            reason: OrderRejection::OverStock(vec![Shortage {
                item: 0,
                asked: 1,
                in_stock: 0,
            }]),
        });
        assert_eq!(
            answer(&order, &CommandResult::Failed(rejected)),
            "Cannot place order for bob: not enough masks (asked 1, 0 in stock)."
        );
        assert!(answer(&order, &CommandResult::Unknown).contains("may still be placed"));
    }
}
