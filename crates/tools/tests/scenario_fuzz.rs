//! The scenario runner's test-set parser fed arbitrary text, rows built
//! from the format's own pieces, and mutations of the sample file: it never
//! panics; it returns sets that hold together, or an error that names the
//! line at fault.

use proptest::prelude::*;
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_tools::scenario::{Set, Step, parse};

const SAMPLE: &str = include_str!("../../../scenarios/sample-sets.csv");

/// Parses `text` for a cluster of `nodes` and checks what came back.
fn check(text: &str, nodes: usize) -> Result<(), TestCaseError> {
    let lines = text.lines().count();
    match parse(text, nodes) {
        Ok(sets) => {
            prop_assert!(!sets.is_empty());
            for Set { live, steps, .. } in &sets {
                for (i, id) in live.iter().enumerate() {
                    prop_assert!(*id >= 1 && *id as usize <= nodes, "node {id} of {nodes}");
                    prop_assert!(!live[..i].contains(id), "node {id} listed twice");
                }
                for step in steps {
                    let line = match step {
                        Step::Tx(tx) => {
                            prop_assert!(DEFAULT_ACCOUNTS.contains(&tx.from.as_str()));
                            prop_assert!(DEFAULT_ACCOUNTS.contains(&tx.to.as_str()));
                            tx.line
                        }
                        Step::FailLeader { line } => *line,
                    };
                    prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}");
                }
            }
        }
        Err(e) => {
            if e != "no test sets in the file" {
                let number = e
                    .strip_prefix("line ")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok());
                prop_assert!(
                    number.is_some_and(|n| n >= 1 && n <= lines),
                    "an error that names no line of the file: {e:?}"
                );
            }
        }
    }
    Ok(())
}

/// Pieces of the format, to build rows that get past the first checks.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "1",
        "2",
        "17",
        "0",
        "-1",
        "+3",
        "4294967296",
        "99999999999999999999",
        ",",
        ",",
        ",",
        "\"",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "n1",
        "n3",
        "n5",
        "n9",
        "N2",
        "nn2",
        "n",
        "A",
        "B",
        "J",
        "Z",
        "a",
        "LF",
        "lf",
        "Lf",
        " ",
        " ",
        "\t",
        "#",
        "\n",
        "\n",
        "\r\n",
        "é",
        "\u{feff}",
        "(A, B, 2)",
        "(J,A,0)",
        "[n1, n2, n3]",
        "[n1,n2",
        "n1 n2]",
        "[]",
        "[,]",
        "Set Number",
        "(A, B)",
        "(A, B, 2, 3)",
        "((A, B, 2))",
        "(, , )",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_is_parsed_or_refused_by_line(text in any::<String>(), nodes in 0usize..8) {
        check(&text, nodes)?;
    }

    #[test]
    fn arbitrary_bytes_read_as_text_are_parsed_or_refused_by_line(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        nodes in 0usize..8,
    ) {
        check(&String::from_utf8_lossy(&bytes), nodes)?;
    }

    #[test]
    fn rows_built_from_the_format_are_parsed_or_refused_by_line(
        pieces in proptest::collection::vec(piece(), 0..60),
        nodes in 0usize..8,
    ) {
        check(&pieces.concat(), nodes)?;
    }

    #[test]
    fn mutated_sample_files_are_parsed_or_refused_by_line(
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), 0u8..3, any::<char>(), piece()),
            1..8,
        ),
        cut in any::<prop::sample::Index>(),
        nodes in 1usize..8,
    ) {
        let mut chars: Vec<char> = SAMPLE.chars().collect();
        for (at, how, c, piece) in edits {
            let i = at.index(chars.len() + 1);
            match how {
                0 if i < chars.len() => chars[i] = c,
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ => {
                    for (k, p) in piece.chars().enumerate() {
                        chars.insert(i + k, p);
                    }
                }
            }
        }
        let keep = cut.index(chars.len() + 1);
        let text: String = chars[..keep].iter().collect();
        check(&text, nodes)?;
    }
}

#[test]
fn the_sample_file_passes_the_same_checks() {
    check(SAMPLE, 5).unwrap();
}
