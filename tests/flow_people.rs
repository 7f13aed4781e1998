//! People in the loop, in-process on virtual time: deploy windows and freezes (a hold that would
//! end after the window closes is not begun), a gate that cannot decide pauses when asked to, a
//! gate that only observes, and the fix deployed while its alarm fires.

mod fake;

use std::time::{Duration, SystemTime};

use fake::{Fake, deploy, fire_alarm_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::note::Marker;
use sfndeploy::report::Event;

/// `HH:MM:SS` of `t` (UTC).
fn hms(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A daily window, in UTC, from `from` to `to` after AWS's time now (negative: before).
fn window(fake: &Fake, from: i64, to: i64) -> String {
    let now = fake.state().aws_now();
    let at = |s: i64| {
        if s >= 0 { now + Duration::from_secs(s as u64) } else { now - Duration::from_secs((-s) as u64) }
    };
    format!("daily {}-{} UTC", hms(at(from)), hms(at(to)))
}

/// AWS's date today, `YYYY-MM-DD` (UTC).
fn today(fake: &Fake) -> String {
    let days = fake.state().aws_now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    let date = jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().days(days as i64)).unwrap();
    date.to_string()
}

#[tokio::test(start_paused = true)]
async fn a_hold_that_would_end_after_the_window_closes_is_not_begun() {
    let fake = standard();
    // The window closes 40 s from now: the 10% step's 10 s hold fits, the 50% step's 60 s does not.
    let w = window(&fake, -60, 40);
    let run = deploy(&fake, &["--steps", "10:10s,50:60s,100", "--window", &w, "--alarm-polling", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 90), (3, 10)], "paused at the last step that fits");
    assert_eq!(run.weights(), [10]);
    let message = run.message();
    assert!(
        message.starts_with("Paused: alias prod routes v2 90% / v3 10%, the deploy window closes at"),
        "{message}"
    );
    assert!(message.contains("--resume") && message.contains("sfndeploy promote"), "{message}");
    // The marker says it pauses, so that status shows it paused and --resume continues it.
    let marker = Marker::parse(&fake.alias_description("prod").unwrap()).expect("a marker");
    assert!(marker.pausing && marker.weight == 10, "{marker:?}");
    let paused = run.events.iter().find_map(|e| match e {
        Event::Paused { why, .. } => Some(why.clone()),
        _ => None,
    });
    assert!(paused.is_some_and(|w| w.contains("before a hold of 1m would end")));
}

#[tokio::test(start_paused = true)]
async fn outside_the_window_or_in_a_freeze_nothing_changes() {
    for flags in [
        vec!["--window".to_string(), "daily 00:00-00:00 UTC".to_string(), "--freeze".to_string()],
        vec!["--window".to_string()],
    ] {
        let fake = standard();
        let mut args: Vec<String> =
            vec!["--strategy".into(), "canary".into(), "--interval".into(), "10".into()];
        args.extend(flags.clone());
        // A freeze of today; or a window that opened an hour from now.
        args.push(if flags.len() == 3 {
            format!("{}..{}", today(&fake), today(&fake))
        } else {
            window(&fake, 3600, 7200)
        });
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = deploy(&fake, &argv).await;
        assert_eq!(run.code(), ExitCode::OutsideWindow, "{}", run.message());
        assert!(fake.mutating_calls().is_empty(), "{:?}", fake.mutating_calls());
        let message = run.message();
        let why = if flags.len() == 3 { "inside the freeze" } else { "outside the deploy window" };
        assert!(
            message.starts_with(why) && message.contains("nothing was changed; the next opening is"),
            "{message}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn window_wait_waits_for_the_opening_then_deploys() {
    let fake = standard();
    let w = window(&fake, 30, 3600);
    let run =
        deploy(&fake, &["--strategy", "canary", "--interval", "5", "--window", &w, "--window-wait"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    let first_change = fake.calls_of("UpdateStateMachineAlias").first().map(|c| c.at).unwrap();
    assert!(
        first_change >= Duration::from_secs(29),
        "traffic moved at {first_change:?}, before the window opened"
    );
    assert!(run.events.iter().any(|e| matches!(e, Event::WindowWait { .. })));
}

#[tokio::test(start_paused = true)]
async fn an_inconclusive_gate_pauses_when_asked_to() {
    let fake = standard();
    // No traffic at all: the gate never has its 5 executions.
    let args = [
        "--strategy", "linear", "--increment", "25", "--interval", "5", "--alarm-polling", "1",
        "--max-failure-rate", "5", "--min-executions", "5", "--on-inconclusive", "pause",
    ];
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 75), (3, 25)], "left where it was");
    assert!(run.message().contains("the gates could not decide"), "{}", run.message());
    let marker = Marker::parse(&fake.alias_description("prod").unwrap()).expect("a marker");
    assert!(marker.pausing, "{marker:?}");
    // The default rolls back, as before.
    let fake = standard();
    let run = deploy(&fake, &args[..args.len() - 2]).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn an_observing_gate_lets_a_failing_version_through_and_says_what_it_would_have_done() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(200), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let args = [
        "--strategy", "canary", "--increment", "10", "--interval", "20", "--alarm-polling", "1",
        "--max-failure-rate", "5", "--gate-mode", "observe",
    ];
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    let observed: Vec<(String, String)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::GateObserved { would, evidence, .. } => Some((would.clone(), evidence.clone())),
            _ => None,
        })
        .collect();
    assert!(
        observed
            .iter()
            .any(|(would, evidence)| would == "roll_back" && evidence.contains("over --max-failure-rate 5%")),
        "{observed:?}"
    );
    // Once a step, not once a poll.
    assert!(observed.len() <= 3, "{observed:?}");
    // Alarms still roll back.
    let fake = standard();
    fire_alarm_after(&fake, "errors", Duration::from_secs(5));
    let run = deploy(&fake, &[&args[..], &["--alarms", "errors"]].concat()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn the_fix_deploys_while_its_alarm_fires_and_a_second_alarm_rolls_it_back() {
    let firing = || {
        Fake::new("orders", 3)
            .with_alias("prod", &[(2, 100)])
            .with_alarm("errors", "ALARM", false)
            .with_alarm("latency", "OK", false)
    };
    let args =
        ["--strategy", "canary", "--interval", "20", "--alarm-polling", "1", "--alarms", "errors", "latency"];
    // Without --allow-firing: refused, and the message says how.
    let fake = firing();
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("--allow-firing errors"), "{}", run.message());
    // Allowed: deployed while it stays in ALARM.
    let fake = firing();
    let run = deploy(&fake, &[&args[..], &["--allow-firing", "errors"]].concat()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    assert!(run.events.iter().any(
        |e| matches!(e, Event::AllowedAlarm { alarm, state, .. } if alarm == "errors" && state == "ALARM")
    ));
    // Another alarm fires: rolled back as ever.
    let fake = firing();
    fire_alarm_after(&fake, "latency", Duration::from_secs(5));
    let run = deploy(&fake, &[&args[..], &["--allow-firing", "errors"]].concat()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("latency") && !run.message().contains("errors"), "{}", run.message());
    // The allowed one goes OK, then fires again: a new transition rolls back.
    let fake = firing();
    let f = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        f.set_alarm("errors", "OK");
        tokio::time::sleep(Duration::from_secs(3)).await;
        f.set_alarm("errors", "ALARM");
    });
    let run = deploy(&fake, &[&args[..], &["--allow-firing", "errors"]].concat()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    // Between two reads: CloudWatch's transition time says so.
    let fake = firing();
    let f = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3200)).await;
        f.set_alarm("errors", "OK");
        f.set_alarm("errors", "ALARM");
    });
    let run = deploy(&fake, &[&args[..], &["--allow-firing", "errors"]].concat()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
}

/// `sfndeploy promote ARGS` against `fake`.
async fn promote(fake: &Fake, args: &[&str]) -> anyhow::Result<String> {
    use clap::Parser;
    let mut argv = vec!["sfndeploy", "promote", "--state-machine", "orders", "--alias", "prod"];
    argv.extend_from_slice(args);
    let cli = sfndeploy::cli::Cli::try_parse_from(argv).expect("flags parse");
    let Some(sfndeploy::cli::Command::Promote(args)) = &cli.command else { panic!("promote") };
    let cfg = sfndeploy::config::PromoteConfig::from_args(args, &|_| None).expect("flags valid");
    sfndeploy::promote::run(&fake.clients(), &cfg, &sfndeploy::report::Reporter::recording()).await
}

/// `sfndeploy rollback` against `fake`.
async fn rollback(fake: &Fake) -> anyhow::Result<String> {
    use clap::Parser;
    let argv = ["sfndeploy", "rollback", "--state-machine", "orders", "--alias", "prod"];
    let cli = sfndeploy::cli::Cli::try_parse_from(argv).expect("flags parse");
    let Some(sfndeploy::cli::Command::Rollback(args)) = &cli.command else { panic!("rollback") };
    let cfg = sfndeploy::config::RollbackConfig::from_args(args, &|_| None).expect("flags valid");
    sfndeploy::rollback::run(&fake.clients(), &cfg, &sfndeploy::report::Reporter::recording()).await
}

#[tokio::test(start_paused = true)]
async fn a_paused_deploy_promoted_then_rolled_back_returns_to_the_version_before() {
    let fake = standard();
    let run =
        deploy(&fake, &["--strategy", "linear", "--increment", "25", "--interval", "2", "--pause-at", "50"])
            .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 50), (3, 50)]);
    // With an alarm in ALARM: refused, nothing changed; --force promotes anyway.
    let firing = fake.clone().with_alarm("latency", "ALARM", false);
    let err = promote(&firing, &["--alarms", "errors", "latency"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("'latency' is in ALARM"), "{err:#}");
    assert_eq!(fake.routing("prod"), [(2, 50), (3, 50)]);
    let said = promote(&fake, &["--alarms", "errors"]).await.unwrap();
    assert_eq!(
        said,
        "Promoted alias prod to 100% v3 (was v2 50% / v3 50%); sfndeploy rollback goes back to v2"
    );
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    // Again: nothing to do.
    assert!(promote(&fake, &[]).await.unwrap().starts_with("Nothing to promote"));
    // rollback reads the record promote wrote.
    rollback(&fake).await.unwrap();
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn an_alias_not_split_by_sfndeploy_is_not_promoted() {
    let fake = standard();
    fake.state().aliases[0].1 = vec![(fake.version_arn(2), 70), (fake.version_arn(3), 30)];
    let err = promote(&fake, &[]).await.unwrap_err();
    assert!(format!("{err:#}").contains("no sfndeploy deploy is recorded on it"), "{err:#}");
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_running_deploy_promoted_from_outside_ends_as_a_success() {
    let fake = standard();
    let f = fake.clone();
    let promoted = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        promote(&f, &[]).await
    });
    let args = [
        "--strategy", "canary", "--increment", "10", "--interval", "600", "--alarm-polling", "5", "--alarms",
        "errors",
    ];
    let run = deploy(&fake, &args).await;
    promoted.await.unwrap().expect("promoted");
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert!(run.message().contains("promoted by hand"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    // Seen within the hold, long before its 10 minutes were up; nothing rolled back.
    let last = fake.calls().last().unwrap().at;
    assert!(last < Duration::from_secs(60), "the deploy ran until {last:?}");
    assert!(!run.events.iter().any(|e| matches!(e, Event::RollingBack { .. })));
    assert!(run.events.iter().any(|e| matches!(e, Event::Promoted { by, .. } if by == "hand")));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_says_what_the_window_would_do() {
    let fake = standard();
    let closed = window(&fake, 3600, 7200);
    let run = deploy(&fake, &["--strategy", "canary", "--window", &closed, "--dry-run"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let message = run.message();
    assert!(
        message.contains("Window: outside the deploy window") && message.contains("would exit 8"),
        "{message}"
    );
    let run =
        deploy(&fake, &["--strategy", "canary", "--window", &closed, "--window-wait", "--dry-run"]).await;
    assert!(run.message().contains("the deploy would wait until"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
}
