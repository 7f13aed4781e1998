//! Evidence in the order it was made, in-process on virtual time: failures that finish first are
//! not proof against an equal version, slow failures still running are not a pass, and the
//! reads lose nothing a busy account cuts short.

mod fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fake::{canary, deploy, standard};
use sfndeploy::exit_code::ExitCode;

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

#[tokio::test(start_paused = true)]
async fn at_high_confidence_the_duration_baseline_grows_until_it_bounds_the_median() {
    // Ten old executions in the hour before, and the first read sees only them: enough at 95%,
    // not at 99.9% (2^-10 is more than the half of 0.1% a median bound may take). The old
    // version's traffic during the deploy, from 2 s on, brings more.
    tokio::time::advance(Duration::from_secs(1000)).await;
    let fake = standard();
    for _ in 0..10 {
        let took = Duration::from_millis(200);
        fake.execution_taking(2, Some("prod"), ("SUCCEEDED", None), Duration::from_secs(900), took);
    }
    let traffic_fake = fake.clone();
    let _traffic = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let steady = |_| ("SUCCEEDED", None, Duration::from_millis(200));
        let _traffic = traffic_fake.traffic_taking("prod", Duration::from_millis(50), steady);
        std::future::pending::<()>().await;
    });
    let run = deploy(&fake, &canary("20", &["--max-duration-increase", "50", "--confidence", "99.9"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_busy_account_is_not_missing_evidence() {
    // The new version gets 50 executions a second; --min-executions 1000 needs 20 s of them,
    // the hold is 5 s and so is the extension. Its reads are throttled from 4 s to 18 s: the
    // wait for evidence stops while they are.
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(10), |_| ("SUCCEEDED", None));
    fake.hook(|s, op, _| {
        let t = s.elapsed();
        (op == "ListExecutions" && t >= Duration::from_secs(4) && t < Duration::from_secs(18))
            .then_some(fake::Fault::Throttle)
    });
    let args =
        canary("5", &["--max-failure-rate", "10", "--min-executions", "1000", "--max-unmonitored", "20s"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

/// The new version's executions through the alias the last reading counted.
fn last_count(run: &fake::Run) -> u32 {
    run.events
        .iter()
        .rev()
        .find_map(|e| match e {
            sfndeploy::report::Event::ExecutionsRead { reading } => {
                Some(reading.new.finished + reading.new.running)
            }
            _ => None,
        })
        .expect("a reading")
}

#[tokio::test(start_paused = true)]
async fn reads_cut_short_lose_nothing() {
    // 100 executions a second for 4 s, 20 a page: each read descends several pages, and every
    // third page is throttled. Then 6 quiet seconds: the last reading has them all.
    let fake = standard();
    fake.state().page_size = 20;
    let traffic = fake.traffic("prod", Duration::from_millis(10), |_| ("SUCCEEDED", None));
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        traffic.abort();
    });
    fake.hook(|_, op, n| (op == "ListExecutions" && n % 3 == 0).then_some(fake::Fault::Throttle));
    let run = deploy(&fake, &canary("10", &["--max-failure-rate", "10", "--max-unmonitored", "20s"])).await;
    stop.await.unwrap();
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let sent = fake.state().executions.iter().filter(|e| e.version == 3 && e.alias.is_some()).count() as u32;
    assert_eq!(last_count(&run), sent, "every execution of the new version counted, once");
}

#[tokio::test(start_paused = true)]
async fn a_first_read_after_a_long_throttle_reads_the_whole_deploy() {
    // A deploy resumed from 50%, its reads throttled for the first 8 s of a busy hold: when the
    // first read gets through, hundreds of executions lie between the top and its start.
    let fake = standard();
    fake.state().aliases[0].1 = vec![(fake.version_arn(2), 50), (fake.version_arn(3), 50)];
    fake.state().page_size = 20;
    let traffic = fake.traffic("prod", Duration::from_millis(10), |_| ("SUCCEEDED", None));
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(12)).await;
        traffic.abort();
    });
    fake.hook(|s, op, _| {
        (op == "ListExecutions" && s.elapsed() < Duration::from_secs(8)).then_some(fake::Fault::Throttle)
    });
    let args = [
        "--strategy", "linear", "--increment", "50", "--interval", "20", "--alarm-polling", "1",
        "--max-failure-rate", "10", "--max-unmonitored", "20s", "--resume",
    ];
    let run = deploy(&fake, &args).await;
    stop.await.unwrap();
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let sent = fake.state().executions.iter().filter(|e| e.version == 3 && e.alias.is_some()).count() as u32;
    assert_eq!(last_count(&run), sent, "every execution of the new version counted, once");
}

#[tokio::test(start_paused = true)]
async fn a_failure_redriven_long_after_counts_once_by_its_latest_outcome() {
    // AWS refuses `redriveFilter` with a state machine's ARN (the fake does too). Two executions
    // of the new version fail at 3 s; at 18 s, far below the top of the list (20 a page), they
    // are redriven, run 3 s, and succeed.
    let fake = standard();
    fake.state().page_size = 20;
    let _traffic = fake.traffic("prod", Duration::from_millis(200), |_| ("SUCCEEDED", None));
    let redriver = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let arns: Vec<String> = (0..2)
            .map(|_| redriver.execution(3, Some("prod"), "FAILED", Some("Flaky"), Duration::ZERO))
            .collect();
        tokio::time::sleep(Duration::from_secs(15)).await;
        let mut s = redriver.state();
        let now = s.elapsed();
        for e in s.executions.iter_mut().filter(|e| arns.contains(&e.arn)) {
            e.status = "SUCCEEDED".into();
            e.redrive_count = 1;
            e.error = None;
            e.took = now - e.at + Duration::from_secs(3);
        }
    });
    let run = deploy(&fake, &canary("40", &["--max-failure-rate", "30", "--min-executions", "10"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let last = run
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            sfndeploy::report::Event::ExecutionsRead { reading } => Some(reading.new.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.failed, 0, "redriven and succeeded: {last}");
}
