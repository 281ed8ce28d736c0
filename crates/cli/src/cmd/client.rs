//! `synod client`: run one command against a cluster.

use clap::{Args as ClapArgs, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_apps::{BankOp, Command, InventoryOp, KvOp, KvResult, Outcome};
use synod_core::RequestKind;
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_tools::desk::parse_counts;

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file.
    #[arg(long)]
    cluster: PathBuf,
    /// Print one JSON object instead of text (before or after the command).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Wait this long for a reply before broadcasting again.
    #[arg(long, global = true, default_value_t = 500)]
    timeout_ms: u64,
    /// Broadcasts before giving up with an unknown outcome.
    #[arg(long, global = true, default_value_t = 6)]
    retries: u32,
    /// For a read (kv get, bank balance, bank balances): answered by the
    /// node contacted from its own state, which may be stale. Without it a
    /// read is linearizable (the leader confirms it still leads first); a
    /// read never writes to the log either way.
    #[arg(long, global = true)]
    serializable: bool,
    #[command(subcommand)]
    app: App,
}

#[derive(Subcommand)]
enum App {
    /// The bank: transfers between the accounts A..J, balances.
    #[command(subcommand)]
    Bank(Bank),
    /// The inventory: orders, cancellations, stock.
    #[command(subcommand)]
    Inventory(Inventory),
    /// The key-value store.
    #[command(subcommand)]
    Kv(Kv),
}

#[derive(Subcommand)]
enum Bank {
    /// Move AMOUNT from account FROM to account TO.
    Transfer {
        /// The account the money leaves.
        from: String,
        /// The account it goes to.
        to: String,
        /// How much.
        amount: u64,
    },
    /// One account's balance.
    Balance {
        /// The account (A..J).
        account: String,
    },
    /// Every account's balance.
    Balances,
}

#[derive(Subcommand)]
enum Inventory {
    /// Order COUNTS (masks,bottles,rolls,cups) for NAME.
    Order {
        /// Whose order.
        name: String,
        /// Four counts, comma separated: masks,bottles,rolls,cups.
        counts: String,
    },
    /// Cancel NAME's order, returning its items to stock.
    Cancel {
        /// Whose order.
        name: String,
    },
    /// What is in stock.
    Stock,
    /// Every order placed.
    Orders,
}

#[derive(Subcommand)]
enum Kv {
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Read KEY's value.
    Get {
        /// The key.
        key: String,
    },
    /// Set KEY to NEW if it holds `--expected OLD`, or no value (`--absent`).
    Cas {
        /// The key.
        key: String,
        /// Its new value.
        new: String,
        /// The value KEY must hold now.
        #[arg(long, required_unless_present = "absent", conflicts_with = "absent")]
        expected: Option<String>,
        /// KEY must hold no value now.
        #[arg(long)]
        absent: bool,
    },
    /// Remove KEY and its value.
    Delete {
        /// The key.
        key: String,
    },
}

fn command(app: App) -> anyhow::Result<Command> {
    Ok(match app {
        App::Bank(Bank::Transfer { from, to, amount }) => {
            Command::Bank(BankOp::Transfer { from, to, amount })
        }
        App::Bank(Bank::Balance { account }) => Command::Bank(BankOp::Balance { account }),
        App::Bank(Bank::Balances) => Command::Bank(BankOp::Balances),
        App::Inventory(Inventory::Order { name, counts }) => {
            Command::Inventory(InventoryOp::Order {
                name,
                counts: parse_counts(&counts).map_err(anyhow::Error::msg)?,
            })
        }
        App::Inventory(Inventory::Cancel { name }) => {
            Command::Inventory(InventoryOp::Cancel { name })
        }
        App::Inventory(Inventory::Stock) => Command::Inventory(InventoryOp::Stock),
        App::Inventory(Inventory::Orders) => Command::Inventory(InventoryOp::Orders),
        App::Kv(Kv::Put { key, value }) => Command::Kv(KvOp::Put {
            key,
            value: value.into_bytes(),
        }),
        App::Kv(Kv::Get { key }) => Command::Kv(KvOp::Get { key }),
        App::Kv(Kv::Cas {
            key,
            expected,
            new,
            absent,
        }) => Command::Kv(KvOp::Cas {
            key,
            expected: if absent {
                None
            } else {
                expected.map(String::into_bytes)
            },
            new: new.into_bytes(),
        }),
        App::Kv(Kv::Delete { key }) => Command::Kv(KvOp::Delete { key }),
    })
}

/// Why the application refused a command (its whole answer, should it not
/// say).
fn reason(outcome: &Outcome) -> String {
    match outcome.refusal() {
        Some(why) => why.to_string(),
        None => outcome.to_string(),
    }
}

/// The JSON form of a result.
fn result_json(result: &CommandResult<Outcome>) -> serde_json::Value {
    match result {
        CommandResult::Ok(outcome) => {
            let mut answer =
                json!({"result": "ok", "text": outcome.to_string(), "outcome": outcome});
            // A kv value as text too (the outcome holds its bytes).
            if let Outcome::Kv(KvResult::Value(value)) = outcome {
                answer["value"] = match value {
                    Some(bytes) => String::from_utf8_lossy(bytes).into(),
                    None => serde_json::Value::Null,
                };
            }
            answer
        }
        CommandResult::Failed(outcome) => json!({"result": "failed", "reason": reason(outcome)}),
        CommandResult::Unknown => json!({"result": "unknown"}),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let command = command(args.app)?;
    let read = matches!(
        command,
        Command::Kv(KvOp::Get { .. }) | Command::Bank(BankOp::Balance { .. } | BankOp::Balances)
    );
    if args.serializable && !read {
        anyhow::bail!("--serializable is for reads (kv get, bank balance, bank balances)");
    }
    let cluster = ClusterFile::load(&args.cluster)?;
    let options = ClientOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        retries: args.retries,
        id: None,
        first_contact: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (result, connected) = rt.block_on(async {
        let mut client = SynodClient::new(&cluster, options)?;
        let result = match (read, args.serializable) {
            (false, _) => client.execute(&command).await,
            (true, false) => client.read(&command, RequestKind::Read).await,
            (true, true) => client.read(&command, RequestKind::LocalRead).await,
        };
        anyhow::Ok((result, client.ever_connected()))
    })?;
    if matches!(result, CommandResult::Unknown) && !connected {
        // No connection was ever made, so no node holds the request: it
        // cannot commit later (unlike an unknown outcome).
        if args.json {
            println!("{}", json!({"result": "unreachable", "sent": false}));
        }
        let nodes: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("n{} at {}", n.id, n.client_addr))
            .collect();
        return Err(super::Unreachable(format!(
            "no node reachable: nothing was sent (tried {})",
            nodes.join(", ")
        ))
        .into());
    }
    if args.json {
        println!("{}", result_json(&result));
    } else {
        match &result {
            CommandResult::Ok(outcome) => println!("{outcome}"),
            CommandResult::Failed(outcome) => println!("failed: {}", reason(outcome)),
            CommandResult::Unknown => {
                println!(
                    "unknown outcome: no reply after every retry (it may still commit, exactly once)"
                )
            }
        }
    }
    Ok(match result {
        CommandResult::Ok(_) => ExitCode::SUCCESS,
        CommandResult::Failed(_) => ExitCode::from(1),
        CommandResult::Unknown => ExitCode::from(3),
    })
}
