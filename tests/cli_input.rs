//! The built binary on odd input, with no AWS at all (the endpoint is a closed loopback port):
//! every mistake is one sentence and exit 2, never a panic, and a flag on the command line wins
//! over its environment variable.

use std::process::{Command, Stdio};

/// Runs the binary with `args` and `env`; returns (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfndeploy"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SFNDEPLOY_MAX_ATTEMPTS", "1")
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("SFNDEPLOY_") && k != "SFNDEPLOY_MAX_ATTEMPTS" {
            cmd.env_remove(k);
        }
    }
    // An empty value removes the variable.
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("run sfndeploy");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

const TARGET: [&str; 4] = ["--state-machine", "orders", "--alias", "prod"];

fn with_target<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = TARGET.to_vec();
    args.extend_from_slice(extra);
    args
}

#[test]
fn out_of_range_numbers_and_durations_are_usage_errors_not_panics() {
    for bad in [
        &["--interval", "1e20"][..],
        &["--alarm-polling", "1e300"],
        &["--interval", "99999999999999999999"],
        &["--interval", "99999999999999999999h"],
        &["--max-unmonitored", "inf"],
        &["--rollback-timeout", "NaN"],
        &["--call-timeout", "1e19"],
        &["--interval", "31d"],
    ] {
        let (code, _, stderr) = run(&with_target(bad), &[]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{bad:?}: {stderr}");
    }
}

#[test]
fn a_flag_on_the_command_line_wins_over_its_variable() {
    // --version-description without publishing is a usage error made after the flags are
    // resolved and before any AWS call: it shows that --no-publish-revision won.
    let (code, _, stderr) = run(
        &with_target(&["--no-publish-revision", "--version-description", "x"]),
        &[("SFNDEPLOY_PUBLISH_REVISION", "true")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--version-description only applies with --publish-revision"), "{stderr}");
    // And the variable alone does publish: the description is then accepted.
    let (_, _, stderr) = run(
        &with_target(&["--version-description", "x", "--dry-run"]),
        &[("SFNDEPLOY_PUBLISH_REVISION", "yes")],
    );
    assert!(!stderr.contains("only applies"), "{stderr}");
    let (code, _, stderr) =
        run(&with_target(&["--no-force", "--steps", "5,50"]), &[("SFNDEPLOY_FORCE", "true")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--steps must end with 100"), "not a flag conflict: {stderr}");
}

#[test]
fn boolean_variables_take_1_0_yes_no_on_off() {
    for value in ["1", "0", "true", "FALSE", "yes", "no", "on", "Off"] {
        let (code, _, stderr) = run(&with_target(&["--steps", "5,50"]), &[("SFNDEPLOY_DRY_RUN", value)]);
        assert_eq!(code, 2);
        assert!(stderr.contains("--steps must end with 100"), "SFNDEPLOY_DRY_RUN={value}: {stderr}");
    }
    let (code, _, stderr) = run(&with_target(&[]), &[("SFNDEPLOY_FORCE", "maybe")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("SFNDEPLOY_FORCE") && stderr.lines().count() == 1, "{stderr}");
    // -v on the command line wins over SFNDEPLOY_QUIET.
    let (code, _, stderr) = run(&["completions", "bash", "-v"], &[("SFNDEPLOY_QUIET", "1")]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    for words in [&["man"][..], &["completions", "zsh"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sfndeploy"))
            .args(words)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader has gone, as with `| head -c1`
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{words:?}: {stderr}");
    }
}

#[test]
fn a_file_without_publish_revision_is_refused_unless_said_explicitly() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-input-file");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sm.asl.json");
    std::fs::write(&file, r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
    let file = file.to_str().unwrap();
    let (code, _, stderr) = run(&with_target(&["--file", file]), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--publish-revision") && stderr.contains("latest published version"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Said explicitly, on the command line or in the variable, it goes on to AWS (here: a
    // closed port, so a connection error and not the usage error).
    for (args, env) in [
        (vec!["--file", file, "--no-publish-revision"], vec![]),
        (vec!["--file", file], vec![("SFNDEPLOY_PUBLISH_REVISION", "0")]),
        (vec!["--file", file, "--publish-revision"], vec![]),
    ] {
        let (code, _, stderr) = run(&with_target(&args), &env);
        assert_ne!(code, 2, "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("deploys the latest published version, not the file"), "{stderr}");
    }
}

#[test]
fn a_state_machine_arn_is_region_enough_and_region_may_not_contradict_it() {
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";
    let (code, _, stderr) = run(&["--state-machine", arn, "--alias", "prod", "--region", "us-east-1"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--region us-east-1 contradicts") && stderr.contains("eu-west-1"), "{stderr}");
    // No region anywhere: the ARN is enough (the run goes on to the closed port, not exit 2).
    let (code, _, stderr) = run(
        &["--state-machine", arn, "--alias", "prod"],
        &[("AWS_REGION", ""), ("AWS_CONFIG_FILE", "/nonexistent"), ("AWS_DEFAULT_REGION", "")],
    );
    assert_ne!(code, 2, "{stderr}");
    assert!(!stderr.contains("no AWS region"), "{stderr}");
}

/// Every `SFNDEPLOY_*` variable that `--help` (of every subcommand) names.
fn variables_in_help() -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for sub in [&[][..], &["status"], &["rollback"]] {
        let mut args = sub.to_vec();
        args.push("--help");
        let (_, stdout, _) = run(&args, &[]);
        let mut rest = stdout.as_str();
        while let Some(at) = rest.find("SFNDEPLOY_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
            names.insert(name.clone());
            rest = &rest[at + name.len()..];
        }
    }
    names
}

#[test]
fn every_variable_is_read_and_checked_like_its_flag() {
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";
    // (variable, a bad value, what the one-line error must name, extra arguments)
    let bad: &[(&str, &str, &str, &[&str])] = &[
        ("SFNDEPLOY_ALARM_POLLING", "soon", "--alarm-polling", &[]),
        ("SFNDEPLOY_ALIAS", "my alias", "not a valid alias name", &["--state-machine", "orders"]),
        ("SFNDEPLOY_BAKE", "soon", "--bake", &[]),
        ("SFNDEPLOY_CALL_TIMEOUT", "soon", "--call-timeout", &[]),
        ("SFNDEPLOY_COLOR", "purple", "--color", &[]),
        ("SFNDEPLOY_DRY_RUN", "maybe", "SFNDEPLOY_DRY_RUN", &[]),
        ("SFNDEPLOY_FILE", "/nonexistent.json", "--file", &[]),
        ("SFNDEPLOY_FORCE", "maybe", "SFNDEPLOY_FORCE", &[]),
        ("SFNDEPLOY_HISTORY_MAX", "1", "--history-max", &[]),
        ("SFNDEPLOY_HOOK_TIMEOUT", "soon", "--hook-timeout", &[]),
        ("SFNDEPLOY_RERUN_FAILED", "maybe", "SFNDEPLOY_RERUN_FAILED", &[]),
        ("SFNDEPLOY_RERUN_ABORTED", "maybe", "SFNDEPLOY_RERUN_ABORTED", &[]),
        ("SFNDEPLOY_RERUN_MAX", "0", "--rerun-max", &[]),
        ("SFNDEPLOY_PRE_TRAFFIC_HOOK", " ", "--pre-traffic-hook needs a command", &[]),
        ("SFNDEPLOY_POST_TRAFFIC_HOOK", " ", "--post-traffic-hook needs a command", &[]),
        ("SFNDEPLOY_INCREMENT", "0", "--increment", &[]),
        ("SFNDEPLOY_INTERVAL", "soon", "--interval", &[]),
        ("SFNDEPLOY_MAX_ATTEMPTS", "0", "--max-attempts", &[]),
        ("SFNDEPLOY_MAX_UNMONITORED", "soon", "--max-unmonitored", &[]),
        ("SFNDEPLOY_MAX_FAILURE_RATE", "101", "--max-failure-rate", &[]),
        ("SFNDEPLOY_MAX_FAILURE_RATE_INCREASE", "lots", "--max-failure-rate-increase", &[]),
        ("SFNDEPLOY_MAX_DURATION_INCREASE", "0", "--max-duration-increase", &[]),
        ("SFNDEPLOY_CONFIDENCE", "100", "--confidence", &[]),
        ("SFNDEPLOY_MIN_EXECUTIONS", "-1", "--min-executions", &[]),
        ("SFNDEPLOY_MAX_EXTENSION", "soon", "--max-extension", &[]),
        ("SFNDEPLOY_SMOKE_TIMEOUT", "soon", "--smoke-timeout", &[]),
        ("SFNDEPLOY_OUTPUT", "xml", "--output", &[]),
        ("SFNDEPLOY_PAUSE_AT", "0", "--pause-at", &[]),
        ("SFNDEPLOY_PRUNE_RATE", "0", "--prune-rate", &[]),
        ("SFNDEPLOY_PUBLISH_REVISION", "maybe", "SFNDEPLOY_PUBLISH_REVISION", &[]),
        ("SFNDEPLOY_QUIET", "maybe", "SFNDEPLOY_QUIET", &[]),
        ("SFNDEPLOY_REGION", "us-east-1", "contradicts", &["--state-machine", arn, "--alias", "prod"]),
        ("SFNDEPLOY_RESUME", "maybe", "SFNDEPLOY_RESUME", &[]),
        ("SFNDEPLOY_ROLLBACK_TIMEOUT", "soon", "--rollback-timeout", &[]),
        ("SFNDEPLOY_STATE_MACHINE", "my orders", "not a valid state machine name", &["--alias", "prod"]),
        ("SFNDEPLOY_STEPS", "5,50", "--steps", &[]),
        ("SFNDEPLOY_STRATEGY", "bogus", "--strategy", &[]),
        ("SFNDEPLOY_VERBOSE", "maybe", "SFNDEPLOY_VERBOSE", &[]),
        (
            "SFNDEPLOY_VERSIONS",
            "lots",
            "--versions",
            &["status", "--state-machine", "orders", "--alias", "prod"],
        ),
        ("SFNDEPLOY_VERSION_DESCRIPTION", "x", "--version-description", &[]),
        ("SFNDEPLOY_ON_INCONCLUSIVE", "shrug", "--on-inconclusive", &[]),
        ("SFNDEPLOY_GATE_MODE", "maybe", "--gate-mode", &[]),
        ("SFNDEPLOY_ALLOW_FIRING", "errors", "--allow-firing", &[]),
        ("SFNDEPLOY_WINDOW", "Funday 09:00-10:00", "--window", &[]),
        ("SFNDEPLOY_FREEZE", "x..y", "--freeze", &[]),
        ("SFNDEPLOY_WINDOW_WAIT", "maybe", "SFNDEPLOY_WINDOW_WAIT", &[]),
        ("SFNDEPLOY_NOTIFY_TOPIC", "my-topic", "--notify-topic", &[]),
        ("SFNDEPLOY_SUBSTITUTION", "Bucket", "--substitution", &[]),
        ("SFNDEPLOY_CONFIG", "/nonexistent/sfndeploy.toml", "cannot read --config", &[]),
        ("SFNDEPLOY_WAVE", "us-east-1;nowhere", "'nowhere' is not a wave target", &[]),
        ("SFNDEPLOY_WAVE_BAKE", "soon", "--wave-bake", &[]),
        ("SFNDEPLOY_BLOCKER_WAIT", "soon", "--blocker-wait", &[]),
        ("SFNDEPLOY_ON_WAVE_FAILURE", "some", "--on-wave-failure", &[]),
        ("SFNDEPLOY_STOP_AFTER_WAVE", "0", "--stop-after-wave", &[]),
    ];
    // No value of these is wrong before AWS is asked; tests/e2e_cli.rs
    // `every_flag_can_come_from_the_environment` shows each one taking effect.
    let end_to_end =
        ["SFNDEPLOY_ALARMS", "SFNDEPLOY_ENDPOINT_URL", "SFNDEPLOY_PROFILE", "SFNDEPLOY_TO_VERSION"];
    let covered: std::collections::BTreeSet<String> =
        bad.iter().map(|(v, ..)| v.to_string()).chain(end_to_end.iter().map(|v| v.to_string())).collect();
    assert_eq!(covered, variables_in_help(), "every variable --help names is covered here, and no other");
    for (var, value, names, extra) in bad {
        let args: Vec<&str> = if extra.is_empty() { with_target(&[]) } else { extra.to_vec() };
        let (code, _, stderr) = run(&args, &[(var, value)]);
        assert_eq!(code, 2, "{var}={value}: {stderr}");
        assert!(stderr.contains(names), "{var}={value}: the error should name {names}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn no_region_and_no_credentials_are_one_sentence_each_and_nothing_else() {
    // A laptop as a new user has it: no profile, no region, no keys, and no metadata service
    // (nothing listens where the SDK looks for one). The SDK's own warnings stay out of sight.
    let laptop = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_PROFILE", ""),
        ("AWS_EC2_METADATA_DISABLED", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"),
    ];
    let no_region: Vec<(&str, &str)> = laptop.iter().copied().chain([("AWS_REGION", "")]).collect();
    let (code, _, stderr) = run(&with_target(&[]), &no_region);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line and nothing else: {stderr}");
    assert!(stderr.starts_with("error: no AWS region is set") && stderr.contains("AWS_REGION"), "{stderr}");

    let (code, _, stderr) = run(&with_target(&[]), &laptop);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line and nothing else: {stderr}");
    assert!(stderr.contains("no AWS credentials were found") && stderr.contains("aws sso login"), "{stderr}");
    assert!(!stderr.contains("IMDS") && !stderr.contains("dispatch failure"), "{stderr}");
}

#[test]
fn smoke_inputs_are_checked_before_anything_changes() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-input-smoke");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    // StartExecution takes at most 256 KiB of input.
    let big = dir.join("big.json");
    std::fs::write(&big, format!("{{\"order\":\"{}\"}}", "x".repeat(256 * 1024))).unwrap();
    for (path, says) in [
        (dir.join("missing.json"), "cannot read --smoke-input"),
        (empty.clone(), "has no *.json file"),
        (bad.clone(), "is not JSON"),
        (big.clone(), "may be at most 256 KiB"),
    ] {
        let (code, _, stderr) = run(&with_target(&["--smoke-input", path.to_str().unwrap()]), &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(says) && stderr.lines().count() == 1, "{stderr}");
    }
}

#[test]
fn an_empty_variable_is_unset_as_ci_passes_inputs_left_out() {
    // Every variable empty at once: as if each were not set (the run reaches AWS, a closed port).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfndeploy"));
    cmd.args(with_target(&["--max-attempts", "1"]))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    for var in [
        "SFNDEPLOY_STRATEGY", "SFNDEPLOY_INTERVAL", "SFNDEPLOY_INCREMENT", "SFNDEPLOY_OUTPUT",
        "SFNDEPLOY_COLOR", "SFNDEPLOY_HISTORY_MAX", "SFNDEPLOY_PAUSE_AT", "SFNDEPLOY_MAX_FAILURE_RATE",
        "SFNDEPLOY_CONFIDENCE", "SFNDEPLOY_ALARMS", "SFNDEPLOY_FORCE", "SFNDEPLOY_RESUME",
        "SFNDEPLOY_VERSION_DESCRIPTION", "SFNDEPLOY_FILE", "SFNDEPLOY_REGION", "SFNDEPLOY_MAX_ATTEMPTS",
        "SFNDEPLOY_VERBOSE", "SFNDEPLOY_QUIET",
    ] {
        cmd.env(var, "");
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not reach AWS"), "past every flag check: {stderr}");
}

#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_one_sentence_never_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    // A file whose name is not UTF-8 exists and is valid: the run goes on to AWS (a closed port).
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-input-utf8");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(std::ffi::OsStr::from_bytes(b"orders\xff.json"));
    std::fs::write(&file, r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"orders\xff");
    for (flag, value, code) in [("--alias", bad, 2), ("--strategy", bad, 2), ("--file", file.as_os_str(), 1)]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_sfndeploy"))
            .args(["--state-machine", "orders", "--publish-revision", "--max-attempts", "1"])
            .args(if flag == "--alias" { vec![] } else { vec!["--alias", "prod"] })
            .arg(flag)
            .arg(value)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{flag}: {stderr}");
        assert_eq!(out.status.code(), Some(code), "{flag}: {stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error")).count(), 1, "{flag}: {stderr}");
    }
}
