//! The order desk's logic: what a line typed at a desk asks, and how the
//! desk answers a person. The console itself (prompt, stdin, its log) is
//! the command line's.

use synod_apps::inventory::describe_counts;
use synod_apps::{Command, InventoryOp, Outcome};
use synod_node::client::CommandResult;

pub const HELP: &str = "commands:
  order <name> <masks>,<bottles>,<rolls>,<cups>   place an order
  cancel <name>                                   cancel <name>'s latest order
  orders                                          every order on the books
  inventory                                       the stock of each item
  log                                             what this desk did
  help | quit";

/// What one desk command line asks for.
#[derive(Debug, PartialEq)]
pub enum DeskLine {
    Run(Command),
    Log,
    Help,
    Quit,
    Empty,
}

/// Parses "1,0,2,0" (spaces allowed): counts of masks, bottles, rolls, cups.
pub fn parse_counts(text: &str) -> Result<[u64; 4], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(format!(
            "expected four counts (masks,bottles,rolls,cups), got {text:?}"
        ));
    }
    let mut counts = [0; 4];
    for (c, p) in counts.iter_mut().zip(parts) {
        *c = p
            .parse()
            .map_err(|e| format!("{p:?} is not a count: {e}"))?;
    }
    Ok(counts)
}

impl DeskLine {
    pub fn parse(line: &str) -> Result<DeskLine, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Ok(match words.as_slice() {
            [] => DeskLine::Empty,
            ["order", name, counts @ ..] if !counts.is_empty() => {
                DeskLine::Run(Command::Inventory(InventoryOp::Order {
                    name: name.to_string(),
                    counts: parse_counts(&counts.join(""))?,
                }))
            }
            ["order", ..] => {
                return Err("usage: order <name> <masks>,<bottles>,<rolls>,<cups>".into());
            }
            ["cancel", name] => DeskLine::Run(Command::Inventory(InventoryOp::Cancel {
                name: name.to_string(),
            })),
            ["cancel", ..] => return Err("usage: cancel <name>".into()),
            ["orders"] => DeskLine::Run(Command::Inventory(InventoryOp::Orders)),
            ["inventory"] | ["stock"] => DeskLine::Run(Command::Inventory(InventoryOp::Stock)),
            ["log"] => DeskLine::Log,
            ["help"] | ["?"] => DeskLine::Help,
            ["quit"] | ["exit"] => DeskLine::Quit,
            [other, ..] => return Err(format!("unknown command {other:?}; type help")),
        })
    }
}

/// Whether the desk's log keeps `command` (what changed the book).
pub fn logged(command: &Command) -> bool {
    matches!(
        command,
        Command::Inventory(InventoryOp::Order { .. } | InventoryOp::Cancel { .. })
    )
}

/// The desk's answer to a person.
pub fn answer(command: &Command, result: &CommandResult<Outcome>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use synod_apps::{InventoryResult, OrderRejection, Outcome, Shortage};

    #[test]
    fn desk_lines_parse_and_mistakes_are_explained() {
        assert_eq!(
            DeskLine::parse("order alice 1, 0,2,0").unwrap(),
            DeskLine::Run(Command::Inventory(InventoryOp::Order {
                name: "alice".into(),
                counts: [1, 0, 2, 0]
            }))
        );
        assert_eq!(DeskLine::parse("  ").unwrap(), DeskLine::Empty);
        assert!(
            DeskLine::parse("order alice")
                .unwrap_err()
                .contains("usage")
        );
        assert!(
            DeskLine::parse("order alice 1,2")
                .unwrap_err()
                .contains("four counts")
        );
        assert!(
            DeskLine::parse("order alice 1,x,0,0")
                .unwrap_err()
                .contains("\"x\" is not a count")
        );
        assert!(
            DeskLine::parse("sell x")
                .unwrap_err()
                .contains("unknown command")
        );
    }

    #[test]
    fn answers_read_like_the_desk() {
        let order = Command::Inventory(InventoryOp::Order {
            name: "bob".into(),
            counts: [600, 0, 0, 0],
        });
        let rejected = Outcome::Inventory(InventoryResult::Rejected {
            name: "bob".into(),
            reason: OrderRejection::OverStock(vec![Shortage {
                item: 0,
                asked: 600,
                in_stock: 499,
            }]),
        });
        assert_eq!(
            answer(&order, &CommandResult::Failed(rejected)),
            "Cannot place order for bob: not enough masks (asked 600, 499 in stock)."
        );
        assert!(answer(&order, &CommandResult::Unknown).contains("may still be placed"));
        let stock = Command::Inventory(InventoryOp::Stock);
        assert_eq!(
            answer(&stock, &CommandResult::Unknown),
            "No answer from a quorum after retries; try again."
        );
        let garbled = CommandResult::Failed(Outcome::Invalid("cannot decode".into()));
        assert_eq!(answer(&stock, &garbled), "Failed: cannot decode");
    }
}
