//! Evidence in the order it was made, in-process on virtual time: failures that finish first are
//! not proof against an equal version, slow failures still running are not a pass, and the
//! reads lose nothing a busy account cuts short.

mod fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fake::{deploy, standard};
use sfndeploy::exit_code::ExitCode;

/// A 50% canary held `interval` seconds, read every second.
fn canary(interval: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut a =
        vec!["--strategy", "canary", "--increment", "50", "--interval", interval, "--alarm-polling", "1"];
    a.extend_from_slice(extra);
    a
}

#[tokio::test(start_paused = true)]
async fn fast_failures_of_an_equal_version_are_not_proof() {
    // Both versions: one execution in ten fails at once, the others succeed after 5 s. For the
    // first 5 s only failures have finished: by finish order, "3 of 3 failed".
    let fake = standard();
    let n = Arc::new(AtomicU32::new(0));
    let _traffic = fake.traffic_taking("prod", Duration::from_millis(50), move |_| {
        if n.fetch_add(1, Ordering::Relaxed) % 10 == 3 {
            ("FAILED", Some("Flaky"), Duration::from_millis(20))
        } else {
            ("SUCCEEDED", None, Duration::from_secs(5))
        }
    });
    let run = deploy(&fake, &canary("8", &["--max-failure-rate", "20"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn slow_failures_still_running_are_not_a_pass() {
    // Half the new version's executions hang 20 s and then fail; the others, and every one of
    // the old version's, succeed at once. A 3 s canary ends while the failures still run.
    let fake = standard();
    let n = Arc::new(AtomicU32::new(0));
    let _traffic = fake.traffic_taking("prod", Duration::from_millis(100), move |v| {
        if v == 3 && n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            ("FAILED", Some("Timeout"), Duration::from_secs(20))
        } else {
            ("SUCCEEDED", None, Duration::from_millis(30))
        }
    });
    let run = deploy(&fake, &canary("3", &["--max-failure-rate", "10"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "never promoted");
}
