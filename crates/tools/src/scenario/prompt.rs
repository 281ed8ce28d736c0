//! The words a person types between sets, when the runner asks before each.

/// What a line typed at the prompt asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptCommand {
    /// Run the next set (also an empty line).
    Next,
    Quit,
    /// Every node's balances.
    Db,
    /// One node's recent messages and slots.
    Log {
        node: u32,
    },
    /// One slot on every node.
    Slot {
        slot: u64,
    },
    /// Every NEW-VIEW.
    View,
    /// Transaction latencies.
    Perf,
    /// Every node's role, ballot and progress.
    Status,
}

/// The prompt's list of commands.
pub const PROMPT_COMMANDS: &str = "next | db | log N | slot S | view | perf | status | quit";

impl PromptCommand {
    pub fn parse(line: &str) -> Result<PromptCommand, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Ok(match words.as_slice() {
            [] | ["next"] | ["n"] => PromptCommand::Next,
            ["quit"] | ["q"] => PromptCommand::Quit,
            ["db"] => PromptCommand::Db,
            ["log", n] => PromptCommand::Log {
                node: n
                    .trim_start_matches('n')
                    .parse()
                    .map_err(|_| "usage: log N")?,
            },
            ["slot", s] => PromptCommand::Slot {
                slot: s.parse().map_err(|_| "usage: slot S")?,
            },
            ["view"] => PromptCommand::View,
            ["status"] => PromptCommand::Status,
            ["perf"] => PromptCommand::Perf,
            _ => return Err(format!("unknown command {:?}", line.trim())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_lines_parse_and_mistakes_say_the_usage() {
        assert_eq!(PromptCommand::parse("\n"), Ok(PromptCommand::Next));
        assert_eq!(PromptCommand::parse(" q "), Ok(PromptCommand::Quit));
        assert_eq!(
            PromptCommand::parse("log n3"),
            Ok(PromptCommand::Log { node: 3 })
        );
        assert_eq!(
            PromptCommand::parse("slot 12"),
            Ok(PromptCommand::Slot { slot: 12 })
        );
        assert_eq!(PromptCommand::parse("log x"), Err("usage: log N".into()));
        assert_eq!(
            PromptCommand::parse("dance now"),
            Err("unknown command \"dance now\"".into())
        );
    }
}
