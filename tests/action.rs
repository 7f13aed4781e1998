//! The GitHub Action (`action.yml`, `action/run.sh`): every input maps to a real flag, and a
//! workflow's inputs become a command line sfndeploy accepts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The top-level keys under `inputs:` in action.yml, and their required flag.
fn inputs() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            inside = line.trim_end() == "inputs:";
            continue;
        }
        if inside && line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            names.push(line.trim().trim_end_matches(':').to_string());
        }
    }
    names
}

fn variable(input: &str) -> String {
    format!("INPUT_{}", input.to_uppercase().replace('-', "_"))
}

#[test]
fn every_input_maps_to_a_real_flag() {
    let names = inputs();
    assert!(names.len() >= 15 && names.contains(&"state-machine".to_string()), "{names:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_sfndeploy")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let script = std::fs::read_to_string(root().join("action/run.sh")).unwrap();
    for name in &names {
        if name == "command" {
            assert!(
                script.contains("INPUT_COMMAND") && help.contains("promote"),
                "command picks the subcommand"
            );
            continue;
        }
        if name == "version" {
            assert!(
                action.contains("${{ inputs.version || github.action_ref }}"),
                "version picks the release"
            );
            continue;
        }
        let var = variable(name);
        assert!(
            action.contains(&format!("{var}: ${{{{ inputs.{name} }}}}")),
            "action.yml passes {name} as {var}"
        );
        assert!(script.contains(&var), "action/run.sh reads {var}");
        if name != "args" {
            assert!(
                help.contains(&format!("--{name} ")) || help.contains(&format!("--{name}\n")),
                "--{name} is not a flag"
            );
        }
    }
    for output in ["outcome:", "version:"] {
        assert!(action[action.find("outputs:").unwrap()..].contains(output), "output {output}");
    }
}

/// A folder of the test's own, `name`, under the target folder.
fn folder(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for the binary in `dir`: it prints the words it gets, one per line.
fn stub(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let stub = dir.join("stub.sh");
    std::fs::write(&stub, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n").unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    stub
}

fn run_script(bin: &str, inputs: &BTreeMap<&str, &str>) -> (i32, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("action/run.sh"))
        .env("SFNDEPLOY_BIN", bin)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SFNDEPLOY_MAX_ATTEMPTS", "1")
        .env_remove("GITHUB_ACTIONS");
    for (k, _) in std::env::vars() {
        if k.starts_with("INPUT_") || (k.starts_with("SFNDEPLOY_") && k != "SFNDEPLOY_MAX_ATTEMPTS") {
            cmd.env_remove(k);
        }
    }
    for (name, value) in inputs {
        cmd.env(variable(name), value);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The words the binary gets for `inputs`, one per line: the stub `stub` prints them.
fn words_for(stub: &Path, inputs: &BTreeMap<&str, &str>) -> String {
    let (code, stdout, stderr) = run_script(stub.to_str().unwrap(), inputs);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// The real binary takes `inputs`: it gets past every check to AWS (here a closed port), which a
/// rejected flag or value would not.
fn reaches_aws(inputs: &BTreeMap<&str, &str>) {
    let (code, _, stderr) = run_script(env!("CARGO_BIN_EXE_sfndeploy"), inputs);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("could not reach AWS"), "{stderr}");
}

#[test]
fn a_workflows_inputs_become_a_command_line_sfndeploy_accepts() {
    let dir = folder("action");
    let file = dir.join("orders.asl.json");
    std::fs::write(&file, r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
    let config = dir.join("sfndeploy.toml");
    std::fs::write(&config, "alias = \"staging\"\nhistory-max = 20\n").unwrap();
    let inputs: BTreeMap<&str, &str> = [
        ("state-machine", "orders"),
        ("alias", "prod"),
        ("command", "deploy"),
        ("config", config.to_str().unwrap()),
        ("strategy", "linear"),
        ("increment", "50"),
        ("interval", "1s"),
        ("bake", "0"),
        ("alarms", "orders-errors\n  orders latency p99  \n\n"),
        ("alarm-polling", "1s"),
        ("max-unmonitored", "3s"),
        ("max-failure-rate", "5"),
        ("max-failure-rate-increase", "2.5"),
        ("max-duration-increase", "50"),
        ("confidence", "99"),
        ("min-executions", "10"),
        ("max-extension", "1m"),
        ("file", file.to_str().unwrap()),
        ("publish-revision", "true"),
        ("substitution", "Bucket=orders-eu\nTable=orders"),
        // A command with quotes and spaces stays one value.
        ("pre-traffic-hook", "npm test -- --target \"$SFNDEPLOY_HOOK_NEW_VERSION\""),
        ("post-traffic-hook", "./check.sh"),
        ("hook-timeout", "5m"),
        ("rerun-failed", "true"),
        ("rerun-aborted", "true"),
        ("rerun-max", "20"),
        // A commit message may begin with a dash: it stays a value.
        ("version-description", "-fix: from CI"),
        ("history-max", "5"),
        ("pause-at", "50"),
        ("resume", "false"),
        ("force", "false"),
        ("on-inconclusive", "pause"),
        ("gate-mode", "observe"),
        ("allow-firing", "orders-errors\n"),
        ("window", "Mon-Sun 00:00-24:00 Europe/Berlin\nSat 10:00-12:00"),
        ("freeze", "2026-12-24..2026-12-26"),
        ("window-wait", "false"),
        ("notify-topic", "arn:aws:sns:us-east-1:123456789012:deploys"),
        ("dry-run", "true"),
        ("output", "json"),
        ("region", "us-east-1"),
        // Several lines: every one is kept.
        ("args", "--call-timeout 5s\n--max-attempts 2\n"),
    ]
    .into();
    assert_eq!(
        inputs.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        {
            let mut all = self::inputs();
            // steps replaces strategy and increment, and waves do not go with pause-at: the
            // release tests below set them.
            let waves = ["wave", "wave-bake", "blocker-wait", "on-wave-failure", "stop-after-wave"];
            all.retain(|n| n != "version" && n != "steps" && !waves.contains(&n.as_str()));
            all.sort();
            all
        },
        "this test sets every input"
    );
    // The words the binary gets: a stub prints them one per line.
    let stub = stub(&dir);
    let stdout = words_for(&stub, &inputs);
    let words: Vec<&str> = stdout.lines().collect();
    let at = words.iter().position(|w| *w == "--alarms").expect("--alarms");
    assert_eq!(
        &words[at + 1..at + 3],
        ["orders-errors", "orders latency p99"],
        "one name per line, spaces kept"
    );
    for flag in ["--publish-revision", "--no-force", "--dry-run", "--call-timeout", "--max-attempts"] {
        assert!(words.contains(&flag), "{flag}: {words:?}");
    }
    assert!(words.contains(&"--version-description=-fix: from CI"), "{words:?}");
    assert!(words.contains(&"--strategy=linear"), "values as --flag=VALUE: {words:?}");
    assert!(
        words.contains(&"--pre-traffic-hook=npm test -- --target \"$SFNDEPLOY_HOOK_NEW_VERSION\""),
        "{words:?}"
    );
    assert!(!words.contains(&"--resume"), "resume: false gives no flag");
    assert!(
        words.contains(&"--window=Mon-Sun 00:00-24:00 Europe/Berlin")
            && words.contains(&"--window=Sat 10:00-12:00"),
        "{words:?}"
    );
    assert!(
        words.contains(&"--allow-firing=orders-errors") && words.contains(&"--gate-mode=observe"),
        "{words:?}"
    );
    reaches_aws(&inputs);
    // A wrong yes/no input is the action's own usage error.
    let mut wrong = inputs.clone();
    wrong.insert("force", "maybe");
    let (code, _, stderr) = run_script(env!("CARGO_BIN_EXE_sfndeploy"), &wrong);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("FORCE must be true or false"), "{stderr}");
}

#[test]
fn the_promote_command_takes_the_inputs_promote_takes() {
    let stub = stub(&folder("action-promote"));
    let mut inputs: BTreeMap<&str, &str> = [
        ("command", "promote"),
        ("state-machine", "orders"),
        ("alias", "prod"),
        ("alarms", "orders-errors"),
        ("force", "false"),
        ("region", "us-east-1"),
    ]
    .into();
    let stdout = words_for(&stub, &inputs);
    let words: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        words,
        [
            "promote", "--state-machine=orders", "--alias=prod", "--alarms", "orders-errors",
            "--region=us-east-1"
        ]
    );
    reaches_aws(&inputs);
    // A deploy's input with promote is a mistake, said as one.
    inputs.insert("strategy", "canary");
    let (code, _, stderr) = run_script(stub.to_str().unwrap(), &inputs);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("input strategy does not apply to command promote"), "{stderr}");
}

#[test]
fn a_release_takes_one_state_machine_and_one_file_per_line_and_steps_their_holds() {
    let stub = stub(&folder("action-release"));
    let inputs: BTreeMap<&str, &str> = [
        ("state-machine", "orders\n  payments \n\nrefunds\n"),
        ("alias", "prod"),
        ("file", "sm/orders.json\nsm/payments.json\nsm/refunds.json"),
        ("steps", "1:5m,10:15m,50:30m,100"),
    ]
    .into();
    let stdout = words_for(&stub, &inputs);
    let words: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        words,
        [
            "--state-machine=orders", "--state-machine=payments", "--state-machine=refunds", "--alias=prod",
            "--steps=1:5m,10:15m,50:30m,100", "--file=sm/orders.json", "--file=sm/payments.json",
            "--file=sm/refunds.json",
        ]
    );
}

#[test]
fn a_release_in_waves_takes_one_wave_per_line() {
    let stub = stub(&folder("action-waves"));
    let mut inputs: BTreeMap<&str, &str> = [
        ("state-machine", "orders"),
        ("alias", "prod"),
        ("wave", "us-east-1\n  eu-west-1,eu-central-1@arn:aws:iam::111111111111:role/deploy \n"),
        ("wave-bake", "2h"),
        ("blocker-wait", "30m"),
        ("on-wave-failure", "current"),
        ("stop-after-wave", "1"),
        ("resume", "true"),
        ("region", "us-east-1"),
    ]
    .into();
    let stdout = words_for(&stub, &inputs);
    let words: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        words,
        [
            "--state-machine=orders",
            "--alias=prod",
            "--resume",
            "--wave=us-east-1",
            "--wave=eu-west-1,eu-central-1@arn:aws:iam::111111111111:role/deploy",
            "--wave-bake=2h",
            "--blocker-wait=30m",
            "--on-wave-failure=current",
            "--stop-after-wave=1",
            "--region=us-east-1",
        ]
    );
    reaches_aws(&inputs);
    // rollback takes the waves too, and refuses a deploy's wave inputs.
    inputs.insert("command", "rollback");
    inputs.remove("resume");
    let (code, _, stderr) = run_script(stub.to_str().unwrap(), &inputs);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("input wave-bake does not apply to command rollback"), "{stderr}");
    let only: BTreeMap<&str, &str> = [
        ("command", "rollback"),
        ("state-machine", "orders"),
        ("alias", "prod"),
        ("wave", "us-east-1\neu-west-1"),
    ]
    .into();
    let stdout = words_for(&stub, &only);
    let words: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        words,
        ["rollback", "--state-machine=orders", "--alias=prod", "--wave=us-east-1", "--wave=eu-west-1"]
    );
}

#[test]
fn a_ref_without_a_release_binary_is_built_from_source_with_a_cache_key() {
    let dir = folder("action-install");
    let outputs = dir.join("outputs");
    let _ = std::fs::remove_file(&outputs);
    let status = Command::new("bash")
        .arg(root().join("action/install.sh"))
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_ACTION_PATH", root())
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", &dir)
        .env("SFNDEPLOY_REF", "3d3c42e5aac5ba805825da76410c181273ba90b1")
        .env("SFNDEPLOY_REPOSITORY", "example/sfndeploy")
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&outputs).unwrap();
    let get =
        |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_default().to_string();
    assert_eq!(get("build"), "true", "{text}");
    assert!(get("cache-key").starts_with("sfndeploy-Linux-X64-3d3c42e5"), "{text}");
    assert!(get("bin").ends_with("/bin/sfndeploy") && get("bin").starts_with(&get("root")), "{text}");
}

#[test]
fn release_assets_are_named_as_the_action_and_cargo_binstall_look_for_them() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let (release, install, cargo) =
        (read(".github/workflows/release.yml"), read("action/install.sh"), read("Cargo.toml"));
    assert!(release.contains(r#"name="sfndeploy-$GITHUB_REF_NAME-$TARGET.tar.gz""#), "release.yml");
    assert!(release.contains(r#"sha256sum "$name" > "$name.sha256""#), "release.yml writes a .sha256");
    assert!(
        install.contains("name=sfndeploy-$ref-$target.tar.gz") && install.contains("$url.sha256"),
        "install.sh"
    );
    assert!(cargo.contains(
        r#"pkg-url = "{ repo }/releases/download/v{ version }/{ name }-v{ version }-{ target }.tar.gz""#
    ));
    for target in [
        "x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "x86_64-apple-darwin",
        "aarch64-apple-darwin", "x86_64-pc-windows-msvc",
    ] {
        assert!(release.contains(&format!("target: {target},")), "release.yml builds {target}");
        assert!(install.contains(&format!("target={target} ")), "install.sh knows {target}");
    }
}
