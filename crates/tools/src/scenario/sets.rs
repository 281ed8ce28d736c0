//! The test sets' file: CSV with a set number, a transaction
//! `(Sender, Receiver, Amount)` or `LF`, and the live nodes `[n1, n2]`; a
//! row without a set number continues the set above it (format in
//! `scenarios/`).

use std::fmt;
use synod_apps::bank::DEFAULT_ACCOUNTS;

/// A transfer from one client's account to another's, and the line of the
/// file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Tx {
    pub line: usize,
    pub from: String,
    pub to: String,
    pub amount: u64,
}

/// One row of a set: a transaction, or `LF` (cut off the current leader).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Tx(Tx),
    FailLeader { line: usize },
}

/// A test set: the nodes connected while it runs, and its rows in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    pub number: u32,
    pub live: Vec<u32>,
    pub steps: Vec<Step>,
}

/// Splits one CSV line into fields, honouring double quotes.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

fn parse_tx(text: &str, line: usize) -> Result<Step, String> {
    if text.eq_ignore_ascii_case("lf") {
        return Ok(Step::FailLeader { line });
    }
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| {
            format!("line {line}: transaction {text:?} is not (Sender, Receiver, Amount) or LF")
        })?;
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let [from, to, amount] = parts[..] else {
        return Err(format!(
            "line {line}: transaction {text:?} needs three parts"
        ));
    };
    let amount = amount
        .parse()
        .map_err(|_| format!("line {line}: amount {amount:?} is not a whole number"))?;
    for account in [from, to] {
        if !DEFAULT_ACCOUNTS.contains(&account) {
            return Err(format!(
                "line {line}: unknown client {account:?} (the clients are A..J)"
            ));
        }
    }
    Ok(Step::Tx(Tx {
        line,
        from: from.into(),
        to: to.into(),
        amount,
    }))
}

fn parse_live(text: &str, line: usize, nodes: usize) -> Result<Vec<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "line {line}: a set needs its live nodes (the third column, e.g. \"[n1, n2, n3]\")"
        ));
    }
    let inner = match (text.strip_prefix('['), text.ends_with(']')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => text,
        _ => return Err(format!("line {line}: unbalanced brackets in {text:?}")),
    };
    let mut live = Vec::new();
    for part in inner
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let digits = part.trim_start_matches(['n', 'N']);
        let id: u32 = digits
            .parse()
            .map_err(|_| format!("line {line}: {part:?} is not a node (n1..n{nodes})"))?;
        if id == 0 || id as usize > nodes {
            return Err(format!(
                "line {line}: node {part} is not in the cluster (n1..n{nodes})"
            ));
        }
        if !live.contains(&id) {
            live.push(id);
        }
    }
    Ok(live)
}

/// Parses the test sets of a cluster of `nodes` nodes, reporting a bad row
/// by its line number.
pub fn parse(text: &str, nodes: usize) -> Result<Vec<Set>, String> {
    let mut sets: Vec<Set> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let f = fields(raw);
        if line == 1
            && f.first()
                .is_some_and(|h| h.parse::<u32>().is_err() && !h.is_empty())
        {
            continue; // the header
        }
        let get = |k: usize| f.get(k).map(String::as_str).unwrap_or("");
        if !get(0).is_empty() {
            let number = get(0)
                .parse()
                .map_err(|_| format!("line {line}: set number {:?} is not a number", get(0)))?;
            let live = parse_live(get(2), line, nodes)?;
            sets.push(Set {
                number,
                live,
                steps: Vec::new(),
            });
        }
        let Some(set) = sets.last_mut() else {
            return Err(format!(
                "line {line}: a transaction before the first set number"
            ));
        };
        if !get(1).is_empty() {
            set.steps.push(parse_tx(get(1), line)?);
        }
    }
    if sets.is_empty() {
        return Err("no test sets in the file".into());
    }
    Ok(sets)
}

/// "(A, B, 2)", as the file writes it (padded to a width, if given one).
impl fmt::Display for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("({}, {}, {})", self.from, self.to, self.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_without_live_nodes_or_with_an_unclosed_list_is_refused() {
        let header = "Set Number,Transactions,Live Nodes\n";
        let missing = format!("{header}1,\"(A, B, 2)\"\n");
        let e = parse(&missing, 5).unwrap_err();
        assert!(e.contains("line 2") && e.contains("live nodes"), "{e}");
        let unclosed = format!("{header}1,\"(A, B, 2)\",\"[n1, n2\"\n");
        let e = parse(&unclosed, 5).unwrap_err();
        assert!(e.contains("line 2") && e.contains("unbalanced"), "{e}");
        let bare = format!("{header}1,\"(A, B, 2)\",\"n1 n2 n3\"\n");
        assert_eq!(parse(&bare, 5).unwrap()[0].live, vec![1, 2, 3]);
    }

    #[test]
    fn parses_leniently_and_reports_bad_rows_by_line() {
        let text = "Set Number,Transactions,Live Nodes\n1,\"(A , J, 1)\",\"[n1,n2, n3]\"\n,LF,\n, \"(B,C,2)\" ,\n";
        let sets = parse(text, 5).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].live, vec![1, 2, 3]);
        assert_eq!(sets[0].steps.len(), 3);
        assert_eq!(
            sets[0].steps[0],
            Step::Tx(Tx {
                line: 2,
                from: "A".into(),
                to: "J".into(),
                amount: 1
            })
        );
        assert_eq!(sets[0].steps[1], Step::FailLeader { line: 3 });
        let e = parse("h,h,h\n1,\"(A, J)\",[n1]\n", 5).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse("h,h,h\n1,\"(A, J, 1)\",[n9]\n", 5).unwrap_err();
        assert!(e.contains("line 2") && e.contains("n9"), "{e}");
        let e = parse("h,h,h\n1,\"(A, Z, 1)\",[n1]\n", 5).unwrap_err();
        assert!(e.contains("unknown client"), "{e}");
        let e = parse("h,h,h\n,\"(A, B, 1)\",\n", 5).unwrap_err();
        assert!(e.contains("before the first set"), "{e}");
    }

    #[test]
    fn a_transaction_reads_as_the_file_wrote_it() {
        let tx = Tx {
            line: 2,
            from: "A".into(),
            to: "J".into(),
            amount: 1,
        };
        assert_eq!(format!("{tx:<12}|"), "(A, J, 1)   |");
    }

    #[test]
    fn the_sample_sets_parse() {
        let text = include_str!("../../../../scenarios/sample-sets.csv");
        let sets = parse(text, 5).unwrap();
        assert_eq!(sets.len(), 5);
        assert_eq!(sets[3].live, vec![3, 4]);
        assert!(sets[2].steps.contains(&Step::FailLeader { line: 9 }));
    }
}
