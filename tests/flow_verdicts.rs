//! Verdicts that hold on a busy account, in-process on virtual time: throttling slows the reads
//! down but is not blindness, the gates' reads cost one call whatever is in flight, AWS keeps the
//! clock, slow executions are waited for, slowness counts, redriven executions count once, and
//! the evidence is gathered after the rollback call.

mod fake;

use std::time::Duration;

use fake::{Fault, canary, deploy, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;
use sfndeploy::report::event::ReadCause;

#[tokio::test(start_paused = true)]
async fn throttled_reads_slow_the_polling_and_are_not_lost_monitoring() {
    // DescribeAlarms throttled from 2 s to 14 s: far past --max-unmonitored (3 s), well inside
    // the throttle bound (1 minute).
    let fake = standard();
    fake.hook(|s, op, _| {
        let t = s.elapsed();
        (op == "DescribeAlarms" && t >= Duration::from_secs(2) && t < Duration::from_secs(14))
            .then_some(Fault::Throttle)
    });
    let run = deploy(&fake, &canary("10", &["--alarms", "errors", "--max-unmonitored", "3s"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    let throttled: Vec<Duration> = fake
        .calls()
        .iter()
        .filter(|c| c.op == "DescribeAlarms" && c.fault == Some(Fault::Throttle))
        .map(|c| c.at)
        .collect();
    // Backing off (1, 2, 4, 8 s) instead of a call a second: a handful of throttled calls.
    assert!(throttled.len() <= 6, "{} throttled calls: {throttled:?}", throttled.len());
    let gaps: Vec<Duration> = throttled.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "the gaps grow: {gaps:?}");
    assert!(run.events.iter().any(|e| matches!(
        e,
        Event::SignalReadFailed { signal, cause: ReadCause::Throttled, .. } if signal == "alarms"
    )));
    // The weights waited for a fresh reading: 100% only after the throttling ended.
    let full = fake.calls_of("UpdateStateMachineAlias").iter().find(|c| c.detail == "v3=100").map(|c| c.at);
    assert!(full.is_some_and(|t| t >= Duration::from_secs(14)), "100% at {full:?}");
}

#[tokio::test(start_paused = true)]
async fn a_signal_throttled_past_the_bound_is_lost_monitoring_and_says_so() {
    let fake = standard();
    fake.hook(|s, op, _| {
        (op == "DescribeAlarms" && s.elapsed() >= Duration::from_secs(2)).then_some(Fault::Throttle)
    });
    let run = deploy(&fake, &canary("600", &["--alarms", "errors", "--max-unmonitored", "3s"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let message = run.message();
    assert!(message.contains("could not be read") && message.contains("alarms: throttled"), "{message}");
    let back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    // Throttled from 2 s; the bound is a minute; reads come at most 8 s apart.
    assert!(back >= Duration::from_secs(62) && back <= Duration::from_secs(72), "rolled back at {back:?}");
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_read_costs_one_call_however_many_executions_are_in_flight() {
    // 20 executions a second that each run 2 minutes: thousands in flight by the end.
    let fake = standard();
    let _traffic = fake
        .traffic_taking("prod", Duration::from_millis(50), |_| ("SUCCEEDED", None, Duration::from_secs(120)));
    let run = deploy(&fake, &canary("30", &["--max-failure-rate", "5", "--max-extension", "200s"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let reads = run.events.iter().filter(|e| matches!(e, Event::ExecutionsRead { .. })).count();
    let lists = fake.calls_of("ListExecutions").len();
    let in_flight = fake.state().executions.len();
    assert!(in_flight > 2000, "{in_flight}");
    // One call a read (a sweep page in place of a top page), the look at recent traffic, and
    // room for one more.
    assert!(lists <= reads + 1 + reads / 10 + 1, "{lists} calls for {reads} reads");
}

#[tokio::test(start_paused = true)]
async fn aws_keeps_the_clock_when_the_runners_runs_ahead() {
    // The runner's clock is 2 minutes ahead of AWS's: executions are dated by AWS.
    let fake = standard();
    fake.state().aws_behind = Duration::from_secs(120);
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |_| ("SUCCEEDED", None));
    let run = deploy(&fake, &canary("10", &["--max-failure-rate", "5", "--min-executions", "20"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn executions_slower_than_the_hold_are_waited_for() {
    // Every execution takes 3 s; the canary holds 2 s. The extension covers the old version's
    // p95 and a poll while the new version's executions still run.
    let fake = standard();
    for _ in 0..20 {
        fake.execution_taking(
            2,
            Some("prod"),
            ("SUCCEEDED", None),
            Duration::from_secs(600),
            Duration::from_secs(3),
        );
    }
    // Every 20 ms: of each 100, 50 to each version (2 s through the 50% canary).
    let _traffic = fake
        .traffic_taking("prod", Duration::from_millis(20), |_| ("SUCCEEDED", None, Duration::from_secs(3)));
    let run = deploy(&fake, &canary("2", &["--max-failure-rate", "5"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn a_slower_version_is_rolled_back_by_the_duration_gate_and_an_equal_one_passes() {
    let with_old_history = || {
        let fake = standard();
        for _ in 0..30 {
            fake.execution_taking(
                2,
                Some("prod"),
                ("SUCCEEDED", None),
                Duration::from_secs(900),
                Duration::from_millis(200),
            );
        }
        fake
    };
    let args = canary("30", &["--max-duration-increase", "50"]);
    // The new version takes 2 s more.
    let fake = with_old_history();
    let _traffic = fake.traffic_taking("prod", Duration::from_millis(100), |v| {
        ("SUCCEEDED", None, Duration::from_millis(if v == 3 { 2200 } else { 200 }))
    });
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let message = run.message();
    assert!(
        message.contains("more than 50% slower") && message.contains("took longer than 0.3s"),
        "{message}"
    );
    assert!(message.contains("v2 median 0.2s"), "{message}");
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    let back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert!(back < Duration::from_secs(10), "caught within seconds: {back:?}");
    // As fast as the old one: passes.
    let fake = with_old_history();
    let _traffic = fake.traffic_taking("prod", Duration::from_millis(100), |_| {
        ("SUCCEEDED", None, Duration::from_millis(200))
    });
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn a_redriven_execution_counts_once_by_its_latest_outcome() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(200), |_| ("SUCCEEDED", None));
    // Two executions of the new version fail at 3 s, then are redriven and succeed at 5 s.
    let redriver = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let arns: Vec<String> = (0..2)
            .map(|_| redriver.execution(3, Some("prod"), "FAILED", Some("Flaky"), Duration::ZERO))
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut s = redriver.state();
        for e in s.executions.iter_mut().filter(|e| arns.contains(&e.arn)) {
            e.status = "SUCCEEDED".into();
            e.redrive_count = 1;
            e.error = None;
        }
    });
    // A limit the two failures alone would not break (2 of 20+ is no proof of 30%).
    let run = deploy(&fake, &canary("20", &["--max-failure-rate", "30", "--min-executions", "10"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let last = run
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::ExecutionsRead { reading } => Some(reading.new.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.failed, 0, "redriven and succeeded: {last}");
    let unique =
        fake.state().executions.iter().filter(|e| e.version == 3 && e.alias.is_some()).count() as u32;
    assert!(last.finished <= unique, "each counted once: {} of {unique}", last.finished);
}

#[tokio::test(start_paused = true)]
async fn the_evidence_is_gathered_after_the_rollback_call() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let run = deploy(&fake, &canary("60", &["--max-failure-rate", "5"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("Boom x") && run.message().contains("Boom happened"), "{}", run.message());
    let rollback = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    let first_describe = fake.calls_of("DescribeExecution").first().map(|c| c.at).expect("described");
    assert!(first_describe >= rollback, "described at {first_describe:?}, rolled back at {rollback:?}");
    let calls = fake.calls();
    let back = calls.iter().rposition(|c| c.op == "UpdateStateMachineAlias").unwrap();
    assert!(
        calls[..back].iter().all(|c| c.op != "DescribeExecution"),
        "nothing described before the rollback"
    );
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::ExecutionsFailed { evidence } if evidence.contains("Boom x"))),
        "the evidence, complete, in its event"
    );
}

#[tokio::test(start_paused = true)]
async fn the_markers_due_time_is_aws_time() {
    let fake = standard();
    fake.state().aws_behind = Duration::from_secs(120);
    let run = deploy(&fake, &canary("30", &["--alarms", "errors", "--pause-at", "50"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let description = fake.alias_description("prod").unwrap();
    let marker = sfndeploy::note::Marker::parse(&description).expect("marked");
    // Due 30 s after the weight change (at 0 s of virtual time), on AWS's clock; the deploy
    // ended 30 s later.
    let aws_now = fake.state().aws_now();
    let off = |a: std::time::SystemTime, b: std::time::SystemTime| {
        a.duration_since(b).unwrap_or_else(|e| e.duration())
    };
    assert!(off(marker.due, aws_now) <= Duration::from_secs(2), "due {:?}, AWS now {aws_now:?}", marker.due);
}

#[tokio::test(start_paused = true)]
async fn failures_arriving_are_read_again_sooner_than_the_next_poll() {
    // Polling every 4 s; the new version starts failing at 15.5 s, after a run of successes.
    // (The fake's traffic at 50% sends v3 the executions from 5 s to 10 s, 15 s to 20 s...)
    let fake = standard();
    let start = tokio::time::Instant::now();
    let onset = Duration::from_millis(15_500);
    let _traffic = fake.traffic("prod", Duration::from_millis(100), move |v| {
        if v == 3 && start.elapsed() >= onset { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let args = ["--strategy", "canary", "--increment", "50", "--interval", "60", "--alarm-polling", "4"];
    let run = deploy(&fake, &[&args[..], &["--max-failure-rate", "5"]].concat()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let rollback = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    let reads: Vec<Duration> = fake.calls_of("ListExecutions").iter().map(|c| c.at).collect();
    // The poll at 16 s sees the first failures, too few for a verdict; a re-read a quarter
    // poll later (1 s) has enough, instead of the next poll at 20 s.
    let reaction = rollback.saturating_sub(onset);
    assert!(reaction < Duration::from_secs(3), "{reaction:?} after the onset; reads at {reads:?}");
    assert!(reads.contains(&Duration::from_secs(17)), "a read sooner than the poll: {reads:?}");
}
