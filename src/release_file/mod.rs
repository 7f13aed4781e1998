//! The release file (`--config sfndeploy.toml`, or `SFNDEPLOY_CONFIG`): TOML whose keys are the
//! flags' long names (`strategy = "canary"`, `interval = "5m"`, `max-failure-rate = 5`), with
//! `[[state-machine]]` tables for the members (`name`, `file`, `alarms`, `substitutions`). Paths
//! in it are relative to it. It ranks below the command line and the `SFNDEPLOY_*` variables and
//! above the defaults, as the AWS CLI's config file does: its values become the defaults of the
//! flags clap reads a variable of, and, for the others, a layer under the process's variables.
//! The whole file is checked before any AWS call; a mistake is one sentence naming the file,
//! the line and the column. [`schema`] describes it as JSON Schema, from the same flags.
//! [`parse_process`] parses the command line with it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

use crate::cli::Cli;

mod schema;
pub use schema::schema;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The variables read by sfndeploy's own code rather than by clap (switches with a `--no-`
/// pair or a yes/no value, lists with their own separators): the file's values for these go
/// under the process's variables, so that a variable still wins over the file.
const READ_BY_HAND: [&str; 15] = [
    "alarms", "allow-firing", "window", "freeze", "substitution", "force", "publish-revision", "dry-run",
    "resume", "rerun-failed", "rerun-aborted", "window-wait", "quiet", "verbose", "wave",
];

/// Flags that are not settings of a release: what a file may not say.
const NOT_IN_A_FILE: [&str; 5] = ["help", "version", "config", "no-force", "no-publish-revision"];

/// Keys whose values are paths, taken relative to the file.
const PATHS: [&str; 2] = ["file", "smoke-input"];

/// A release file, checked.
#[derive(Clone, Debug, Default)]
pub struct ReleaseFile {
    pub path: PathBuf,
    /// For the flags read by hand: the value as its `SFNDEPLOY_*` variable would carry it (a
    /// list one item per line).
    vars: Vec<(String, String)>,
    /// For the flags clap reads a variable of: their values, as defaults.
    defaults: Vec<(String, Vec<String>)>,
    /// Each `[[state-machine]]`'s own substitutions, by name.
    pub member_substitutions: Vec<(String, Vec<(String, String)>)>,
}

/// Where a value was in the file: for messages.
struct Place<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    /// `sfndeploy.toml:12:3: what`
    fn say(&self, span: std::ops::Range<usize>, what: impl std::fmt::Display) -> String {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{column}: {what}", self.path.display())
    }
}

/// The process's command line (read as `OsString`s: an argument that is not UTF-8 is a usage
/// error, never a panic), its `SFNDEPLOY_*` variables (an empty one counting as unset: CI passes
/// inputs left out as ""), and the release file it names, if any. A mistake prints clap's
/// message, or the file's, and exits 2.
pub fn parse_process() -> (Cli, Option<ReleaseFile>) {
    let empty = |name: &OsStr| std::env::var_os(name).is_some_and(|v| v.is_empty());
    match parse(std::env::args_os(), &empty) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    }
}

/// Parses `args` as [`Cli::parse_with`] does, with the release file they (or the variable
/// `SFNDEPLOY_CONFIG`) name giving the defaults.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    empty: &dyn Fn(&OsStr) -> bool,
) -> Result<(Cli, Option<ReleaseFile>), clap::Error> {
    let mut loaded: Option<ReleaseFile> = None;
    let var = |name: &str| std::env::var(name).ok().filter(|_| !empty(OsStr::new(name)));
    let mut prepare = |args: &[OsString], cmd: Command| -> Result<Command, clap::Error> {
        let Some(path) = config_path(args, &var) else { return Ok(cmd) };
        let file = ReleaseFile::load(&path, &cmd).map_err(|message| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{message}\n"))
        })?;
        let cmd = file.apply(cmd);
        loaded = Some(file);
        Ok(cmd)
    };
    let cli = Cli::parse_with(args, empty, &mut prepare)?;
    Ok((cli, loaded))
}

/// The file `--config` or `SFNDEPLOY_CONFIG` names, if either does: `--config` must be given
/// whole (`--config PATH` or `--config=PATH`).
pub fn config_path(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        let word = word.to_string_lossy();
        if word == "--" {
            break;
        }
        if word == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(path) = word.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    env("SFNDEPLOY_CONFIG").filter(|p| !p.trim().is_empty()).map(PathBuf::from)
}

impl ReleaseFile {
    /// Reads and checks the file against the flags of a deploy (`deploy`: the whole command,
    /// whose own flags are the deploy's and the global ones).
    pub fn load(path: &Path, deploy: &Command) -> Result<ReleaseFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
        let place = Place { path, text: &text };
        let table = DeTable::parse(&text).map_err(|e| match e.span() {
            Some(span) => place.say(span, format!("not valid TOML: {}", e.message().trim())),
            None => format!("{}: not valid TOML: {}", path.display(), e.message().trim()),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut file = ReleaseFile { path: path.to_path_buf(), ..Default::default() };
        let mut members: Vec<(String, Option<String>)> = Vec::new();
        let mut spans: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        let mut member_alarms: Vec<String> = Vec::new();
        for (key, value) in table.get_ref() {
            let name = key.get_ref().as_ref();
            if name == "state-machine"
                && let DeValue::Array(items) = value.get_ref()
                && items.iter().any(|i| matches!(i.get_ref(), DeValue::Table(_)))
            {
                for item in items {
                    let member = member(item, &place, &base)?;
                    member_alarms.extend(member.alarms);
                    file.member_substitutions.push((member.name.clone(), member.substitutions));
                    members.push((member.name, member.file));
                }
                continue;
            }
            if name == "wave"
                && let DeValue::Array(items) = value.get_ref()
                && items.iter().any(|i| matches!(i.get_ref(), DeValue::Table(_)))
            {
                let waves = items.iter().map(|i| wave(i, &place)).collect::<Result<Vec<_>, _>>()?;
                file.vars.push(("SFNDEPLOY_WAVE".into(), waves.join("\n")));
                continue;
            }
            let arg = flag(deploy, name).ok_or_else(|| place.say(key.span(), unknown(deploy, name)))?;
            let mut values = values(arg, value, &place)?;
            if PATHS.contains(&name) {
                values = values.into_iter().map(|v| base.join(v).display().to_string()).collect();
            }
            check(arg, &values).map_err(|e| place.say(value.span(), e))?;
            spans.push((name.to_string(), value.span()));
            file.set(arg, values);
        }
        if !members.is_empty() {
            let files: Vec<&String> = members.iter().filter_map(|(_, f)| f.as_ref()).collect();
            if !files.is_empty() && files.len() != members.len() {
                return Err(format!(
                    "{}: some [[state-machine]] tables have a file and others not: give each one, or none",
                    path.display()
                ));
            }
            let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
            file.defaults.retain(|(k, _)| k != "state-machine" && k != "file");
            file.defaults.push(("state-machine".into(), names));
            if !files.is_empty() {
                file.defaults.push(("file".into(), files.into_iter().cloned().collect()));
            }
            if !member_alarms.is_empty() {
                let mut all: Vec<String> = file
                    .var("SFNDEPLOY_ALARMS")
                    .map(|v| v.lines().map(String::from).collect())
                    .unwrap_or_default();
                all.extend(member_alarms);
                file.vars.retain(|(k, _)| k != "SFNDEPLOY_ALARMS");
                file.vars.push(("SFNDEPLOY_ALARMS".into(), all.join("\n")));
            }
        }
        file.probe(deploy).map_err(|(key, e)| match spans.iter().find(|(k, _)| *k == key) {
            Some((_, span)) => place.say(span.clone(), e),
            None => format!("{}: {e}", path.display()),
        })?;
        Ok(file)
    }

    /// Reads every default the file gives through its flag's own parser, as a command line with
    /// no flag and no variable would: Err((key, what is wrong)).
    fn probe(&self, root: &Command) -> Result<(), (String, String)> {
        let bare = root.clone().mut_args(|a| a.env(None).required(false));
        let bare = self.defaults.iter().fold(bare, |cmd, (long, values)| with_default(cmd, long, values));
        let Err(e) = bare.try_get_matches_from(["sfndeploy"]) else { return Ok(()) };
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        let key = first
            .split("'--")
            .nth(1)
            .and_then(|rest| rest.split([' ', '\'']).next())
            .unwrap_or_default()
            .to_string();
        Err((key.clone(), first.replace(&format!("'--{key}"), &format!("'{key}"))))
    }

    fn set(&mut self, arg: &Arg, values: Vec<String>) {
        let long = arg.get_long().unwrap_or_default().to_string();
        if READ_BY_HAND.contains(&long.as_str()) {
            let var = format!("SFNDEPLOY_{}", long.to_uppercase().replace('-', "_"));
            self.vars.push((var, values.join("\n")));
        } else {
            self.defaults.push((long, values));
        }
    }

    /// The file's value for a variable read by hand, as the variable would carry it.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// `cmd` with the file's values as the defaults of its flags (and of its subcommands' that
    /// share them), so that the command line and the variables clap reads still win.
    pub fn apply(&self, cmd: Command) -> Command {
        let cmd = self.defaults.iter().fold(cmd, |cmd, (long, values)| with_default(cmd, long, values));
        let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        names.iter().fold(cmd, |cmd, name| {
            cmd.mut_subcommand(name, |sub| {
                self.defaults.iter().fold(sub, |sub, (long, values)| with_default(sub, long, values))
            })
        })
    }
}

/// `cmd` with `values` as the default of its flag `--long`, if it has one (no longer required:
/// the file gives it).
fn with_default(cmd: Command, long: &str, values: &[String]) -> Command {
    let Some(id) = cmd.get_arguments().find(|a| a.get_long() == Some(long)).map(|a| a.get_id().clone())
    else {
        return cmd;
    };
    let values: Vec<clap::builder::OsStr> =
        values.iter().map(|v| clap::builder::OsStr::from(clap::builder::Str::from(v.clone()))).collect();
    cmd.mut_arg(id, |arg| arg.required(false).default_values(values))
}

/// The deploy flag `--name`, if it may be in a file.
fn flag<'c>(deploy: &'c Command, name: &str) -> Option<&'c Arg> {
    if NOT_IN_A_FILE.contains(&name) {
        return None;
    }
    deploy.get_arguments().find(|a| a.get_long() == Some(name) && !a.is_hide_set())
}

/// `unknown key 'intervall' (did you mean 'interval'?)`
fn unknown(deploy: &Command, name: &str) -> String {
    let close = deploy
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !NOT_IN_A_FILE.contains(l))
        .map(|l| (distance(l, name), l))
        .min();
    match (name, close) {
        ("no-force" | "no-publish-revision", _) => {
            format!("'{name}' is not a key: say {} = false", name.trim_start_matches("no-"))
        }
        (_, Some((d, l))) if d <= 2 => format!("unknown key '{name}' (did you mean '{l}'?)"),
        _ => format!("unknown key '{name}': keys are the flags' long names (sfndeploy --help)"),
    }
}

/// Edit distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            previous = here;
        }
    }
    row[b.len()]
}

/// Whether `arg` takes several values.
fn many(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
        || arg.get_value_delimiter().is_some()
}

/// The value(s) a key gives, as the command line would: a switch takes a boolean, `verbose` a
/// count, a list an array (or one value), the rest one string or number.
fn values(arg: &Arg, value: &Spanned<DeValue<'_>>, place: &Place<'_>) -> Result<Vec<String>, String> {
    let long = arg.get_long().unwrap_or_default();
    let scalar = |v: &DeValue<'_>| match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => Some(i.as_str().to_string()),
        DeValue::Float(f) => Some(f.as_str().to_string()),
        _ => None,
    };
    match (arg.get_action(), value.get_ref()) {
        (ArgAction::SetTrue, DeValue::Boolean(b)) => Ok(vec![b.to_string()]),
        (ArgAction::SetTrue, _) => Err(place.say(value.span(), format!("{long} is a switch: true or false"))),
        (ArgAction::Count, DeValue::Integer(i)) => Ok(vec![i.as_str().to_string()]),
        (_, DeValue::Array(items)) if many(arg) => items
            .iter()
            .map(|i| scalar(i.get_ref()).ok_or_else(|| place.say(i.span(), format!("{long} takes strings"))))
            .collect(),
        (_, DeValue::Array(_)) => Err(place.say(value.span(), format!("{long} takes one value, not a list"))),
        (_, v) => scalar(v).map(|s| vec![s]).ok_or_else(|| {
            place.say(
                value.span(),
                format!(
                    "{long} takes {}",
                    if many(arg) { "a list of strings" } else { "a string or a number" }
                ),
            )
        }),
    }
}

/// The windows, freezes, substitutions and alarm names as sfndeploy reads them (the other values
/// are read by their flags' own parsers: see [`ReleaseFile::probe`]).
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    let long = arg.get_long().unwrap_or_default();
    for v in values {
        match long {
            "window" => crate::window::Window::parse(v).map(|_| ())?,
            "freeze" => crate::window::Freeze::parse(v).map(|_| ())?,
            "substitution" => match v.split_once('=') {
                Some((name, _)) if crate::substitute::valid_name(name) => {}
                _ => return Err(format!("substitution '{v}': use NAME=VALUE")),
            },
            "alarms" | "allow-firing" if v.trim().is_empty() => {
                return Err(format!("{long}: an empty alarm name"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// One `[[wave]]` table (`targets = ["us-east-1", "eu-west-1@arn:..."]`): its targets as
/// `--wave` takes them, each checked.
fn wave(item: &Spanned<DeValue<'_>>, place: &Place<'_>) -> Result<String, String> {
    let DeValue::Table(table) = item.get_ref() else {
        return Err(place.say(item.span(), "each [[wave]] is a table: targets = [\"us-east-1\", ...]"));
    };
    let mut targets = Vec::new();
    for (key, value) in table {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("targets", DeValue::Array(items)) => {
                for item in items {
                    let DeValue::String(text) = item.get_ref() else {
                        return Err(
                            place.say(item.span(), "each target is a string: a region, or REGION@ROLE_ARN")
                        );
                    };
                    crate::place::Place::parse(text).map_err(|e| place.say(item.span(), e))?;
                    targets.push(text.to_string());
                }
            }
            ("targets", _) => return Err(place.say(value.span(), "targets is a list: [\"us-east-1\", ...]")),
            (other, _) => {
                return Err(place.say(key.span(), format!("unknown key '{other}' in [[wave]]: targets")));
            }
        }
    }
    if targets.is_empty() {
        return Err(place.say(item.span(), "a [[wave]] needs targets"));
    }
    Ok(targets.join(","))
}

/// One `[[state-machine]]` table.
struct Member {
    name: String,
    file: Option<String>,
    alarms: Vec<String>,
    substitutions: Vec<(String, String)>,
}

fn member(item: &Spanned<DeValue<'_>>, place: &Place<'_>, base: &Path) -> Result<Member, String> {
    let DeValue::Table(table) = item.get_ref() else {
        return Err(
            place.say(item.span(), "each [[state-machine]] is a table (name, file, alarms, substitutions)")
        );
    };
    let mut m = Member { name: String::new(), file: None, alarms: Vec::new(), substitutions: Vec::new() };
    let string = |v: &Spanned<DeValue<'_>>, what: &str| match v.get_ref() {
        DeValue::String(s) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(place.say(v.span(), format!("{what} is a string"))),
    };
    for (key, value) in table {
        match key.get_ref().as_ref() {
            "name" => m.name = string(value, "name")?,
            "file" => m.file = Some(base.join(string(value, "file")?).display().to_string()),
            "alarms" => match value.get_ref() {
                DeValue::Array(items) => {
                    for i in items {
                        m.alarms.push(string(i, "each alarm")?);
                    }
                }
                _ => return Err(place.say(value.span(), "alarms is a list of names")),
            },
            "substitutions" => match value.get_ref() {
                DeValue::Table(subs) => {
                    for (name, v) in subs {
                        let n = name.get_ref().to_string();
                        if !crate::substitute::valid_name(&n) {
                            return Err(place.say(name.span(), format!("'{n}' is not a substitution name")));
                        }
                        m.substitutions.push((n, string(v, "a substitution's value")?));
                    }
                }
                _ => return Err(place.say(value.span(), "substitutions is a table: NAME = \"VALUE\"")),
            },
            other => {
                return Err(place.say(
                    key.span(),
                    format!("unknown key '{other}' in [[state-machine]]: name, file, alarms, substitutions"),
                ));
            }
        }
    }
    if m.name.is_empty() {
        return Err(place.say(item.span(), "a [[state-machine]] needs a name"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn load(name: &str, text: &str) -> Result<ReleaseFile, String> {
        let dir = std::env::temp_dir().join(format!("sfndeploy-file-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sfndeploy.toml");
        std::fs::write(&path, text).unwrap();
        ReleaseFile::load(&path, &Cli::command())
    }

    #[test]
    fn keys_are_the_flags_and_mistakes_say_where() {
        let ok = load(
            "ok",
            "alias = \"prod\"\nforce = true\nalarms = [\"a, b\", \"c\"]\nregion = \"eu-west-1\"\n",
        )
        .unwrap();
        assert_eq!(ok.var("SFNDEPLOY_FORCE").as_deref(), Some("true"));
        assert_eq!(ok.var("SFNDEPLOY_ALARMS").as_deref(), Some("a, b\nc"), "one per line: commas kept");
        for (text, said) in [
            ("strateg = \"canary\"\n", ":1:1: unknown key 'strateg' (did you mean 'strategy'?)"),
            ("no-force = true\n", ":1:1: 'no-force' is not a key: say force = false"),
            ("config = \"x\"\n", ":1:1: unknown key 'config'"),
            ("\n\ninterval = true\n", ":3:12: interval takes a string or a number"),
            ("confidence = 101\n", ":1:14: invalid value '101' for 'confidence"),
            ("[[state-machine]]\nfile = \"x.json\"\n", ":1:1: a [[state-machine]] needs a name"),
            (
                "[[state-machine]]\nname = \"a\"\nalarm = [\"x\"]\n",
                ":3:1: unknown key 'alarm' in [[state-machine]]",
            ),
        ] {
            let err = load("bad", text).unwrap_err();
            assert!(err.contains(said), "{text:?}: {err}");
        }
    }

    #[test]
    fn members_and_paths_come_from_the_tables() {
        let f = load(
            "members",
            "file = \"top.json\"\n[[state-machine]]\nname = \"a\"\nfile = \"sm/a.json\"\nalarms = [\"a-errors\"]\n\
             substitutions = { T = \"x\" }\n[[state-machine]]\nname = \"b\"\nfile = \"sm/b.yaml\"\n",
        )
        .unwrap();
        let dir = f.path.parent().unwrap();
        let get = |k: &str| f.defaults.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("state-machine").unwrap(), ["a", "b"]);
        assert_eq!(
            get("file").unwrap(),
            [dir.join("sm/a.json").display().to_string(), dir.join("sm/b.yaml").display().to_string()],
            "the members' files, relative to the file, over a top-level one"
        );
        assert_eq!(f.var("SFNDEPLOY_ALARMS").as_deref(), Some("a-errors"));
        assert_eq!(f.member_substitutions[0], ("a".to_string(), vec![("T".to_string(), "x".to_string())]));
        let half = load(
            "half",
            "[[state-machine]]\nname = \"a\"\nfile = \"a.json\"\n[[state-machine]]\nname = \"b\"\n",
        );
        assert!(half.unwrap_err().contains("give each one, or none"));
    }

    #[test]
    fn waves_come_from_wave_tables_or_strings() {
        let f = load(
            "waves",
            "wave-bake = \"2h\"\n[[wave]]\ntargets = [\"us-east-1\"]\n[[wave]]\n\
             targets = [\"eu-west-1\", \"eu-west-1@arn:aws:iam::111111111111:role/deploy\"]\n",
        )
        .unwrap();
        assert_eq!(
            f.var("SFNDEPLOY_WAVE").as_deref(),
            Some("us-east-1\neu-west-1,eu-west-1@arn:aws:iam::111111111111:role/deploy")
        );
        let plain = load("plain-waves", "wave = [\"us-east-1\", \"eu-west-1,us-west-2\"]\n").unwrap();
        assert_eq!(plain.var("SFNDEPLOY_WAVE").as_deref(), Some("us-east-1\neu-west-1,us-west-2"));
        for (text, said) in [
            ("[[wave]]\ntargets = [\"us-east-1\", \"nowhere\"]\n", ":2:25: 'nowhere' is not a wave target"),
            ("[[wave]]\nregions = [\"us-east-1\"]\n", ":2:1: unknown key 'regions' in [[wave]]: targets"),
            ("[[wave]]\n", ":1:1: a [[wave]] needs targets"),
        ] {
            let err = load("bad-wave", text).unwrap_err();
            assert!(err.contains(said), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_published_schema_is_the_flags_schema() {
        let generated = serde_json::to_string_pretty(&schema(&Cli::command())).unwrap() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sfndeploy.schema.json");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "sfndeploy.schema.json is stale: UPDATE_SNAPSHOTS=1 cargo test rewrites it"
        );
        let value: serde_json::Value = serde_json::from_str(&published).unwrap();
        assert_eq!(value["properties"]["force"]["type"], "boolean");
        assert_eq!(value["properties"]["on-inconclusive"]["enum"], serde_json::json!(["rollback", "pause"]));
        assert!(value["properties"]["state-machine"]["items"]["oneOf"].is_array());
    }
}
