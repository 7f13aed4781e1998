//! Lifecycle hooks in-process against the fake AWS, on the real clock (a hook is a real process):
//! a signal during a hook rolls back; a release runs each hook once per member with its values;
//! one member's failing pre-traffic hook changes nothing anywhere.

mod fake;

use std::time::Duration;

use fake::{Fake, account, deploy_release, deploy_with, signal_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;
use sfndeploy::signals::{Signal, Signals};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("flow-hooks-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn members(n: usize) -> Vec<Fake> {
    (1..=n).map(|i| Fake::new(&format!("h{i:02}"), 3).with_alias("prod", &[(2, 100)])).collect()
}

#[tokio::test]
async fn a_signal_during_the_post_traffic_hook_rolls_back() {
    let fake = standard();
    let (signals, sender) = Signals::manual();
    signal_after(sender, Duration::from_millis(800), Signal::Terminate);
    let began = std::time::Instant::now();
    let run = deploy_with(&fake, &["--interval", "0", "--post-traffic-hook", "sleep 30"], signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "back on the old version");
    assert!(began.elapsed() < Duration::from_secs(10), "the hook was ended: {:?}", began.elapsed());
    assert!(run.events.iter().any(|e| matches!(e, Event::HookFinished { passed: false, .. })));
}

#[tokio::test]
async fn a_release_runs_each_hook_once_per_member_with_its_values() {
    let fakes = members(3);
    let _journal = account(&fakes);
    let seen = scratch("release").join("seen");
    let record = format!(
        "echo \"$SFNDEPLOY_HOOK $SFNDEPLOY_HOOK_STATE_MACHINE $SFNDEPLOY_HOOK_NEW_VERSION $SFNDEPLOY_HOOK_WEIGHT\" >> '{}'",
        seen.display()
    );
    let args = ["--interval", "0", "--pre-traffic-hook", &record, "--post-traffic-hook", &record];
    let run = deploy_release(&fakes, &args, Signals::manual().0).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let mut lines: Vec<String> =
        std::fs::read_to_string(&seen).unwrap().lines().map(str::to_string).collect();
    lines.sort();
    let mut expected = Vec::new();
    for f in &fakes {
        let sm = f.state().sm_arn.clone();
        expected.push(format!("post-traffic {sm} {sm}:3 100"));
        expected.push(format!("pre-traffic {sm} {sm}:3 0"));
    }
    expected.sort();
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn one_members_failing_pre_traffic_hook_changes_nothing_anywhere() {
    let fakes = members(3);
    let _journal = account(&fakes);
    let m02 = fakes[1].state().sm_arn.clone();
    let hook = format!("test \"$SFNDEPLOY_HOOK_STATE_MACHINE\" != '{m02}'");
    let run =
        deploy_release(&fakes, &["--interval", "0", "--pre-traffic-hook", &hook], Signals::manual().0).await;
    assert_eq!(run.code(), ExitCode::HookFailed, "{}", run.message());
    assert!(run.message().contains("h02: the pre-traffic hook failed"), "{}", run.message());
    for f in &fakes {
        assert!(f.mutating_calls().is_empty(), "{:?}", f.mutating_calls());
        assert_eq!(f.routing("prod"), [(2, 100)]);
    }
}
