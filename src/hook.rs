//! Lifecycle hooks: a command of the team's own, run through the shell before any traffic moves
//! to the new version (`--pre-traffic-hook`) or once it has all of it (`--post-traffic-hook`).
//! Its output goes to stderr line by line, prefixed; it is cut at `--hook-timeout`, or by a
//! signal to sfndeploy, with its whole process group.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::arn::{last_segment, state_machine_of};
use crate::label::Label;
use crate::report::progress;
use crate::signals::{Signal, Signals};
use crate::text::human;

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    PreTraffic,
    PostTraffic,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::PreTraffic => "pre-traffic",
            HookKind::PostTraffic => "post-traffic",
        }
    }
}

/// What a hook is told, in its environment (README "Hooks").
#[derive(Clone, Debug)]
pub struct HookContext {
    pub kind: HookKind,
    /// The alias's ARN: it names the state machine and the alias too.
    pub alias_arn: String,
    pub new_version: String,
    /// None when the alias is created by this deploy.
    pub old_version: Option<String>,
    /// The new version's weight now, in percent.
    pub weight: u8,
    /// The member it runs for: in a release of several, the prefix of its output lines names it.
    pub label: Label,
}

impl HookContext {
    /// The one way a hook's context is made: `kind` for the alias `alias_arn` moving from
    /// `old` (none for a new alias) to `new`, at `weight`% now, for member `label`.
    pub fn new(
        kind: HookKind,
        alias_arn: &str,
        (old, new): (Option<&str>, &str),
        weight: u8,
        label: &Label,
    ) -> Self {
        HookContext {
            kind,
            alias_arn: alias_arn.to_string(),
            new_version: new.to_string(),
            old_version: old.map(str::to_string),
            weight,
            label: label.clone(),
        }
    }

    /// The variables the command gets, besides sfndeploy's own environment.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SFNDEPLOY_HOOK", self.kind.name().to_string()),
            ("SFNDEPLOY_HOOK_STATE_MACHINE", state_machine_of(&self.alias_arn).to_string()),
            ("SFNDEPLOY_HOOK_ALIAS", last_segment(&self.alias_arn).to_string()),
            ("SFNDEPLOY_HOOK_ALIAS_ARN", self.alias_arn.clone()),
            ("SFNDEPLOY_HOOK_NEW_VERSION", self.new_version.clone()),
            ("SFNDEPLOY_HOOK_OLD_VERSION", self.old_version.clone().unwrap_or_default()),
            ("SFNDEPLOY_HOOK_WEIGHT", self.weight.to_string()),
        ]
    }

    fn prefix(&self) -> String {
        if self.label.shown() {
            format!("[{} {} hook]", self.label, self.kind.name())
        } else {
            format!("[{} hook]", self.kind.name())
        }
    }
}

/// How a hook ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookEnd {
    /// It exited with this status (0: it passed).
    Exited(i32),
    /// A signal ended it (not ours).
    Killed,
    /// It ran past `--hook-timeout`: its process group was killed.
    TimedOut,
    /// A signal to sfndeploy stopped it: its process group was killed.
    Stopped(Signal),
}

impl HookEnd {
    pub fn passed(&self) -> bool {
        *self == HookEnd::Exited(0)
    }

    /// `exit status 3`, `timed out after 10m`...: for messages.
    pub fn describe(&self, took: Duration) -> String {
        match self {
            HookEnd::Exited(code) => format!("exit status {code} after {}", human(took)),
            HookEnd::Killed => format!("killed by a signal after {}", human(took)),
            HookEnd::TimedOut => format!("timed out after {} (--hook-timeout): killed", human(took)),
            HookEnd::Stopped(signal) => format!("stopped by {} after {}", signal.name(), human(took)),
        }
    }

    /// The exit status for the `hook_finished` event: the command's, or none.
    pub fn status(&self) -> Option<i32> {
        match self {
            HookEnd::Exited(code) => Some(*code),
            _ => None,
        }
    }
}

/// Runs `command` through the shell with `context` in its environment, until it ends, `timeout`
/// passes, or a signal comes. Err only when it could not be started.
pub async fn run(
    command: &str,
    context: &HookContext,
    timeout: Duration,
    signals: &mut Signals,
) -> Result<(HookEnd, Duration)> {
    let began = Instant::now();
    let mut child = shell(command)
        .envs(context.variables())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start the {} hook `{command}`", context.kind.name()))?;
    let prefix = context.prefix();
    let out = child.stdout.take().map(|s| tokio::spawn(stream(s, prefix.clone())));
    let err = child.stderr.take().map(|s| tokio::spawn(stream(s, prefix)));
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => status.code().map_or(HookEnd::Killed, HookEnd::Exited),
            Err(_) => HookEnd::Killed,
        },
        _ = tokio::time::sleep(timeout) => {
            kill_group(&mut child).await;
            HookEnd::TimedOut
        }
        s = signals.next() => {
            kill_group(&mut child).await;
            HookEnd::Stopped(s)
        }
    };
    // The rest of its output, if its pipes close soon (a grandchild may keep them open).
    for task in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    Ok((end, began.elapsed()))
}

#[cfg(unix)]
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    // Its own process group, so that a timeout or a signal ends everything it started.
    cmd.process_group(0);
    cmd
}

#[cfg(not(unix))]
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("cmd");
    cmd.arg("/C").arg(command);
    cmd
}

/// Ends the hook and everything it started: SIGTERM to its process group, SIGKILL 2 s later if
/// anything is left.
#[cfg(unix)]
async fn kill_group(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    signal_group(pid, "TERM").await;
    if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
        signal_group(pid, "KILL").await;
        let _ = child.wait().await;
    } else {
        // What it started may outlive it.
        signal_group(pid, "KILL").await;
    }
}

/// `kill -s SIGNAL -- -PGID`, through the shell's own `kill` (no unsafe code for kill(2)).
#[cfg(unix)]
async fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -s {signal} -- -{pgid} 2>/dev/null"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[cfg(not(unix))]
async fn kill_group(child: &mut Child) {
    let _ = child.kill().await;
}

/// Writes each line the hook prints to stderr, after `prefix`.
async fn stream(pipe: impl AsyncRead + Unpin, prefix: String) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        progress::print_line(&format!("{prefix} {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> HookContext {
        HookContext {
            kind: HookKind::PreTraffic,
            alias_arn: "arn:aws:states:us-east-1:1:stateMachine:orders:prod".into(),
            new_version: "arn:aws:states:us-east-1:1:stateMachine:orders:7".into(),
            old_version: Some("arn:aws:states:us-east-1:1:stateMachine:orders:6".into()),
            weight: 0,
            label: Label::default(),
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hook_sees_its_values_and_its_exit_status_counts() {
        let dir = std::env::temp_dir().join(format!("sfndeploy-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let seen = dir.join("seen");
        let command = format!(
            "echo \"$SFNDEPLOY_HOOK $SFNDEPLOY_HOOK_NEW_VERSION $SFNDEPLOY_HOOK_OLD_VERSION $SFNDEPLOY_HOOK_WEIGHT\" > '{}'; exit 3",
            seen.display()
        );
        let (end, _) =
            run(&command, &context(), Duration::from_secs(10), &mut Signals::manual().0).await.unwrap();
        assert_eq!(end, HookEnd::Exited(3));
        assert!(!end.passed());
        let text = std::fs::read_to_string(&seen).unwrap();
        assert_eq!(
            text.trim(),
            "pre-traffic arn:aws:states:us-east-1:1:stateMachine:orders:7 arn:aws:states:us-east-1:1:stateMachine:orders:6 0"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("sfndeploy-hook-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        // The hook starts a grandchild that would outlive a kill of the shell alone.
        let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let (end, took) =
            run(&command, &context(), Duration::from_millis(500), &mut Signals::manual().0).await.unwrap();
        assert_eq!(end, HookEnd::TimedOut);
        assert!(took < Duration::from_secs(5), "{took:?}");
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // Gone, or a zombie waiting for init to reap it.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        for _ in 0..20 {
            if !alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!alive(), "the grandchild {pid} is gone too");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_signal_to_sfndeploy_ends_the_hook() {
        let (mut signals, sender) = Signals::manual();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sender.send(Signal::Terminate);
        });
        let (end, took) = run("sleep 30", &context(), Duration::from_secs(60), &mut signals).await.unwrap();
        assert_eq!(end, HookEnd::Stopped(Signal::Terminate));
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
