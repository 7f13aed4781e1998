//! Safe when things break: signals, API faults, unreadable alarms, someone else editing the
//! alias, a revision changed under us. In-process, mocked AWS, virtual time.

mod fake;

use std::time::Duration;

use fake::{Fake, Fault, Run, deploy, deploy_with, signal_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::signals::{Signal, Signals};

const LINEAR: [&str; 9] =
    ["--strategy", "linear", "--increment", "50", "--interval", "10", "--alarm-polling", "2", "--alarms"];

fn linear_args() -> Vec<&'static str> {
    let mut args = LINEAR.to_vec();
    args.push("errors");
    args
}

const RESTORE: &str = "aws stepfunctions update-state-machine-alias";

#[tokio::test(start_paused = true)]
async fn sigterm_mid_deploy_rolls_back_and_exits_143() {
    for (signal, code) in
        [(Signal::Terminate, ExitCode::Terminated), (Signal::Interrupt, ExitCode::Interrupted)]
    {
        let fake = standard();
        let (signals, sender) = Signals::manual();
        signal_after(sender, Duration::from_secs(5), signal);
        let run = deploy_with(&fake, &linear_args(), signals).await;
        assert_eq!(run.code(), code, "{}", run.message());
        assert_eq!(code.code(), if signal == Signal::Terminate { 143 } else { 130 });
        assert_eq!(fake.routing("prod"), [(2, 100)]);
        let rollback = fake.calls_of("UpdateStateMachineAlias").last().unwrap().clone();
        assert_eq!(
            (rollback.detail.as_str(), rollback.at),
            ("v2=100", Duration::from_secs(5)),
            "rolled back at once"
        );
        assert!(run.message().contains(signal.name()), "{}", run.message());
    }
}

#[tokio::test(start_paused = true)]
async fn a_signal_before_any_change_exits_at_once_and_changes_nothing() {
    let fake = standard().with_unpublished_revision();
    let (signals, sender) = Signals::manual();
    sender.send(Signal::Interrupt);
    let run = deploy_with(&fake, &["--publish-revision"], signals).await;
    assert_eq!(run.code(), ExitCode::Interrupted);
    assert!(run.message().contains("nothing was changed"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_during_rollback_exits_with_the_restore_command() {
    let fake = standard();
    // Every rollback attempt fails, so the rollback is still retrying when the second signal comes.
    fake.hook(|s, op, _| {
        let rolling_back = s.calls.iter().any(|c| c.op == "UpdateStateMachineAlias");
        (op == "UpdateStateMachineAlias" && rolling_back).then_some(Fault::ServerError)
    });
    let (signals, sender) = Signals::manual();
    signal_after(sender.clone(), Duration::from_secs(5), Signal::Terminate);
    signal_after(sender, Duration::from_secs(8), Signal::Terminate);
    let run = deploy_with(&fake, &linear_args(), signals).await;
    assert_eq!(run.code(), ExitCode::RollbackFailed, "{}", run.message());
    let message = run.message();
    assert!(message.contains("v2 50% / v3 50%"), "states the routing left: {message}");
    assert!(message.contains(RESTORE) && message.contains("stateMachine:orders:2"), "{message}");
    assert_eq!(fake.routing("prod"), [(2, 50), (3, 50)]);
    let last = fake.calls().last().unwrap().at;
    assert!(last <= Duration::from_secs(8), "stopped at once, last call at {last:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rollback_that_keeps_failing_gives_up_after_its_timeout_with_the_restore_command() {
    let fake = standard();
    fake.hook(|s, op, _| {
        let rolling_back = s.alarms.iter().any(|a| a.state == "ALARM");
        (op == "UpdateStateMachineAlias" && rolling_back).then_some(Fault::ServerError)
    });
    fake::fire_alarm_after(&fake, "errors", Duration::from_secs(3));
    let mut args = linear_args();
    args.extend(["--rollback-timeout", "1m"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RollbackFailed, "{}", run.message());
    assert!(run.message().contains(RESTORE), "{}", run.message());
    let attempts =
        fake.calls().iter().filter(|c| c.op == "UpdateStateMachineAlias" && c.fault.is_some()).count();
    assert!(attempts >= 6, "kept retrying with backoff: {attempts} attempts");
    let last = fake.calls().last().unwrap().at;
    assert!(
        last >= Duration::from_secs(40) && last <= Duration::from_secs(70),
        "bounded by --rollback-timeout: {last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn alarms_that_cannot_be_read_lead_to_a_rollback_after_the_bound() {
    let fake = standard();
    // From 4 s on, every DescribeAlarms answers 500.
    fake.hook(|s, op, _| {
        let late = s.calls.iter().any(|c| c.op == "UpdateStateMachineAlias");
        (op == "DescribeAlarms" && late && s.calls.len() > 6).then_some(Fault::ServerError)
    });
    let mut args = linear_args();
    args.extend(["--max-unmonitored", "5s"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("could not be read"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert_eq!(fake.calls_of("UpdateStateMachineAlias").len(), 2, "never increased without a fresh read");
}

#[tokio::test(start_paused = true)]
async fn traffic_never_increases_without_a_fresh_alarm_read() {
    let fake = standard();
    // The reads fail from 9 s on, so the gate before step 2 (at 10 s) cannot read them; the
    // bound (6 s) is longer than the retry.
    fake.hook(|s, op, _| {
        (op == "DescribeAlarms" && s.elapsed() >= Duration::from_secs(9)).then_some(Fault::ServerError)
    });
    let mut args = linear_args();
    args.extend(["--max-unmonitored", "6s"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let updates: Vec<String> =
        fake.calls_of("UpdateStateMachineAlias").into_iter().map(|c| c.detail).collect();
    assert_eq!(updates, ["v2=50,v3=50", "v2=100"], "no increase to 100% while blind");
}

#[tokio::test(start_paused = true)]
async fn someone_else_changing_the_alias_stops_us_without_touching_it() {
    let fake = standard();
    let other = fake.clone();
    let v1 = fake.version_arn(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        other.state().aliases[0].1 = vec![(v1, 100)];
    });
    let run = deploy(&fake, &linear_args()).await;
    assert_eq!(run.code(), ExitCode::Conflict, "{}", run.message());
    assert!(
        run.message().contains("changed by someone else") && run.message().contains("v1 100%"),
        "{}",
        run.message()
    );
    assert!(run.message().contains(RESTORE), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(1, 100)], "left as the other party set it");
    assert_eq!(fake.calls_of("UpdateStateMachineAlias").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn two_deploys_on_one_alias_never_interleave() {
    let fake = standard();
    let args = linear_args();
    let first = deploy(&fake, &args);
    let second = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        deploy(&fake, &args).await
    };
    let (first, second): (Run, Run) = tokio::join!(first, second);
    assert_eq!(first.code(), ExitCode::Success, "{}", first.message());
    assert_eq!(second.code(), ExitCode::Failure, "{}", second.message());
    assert!(second.message().contains("split"), "{}", second.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_revision_changed_after_validation_is_not_published() {
    let fake = standard().with_unpublished_revision();
    fake.hook(|s, op, _| {
        if op == "PublishStateMachineVersion" {
            s.revision += 1; // someone uploads a new definition just before we publish
        }
        None
    });
    let run = deploy(&fake, &["--publish-revision"]).await;
    assert_eq!(run.code(), ExitCode::Failure);
    assert!(run.message().contains("changed after sfndeploy read it"), "{}", run.message());
    assert_eq!(fake.version_numbers(), [1, 2, 3]);
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_signal_during_pruning_stops_cleanly_and_says_so() {
    let fake = Fake::new("orders", 8).with_alias("prod", &[(7, 100)]);
    let (signals, sender) = Signals::manual();
    fake.hook(move |_, op, _| {
        if op == "DeleteStateMachineVersion" {
            sender.send(Signal::Terminate);
        }
        None
    });
    let run = deploy_with(&fake, &["--history-max", "2", "--interval", "0"], signals).await;
    assert_eq!(run.code(), ExitCode::Terminated, "{}", run.message());
    assert!(
        run.message().contains("deploy succeeded") && run.message().contains("after 1 deletion"),
        "{}",
        run.message()
    );
    assert_eq!(fake.routing("prod"), [(8, 100)]);
    assert_eq!(fake.version_numbers().len(), 7);
}

/// Counts the calls of a clean linear deploy, then injects a fault at each position in turn.
#[tokio::test(start_paused = true)]
async fn a_fault_at_any_call_never_leaves_the_alias_split_silently() {
    let clean = standard();
    let run = deploy(&clean, &linear_args()).await;
    assert_eq!(run.code(), ExitCode::Success);
    let calls = clean.calls().len();
    assert!(calls > 10);

    let mut outcomes = std::collections::BTreeMap::new();
    for fault in [Fault::Throttle, Fault::ServerError, Fault::Timeout] {
        for position in 0..calls {
            // Transient: one failed attempt, retried by the SDK: the deploy completes.
            let fake = standard();
            fake.hook(move |_, _, index| (index == position).then_some(fault));
            let run = deploy(&fake, &linear_args()).await;
            assert_eq!(run.code(), ExitCode::Success, "{fault:?} at call {position}: {}", run.message());
            assert_eq!(fake.routing("prod"), [(3, 100)]);
            assert_eq!(
                fake.calls().iter().filter(|c| c.fault.is_some()).count(),
                1,
                "the fault was injected"
            );

            // Persistent: the call fails with every attempt (3). Fully new, fully old with a
            // non-zero exit, or a message with the routing and the restore command.
            let fake = standard();
            let mut failing: Option<&'static str> = None;
            fake.hook(move |_, op, index| {
                if index == position {
                    failing = Some(op);
                }
                (failing == Some(op) && index < position + 3).then_some(fault)
            });
            let run = deploy(&fake, &linear_args()).await;
            let routing = fake.routing("prod");
            let ok = match routing.as_slice() {
                [(3, 100)] => run.code() == ExitCode::Success,
                [(2, 100)] => run.code() != ExitCode::Success,
                _ => run.code() != ExitCode::Success && run.message().contains(RESTORE),
            };
            assert!(
                ok,
                "{fault:?} persistent at call {position}: {routing:?}, {:?}: {}",
                run.code(),
                run.message()
            );
            *outcomes.entry(format!("{:?}", run.code())).or_insert(0) += 1;
        }
    }
    // Persistent faults end in more than one way: failed checks, rollbacks, tolerated reads.
    assert!(outcomes.len() >= 3, "{outcomes:?}");
    eprintln!("persistent fault outcomes over {calls} positions x 3 kinds: {outcomes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_split_alias_left_as_found_is_offered_its_older_version_back() {
    // prod is split, the newer (unproven) v2 the heavier; --force deploys v3 from it. The alias
    // listing is slow, so the first gate reads the alarms afresh, and finds one firing.
    let fake =
        Fake::new("orders", 3).with_alias("prod", &[(1, 30), (2, 70)]).with_alarm("errors", "OK", false);
    fake.hook(|_, op, _| (op == "ListStateMachineAliases").then_some(Fault::Slow(Duration::from_secs(3))));
    fake::fire_alarm_after(&fake, "errors", Duration::from_secs(1));
    let mut args = linear_args();
    args.push("--force");
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let message = run.message();
    assert!(message.contains("before any traffic moved"), "{message}");
    assert!(message.contains("back to v1") && message.contains("stateMachine:orders:1"), "{message}");
    assert!(!message.contains("stateMachine:orders:2\""), "{message}");
    assert!(message.contains(&format!("{RESTORE} --region us-east-1")), "{message}");
    assert!(fake.calls_of("UpdateStateMachineAlias").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_error_is_named_by_operation_status_and_code_without_a_debug_dump() {
    for (fault, op, status) in [
        (Fault::ServerError, "PublishStateMachineVersion", "HTTP 500"),
        (Fault::ServerError, "DescribeAlarms", "HTTP 500"),
        (Fault::Throttle, "PublishStateMachineVersion", "HTTP 400"),
    ] {
        let fake = standard().with_unpublished_revision();
        fake.hook(move |_, o, _| (o == op).then_some(fault));
        let run = deploy(&fake, &["--publish-revision", "--alarms", "errors", "--interval", "0"]).await;
        let message = run.message();
        assert_ne!(run.code(), ExitCode::Success, "{message}");
        assert!(message.contains(op) && message.contains(status), "{op}: {message}");
        if matches!(fault, Fault::Throttle) {
            assert!(message.contains("ThrottlingException"), "{message}");
        }
        for dump in ["ServiceError", "raw:", "Response {", "SdkBody", "Unhandled"] {
            assert!(!message.contains(dump), "{op}: a debug dump: {message}");
        }
        assert!(!message.contains('\n'), "{message}");
    }
}

#[tokio::test(start_paused = true)]
async fn deadlines_cut_calls_in_flight() {
    // --max-unmonitored: from 4 s on, DescribeAlarms never answers (each attempt is cut by the
    // SDK after 2 s and retried: about 6 s a call).
    let fake = standard();
    fake.hook(|s, op, _| {
        (op == "DescribeAlarms" && s.elapsed() >= Duration::from_secs(4)).then_some(Fault::Timeout)
    });
    let mut args = linear_args();
    args.extend(["--max-unmonitored", "3s"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    // Reads at 0, 2 (the last answered) and 4 (no answer): cut at 2 + 3 s.
    let back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert!(back <= Duration::from_millis(5500), "rolled back at {back:?}, not after the call gave up");

    // --rollback-timeout: every rollback call hangs; the run ends at the timeout, not after the
    // call's own retries.
    let fake = standard();
    fake.hook(|s, op, _| {
        let rolling_back = s.alarms.iter().any(|a| a.state == "ALARM");
        (op == "UpdateStateMachineAlias" && rolling_back).then_some(Fault::Timeout)
    });
    fake::fire_alarm_after(&fake, "errors", Duration::from_secs(3));
    let mut args = linear_args();
    args.extend(["--rollback-timeout", "3s"]);
    let run = deploy(&fake, &args).await;
    let ended = fake.state().elapsed();
    assert_eq!(run.code(), ExitCode::RollbackFailed, "{}", run.message());
    assert!(run.message().contains(RESTORE), "{}", run.message());
    assert!(ended <= Duration::from_millis(7500), "ended at {ended:?}: the rollback began at about 4 s");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_while_the_rollback_call_is_in_flight_waits_for_it() {
    let fake = standard();
    // The rollback call takes 1.5 s (within the fake's 2 s attempt timeout); the second signal
    // comes 0.5 s into it.
    fake.hook(|s, op, _| {
        let rolling_back = s.calls.iter().any(|c| c.op == "UpdateStateMachineAlias");
        (op == "UpdateStateMachineAlias" && rolling_back).then_some(Fault::Slow(Duration::from_millis(1500)))
    });
    let (signals, sender) = Signals::manual();
    signal_after(sender.clone(), Duration::from_secs(5), Signal::Terminate);
    signal_after(sender, Duration::from_millis(5500), Signal::Interrupt);
    let run = deploy_with(&fake, &linear_args(), signals).await;
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert_eq!(run.code(), ExitCode::Interrupted, "{}", run.message());
    assert!(run.message().contains("rolled back"), "{}", run.message());
    let ended = fake.state().elapsed();
    assert!(
        ended >= Duration::from_millis(6500) && ended < Duration::from_secs(7),
        "right after the call: {ended:?}"
    );
}
