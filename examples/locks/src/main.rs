//! A replicated lock service on a 3-node synod cluster, in one process:
//! starts the cluster with its own state machine ([`lock::LockService`]),
//! takes a lock, stops the leader, and carries on through the new one.
//!
//! Run it with `cargo run --release -p synod-example-locks`; it exits 0 when
//! every answer was the one a single, never-failing lock server would give.

mod lock;

use lock::{LockAnswer, LockCommand, LockService};
use std::process::ExitCode;
use std::time::Duration;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::{ClusterFile, NodeHandle, Start};

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("every answer was right");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("locks: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    let cluster = ClusterFile::on_free_ports("locks", data.path().to_path_buf(), 3)?;
    let mut nodes: Vec<Option<NodeHandle>> = Vec::new();
    for node in &cluster.nodes {
        let mut handle = NodeHandle::spawn(
            cluster.clone(),
            node.id,
            Start::Init,
            LockService::default(),
        )?;
        if !handle.wait_serving() {
            return Err(format!("n{} did not start: {:?}", node.id, handle.stop().err()).into());
        }
        nodes.push(Some(handle));
    }
    println!("started a 3-node cluster in {}", data.path().display());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let options = ClientOptions {
            timeout: Duration::from_millis(300),
            retries: 30,
            ..ClientOptions::default()
        };
        let mut client = SynodClient::new(&cluster, options).map_err(|e| e.to_string())?;
        let mut ask = async |command: LockCommand, expected: LockAnswer| {
            let answer = match client.execute(&command).await {
                CommandResult::Ok(answer) | CommandResult::Failed(answer) => answer,
                CommandResult::Unknown => return Err(format!("{command:?}: no answer")),
            };
            println!("{command:?} -> {answer:?} (via n{})", client.leader().0);
            if answer != expected {
                return Err(format!(
                    "{command:?}: expected {expected:?}, got {answer:?}"
                ));
            }
            Ok(client.leader().0)
        };
        let acquire = |owner: &str| LockCommand::Acquire {
            lock: "printer".into(),
            owner: owner.into(),
        };
        let release = |owner: &str| LockCommand::Release {
            lock: "printer".into(),
            owner: owner.into(),
        };

        ask(acquire("alice"), LockAnswer::Granted { token: 1 }).await?;
        let busy = LockAnswer::Busy {
            holder: "alice".into(),
        };
        let leader = ask(acquire("bob"), busy).await?;

        println!("stopping the leader n{leader}");
        let index = cluster
            .nodes
            .iter()
            .position(|n| n.id == leader)
            .ok_or("the leader is not in the cluster")?;
        if let Some(handle) = nodes[index].take() {
            handle.stop()?;
        }

        // The new leader knows alice's lock: it was chosen, so it survives.
        ask(release("bob"), LockAnswer::NotHolder).await?;
        let now = ask(release("alice"), LockAnswer::Released).await?;
        if now == leader {
            return Err(format!("n{leader} was stopped, yet it answered").into());
        }
        println!("n{now} leads now");
        ask(acquire("bob"), LockAnswer::Granted { token: 2 }).await?;

        println!("restarting n{leader} from its disk");
        nodes[index] = Some(NodeHandle::spawn(
            cluster.clone(),
            leader,
            Start::Existing,
            LockService::default(),
        )?);
        let holder = Some(("bob".to_string(), 2));
        ask(
            LockCommand::Holder {
                lock: "printer".into(),
            },
            LockAnswer::Held { holder },
        )
        .await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    for handle in nodes.into_iter().flatten() {
        handle.stop()?;
    }
    Ok(())
}
