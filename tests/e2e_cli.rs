//! End to end, for pipelines: JSON events, dry-run, status, rollback, the GitHub Actions
//! summary, environment variables and the subcommand form.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{deployable, run, spawn};

const MUTATING: [&str; 5] = [
    "PublishStateMachineVersion", "UpdateStateMachine", "CreateStateMachineAlias", "UpdateStateMachineAlias",
    "DeleteStateMachineVersion",
];

fn parse_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn json_output_is_one_event_per_line_and_nothing_else() {
    let Some((aws, proxy, m)) = deployable("json", 2).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let out = run(
        &proxy.endpoint(),
        &[
            "deploy", "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment",
            "10", "--interval", "1", "--alarm-polling", "1", "--alarms", &alarm, "--output", "json",
            "--history-max", "2",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let events = parse_lines(&out.stdout);
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let core: Vec<&str> = kinds.iter().copied().filter(|k| *k != "alarms_polled").collect();
    // The review of the definition comes first, before any change.
    assert_eq!(
        core,
        ["definition_changed", "started", "weights_changed", "weights_changed", "completed", "pruned"]
    );
    // The check before the start stands in for the first gate; then the gate before 100% and the
    // one at the end (1 s holds at 1 s polling leave no poll inside a hold).
    assert_eq!(kinds.iter().filter(|k| **k == "alarms_polled").count(), 2);
    for e in &events {
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(e["elapsed_seconds"].as_f64().unwrap() >= 0.0, "{e}");
    }
    let started = events.iter().find(|e| e["event"] == "started").expect("started");
    assert_eq!(started["alias"], "prod");
    assert_eq!(started["old_version"], m.version_arn(1));
    assert_eq!(started["new_version"], m.version_arn(2));
    assert_eq!(started["strategy"], "canary");
    assert_eq!(started["steps"][0]["weight"], 10);
    assert_eq!(started["planned_seconds"], 1.0, "the canary holds once");
    assert!(started["planned_end"].is_string());
    let weights: Vec<i64> = events
        .iter()
        .filter(|e| e["event"] == "weights_changed")
        .map(|e| e["new_weight"].as_i64().unwrap())
        .collect();
    assert_eq!(weights, [10, 100]);
    let polled = events.iter().find(|e| e["event"] == "alarms_polled").unwrap();
    assert_eq!(polled["alarms"][0]["name"], alarm.as_str());
}

#[tokio::test]
async fn json_output_reports_a_rollback_and_the_failure() {
    let Some((aws, proxy, m)) = deployable("json-fail", 2).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--interval", "20",
            "--alarm-polling", "1", "--alarms", &alarm, "--output", "json",
        ],
        &[],
    );
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    aws.set_alarm(&alarm, "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    let events = parse_lines(&out.stdout);
    let kinds: Vec<&str> =
        events.iter().map(|e| e["event"].as_str().unwrap()).filter(|k| *k != "alarms_polled").collect();
    assert_eq!(
        kinds,
        [
            "definition_changed", "started", "weights_changed", "alarm_fired", "rolling_back", "rolled_back",
            "failed"
        ]
    );
    let failed = events.last().unwrap();
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["outcome"], "rolled_back");
}

#[tokio::test]
async fn dry_run_validates_prints_the_plan_and_changes_nothing() {
    let Some((aws, proxy, m)) = deployable("dryrun", 6).await else {
        return;
    };
    m.update(&support::definition("pending"), false).await;
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let before = m.snapshot().await;
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "linear",
            "--increment", "50", "--interval", "5m", "--alarms", &alarm, "--history-max", "3", "--dry-run",
            "--output", "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.snapshot().await, before);
    let mutating: Vec<String> =
        proxy.log().into_iter().map(|c| c.op).filter(|op| MUTATING.contains(&op.as_str())).collect();
    assert!(mutating.is_empty(), "{mutating:?}");
    let events = parse_lines(&out.stdout);
    assert_eq!(events.len(), 2, "the review of the definition, then the plan");
    assert_eq!(events[0]["event"], "definition_changed");
    assert_eq!(events[0]["summary"], "states changed: P: Result", "{}", events[0]);
    let plan = &events[1];
    assert_eq!(plan["event"], "planned");
    assert_eq!(plan["old_version"], m.version_arn(1));
    assert!(plan["new_version"].is_null(), "a version would be published");
    assert_eq!(plan["planned_seconds"], 600.0);
    // Six versions plus the one to publish, keep 3: v1 (the alias's) stays; v2, v3, v4 would go.
    let would: Vec<u32> = plan["would_prune"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| support::version_number(v.as_str().unwrap()))
        .collect();
    assert_eq!(would, [2, 3, 4]);

    let out = run(&proxy.endpoint(), &["--state-machine", &m.name, "--alias", "prod", "--dry-run"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.starts_with("Dry run, nothing changed: would shift alias prod from v1 to v6"),
        "{}",
        out.stdout
    );
    assert_eq!(m.snapshot().await, before);
}

#[tokio::test]
async fn status_shows_routing_versions_and_alarms() {
    let Some((aws, proxy, m)) = deployable("status", 3).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    // LocalStack moves a metric alarm with no data back to INSUFFICIENT_DATA when it next
    // evaluates it; set it again if that happened between the two calls.
    let mut out = None;
    for _ in 0..3 {
        aws.set_alarm(&alarm, "OK").await;
        let status = run(
            &proxy.endpoint(),
            &["status", "--state-machine", &m.name, "--alias", "prod", "--alarms", &alarm],
        )
        .await;
        let drifted = status.stdout.contains("INSUFFICIENT_DATA");
        out = Some(status);
        if !drifted {
            break;
        }
    }
    let out = out.unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("Alias prod: v1 100%"), "{}", out.stdout);
    assert!(out.stdout.contains("Versions (3 of 3, newest first)"), "{}", out.stdout);
    assert!(out.stdout.contains("[prod 100%]"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("{alarm}  OK (metric)")), "{}", out.stdout);

    let out = run(
        &proxy.endpoint(),
        &["status", "--state-machine", &m.name, "--alias", "prod", "--output", "json"],
    )
    .await;
    let status: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(status["routing"][0]["weight"], 100);
    assert_eq!(status["versions"].as_array().unwrap().len(), 3);
    assert!(proxy.log().iter().all(|c| !MUTATING.contains(&c.op.as_str())), "status is read-only");
}

#[tokio::test]
async fn rollback_subcommand_points_the_alias_back() {
    let Some((_, proxy, m)) = deployable("rollback", 3).await else {
        return;
    };
    let out =
        run(&proxy.endpoint(), &["--state-machine", &m.name, "--alias", "prod", "--interval", "0"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);

    let out =
        run(&proxy.endpoint(), &["rollback", "--state-machine", &m.name, "--alias", "prod", "--dry-run"])
            .await;
    // v2 was published but never live: the version live before v3 is v1.
    assert!(out.stdout.contains("would route alias prod 100% to v1"), "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);

    let out = run(&proxy.endpoint(), &["rollback", "--state-machine", &m.name, "--alias", "prod"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "the version live before");
    let out = run(
        &proxy.endpoint(),
        &["rollback", "--state-machine", &m.name, "--alias", "prod", "--to-version", "2"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let out = run(
        &proxy.endpoint(),
        &["rollback", "--state-machine", &m.name, "--alias", "prod", "--to-version", "9"],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)], "a refused rollback changes nothing");
}

#[tokio::test]
async fn github_actions_summary_and_annotations() {
    let Some((aws, proxy, m)) = deployable("github", 2).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let summary = dir.join("summary.md");
    let summary_path = summary.to_str().unwrap();
    let outputs = dir.join("outputs");
    let outputs_path = outputs.to_str().unwrap();
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--interval", "20",
            "--alarm-polling", "1", "--alarms", &alarm,
        ],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary_path), ("GITHUB_OUTPUT", outputs_path)],
    );
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    aws.set_alarm(&alarm, "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(
        out.stderr.lines().any(|l| l.starts_with("::error title=sfndeploy rolled back::")),
        "{}",
        out.stderr
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### ❌ sfndeploy"), "{md}");
    assert!(md.contains(&format!("| Alarm fired | {alarm} |")), "{md}");
    assert!(md.contains("| Versions | v1 → v2 |"), "{md}");
    assert!(md.contains("```mermaid\n%%{init:") && md.contains("\nxychart-beta\n"), "{md}");
    assert!(md.contains(": share of traffic, rolled back at ") && md.contains(", 5, 5, "), "{md}");
    assert!(md.contains("| 1/2: v1 95% / v2 5% |"), "{md}");
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert_eq!(outputs, format!("outcome=rolled_back\nversion={}\n", m.version_arn(2)));
}

#[tokio::test]
async fn the_summary_of_a_json_run_says_its_outcome() {
    let Some((_aws, proxy, m)) = deployable("github-json", 2).await else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let summary = dir.join("summary.md");
    let running = spawn(
        &proxy.endpoint(),
        &["--state-machine", &m.name, "--alias", "prod", "--interval", "0", "--output", "json"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    let out = running.finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### ✅ sfndeploy\n\nDeployed v2 to alias prod"), "{md}");
    assert!(out.stdout.lines().all(|l| l.starts_with('{')), "stdout stays JSON: {}", out.stdout);
}

#[tokio::test]
async fn every_flag_can_come_from_the_environment() {
    // The variables whose wrong values tests/cli_input.rs cannot catch before AWS is asked are
    // shown taking effect here: ALARMS, ENDPOINT_URL, PROFILE and TO_VERSION, with the
    // strategy's own.
    let Some((aws, proxy, m)) = deployable("envvars", 3).await else {
        return;
    };
    let alarms = [format!("{}-a", m.name), format!("{}-b", m.name)];
    for a in &alarms {
        aws.metric_alarm(a, "OK").await;
    }
    // A profile whose credentials come from credential_process; no keys in the environment.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        "[profile sfndeploy-e2e]\nregion = us-east-1\ncredential_process = echo '{\"Version\":1,\
         \"AccessKeyId\":\"test\",\"SecretAccessKey\":\"test\"}'\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let alarm_list = alarms.join(",");
    let endpoint = proxy.endpoint();
    let env = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("SFNDEPLOY_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_REGION", ""),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("SFNDEPLOY_PROFILE", "sfndeploy-e2e"),
        ("SFNDEPLOY_STATE_MACHINE", m.name.as_str()),
        ("SFNDEPLOY_ALIAS", "prod"),
        ("SFNDEPLOY_STRATEGY", "Linear"),
        ("SFNDEPLOY_INCREMENT", "50"),
        ("SFNDEPLOY_INTERVAL", "500ms"),
        ("SFNDEPLOY_ALARMS", alarm_list.as_str()),
        ("SFNDEPLOY_OUTPUT", "json"),
    ];
    let out = spawn(&endpoint, &[], &env).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    let events = parse_lines(&out.stdout);
    assert_eq!(events.iter().filter(|e| e["event"] == "weights_changed").count(), 2);
    let polled = events.iter().find(|e| e["event"] == "alarms_polled").expect("alarms were read");
    let names: Vec<&str> =
        polled["alarms"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, [alarms[0].as_str(), alarms[1].as_str()]);
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);

    // rollback: SFNDEPLOY_TO_VERSION=1 (without it, the version before v3 would be v2).
    let mut env = env.to_vec();
    env.retain(|(k, _)| !k.starts_with("SFNDEPLOY_STRATEGY") && !k.starts_with("SFNDEPLOY_INCREMENT"));
    env.push(("SFNDEPLOY_TO_VERSION", "1"));
    let out = spawn(&endpoint, &["rollback"], &env).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
}

#[tokio::test]
async fn colour_only_when_asked_or_on_a_terminal() {
    let Some((_, proxy, m)) = deployable("colour", 2).await else {
        return;
    };
    let args = ["--state-machine", m.name.as_str(), "--alias", "prod", "--dry-run"];
    // Not a terminal (a pipe): plain text, even without NO_COLOR.
    let plain = spawn(&proxy.endpoint(), &args, &[("NO_COLOR", "")]).finish().await;
    assert_eq!(plain.code, 0, "{plain:#?}");
    assert!(!plain.stderr.contains('\x1b'), "{}", plain.stderr);
    // Not a terminal: each log line starts with an RFC 3339 time (CI logs), not an uptime.
    let logged: Vec<&str> = plain.stderr.lines().filter(|l| l.contains(" INFO ")).collect();
    assert!(!logged.is_empty(), "{}", plain.stderr);
    for line in logged {
        let stamp = line.split_whitespace().next().unwrap_or_default();
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "not an RFC 3339 time: {line}");
    }
    let mut forced = args.to_vec();
    forced.extend(["--color", "always"]);
    let coloured = run(&proxy.endpoint(), &forced).await;
    assert!(coloured.stderr.contains("\x1b["), "{}", coloured.stderr);
    let quiet = run(&proxy.endpoint(), &[&args[..], &["-q"]].concat()).await;
    assert!(quiet.stderr.is_empty(), "-q: {}", quiet.stderr);
    assert!(quiet.stdout.starts_with("Dry run"), "{}", quiet.stdout);
}

#[tokio::test]
async fn a_state_machine_arn_names_its_region_whatever_aws_region_says() {
    let Some((_aws, proxy, m)) = deployable("arn-region", 2).await else {
        return;
    };
    // The machine is in us-east-1; the environment says eu-west-1 (another region in the
    // emulator, where it does not exist).
    let args = ["--state-machine", &m.arn, "--alias", "prod", "--interval", "0"];
    let out = spawn(&proxy.endpoint(), &args, &[("AWS_REGION", "eu-west-1")]).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await, Some(vec![(2, 100)]));
    // --region that contradicts the ARN: a usage error before any call.
    let calls = proxy.log().len();
    let mut contradicting = args.to_vec();
    contradicting.extend(["--region", "eu-west-1"]);
    let out = run(&proxy.endpoint(), &contradicting).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("contradicts"), "{}", out.stderr);
    assert_eq!(proxy.log().len(), calls, "no AWS call");
}

#[tokio::test]
async fn credentials_that_expire_before_the_planned_end_are_announced_before_any_change() {
    let Some((_aws, proxy, m)) = deployable("expiring", 2).await else {
        return;
    };
    // A profile whose credentials (from credential_process) expire in 10 minutes.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let expires = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(600));
    let process = dir.join("credentials.sh");
    std::fs::write(
        &process,
        format!(
            "#!/bin/sh\necho '{{\"Version\":1,\"AccessKeyId\":\"AKIASFNDEPLOYTEST\",\"SecretAccessKey\":\"test\",\
             \"SessionToken\":\"t\",\"Expiration\":\"{expires}\"}}'\n"
        ),
    )
    .unwrap();
    let config = dir.join("config");
    std::fs::write(&config, format!("[profile short]\ncredential_process = sh {}\n", process.display()))
        .unwrap();
    let config = config.to_str().unwrap().to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_PROFILE", "short"),
    ];
    let base = ["--state-machine", m.name.as_str(), "--alias", "prod", "--strategy", "linear", "--dry-run"];
    // Linear 10% every 10 minutes: 100 minutes, far past the expiry.
    let mut long = base.to_vec();
    long.extend(["--increment", "10", "--interval", "10m"]);
    let out = spawn(&proxy.endpoint(), &long, &env).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("credentials in use expire"))
        .unwrap_or_else(|| panic!("no expiry warning: {}", out.stderr));
    assert!(warning.contains("--rollback-timeout"), "{warning}");
    // A two-second plan (and a 1 s rollback timeout) fits: nothing to say.
    let mut short = base.to_vec();
    short.extend(["--increment", "50", "--interval", "1", "--rollback-timeout", "1s"]);
    let out = spawn(&proxy.endpoint(), &short, &env).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(!out.stderr.contains("expire"), "{}", out.stderr);
    // Never logged, at any level.
    for verbosity in [None, Some("-v"), Some("-vv")] {
        let mut args = short.clone();
        args.extend(verbosity);
        let out = spawn(&proxy.endpoint(), &args, &env).finish().await;
        assert_eq!(out.code, 0, "{out:#?}");
        assert!(
            !out.stderr.contains("AKIASFNDEPLOYTEST"),
            "{verbosity:?} logs the access key id: {}",
            out.stderr
        );
    }
}
