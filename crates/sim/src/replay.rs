//! Replay lines: the `synod sim` arguments that rerun one seed exactly, as
//! printed for every failing seed and as kept in `regressions.txt` (which
//! `cargo test` replays, so that a seed that ever failed stays fixed).
//!
//! A line is `--seed N` plus whichever options differ from the command
//! line's default (the swarm on 3 and 5 nodes): `--mix fixed`, `--family
//! NAME`, `--nodes N` (under the swarm: the one size it may draw),
//! `--faults kind,kind|none`, `--fault-ms MS`, `--client-timeout-ms MS`,
//! `--reads PERCENT`, `--failover`, `--partial SCENARIO`,
//! `--refused-when-down`. Text after `#` is a comment.

use crate::faults::FaultKind;
use crate::swarm::{Family, Mix};
use crate::world::SimOptions;
use synod_core::MS;

/// The arguments that replay `seed` under `options` (without the
/// `synod sim` in front).
pub fn replay_args(options: &SimOptions, seed: u64) -> String {
    let default = if let Some(scenario) = options.partial {
        SimOptions::partial(scenario)
    } else if options.failover_only {
        SimOptions::failover()
    } else {
        SimOptions::swarm()
    };
    let mut args = format!("--seed {seed}");
    let swarm = options.mix == Mix::Swarm && !options.failover_only;
    if let Some(scenario) = options.partial {
        args.push_str(&format!(" --partial {scenario}"));
    } else if options.failover_only {
        args.push_str(" --failover");
    } else if !swarm {
        args.push_str(" --mix fixed");
    }
    if let (true, Some(family)) = (swarm, options.family) {
        args.push_str(&format!(" --family {}", family.name()));
    }
    if !options.failover_only && options.faults != default.faults {
        let names: Vec<&str> = options.faults.iter().map(|k| k.name()).collect();
        let list = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(",")
        };
        args.push_str(&format!(" --faults {list}"));
    }
    if swarm {
        if options.sizes != default.sizes {
            let sizes: Vec<String> = options.sizes.iter().map(usize::to_string).collect();
            args.push_str(&format!(" --nodes {}", sizes.join(",")));
        }
    } else if options.nodes != default.nodes {
        args.push_str(&format!(" --nodes {}", options.nodes));
    }
    if options.fault_time != default.fault_time {
        args.push_str(&format!(" --fault-ms {}", options.fault_time / MS));
    }
    if options.client_timeout != default.client_timeout {
        let ms = options.client_timeout / MS;
        args.push_str(&format!(" --client-timeout-ms {ms}"));
    }
    if options.reads != default.reads {
        args.push_str(&format!(" --reads {}", options.reads));
    }
    if options.refused_when_down {
        args.push_str(" --refused-when-down");
    }
    args
}

/// Parses a replay line (see the module documentation). `Ok(None)` for a
/// blank or comment-only line.
pub fn parse_replay(line: &str) -> Result<Option<(u64, SimOptions)>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let failover = words.contains(&"--failover");
    let partial = match words.iter().position(|w| *w == "--partial") {
        Some(i) => {
            let name = words.get(i + 1).ok_or("--partial needs a value")?;
            Some(synod_core::Scenario::parse(name)?)
        }
        None => None,
    };
    let mut options = if let Some(scenario) = partial {
        SimOptions::partial(scenario)
    } else if failover {
        SimOptions::failover()
    } else {
        SimOptions::swarm()
    };
    let mut seed = None;
    let mut i = 0;
    while i < words.len() {
        let flag = words[i];
        if flag == "--failover" {
            i += 1;
            continue;
        }
        if flag == "--refused-when-down" {
            options.refused_when_down = true;
            i += 1;
            continue;
        }
        let value = words
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {value:?} is not a number"))
        };
        match flag {
            "--seed" => seed = Some(number()?),
            "--nodes" => {
                let sizes = parse_sizes(value)?;
                options.nodes = sizes[0];
                options.sizes = sizes;
            }
            "--mix" => {
                options.mix = Mix::parse(value)
                    .ok_or_else(|| format!("--mix: {value:?} is not fixed or swarm"))?
            }
            "--family" => options.family = Some(parse_family(value)?),
            "--faults" => options.faults = parse_fault_list(value)?,
            "--fault-ms" => options.fault_time = number()? * MS,
            "--client-timeout-ms" => options.client_timeout = number()? * MS,
            "--reads" => options.reads = parse_reads(value)?,
            "--partial" => {} // chose the defaults above
            other => return Err(format!("unknown option {other:?}")),
        }
        i += 2;
    }
    let seed = seed.ok_or("a replay line needs --seed")?;
    Ok(Some((seed, options)))
}

/// A read share: a percentage of kv gets, 0 to 100.
pub fn parse_reads(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| format!("--reads is a percentage (0 to 100), got {value:?}"))
}

/// Cluster sizes separated by commas, each between 1 and 64.
pub fn parse_sizes(list: &str) -> Result<Vec<usize>, String> {
    list.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| format!("--nodes must be between 1 and 64, got {n:?}"))
        })
        .collect()
}

/// A swarm family by name.
pub fn parse_family(name: &str) -> Result<Family, String> {
    Family::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
        format!("unknown family {name:?}; known: {}", known.join(", "))
    })
}

/// `all`, `none`, or kind names separated by commas.
pub fn parse_fault_list(list: &str) -> Result<Vec<FaultKind>, String> {
    match list {
        "all" => Ok(FaultKind::ALL.to_vec()),
        "none" => Ok(Vec::new()),
        _ => list
            .split(',')
            .map(|name| {
                let name = name.trim();
                FaultKind::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = FaultKind::KNOWN.iter().map(|k| k.name()).collect();
                    format!("unknown fault kind {name:?}; known: {}", known.join(", "))
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_line_round_trips() {
        let options = SimOptions {
            nodes: 3,
            faults: vec![FaultKind::CrashRestart, FaultKind::Wipe],
            fault_time: 5_000 * MS,
            ..SimOptions::default()
        };
        let line = replay_args(&options, 42);
        assert_eq!(
            line,
            "--seed 42 --mix fixed --faults crash-restart,wipe --nodes 3 --fault-ms 5000"
        );
        let (seed, parsed) = parse_replay(&line).unwrap().unwrap();
        assert_eq!(seed, 42);
        assert_eq!(
            (parsed.nodes, parsed.faults, parsed.fault_time),
            (3, options.faults, options.fault_time)
        );
        assert_eq!(replay_args(&SimOptions::swarm(), 7), "--seed 7");
        assert_eq!(
            replay_args(&SimOptions::default(), 7),
            "--seed 7 --mix fixed"
        );
        let swarm = SimOptions {
            family: Some(Family::RestartStorm),
            sizes: vec![3],
            ..SimOptions::swarm()
        };
        let line = replay_args(&swarm, 9);
        assert_eq!(line, "--seed 9 --family restart-storm --nodes 3");
        let (_, parsed) = parse_replay(&line).unwrap().unwrap();
        assert_eq!(
            (parsed.mix, parsed.family, parsed.sizes),
            (Mix::Swarm, Some(Family::RestartStorm), vec![3])
        );
        let reads = SimOptions {
            reads: 40,
            ..SimOptions::swarm()
        };
        let line = replay_args(&reads, 11);
        assert_eq!(line, "--seed 11 --reads 40");
        assert_eq!(parse_replay(&line).unwrap().unwrap().1.reads, 40);
        assert_eq!(
            replay_args(&SimOptions::failover(), 7),
            "--seed 7 --failover"
        );
        let refused = SimOptions {
            refused_when_down: true,
            ..SimOptions::failover()
        };
        let line = replay_args(&refused, 5);
        assert_eq!(line, "--seed 5 --failover --refused-when-down");
        let (_, parsed) = parse_replay(&line).unwrap().unwrap();
        assert!(parsed.failover_only && parsed.refused_when_down);
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        assert!(parse_replay("  # only a comment").unwrap().is_none());
        for (line, why) in [
            ("--nodes 3", "needs --seed"),
            ("--seed x", "not a number"),
            ("--seed 1 --faults lightning", "unknown fault kind"),
            ("--seed 1 --colour red", "unknown option"),
            ("--seed 1 --nodes", "needs a value"),
            ("--seed 1 --nodes 0", "between 1 and 64"),
            ("--seed 1 --mix hot", "not fixed or swarm"),
            ("--seed 1 --family chaos", "unknown family"),
            ("--seed 1 --reads 101", "percentage"),
        ] {
            let Err(err) = parse_replay(line) else {
                panic!("{line} was accepted");
            };
            assert!(err.contains(why), "{line}: {err}");
        }
    }
}
