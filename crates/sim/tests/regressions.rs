//! Replays every seed in `regressions.txt`: each once broke an invariant.

use synod_sim::replay::parse_replay;

#[test]
fn every_regression_seed_stays_fixed() {
    let text = include_str!("../regressions.txt");
    let mut replayed = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parsed = parse_replay(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let Some((seed, options)) = parsed else {
            continue;
        };
        let report = synod_sim::run(seed, &options);
        replayed += 1;
        for v in &report.violations {
            failures.push(format!("synod sim {}: {v:?}", line.trim()));
        }
    }
    assert!(replayed >= 6, "the file lists the known regression seeds");
    assert!(failures.is_empty(), "{failures:#?}");
}
