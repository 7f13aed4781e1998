//! Words and times as sfndeploy writes them: durations, clocks, dates, shell quoting, lists of
//! weights and names. A leaf: it imports nothing of ours.

use std::time::{Duration, SystemTime};

/// Text on one line: line breaks (and other control characters but ESC) written as `\n`,
/// `\r`, `\u{..}`. Text from AWS (an execution's cause) or from names must never start a line of
/// ours: under GitHub Actions a line that begins with `::` is a workflow command.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(' '),
            // ESC stays: it is how a terminal gets its colours.
            c if c.is_control() && c != '\x1b' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `2m30s`, `45s`, `1.5s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 && !ms.is_multiple_of(1000) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string().replace(' ', "")
}

/// Time since the start as people read it at a glance: `03:07`, or `1:02:03` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{:02}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// `2026-11-23T14:02:07.412Z`
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `2026-11-23T14:02:07Z`
pub fn rfc3339_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A word as a POSIX shell reads it back unchanged.
pub fn quote(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Words joined into one shell command line, each quoted as needed.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// `5% → 25% → 100%`
pub fn percents(weights: impl IntoIterator<Item = u8>) -> String {
    weights.into_iter().map(|w| format!("{w}%")).collect::<Vec<_>>().join(" → ")
}

/// `'errors', 'latency p99'`
pub fn quoted_names<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|n| format!("'{}'", n.as_ref())).collect::<Vec<_>>().join(", ")
}

/// `alarm` or `alarms`: a noun for `n` things (English plurals in -s).
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { noun.to_string() } else { format!("{noun}s") }
}

/// The text with its first letter in upper case: `Pre-traffic` from `pre-traffic`.
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_read_at_a_glance() {
        assert_eq!(clock(Duration::from_millis(59_999)), "00:59");
        assert_eq!(clock(Duration::from_secs(187)), "03:07");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(150)), "2m30s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn quoting_and_lists() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(shell_line(&["a b", "c"]), "'a b' c");
        assert_eq!(percents([5, 100]), "5% → 100%");
        assert_eq!(quoted_names(&["a", "b c"]), "'a', 'b c'");
        assert_eq!(one_line("cause\n::error::forged\r\x07"), "cause\\n::error::forged\\r\\u{7}");
    }
}
