//! Many deploys at once in one account share its API rate: with throttling injected by the
//! proxy (a rate limit across all of them), every deploy still ends on its new version.

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use support::proxy::{Proxy, ProxyFault};
use support::{Aws, Machine, emulator, spawn};
use tokio::time::Instant;

const DEPLOYS: usize = 10;
/// Calls the "account" answers per second, across every deploy; the rest are throttled.
const RATE: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_deploys_at_once_under_throttling_all_end_on_the_new_version() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    let mut machines = Vec::new();
    for _ in 0..DEPLOYS {
        let m = Machine::create(&aws, "load", 2).await;
        m.create_alias("prod", &[(1, 100)]).await;
        machines.push(m);
    }
    let mut answered: VecDeque<Instant> = VecDeque::new();
    proxy.set_rule(move |_, _| {
        let now = Instant::now();
        while answered.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            answered.pop_front();
        }
        if answered.len() >= RATE {
            return Some(ProxyFault::Throttle);
        }
        answered.push_back(now);
        None
    });
    // The default five attempts a call. The adaptive retry's client-side rate limiting slows each
    // process down once it is throttled, so the ten share the rate instead of failing.
    let runs: Vec<_> = machines
        .iter()
        .map(|m| {
            spawn(
                &proxy.endpoint(),
                &[
                    "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment",
                    "50", "--interval", "1",
                ],
                &[],
            )
        })
        .collect();
    let mut failures = Vec::new();
    for (m, run) in machines.iter().zip(runs) {
        let out = run.finish().await;
        let routing = m.routing("prod").await;
        if out.code != 0 || routing != Some(vec![(2, 100)]) {
            failures.push(format!("{}: exit {}, routing {routing:?}: {}", m.name, out.code, out.stderr));
        }
    }
    let throttled = proxy.log().iter().filter(|l| l.fault.is_some()).count();
    assert!(throttled >= DEPLOYS, "the test must actually throttle: {throttled} throttled calls");
    assert!(failures.is_empty(), "{} of {DEPLOYS} failed:\n{}", failures.len(), failures.join("\n"));
}
