//! Command lines printed for a person to run next: continue a paused or interrupted deploy
//! (`--resume`), roll it back (`sfndeploy rollback`), or put an alias back with the AWS CLI.
//! Every word is quoted for a POSIX shell.

use crate::arn::version_number;
use crate::aws::AwsFlags;
use crate::routing::Routing;
use crate::text::{quote, shell_line};

/// The command line that continues this deploy: the same arguments without `--pause-at`, with
/// `--resume`. `argv` is the command line as run (program name first); when it is empty (an
/// in-process test, or `status`) the command names only the target.
pub fn resume(argv: &[String], state_machine: &str, alias: &str, flags: &AwsFlags) -> String {
    let mut words: Vec<String> = vec!["sfndeploy".into()];
    if argv.len() > 1 {
        let mut args = argv[1..].iter();
        while let Some(arg) = args.next() {
            if arg == "--" {
                break;
            }
            let name = arg.split('=').next().unwrap_or_default();
            // clap accepts unambiguous prefixes (`--pause`); `--pa` is the shortest one.
            if name.len() >= 4 && "--pause-at".starts_with(name) {
                if !arg.contains('=') {
                    args.next();
                }
                continue;
            }
            if name.len() >= 5 && "--resume".starts_with(name) {
                continue;
            }
            words.push(arg.clone());
        }
    } else {
        words.extend(["--state-machine".into(), state_machine.into(), "--alias".into(), alias.into()]);
        words.extend(flags.words());
    }
    words.push("--resume".into());
    shell_line(&words)
}

/// `sfndeploy rollback` to route all traffic to `to_version` (an ARN).
pub fn rollback(state_machine: &str, alias: &str, to_version: &str, flags: &AwsFlags) -> String {
    let number = version_number(to_version).map_or(to_version.to_string(), |n| n.to_string());
    let mut words: Vec<String> = [
        "sfndeploy", "rollback", "--state-machine", state_machine, "--alias", alias, "--to-version", &number,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    words.extend(flags.words());
    shell_line(&words)
}

/// `sfndeploy rollback` for every member of a release (in each of `waves`, `--wave` as given):
/// each split alias goes back to its older version.
pub fn rollback_release(state_machines: &[&str], alias: &str, waves: &[String], flags: &AwsFlags) -> String {
    on_target("rollback", state_machines, alias, &wave_words(waves), flags)
}

/// `--wave W` for each wave.
fn wave_words(waves: &[String]) -> Vec<String> {
    waves.iter().flat_map(|w| ["--wave".to_string(), w.clone()]).collect()
}

/// `sfndeploy promote` for these state machines (a release's members together, in each of
/// `waves`), reading `alarms` once before it changes anything.
pub fn promote(
    state_machines: &[&str],
    alias: &str,
    alarms: &[String],
    waves: &[String],
    flags: &AwsFlags,
) -> String {
    let mut extra: Vec<String> = wave_words(waves);
    if !alarms.is_empty() {
        extra.push("--alarms".into());
        extra.extend(alarms.iter().cloned());
    }
    on_target("promote", state_machines, alias, &extra, flags)
}

/// `sfndeploy SUBCOMMAND --state-machine ... --alias ALIAS EXTRA... FLAGS...`
fn on_target(
    subcommand: &str,
    state_machines: &[&str],
    alias: &str,
    extra: &[String],
    flags: &AwsFlags,
) -> String {
    let mut words: Vec<String> = vec!["sfndeploy".into(), subcommand.into()];
    for sm in state_machines {
        words.extend(["--state-machine".into(), sm.to_string()]);
    }
    words.extend(["--alias".into(), alias.into()]);
    words.extend(extra.iter().cloned());
    words.extend(flags.words());
    shell_line(&words)
}

/// The AWS CLI command that puts `routing` back on the alias, for messages when we cannot.
pub fn restore(alias_arn: &str, routing: &Routing, flags: &AwsFlags) -> String {
    format!(
        "aws stepfunctions update-state-machine-alias {flags} --state-machine-alias-arn {} \
         --routing-configuration {}",
        quote(alias_arn),
        quote(&routing.to_cli_json())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    fn region(r: &str) -> AwsFlags {
        AwsFlags { region: Some(r.into()), ..AwsFlags::default() }
    }

    #[test]
    fn resume_drops_pause_at_in_every_spelling_and_adds_resume() {
        for line in [
            &["/usr/bin/sfndeploy", "--state-machine", "orders", "--alias=prod", "--pause-at", "50"][..],
            &["sfndeploy", "--state-machine", "orders", "--alias=prod", "--pause-at=50"],
            &["sfndeploy", "--state-machine", "orders", "--pause", "50", "--alias=prod"],
            &["sfndeploy", "--state-machine", "orders", "--alias=prod", "--resume", "--pause-at", "50"],
        ] {
            assert_eq!(
                resume(&argv(line), "x", "y", &AwsFlags::default()),
                "sfndeploy --state-machine orders --alias=prod --resume",
                "{line:?}"
            );
        }
        let with_spaces =
            argv(&["sfndeploy", "deploy", "--alarms", "it's down", "errors", "--pause-at", "5"]);
        assert_eq!(
            resume(&with_spaces, "x", "y", &AwsFlags::default()),
            r"sfndeploy deploy --alarms 'it'\''s down' errors --resume"
        );
        assert_eq!(
            resume(&[], "orders", "prod", &region("eu-west-1")),
            "sfndeploy --state-machine orders --alias prod --region eu-west-1 --resume"
        );
    }

    #[test]
    fn rollback_names_the_version_number() {
        assert_eq!(
            rollback(
                "orders",
                "prod",
                "arn:aws:states:us-east-1:1:stateMachine:orders:6",
                &AwsFlags::default()
            ),
            "sfndeploy rollback --state-machine orders --alias prod --to-version 6"
        );
    }

    const OLD: &str = "arn:aws:states:us-east-1:1:stateMachine:sm:3";
    const NEW: &str = "arn:aws:states:us-east-1:1:stateMachine:sm:4";

    #[test]
    fn restore_command_is_valid_cli_json() {
        let cmd = restore(
            "arn:aws:states:us-east-1:1:stateMachine:sm:prod",
            &Routing::single(OLD),
            &region("us-east-1"),
        );
        assert_eq!(
            cmd,
            "aws stepfunctions update-state-machine-alias --region us-east-1 \
             --state-machine-alias-arn arn:aws:states:us-east-1:1:stateMachine:sm:prod \
             --routing-configuration '[{\"stateMachineVersionArn\":\"arn:aws:states:us-east-1:1:stateMachine:sm:3\",\"weight\":100}]'"
        );
        // The quoted argument is the JSON the AWS CLI takes, for one entry or two.
        for routing in [Routing::single(OLD), Routing::shifted(OLD, NEW, 30)] {
            let cmd = restore("arn:aws:states:us-east-1:1:stateMachine:sm:prod", &routing, &region("x"));
            let json = cmd.split('\'').nth(1).expect("a quoted routing");
            let parsed: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
            let entries: Vec<(String, u64)> = parsed
                .as_array()
                .expect("a list")
                .iter()
                .map(|e| {
                    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
                    assert_eq!(keys, ["stateMachineVersionArn", "weight"], "the API's own field names");
                    (e["stateMachineVersionArn"].as_str().unwrap().to_string(), e["weight"].as_u64().unwrap())
                })
                .collect();
            let expected: Vec<(String, u64)> =
                routing.entries().iter().map(|(a, w)| (a.clone(), u64::from(*w))).collect();
            assert_eq!(entries, expected);
        }
        let flags = AwsFlags {
            region: Some("eu-west-1".into()),
            profile: Some("prod admin".into()),
            endpoint_url: Some("http://127.0.0.1:4566".into()),
        };
        assert_eq!(
            flags.to_string(),
            "--region eu-west-1 --profile 'prod admin' --endpoint-url http://127.0.0.1:4566"
        );
    }
}

#[cfg(test)]
mod shell_tests {
    use super::*;

    /// Names on AWS may hold `'`, `(`, `)` and `!` (the emulator refuses them): the printed
    /// commands must still read back, word for word, in a POSIX shell.
    #[test]
    fn printed_commands_read_back_word_for_word_in_a_shell() {
        let sm = "arn:aws:states:us-east-1:1:stateMachine:o'rders(eu)!";
        let alias_arn = format!("{sm}:pr'od!");
        let (old, new) = (format!("{sm}:3"), format!("{sm}:4"));
        let flags = AwsFlags {
            region: Some("us-east-1".into()),
            profile: Some("it's (mine)".into()),
            endpoint_url: None,
        };
        for routing in [Routing::single(&old), Routing::shifted(&old, &new, 30)] {
            let line = restore(&alias_arn, &routing, &flags);
            let words = shell_words::split(&line).expect("a shell reads it");
            assert_eq!(
                words[..8],
                [
                    "aws", "stepfunctions", "update-state-machine-alias", "--region", "us-east-1",
                    "--profile", "it's (mine)", "--state-machine-alias-arn"
                ]
            );
            assert_eq!(words[8], alias_arn);
            assert_eq!(words[9], "--routing-configuration");
            let parsed: serde_json::Value = serde_json::from_str(&words[10]).expect("JSON");
            let entries: Vec<(String, u64)> = parsed
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (e["stateMachineVersionArn"].as_str().unwrap().to_string(), e["weight"].as_u64().unwrap())
                })
                .collect();
            let expected: Vec<(String, u64)> =
                routing.entries().iter().map(|(a, w)| (a.clone(), u64::from(*w))).collect();
            assert_eq!(entries, expected);
        }
        let words = shell_words::split(&rollback(sm, "pr'od!", &old, &flags)).unwrap();
        assert_eq!(words[..6], ["sfndeploy", "rollback", "--state-machine", sm, "--alias", "pr'od!"]);
        let words = shell_words::split(&resume(&[], sm, "pr'od!", &flags)).unwrap();
        assert_eq!(words[1..5], ["--state-machine", sm, "--alias", "pr'od!"]);
    }
}
