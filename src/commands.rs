//! The sfndeploy command lines printed for a person to run next: continue a paused or
//! interrupted deploy (`--resume`), or roll it back.

use crate::cli::GlobalArgs;

/// How the user reached AWS, as flags to repeat in a printed command: `--region`, `--profile`
/// and `--endpoint-url` when this run had them.
pub fn global_flags(global: &GlobalArgs) -> Vec<String> {
    let mut flags = Vec::new();
    for (flag, value) in [
        ("--region", &global.region),
        ("--profile", &global.profile),
        ("--endpoint-url", &global.endpoint_url),
    ] {
        if let Some(v) = value {
            flags.push(flag.to_string());
            flags.push(v.clone());
        }
    }
    flags
}

/// The command line that continues this deploy: the same arguments without `--pause-at`, with
/// `--resume`. `argv` is the command line as run (program name first); when it is empty (an
/// in-process test) the command names only the target.
pub fn resume_command(argv: &[String], state_machine: &str, alias: &str, global: &[String]) -> String {
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
        words.extend(global.iter().cloned());
    }
    words.push("--resume".into());
    join(&words)
}

/// `sfndeploy rollback` to route all traffic to `to_version` (an ARN).
pub fn rollback_command(state_machine: &str, alias: &str, to_version: &str, global: &[String]) -> String {
    let number = crate::alias::version_number(to_version).map_or(to_version.to_string(), |n| n.to_string());
    let mut words: Vec<String> =
        ["sfndeploy", "rollback", "--state-machine", state_machine, "--alias", alias]
            .iter()
            .map(|s| s.to_string())
            .collect();
    words.extend(["--to-version".into(), number]);
    words.extend(global.iter().cloned());
    join(&words)
}

fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// A word as a POSIX shell reads it back unchanged.
pub fn quote(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
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
                resume_command(&argv(line), "x", "y", &[]),
                "sfndeploy --state-machine orders --alias=prod --resume",
                "{line:?}"
            );
        }
        let with_spaces =
            argv(&["sfndeploy", "deploy", "--alarms", "it's down", "errors", "--pause-at", "5"]);
        assert_eq!(
            resume_command(&with_spaces, "x", "y", &[]),
            r"sfndeploy deploy --alarms 'it'\''s down' errors --resume"
        );
        assert_eq!(
            resume_command(&[], "orders", "prod", &argv(&["--region", "eu-west-1"])),
            "sfndeploy --state-machine orders --alias prod --region eu-west-1 --resume"
        );
    }

    #[test]
    fn rollback_names_the_version_number() {
        assert_eq!(
            rollback_command("orders", "prod", "arn:aws:states:us-east-1:1:stateMachine:orders:6", &[]),
            "sfndeploy rollback --state-machine orders --alias prod --to-version 6"
        );
        assert_eq!(quote(""), "''");
    }
}
