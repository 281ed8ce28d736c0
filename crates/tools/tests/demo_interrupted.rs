//! A demo interrupted the moment it names its directory leaves nothing
//! behind. (A binary of its own: the interruption stops this process from
//! starting any cluster afterwards.)

use std::path::PathBuf;
use std::time::Duration;
use synod_tools::demo::{DemoEvent, DemoOptions, run};

#[tokio::test]
async fn a_demo_interrupted_as_it_names_its_directory_leaves_none() {
    let options = DemoOptions {
        binary: PathBuf::from("synod"),
        nodes: 3,
        phase: Duration::from_secs(1),
        keep: false,
    };
    let mut named = None;
    let result = run(&options, &mut |_, event| {
        if let DemoEvent::Starting { dir, .. } = event {
            // What the signal handler does on Ctrl-C, before it exits the
            // process (so the directory's own clean-up never runs).
            synod_tools::local::stop_every_cluster();
            named = Some((dir.exists(), dir));
        }
    })
    .await;
    let (left, dir) = named.expect("the demo names its directory first");
    assert!(!left, "{} left behind", dir.display());
    let e = result.expect_err("no cluster starts once interrupted");
    assert!(e.to_string().contains("interrupted"), "{e:#}");
}
