//! Releases of several state machines, in-process on virtual time: every member is checked
//! before anything changes, aliases move in lockstep, one rollback puts every member back, a
//! concurrent change to one member's alias leaves that alias alone, and changes stay inside the
//! account's rate.

mod fake;

use std::collections::BTreeMap;
use std::time::Duration;

use fake::{Fake, Fault, Journal, account, deploy_release, signal_after};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::note::Marker;
use sfndeploy::report::Event;
use sfndeploy::signals::{Signal, Signals};

/// `n` state machines m01.. each with v1..v3 published and prod on v2; the first holds the
/// account's alarm `errors` (OK).
fn members(n: usize) -> Vec<Fake> {
    (1..=n)
        .map(|i| {
            let fake = Fake::new(&format!("m{i:02}"), 3).with_alias("prod", &[(2, 100)]);
            if i == 1 { fake.with_alarm("errors", "OK", false) } else { fake }
        })
        .collect()
}

const LINEAR: [&str; 8] =
    ["--strategy", "linear", "--increment", "25", "--interval", "10", "--alarm-polling", "1"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = LINEAR.to_vec();
    all.extend_from_slice(extra);
    all
}

fn quiet() -> Signals {
    Signals::manual().0
}

/// The successful alias updates in the account's order: (member, virtual time, v3's weight).
fn updates(journal: &Journal) -> Vec<(String, Duration, i32)> {
    journal
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, c)| c.op == "UpdateStateMachineAlias" && matches!(c.fault, None | Some(Fault::Slow(_))))
        .map(|(member, c)| {
            let weight = c
                .detail
                .split(',')
                .find_map(|part| part.strip_prefix("v3="))
                .map_or(0, |w| w.parse().unwrap());
            (member.clone(), c.at, weight)
        })
        .collect()
}

fn mutating(fakes: &[Fake]) -> usize {
    fakes.iter().map(|f| f.mutating_calls().len()).sum()
}

#[tokio::test(start_paused = true)]
async fn ten_members_move_in_lockstep_and_hold_once_per_step() {
    let fakes = members(10);
    let journal = account(&fakes);
    // Each alias update takes 200 ms to answer, as on a busy day.
    for f in &fakes {
        f.hook(|_, op, _| {
            (op == "UpdateStateMachineAlias").then_some(Fault::Slow(Duration::from_millis(200)))
        });
    }
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(3, 100)]);
    }
    let updates = updates(&journal);
    assert_eq!(updates.len(), 40, "4 steps x 10 members: {updates:?}");
    for (k, chunk) in updates.chunks(10).enumerate() {
        let weight = 25 * (k as i32 + 1);
        assert!(
            chunk.iter().all(|(_, _, w)| *w == weight),
            "step {} sets {weight} on every member first: {chunk:?}",
            k + 1
        );
        let span = chunk.last().unwrap().1 - chunk[0].1;
        assert!(
            span < Duration::from_millis(200),
            "the members' updates run at once, not one by one: {span:?}"
        );
        let names: std::collections::BTreeSet<&String> = chunk.iter().map(|(m, _, _)| m).collect();
        assert_eq!(names.len(), 10, "each member once per step");
        if k > 0 {
            let previous_last = updates[k * 10 - 1].1;
            let first = chunk[0].1;
            assert!(first - previous_last >= Duration::from_secs(10), "one hold between steps");
            assert!(
                first - previous_last < Duration::from_secs(12),
                "and only one: {:?}",
                first - previous_last
            );
        }
    }
    // The whole release takes as long as one member's deploy: 4 holds of 10 s.
    let took = updates.last().unwrap().1 - updates[0].1;
    assert!(took < Duration::from_secs(35), "{took:?}");
    // Calls per member: no member pays for the others (alarms are read once for all).
    for f in &fakes[1..] {
        let calls = f.calls().len();
        assert!(calls <= 14, "{} made {calls} calls: {:?}", f.state().name, f.calls());
    }
    let weights_changed =
        run.entries.iter().filter(|e| matches!(e.event, Event::WeightsChanged { .. })).count();
    assert_eq!(weights_changed, 40, "one event per member per step");
    // Events about one member name it; only readings of the account's alarms concern them all.
    for e in &run.entries {
        assert!(e.member.is_some() || matches!(e.event, Event::AlarmsPolled { .. }), "{e:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_alarm_rolls_every_member_back() {
    let fakes = members(3);
    let _journal = account(&fakes);
    fake::fire_alarm_after(&fakes[0], "errors", Duration::from_secs(15));
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(2, 100)], "{} is back on its old version", f.state().name);
        let description = f.alias_description("prod").unwrap_or_default();
        assert!(Marker::parse(&description).is_none(), "no marker left on {}: {description}", f.state().name);
    }
    let message = run.message();
    assert!(message.contains("errors") && message.contains("m02") && message.contains("m03"), "{message}");
    // The rollbacks ran in parallel: every member's rollback call within the same instant.
    let rollbacks: Vec<Duration> =
        fakes.iter().map(|f| f.calls_of("UpdateStateMachineAlias").last().unwrap().at).collect();
    assert!(rollbacks.iter().all(|at| *at == rollbacks[0]), "{rollbacks:?}");
}

#[tokio::test(start_paused = true)]
async fn one_members_failing_executions_roll_every_member_back_and_name_it() {
    let fakes = members(3);
    let _journal = account(&fakes);
    let mut traffic = Vec::new();
    for (i, f) in fakes.iter().enumerate() {
        traffic.push(f.traffic("prod", Duration::from_millis(50), move |v| {
            if i == 1 && v == 3 { ("FAILED", Some("PaymentDeclined")) } else { ("SUCCEEDED", None) }
        }));
    }
    let run = deploy_release(&fakes, &args(&["--max-failure-rate", "10"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(2, 100)]);
    }
    let message = run.message();
    assert!(
        message.contains("m02") && message.contains("PaymentDeclined"),
        "the member and the evidence: {message}"
    );
}

/// Someone puts m02's alias back on v1 by hand during the second step's hold (50%).
fn put_m02_back_by_hand(fakes: &[Fake]) {
    let m02 = fakes[1].clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let v1 = m02.version_arn(1);
        m02.state().aliases[0].1 = vec![(v1, 100)];
    });
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_change_to_one_members_alias_leaves_it_alone_and_rolls_the_others_back() {
    let fakes = members(3);
    let _journal = account(&fakes);
    put_m02_back_by_hand(&fakes);
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Conflict, "{}", run.message());
    assert_eq!(fakes[1].routing("prod"), [(1, 100)], "the changed alias is left as they set it");
    assert_eq!(fakes[0].routing("prod"), [(2, 100)]);
    assert_eq!(fakes[2].routing("prod"), [(2, 100)]);
    let message = run.message();
    assert!(
        message.contains("m02") && message.contains("aws stepfunctions"),
        "names it with the command: {message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_change_is_said_once_then_each_member_where_it_was_left() {
    let fakes = members(3);
    let _journal = account(&fakes);
    put_m02_back_by_hand(&fakes);
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), quiet()).await;
    let message = run.message();
    assert_eq!(message.matches("was changed by someone else").count(), 1, "said once: {message}");
    assert!(message.contains("; m01: rolled back") && message.contains("; m03: rolled back"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_sigterm_mid_release_rolls_every_member_back() {
    let fakes = members(4);
    let _journal = account(&fakes);
    let (signals, sender) = Signals::manual();
    signal_after(sender, Duration::from_secs(15), Signal::Terminate);
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(2, 100)]);
    }
}

#[tokio::test(start_paused = true)]
async fn every_refusal_changes_nothing_on_any_member() {
    // A split alias on one member (not this release's).
    let fakes = members(3);
    fakes[2].state().aliases[0].1 = vec![(fakes[2].version_arn(1), 50), (fakes[2].version_arn(2), 50)];
    let run = deploy_release(&fakes, &args(&[]), quiet()).await;
    assert_ne!(run.code(), ExitCode::Success);
    assert!(run.message().contains("m03"), "names the member: {}", run.message());
    assert_eq!(mutating(&fakes), 0, "{}", run.message());

    // A member that does not exist.
    let fakes = members(3);
    let _journal = account(&fakes);
    let gone = format!("{}-gone", fakes[2].state().sm_arn);
    fakes[2].state().sm_arn = gone;
    let run = deploy_release(&fakes, &args(&[]), quiet()).await;
    assert_ne!(run.code(), ExitCode::Success);
    assert!(run.message().contains("m03"), "names the member: {}", run.message());
    assert_eq!(mutating(&fakes), 0, "{}", run.message());

    // An alarm already firing.
    let fakes = members(3);
    fakes[0].set_alarm("errors", "ALARM");
    let run = deploy_release(&fakes, &args(&["--alarms", "errors"]), quiet()).await;
    assert_ne!(run.code(), ExitCode::Success);
    assert_eq!(mutating(&fakes), 0, "{}", run.message());

    // A member whose alias is split on a paused deploy of another release (or of none).
    let fakes = members(2);
    let due = std::time::SystemTime::now();
    for (i, f) in fakes.iter().enumerate() {
        let marker = Marker {
            new_version: "v3".into(),
            weight: 50,
            pausing: true,
            due,
            release: Some(format!("r{i}")),
        };
        f.state().aliases[0].1 = vec![(f.version_arn(2), 50), (f.version_arn(3), 50)];
        f.state().alias_descriptions.insert("prod".into(), marker.description(2, 4, ""));
    }
    let run = deploy_release(&fakes, &args(&["--resume"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("one paused or interrupted release"), "{}", run.message());
    assert_eq!(mutating(&fakes), 0);
}

#[tokio::test(start_paused = true)]
async fn a_paused_release_resumes_every_member_from_its_own_weight() {
    let fakes = members(3);
    let _journal = account(&fakes);
    let run = deploy_release(&fakes, &args(&["--pause-at", "50"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let mut releases = BTreeMap::new();
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(2, 50), (3, 50)]);
        let marker = Marker::parse(&f.alias_description("prod").unwrap()).expect("a marker");
        releases.insert(marker.release.expect("the release's id"), ());
    }
    assert_eq!(releases.len(), 1, "one release id on every member");
    // One member was moved on by hand (it goes on from its own weight).
    let (old, new) = (fakes[2].version_arn(2), fakes[2].version_arn(3));
    fakes[2].state().aliases[0].1 = vec![(old, 25), (new, 75)];
    let run = deploy_release(&fakes, &args(&["--resume"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(3, 100)]);
    }
}

#[tokio::test(start_paused = true)]
async fn twenty_members_on_a_busy_account_stay_inside_the_change_bucket() {
    let fakes = members(20);
    let _journal = account(&fakes);
    busy_change_bucket(&fakes);
    let run =
        deploy_release(&fakes, &["--strategy", "canary", "--increment", "10", "--interval", "2"], quiet())
            .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let throttled: usize = fakes.iter().map(|f| f.calls().iter().filter(|c| c.fault.is_some()).count()).sum();
    assert_eq!(throttled, 0, "never throttled");
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(3, 100)]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_of_a_release_plans_every_member_and_changes_nothing() {
    let fakes = members(3);
    let _journal = account(&fakes);
    // One member's alias is missing: it would be created.
    fakes[2].state().aliases.clear();
    let run = deploy_release(&fakes, &args(&["--dry-run", "--publish-revision"]), quiet()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(mutating(&fakes), 0);
    let message = run.message();
    for name in ["m01", "m02", "m03"] {
        assert!(message.contains(name), "{name}: {message}");
    }
    let planned: Vec<Option<String>> = run
        .entries
        .iter()
        .filter(|e| matches!(e.event, Event::Planned { .. }))
        .map(|e| e.member.clone())
        .collect();
    assert_eq!(planned.len(), 3, "a plan per member: {planned:?}");
}

/// The account's change bucket (100, refilled at 1 a second) where another process has just
/// spent 45 tokens, enforced on every mutating call of `fakes`.
fn busy_change_bucket(fakes: &[Fake]) {
    let bucket = std::sync::Arc::new(std::sync::Mutex::new((55.0_f64, tokio::time::Instant::now())));
    for f in fakes {
        let bucket = bucket.clone();
        f.hook(move |_, op, _| {
            if !fake::MUTATING.contains(&op) {
                return None;
            }
            let mut b = bucket.lock().unwrap();
            let now = tokio::time::Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64()).min(100.0);
            b.1 = now;
            if b.0 < 1.0 {
                return Some(Fault::Throttle);
            }
            b.0 -= 1.0;
            None
        });
    }
}

#[tokio::test(start_paused = true)]
async fn twenty_members_publishing_on_a_busy_account_stay_inside_the_change_bucket() {
    // 20 publishes and 40 alias updates: 60 changes against the 57 tokens left in 2 s.
    let fakes: Vec<Fake> = members(20).into_iter().map(Fake::with_unpublished_revision).collect();
    let _journal = account(&fakes);
    busy_change_bucket(&fakes);
    let args = ["--publish-revision", "--strategy", "canary", "--increment", "10", "--interval", "2"];
    let run = deploy_release(&fakes, &args, quiet()).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let throttled: usize = fakes.iter().map(|f| f.calls().iter().filter(|c| c.fault.is_some()).count()).sum();
    assert_eq!(throttled, 0, "never throttled: publishes share the pace of the alias updates");
    for f in &fakes {
        assert_eq!(f.routing("prod"), [(4, 100)]);
    }
}

#[tokio::test(start_paused = true)]
async fn the_members_pruning_shares_one_pace() {
    // Two members with 58 old versions each to delete: 116 deletions, one bucket of 50 then 1/s.
    let fakes: Vec<Fake> =
        ["p01", "p02"].iter().map(|n| Fake::new(n, 60).with_alias("prod", &[(59, 100)])).collect();
    let journal = account(&fakes);
    let run = deploy_release(
        &fakes,
        &["--strategy", "allatonce", "--interval", "0", "--history-max", "2"],
        quiet(),
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let deletes: Vec<Duration> = journal
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, c)| c.op == "DeleteStateMachineVersion" && c.fault.is_none())
        .map(|(_, c)| c.at)
        .collect();
    assert_eq!(deletes.len(), 116);
    let first = deletes[0];
    for (i, at) in deletes.iter().enumerate() {
        let allowed = 50.0 + (*at - first).as_secs_f64() + 1e-6;
        assert!((i + 1) as f64 <= allowed, "deletion {} at {:?}: more than 50 + 1/s", i + 1, *at - first);
    }
}
