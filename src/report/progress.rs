//! A live status line on a terminal: current weights, hold and total time left, last alarm
//! poll. Log lines scroll above it. Off when stderr is not a terminal, under CI, or with -q:
//! then progress is the plain log lines alone.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::Event;
use super::render::{Entry, Render, Said};
use crate::env::Env;
use crate::routing::Routing;
use crate::text::human;

#[derive(Default)]
struct State {
    step: Option<(usize, usize)>,
    routing: String,
    hold_until: Option<Instant>,
    total_until: Option<Instant>,
    last_poll: Option<(Instant, String)>,
    shown: bool,
}

struct Live {
    state: Mutex<State>,
}

static LIVE: OnceLock<Live> = OnceLock::new();

/// The live status line, as a renderer: it follows the deploy's events.
#[derive(Debug)]
pub struct Progress;

impl Progress {
    /// Turns the live line on if stderr is an interactive terminal, not in CI, and not `quiet`.
    pub fn start(quiet: bool, env: Env) -> Option<Progress> {
        let interactive = io::stderr().is_terminal()
            && env("CI").is_none_or(|v| v.is_empty() || v == "false")
            && env("TERM").is_none_or(|t| t != "dumb");
        if quiet || !interactive {
            return None;
        }
        LIVE.get_or_init(|| Live { state: Mutex::new(State::default()) });
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                redraw(None);
            }
        });
        Some(Progress)
    }
}

impl Render for Progress {
    fn event(&self, entry: &Entry, _: &Said<'_>) {
        observe(&entry.event);
    }
}

/// Follows the deploy's events: a weight change starts a hold, a poll is shown, the end clears
/// the line.
fn observe(event: &Event) {
    match event {
        Event::WeightsChanged { step, steps, old_version, new_version, new_weight, hold, remaining } => {
            let routing = Routing::shifted(old_version, new_version, *new_weight).to_string();
            shifted(*step, *steps, routing, *hold, *remaining);
        }
        Event::AlarmsPolled { states } => {
            let firing = states.iter().filter(|a| a.firing()).count();
            polled(if firing == 0 { "OK".into() } else { format!("{firing} in ALARM") });
        }
        Event::Completed { .. } | Event::Paused { .. } | Event::RollingBack { .. } | Event::Failed { .. } => {
            finish()
        }
        _ => {}
    }
}

/// A weight change: starts a hold.
fn shifted(step: usize, steps: usize, routing: String, hold: Duration, remaining: Duration) {
    update(|s| {
        let now = Instant::now();
        s.step = Some((step, steps));
        s.routing = routing;
        s.hold_until = Some(now + hold);
        s.total_until = Some(now + remaining);
    });
}

fn polled(summary: String) {
    update(|s| s.last_poll = Some((Instant::now(), summary)));
}

/// The deploy is over: no more status line.
fn finish() {
    update(|s| *s = State { shown: s.shown, ..State::default() });
    redraw(None);
}

fn update(f: impl FnOnce(&mut State)) {
    if let Some(live) = LIVE.get() {
        f(&mut live.state.lock().unwrap());
    }
}

fn status_line(s: &State) -> Option<String> {
    let (step, steps) = s.step?;
    let now = Instant::now();
    let left = |t: Option<Instant>| human(t.map_or(Duration::ZERO, |t| t.saturating_duration_since(now)));
    let mut line = format!(
        "step {step}/{steps} · {} · hold {} left · total {} left",
        s.routing,
        left(s.hold_until),
        left(s.total_until)
    );
    if let Some((at, summary)) = &s.last_poll {
        line.push_str(&format!(
            " · alarms {summary} {} ago",
            human(Duration::from_secs(at.elapsed().as_secs()))
        ));
    }
    Some(line)
}

/// Clears the status line, writes `text` (a log line) if any, and draws the status again.
fn redraw(text: Option<&[u8]>) {
    let mut err = io::stderr().lock();
    let Some(live) = LIVE.get() else {
        if let Some(text) = text {
            let _ = err.write_all(text);
        }
        return;
    };
    let mut s = live.state.lock().unwrap();
    if s.shown {
        let _ = err.write_all(b"\r\x1b[2K");
    }
    if let Some(text) = text {
        let _ = err.write_all(text);
    }
    s.shown = false;
    if let Some(line) = status_line(&s) {
        let _ = write!(err, "\x1b[2m{line}\x1b[0m");
        s.shown = true;
    }
    let _ = err.flush();
}

/// Writes `text` as one line of its own on stderr, above the status line.
pub fn print_line(text: &str) {
    drop(LogLine(text.as_bytes().to_vec()));
}

/// The writer for log lines: each line is written whole, above the status line.
pub struct LogWriter;

/// One log line being formatted.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    /// The line is written whole, and one line whatever it holds: a line break inside it (in a
    /// cause AWS returned) would let the text after it start a line of its own.
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let line = format!("{}\n", crate::text::one_line(body));
        redraw(Some(line.as_bytes()));
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn status_line_shows_weights_and_time_left() {
        let now = Instant::now();
        let mut state = State {
            step: Some((2, 4)),
            routing: "v3 60% / v4 40%".into(),
            hold_until: Some(now + Duration::from_secs(90)),
            total_until: Some(now + Duration::from_secs(330)),
            last_poll: Some((now, "OK".into())),
            shown: false,
        };
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            status_line(&state).unwrap(),
            "step 2/4 · v3 60% / v4 40% · hold 1m left · total 5m left · alarms OK 30s ago"
        );
        state.step = None;
        assert_eq!(status_line(&state), None, "no line outside a hold");
    }
}
