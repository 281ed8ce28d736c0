//! The example runs from start to end: a 3-node cluster with the lock
//! service, a stopped leader, and the right answer from the new one.

use std::process::Command;

#[test]
fn the_lock_service_survives_its_leader() {
    let out = Command::new(env!("CARGO_BIN_EXE_locks"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("stopping the leader"), "{stdout}");
    assert!(stdout.contains("Granted { token: 2 }"), "{stdout}");
    assert!(stdout.contains("every answer was right"), "{stdout}");
}
