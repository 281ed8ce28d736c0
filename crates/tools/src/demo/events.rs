//! What the demo reports as it goes: its events, whose text is the line a
//! person reads, and the table of balances.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_check::Anomaly;

/// What the demo did, in the order it did it.
#[derive(Debug)]
pub enum DemoEvent {
    Starting {
        nodes: usize,
        dir: PathBuf,
    },
    Leader(u32),
    ClientsStarted,
    /// Sent once a second while the load runs.
    Progress {
        transfers: u64,
        last_second: u64,
    },
    LeaderKilled(u32),
    /// A new leader served the first command sent after the kill.
    TookOver {
        leader: u32,
        after: Duration,
        finished_meanwhile: u64,
    },
    Restarted(u32),
    CaughtUp {
        node: u32,
        slot: u64,
    },
    Balances(BalanceTable),
    Agreed,
    Transfers {
        ok: u64,
        failed: u64,
        unknown: u64,
    },
    Throughput {
        per_second: f64,
        p50: Duration,
        p99: Duration,
        nodes: usize,
    },
    Anomaly(Anomaly),
    ExactlyOnce,
    Stopped {
        kept: Option<PathBuf>,
    },
    /// The last event of a demo that passed.
    Passed,
}

impl fmt::Display for DemoEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: &Duration| d.as_micros() as f64 / 1000.0;
        match self {
            DemoEvent::Starting { nodes, dir } => {
                write!(f, "starting a {nodes}-node cluster in {}", dir.display())
            }
            DemoEvent::Leader(n) => write!(f, "n{n} is the leader"),
            DemoEvent::ClientsStarted => write!(
                f,
                "ten bank clients A..J start transferring money (every account starts with 10)"
            ),
            DemoEvent::Progress {
                transfers,
                last_second,
            } => write!(
                f,
                "  {transfers} transfers so far ({last_second} in the last second)"
            ),
            DemoEvent::LeaderKilled(n) => {
                write!(f, "killed the leader n{n} (SIGKILL), mid-load")
            }
            DemoEvent::TookOver {
                leader,
                after,
                finished_meanwhile,
            } => write!(
                f,
                "n{leader} took over: the first command sent after the kill completed {:.0} ms after it ({finished_meanwhile} commands finished meanwhile)",
                ms(after)
            ),
            DemoEvent::Restarted(n) => write!(f, "restarted n{n} from its log on disk"),
            DemoEvent::CaughtUp { node, slot } => {
                write!(f, "n{node} caught up: every node has executed slot {slot}")
            }
            DemoEvent::Balances(table) => table.fmt(f),
            DemoEvent::Agreed => write!(f, "all replicas agree; the accounts still hold 100 units"),
            DemoEvent::Transfers {
                ok,
                failed,
                unknown,
            } => write!(
                f,
                "{} transfers: {ok} succeeded, {failed} failed for insufficient balance (committed, moved nothing), {unknown} unknown",
                ok + failed + unknown
            ),
            DemoEvent::Throughput {
                per_second,
                p50,
                p99,
                nodes,
            } => write!(
                f,
                "throughput {per_second:.0} transfers/s; latency p50 {:.2} ms, p99 {:.2} ms ({} closed-loop clients, durable on {nodes} nodes, one leader kill included)",
                ms(p50),
                ms(p99),
                DEFAULT_ACCOUNTS.len()
            ),
            DemoEvent::Anomaly(a) => write!(f, "  anomaly: {a}"),
            DemoEvent::ExactlyOnce => write!(
                f,
                "every acknowledged transfer is in the final balances exactly once"
            ),
            DemoEvent::Stopped { kept: None } => write!(f, "cluster stopped"),
            DemoEvent::Stopped { kept: Some(dir) } => write!(
                f,
                "cluster stopped; its logs and data are kept in {}",
                dir.display()
            ),
            DemoEvent::Passed => write!(
                f,
                "demo passed: the cluster survived the loss of its leader, every replica agrees, no money was lost or made"
            ),
        }
    }
}

/// One node's bank balances, account by account in A..J order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBalances {
    pub node: u32,
    pub balances: Vec<(String, u64)>,
}

/// The balances on every node, as a table with a total per node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceTable(pub Vec<NodeBalances>);

impl fmt::Display for BalanceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "balances on every node:")?;
        write!(f, "      ")?;
        for a in DEFAULT_ACCOUNTS {
            write!(f, "{a:>4}")?;
        }
        writeln!(f, "  total")?;
        for row in &self.0 {
            write!(f, "  n{:<3}", row.node)?;
            for (_, b) in &row.balances {
                write!(f, "{b:>4}")?;
            }
            let total: u64 = row.balances.iter().map(|(_, b)| b).sum();
            writeln!(f, "  {total:>5}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_table_lines_up_under_its_header() {
        let row = |node| NodeBalances {
            node,
            balances: DEFAULT_ACCOUNTS
                .iter()
                .map(|a| (a.to_string(), 10))
                .collect(),
        };
        let table = BalanceTable(vec![row(1), row(12)]).to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "balances on every node:");
        assert_eq!(
            lines[1],
            "         A   B   C   D   E   F   G   H   I   J  total"
        );
        assert_eq!(
            lines[2],
            "  n1    10  10  10  10  10  10  10  10  10  10    100"
        );
        assert_eq!(lines[3].len(), lines[2].len());
    }

    #[test]
    fn events_read_as_the_demo_always_said() {
        let took_over = DemoEvent::TookOver {
            leader: 2,
            after: Duration::from_micros(305_400),
            finished_meanwhile: 24,
        };
        assert_eq!(
            took_over.to_string(),
            "n2 took over: the first command sent after the kill completed 305 ms after it (24 commands finished meanwhile)"
        );
        let throughput = DemoEvent::Throughput {
            per_second: 5441.6,
            p50: Duration::from_micros(1470),
            p99: Duration::from_micros(17_950),
            nodes: 5,
        };
        assert_eq!(
            throughput.to_string(),
            "throughput 5442 transfers/s; latency p50 1.47 ms, p99 17.95 ms (10 closed-loop clients, durable on 5 nodes, one leader kill included)"
        );
    }
}
