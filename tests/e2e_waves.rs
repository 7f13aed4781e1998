//! End to end on the emulator, which serves several regions and, through an assumed role's
//! credentials, several accounts: a release in waves goes wave after wave, the second only once
//! the first baked; a bad signal in the second takes both back; a blocker alarm stops the
//! release before the second moves; a wave in another account goes through an assumed role;
//! `--stop-after-wave 1`, then `--resume`, finishes the release.

mod support;

use std::time::Duration;

use aws_sdk_sfn::types::StateMachineType;
use serde_json::Value;
use support::{Aws, Machine, emulator, events, refs, run, spawn, unique};

const EU: &str = "eu-west-1";
const OTHER_ACCOUNT: &str = "111111111111";
const ROLE: &str = "arn:aws:iam::111111111111:role/deployer";

/// The same state machine (v1, v2 published; prod on v1) in each of `places` (region, and an
/// account other than the emulator's own), with an OK alarm `NAME-errors` in each.
async fn everywhere(
    base: &Aws,
    prefix: &str,
    places: &[(&str, Option<&str>)],
) -> (String, Vec<(Aws, Machine)>) {
    let name = unique(prefix);
    let mut all = Vec::new();
    for (region, account) in places {
        let aws = base.at(region, *account).await;
        let machine = Machine::create_named(&aws, &name, 2, StateMachineType::Standard).await;
        machine.create_alias("prod", &[(1, 100)]).await;
        aws.metric_alarm(&format!("{name}-errors"), "OK").await;
        all.push((aws, machine));
    }
    (name, all)
}

/// A 50% canary held 1 s (unless `extra` says otherwise), JSON events (unless `extra` says
/// `--output text`).
fn args(name: &str, waves: &[&str], extra: &[&str]) -> Vec<String> {
    let alarm = format!("{name}-errors");
    let mut args: Vec<String> = [
        "--state-machine", name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
        "--alarm-polling", "1", "--alarms", &alarm,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !extra.contains(&"--interval") {
        args.extend(["--interval".into(), "1".into()]);
    }
    if !extra.contains(&"--output") {
        args.extend(["--output".into(), "json".into()]);
    }
    for wave in waves {
        args.extend(["--wave".to_string(), wave.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The first event of `kind` (and `wave`, if given).
fn first<'e>(events: &'e [Value], kind: &str, region: Option<&str>) -> &'e Value {
    events
        .iter()
        .find(|e| e["event"] == kind && region.is_none_or(|r| e["region"] == r))
        .unwrap_or_else(|| panic!("no {kind} event for {region:?}"))
}

#[tokio::test]
async fn two_waves_over_two_regions_go_in_order_the_second_after_the_first_baked() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) = everywhere(&base, "waves", &[("us-east-1", None), (EU, None)]).await;
    let waves = ["us-east-1", EU];
    // The dry run prints the plan wave by wave, and changes nothing. A release in waves needs no
    // region of the run's own.
    let dry = ["--wave-bake", "3s", "--dry-run", "--output", "text"];
    let out = spawn(&base.endpoint, &refs(&args(&name, &waves, &dry)), &[("AWS_REGION", "")]).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.stdout.clone();
    let at = |said: &str| plan.find(said).unwrap_or_else(|| panic!("{said}: {plan}"));
    assert!(at("wave 1 of 2 (us-east-1)") < at("then bake 3s"), "{plan}");
    assert!(at("then bake 3s") < at("wave 2 of 2 (eu-west-1)"), "{plan}");
    assert!(
        at(&format!("{name}@eu-west-1:000000000000: would shift alias prod from v1 to v2")) > 0,
        "{plan}"
    );
    assert_eq!(all[1].1.routing("prod").await.unwrap(), [(1, 100)]);

    let out = run(&base.endpoint, &refs(&args(&name, &waves, &["--wave-bake", "3s"]))).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (_, machine) in &all {
        assert_eq!(machine.routing("prod").await.unwrap(), [(2, 100)], "{}", out.stderr);
    }
    let events = events(&out.stdout);
    // Every member event names its target's region and account.
    let changed: Vec<&Value> = events.iter().filter(|e| e["event"] == "weights_changed").collect();
    let regions: Vec<&str> = changed.iter().map(|e| e["region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["us-east-1", "us-east-1", EU, EU], "{}", out.stdout);
    assert!(changed.iter().all(|e| e["account"] == "000000000000"), "{}", out.stdout);
    // Wave 2 moved only once wave 1 was at 100% and had baked 3 s.
    let baking = first(&events, "wave_baking", None)["elapsed_seconds"].as_f64().unwrap();
    let second = first(&events, "weights_changed", Some(EU))["elapsed_seconds"].as_f64().unwrap();
    let first_full = changed[1]["elapsed_seconds"].as_f64().unwrap();
    assert!(first_full <= baking, "{}", out.stdout);
    assert!(second >= baking + 3.0, "wave 2 at {second}s, baking from {baking}s: {}", out.stdout);

    // The whole release back with one command: the last wave first, each alias to the version
    // its record names.
    let back = ["rollback", "--state-machine", &name, "--alias", "prod", "--wave", "us-east-1", "--wave", EU];
    let out = run(&base.endpoint, &back).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (_, machine) in &all {
        assert_eq!(machine.routing("prod").await.unwrap(), [(1, 100)], "{}", out.stdout);
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{name}@{EU}:000000000000: Rolled back alias prod to 100% v1")),
        "{lines:?}"
    );
    assert!(lines[1].starts_with(&format!("{name}@us-east-1:000000000000: Rolled back")), "{lines:?}");
}

#[tokio::test]
async fn an_alarm_in_the_second_wave_takes_both_waves_back() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) = everywhere(&base, "waves-fail", &[("us-east-1", None), (EU, None)]).await;
    let args = args(&name, &["us-east-1", EU], &["--wave-bake", "1s", "--interval", "4"]);
    let running = spawn(&base.endpoint, &refs(&args), &[]);
    running.wait_for("wave 2 of 2 starts", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    all[1].0.set_alarm(&format!("{name}-errors"), "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    for (_, machine) in &all {
        assert_eq!(machine.routing("prod").await.unwrap(), [(1, 100)], "both back: {}", out.stderr);
    }
    assert!(out.stderr.contains(&format!("{name}-errors@{EU}:000000000000")), "{}", out.stderr);
}

#[tokio::test]
async fn a_blocker_alarm_in_the_second_wave_stops_the_release_before_that_wave_moves() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) = everywhere(&base, "waves-block", &[("us-east-1", None), (EU, None)]).await;
    all[1].0.set_alarm(&format!("{name}-errors"), "ALARM").await;
    let out = run(&base.endpoint, &refs(&args(&name, &["us-east-1", EU], &["--wave-bake", "1s"]))).await;
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert_eq!(all[0].1.routing("prod").await.unwrap(), [(2, 100)], "wave 1 stays on its new version");
    assert_eq!(all[1].1.routing("prod").await.unwrap(), [(1, 100)], "wave 2 never moved");
    let said = out.stderr.lines().last().unwrap_or_default();
    assert!(said.contains("wave 2 (eu-west-1:000000000000) did not start"), "{said}");
    assert!(said.contains(&format!("'{name}-errors@{EU}:000000000000' is in ALARM")), "{said}");
    assert!(
        said.contains("To go on once it clears: sfndeploy --state-machine") && said.ends_with(" --resume"),
        "{said}"
    );
}

#[tokio::test]
async fn a_wave_in_another_account_goes_through_an_assumed_role() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) =
        everywhere(&base, "waves-acct", &[("us-east-1", None), ("us-east-1", Some(OTHER_ACCOUNT))]).await;
    assert!(all[1].1.arn.contains(OTHER_ACCOUNT), "{}", all[1].1.arn);
    let target = format!("us-east-1@{ROLE}");
    let out = run(&base.endpoint, &refs(&args(&name, &["us-east-1", &target], &["--wave-bake", "1s"]))).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (_, machine) in &all {
        assert_eq!(machine.routing("prod").await.unwrap(), [(2, 100)], "{}", out.stderr);
    }
    let events = events(&out.stdout);
    let other = events.iter().filter(|e| e["event"] == "weights_changed" && e["account"] == OTHER_ACCOUNT);
    assert_eq!(other.count(), 2, "{}", out.stdout);
    let started = events.iter().find(|e| e["event"] == "started" && e["account"] == OTHER_ACCOUNT);
    let arn =
        started.map(|e| e["state_machine"].as_str().unwrap_or_default().to_string()).unwrap_or_default();
    assert!(arn.contains(&format!(":{OTHER_ACCOUNT}:stateMachine:{name}")), "{}", out.stdout);
}

#[tokio::test]
async fn stop_after_wave_one_then_resume_finishes_the_release() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) = everywhere(&base, "waves-job", &[("us-east-1", None), (EU, None)]).await;
    let waves = ["us-east-1", EU];
    let first_job = args(&name, &waves, &["--wave-bake", "2s", "--stop-after-wave", "1"]);
    let out = run(&base.endpoint, &refs(&first_job)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(all[0].1.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(all[1].1.routing("prod").await.unwrap(), [(1, 100)], "wave 2 waits for the next job");
    let done = events(&out.stdout).into_iter().find(|e| e["event"] == "wave_done").expect("wave_done");
    assert_eq!(done["wave"], 1, "{}", out.stdout);
    let resume = done["resume_command"].as_str().unwrap_or_default();
    assert!(resume.contains("--stop-after-wave 1") && resume.ends_with("--resume"), "{resume}");
    // Status, wave by wave: the first on its new version, the second not yet moved.
    let status = [
        "status", "--state-machine", &name, "--alias", "prod", "--wave", "us-east-1", "--wave", EU,
        "--output", "json",
    ];
    let out = run(&base.endpoint, &status).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown: Value = serde_json::from_str(out.stdout.trim()).expect("a JSON array");
    let each: Vec<(u64, String, String)> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let routing = r["routing"].to_string();
            (r["wave"].as_u64().unwrap(), r["region"].as_str().unwrap().to_string(), routing)
        })
        .collect();
    assert_eq!((each[0].0, each[0].1.as_str()), (1, "us-east-1"), "{each:?}");
    assert_eq!((each[1].0, each[1].1.as_str()), (2, EU), "{each:?}");
    assert!(each[0].2.contains(&format!("{name}:2")) && each[1].2.contains(&format!("{name}:1")), "{each:?}");

    // The next job: the same command with --resume; where the release stands is in the aliases.
    let mut second_job = first_job.clone();
    second_job.push("--resume".into());
    let out = run(&base.endpoint, &refs(&second_job)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (_, machine) in &all {
        assert_eq!(machine.routing("prod").await.unwrap(), [(2, 100)], "{}", out.stderr);
    }
    let events = events(&out.stdout);
    let moved: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "weights_changed")
        .map(|e| e["region"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(moved, [EU, EU], "only wave 2 moves: {}", out.stdout);
    assert!(events.iter().any(|e| e["event"] == "wave_started" && e["wave"] == 2), "{}", out.stdout);
}

#[tokio::test]
async fn a_release_paused_in_its_first_wave_is_promoted_with_its_waves() {
    let Some(emulator) = emulator() else { return };
    let base = Aws::new(emulator).await;
    let (name, all) = everywhere(&base, "waves-promote", &[("us-east-1", None), (EU, None)]).await;
    // No traffic: the gate cannot decide at 50%, and --on-inconclusive pause leaves it to a person.
    let pausing = [
        "--wave-bake", "1s", "--min-executions", "5", "--max-failure-rate", "10", "--max-extension", "1s",
        "--on-inconclusive", "pause", "--output", "text",
    ];
    let out = run(&base.endpoint, &refs(&args(&name, &["us-east-1", EU], &pausing))).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(all[0].1.routing("prod").await.unwrap(), [(1, 50), (2, 50)], "{}", out.stdout);
    assert_eq!(all[1].1.routing("prod").await.unwrap(), [(1, 100)]);
    // The pause prints the promote command with the release's waves; it promotes the split wave.
    let promote =
        out.stdout.lines().find_map(|l| l.strip_prefix("To promote now: ")).expect("a promote command");
    assert!(promote.contains("--wave us-east-1 --wave eu-west-1"), "{promote}");
    let words = shell_words::split(promote).unwrap();
    let words: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
    let out = run(&base.endpoint, &words).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(all[0].1.routing("prod").await.unwrap(), [(2, 100)], "{}", out.stdout);
    assert_eq!(all[1].1.routing("prod").await.unwrap(), [(1, 100)], "wave 2 had not started");
    assert!(
        out.stdout.contains(&format!("{name}@us-east-1:000000000000: Promoted alias prod to 100% v2")),
        "{}",
        out.stdout
    );
}
