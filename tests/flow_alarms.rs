//! Monitoring that is lost is never an all-clear: alarms deleted mid-deploy, alarms without
//! data, slow reads, and CloudWatch's paging. In-process, mocked AWS, virtual time.

mod fake;

use std::time::Duration;

use fake::{Fault, deploy, fire_alarm_after, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;

const LINEAR: [&str; 8] =
    ["--strategy", "linear", "--increment", "50", "--interval", "10", "--alarm-polling", "1"];

#[tokio::test(start_paused = true)]
async fn an_alarm_deleted_mid_deploy_counts_as_unreadable_and_rolls_back() {
    let fake = standard().with_alarm("latency", "OK", false);
    let remover = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        remover.remove_alarm("latency");
    });
    let mut args = LINEAR.to_vec();
    args.extend(["--max-unmonitored", "3s", "--alarms", "errors", "latency"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("could not be read"), "{}", run.message());
    assert!(run.message().contains("no longer has alarm 'latency'"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    // Rolled back once --max-unmonitored (3 s) had passed since the last full read (at 4 s).
    let back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert!(back >= Duration::from_secs(7) && back <= Duration::from_secs(9), "{back:?}");
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::SignalReadFailed { error, .. } if error.contains("latency"))),
        "the lost alarm is reported as an unread"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_without_data_is_shown_with_a_warning_at_the_start_and_on_change() {
    let fake = standard().with_alarm("quiet", "INSUFFICIENT_DATA", false);
    let setter = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        setter.set_alarm("quiet", "OK");
        tokio::time::sleep(Duration::from_secs(5)).await;
        setter.set_alarm("quiet", "INSUFFICIENT_DATA");
    });
    let mut args = LINEAR.to_vec();
    args.extend(["--alarms", "errors", "quiet"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let texts: Vec<String> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::AlarmsPolled { .. }))
        .map(|e| e.to_string())
        .collect();
    let warned: Vec<bool> = texts.iter().map(|t| t.contains("'quiet' in INSUFFICIENT_DATA")).collect();
    assert!(warned.first() == Some(&true), "{texts:#?}");
    assert!(warned.contains(&false), "an OK poll carries no warning: {texts:#?}");
    assert!(warned.last() == Some(&true), "{texts:#?}");
    assert!(texts[0].contains("cannot fire until its metric has data"), "{}", texts[0]);
}

#[tokio::test(start_paused = true)]
async fn after_a_slow_read_the_next_reads_keep_their_pace() {
    let fake = standard();
    // The fourth DescribeAlarms takes 4 s (at --alarm-polling 1s).
    fake.hook(|s, op, _| {
        let n = s.calls.iter().filter(|c| c.op == "DescribeAlarms").count();
        (op == "DescribeAlarms" && n == 3).then_some(Fault::Slow(Duration::from_secs(4)))
    });
    let mut args = LINEAR.to_vec();
    args.extend(["--max-unmonitored", "30s", "--alarms", "errors"]);
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let at: Vec<Duration> = fake.calls_of("DescribeAlarms").iter().map(|c| c.at).collect();
    for pair in at.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(900),
            "two reads {:?} apart (at {:?} and {:?}): {at:?}",
            pair[1] - pair[0],
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn alarms_on_a_later_page_are_read() {
    let mut fake = standard();
    let mut names = vec!["errors".to_string()];
    for i in 0..9 {
        let name = format!("alarm {i}");
        fake = fake.with_alarm(&name, "OK", false);
        names.push(name);
    }
    fake.state().page_size = 3;
    fire_alarm_after(&fake, "alarm 8", Duration::from_secs(5));
    let mut args = LINEAR.to_vec();
    args.push("--alarms");
    args.extend(names.iter().map(String::as_str));
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("alarm 8"), "{}", run.message());
    assert!(fake.calls_of("DescribeAlarms").len() >= 4, "every page is read");
}
