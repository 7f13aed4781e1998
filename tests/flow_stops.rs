//! Stops that undo the right thing, in-process: one signal is one signal, a stop after success
//! puts nothing back, a stop before any alias change puts the old definition back, a split this
//! run continues goes back when its smoke run fails, a rollback never overwrites someone else's
//! change, and a read of the alias that lags our own change is not someone else's.

mod fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fake::{Fake, Fault, account, definition, deploy, deploy_release, deploy_with, signal_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::signals::{Signal, Signals};

/// A file of this test's own, holding `text`; its path.
fn file(name: &str, text: &str) -> &'static str {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-stops");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Box::leak(path.to_str().unwrap().to_string().into_boxed_str())
}

#[tokio::test]
async fn a_signal_during_the_post_traffic_hook_is_one_signal() {
    // SIGTERM while the post-traffic hook runs, and the first rollback call fails (its retries
    // spent): the rollback tries again, as for any failure, and puts the alias back.
    let fake = standard();
    let updates = Arc::new(AtomicU32::new(0));
    fake.hook(move |_, op, _| {
        if op != "UpdateStateMachineAlias" {
            return None;
        }
        // The shift to 100%, then three failed attempts: the whole of the rollback's first call.
        (matches!(updates.fetch_add(1, Ordering::Relaxed), 1..=3)).then_some(Fault::ServerError)
    });
    let (signals, sender) = Signals::manual();
    // The process's listener lives as long as the run: so does this sender.
    let _listener = sender.clone();
    signal_after(sender, Duration::from_millis(800), Signal::Terminate);
    let run = deploy_with(&fake, &["--interval", "0", "--post-traffic-hook", "sleep 30"], signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "rolled back");
    assert!(!run.message().contains("during the rollback"), "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_pruning_after_success_puts_nothing_back() {
    let fake = Fake::new("orders", 60).with_alias("prod", &[(60, 100)]);
    let path = file("prune.asl.json", &definition("new"));
    let (signals, sender) = Signals::manual();
    let _listener = sender.clone();
    signal_after(sender, Duration::from_secs(5), Signal::Terminate);
    let args = ["--file", path, "--publish-revision", "--interval", "1", "--history-max", "2"];
    let run = deploy_with(&fake, &args, signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    assert!(run.message().contains("while pruning"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(61, 100)], "deployed");
    assert_eq!(fake.state().definition, definition("new"), "the deployed file stays the current revision");
    assert!(!run.message().contains("current revision again"), "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_any_alias_change_puts_the_old_definition_back() {
    // SIGTERM while the file is uploaded and published (a slow call): the run stops before the
    // alias changes, and the file must not stay the current revision.
    let fake = Fake::new("orders", 2).with_alias("prod", &[(2, 100)]);
    fake.hook(|_, op, _| (op == "UpdateStateMachine").then_some(Fault::Slow(Duration::from_secs(2))));
    let path = file("stopped.asl.json", &definition("new"));
    let (signals, sender) = Signals::manual();
    let _listener = sender.clone();
    signal_after(sender, Duration::from_secs(1), Signal::Terminate);
    let run = deploy_with(&fake, &["--file", path, "--publish-revision", "--interval", "1"], signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert_eq!(fake.state().definition, definition("v2"), "the old definition is current again");
    assert!(run.message().contains("definition of v2 is the current revision again"), "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn a_split_this_run_continues_goes_back_when_its_smoke_run_fails() {
    let fake = standard();
    fake.state().aliases[0].1 = vec![(fake.version_arn(2), 70), (fake.version_arn(3), 30)];
    fake.state().kind = aws_sdk_sfn::types::StateMachineType::Express;
    fake.state().sync_outcome.insert(3, ("FAILED".into(), Some("Boom".into())));
    let smoke = file("order.json", "{}");
    let run = deploy(&fake, &["--force", "--smoke-input", smoke, "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::SmokeFailed, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "v3's 30% taken back");
    let message = run.message();
    assert!(message.contains("Boom") && message.contains("rolled back alias"), "{message}");
    assert!(!message.contains("unchanged"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_rollback_never_overwrites_changes_someone_else_made() {
    // Someone puts two members' aliases back on v1 at the same moment.
    let fakes: Vec<Fake> =
        (1..=3).map(|i| Fake::new(&format!("c{i}"), 3).with_alias("prod", &[(2, 100)])).collect();
    let _journal = account(&fakes);
    let (a, b) = (fakes[0].clone(), fakes[1].clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        for f in [&a, &b] {
            let v1 = f.version_arn(1);
            f.state().aliases[0].1 = vec![(v1, 100)];
        }
    });
    let args = ["--strategy", "linear", "--increment", "25", "--interval", "10", "--alarm-polling", "1"];
    let run = deploy_release(&fakes, &args, Signals::manual().0).await;
    assert_eq!(run.code(), ExitCode::Conflict, "{}", run.message());
    assert_eq!(fakes[0].routing("prod"), [(1, 100)], "left as they set it");
    assert_eq!(fakes[1].routing("prod"), [(1, 100)], "left as they set it");
    assert_eq!(fakes[2].routing("prod"), [(2, 100)], "rolled back");
}

#[tokio::test(start_paused = true)]
async fn a_read_of_the_alias_that_lags_our_own_change_is_not_a_conflict() {
    // DescribeStateMachineAlias lags an update by 5 s. The new version fails from 3 s on, after
    // the second step (2 s): the rollback's guard read still shows the first step's routing.
    let fake = standard();
    fake.state().alias_read_lag = Duration::from_secs(5);
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flip = failing.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        flip.store(true, Ordering::Relaxed);
    });
    let _traffic = fake.traffic("prod", Duration::from_millis(20), move |v| {
        if v == 3 && failing.load(Ordering::Relaxed) { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let args = [
        "--strategy", "linear", "--increment", "25", "--interval", "2", "--alarm-polling", "1",
        "--max-failure-rate", "5",
    ];
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    // And a short canary's read back before success waits for the update to show.
    let fake = standard();
    fake.state().alias_read_lag = Duration::from_secs(5);
    let run = deploy(&fake, &["--strategy", "canary", "--increment", "10", "--interval", "2"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}
