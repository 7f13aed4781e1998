//! When a deploy may move traffic: deploy windows (`--window 'Mon-Fri 09:00-16:00
//! Europe/Berlin'`) and freezes (`--freeze 2026-12-20..2027-01-04`), judged on AWS's clock in the
//! window's own time zone (jiff's bundled IANA database: the same on every machine). Without a
//! window, any time is open but a freeze.

use std::fmt;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// How far ahead an opening is looked for.
const HORIZON_DAYS: i32 = 400;

/// One deploy window: on these days, from `start` to `end` (the next day's, when `end` is not
/// after `start`), in `tz`.
#[derive(Clone, Debug)]
pub struct Window {
    text: String,
    /// Monday first.
    days: [bool; 7],
    start: Time,
    end: Time,
    tz: TimeZone,
}

/// A freeze: both days included, in the calendar's time zone.
#[derive(Clone, Debug)]
pub struct Freeze {
    text: String,
    from: Date,
    to: Date,
}

/// The windows and freezes of a run.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

impl Window {
    /// `Mon-Fri 09:00-16:00 Europe/Berlin`: days (a range or a list: `Mon,Wed`, `Sat-Sun`,
    /// `daily`), hours (`HH:MM[:SS]-HH:MM[:SS]`), and an IANA time zone (UTC when left out).
    pub fn parse(text: &str) -> Result<Window, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (days, hours, zone) = match words.as_slice() {
            [days, hours] => (*days, *hours, "UTC"),
            [days, hours, zone] => (*days, *hours, *zone),
            _ => {
                return Err(format!(
                    "--window '{text}': use DAYS HH:MM-HH:MM [TIME ZONE], e.g. 'Mon-Fri 09:00-16:00 Europe/Berlin'"
                ));
            }
        };
        let tz = TimeZone::get(zone).map_err(|_| format!("--window '{text}': '{zone}' is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"))?;
        let (start, end) =
            hours.split_once('-').ok_or_else(|| format!("--window '{text}': hours are HH:MM-HH:MM"))?;
        let time = |t: &str| -> Result<Time, String> {
            // 24:00 is the next midnight: an end not after the start is the next day's.
            let t = if t == "24:00" { "00:00" } else { t };
            t.parse::<Time>().map_err(|_| format!("--window '{text}': '{t}' is not a time of day (HH:MM)"))
        };
        Ok(Window {
            text: text.to_string(),
            days: parse_days(days, text)?,
            start: time(start)?,
            end: time(end)?,
            tz,
        })
    }

    /// Whether `t` falls in this window, and if so when the opening ends.
    fn open_at(&self, t: Timestamp) -> Option<Timestamp> {
        let local = t.to_zoned_datetime(self.tz.clone());
        // The opening that began today, or (past midnight) yesterday.
        for back in [0, 1] {
            let day = local.date().checked_sub(jiff::Span::new().days(back)).ok()?;
            let (open, close) = self.opening(day)?;
            if open <= t && t < close {
                return Some(close);
            }
        }
        None
    }

    /// The opening that begins on `day`, if this window opens that day.
    fn opening(&self, day: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.days[day.weekday().to_monday_zero_offset() as usize] {
            return None;
        }
        let open = day.to_datetime(self.start).to_zoned_datetime(self.tz.clone()).ok()?.timestamp();
        let end_day = if self.end > self.start { day } else { day.tomorrow().ok()? };
        let close = end_day.to_datetime(self.end).to_zoned_datetime(self.tz.clone()).ok()?.timestamp();
        Some((open, close))
    }
}

fn parse_days(text: &str, whole: &str) -> Result<[bool; 7], String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| {
        let d = d.to_ascii_lowercase();
        NAMES.iter().position(|n| d.starts_with(n) && n.len() <= d.len()).ok_or_else(|| {
            format!("--window '{whole}': '{d}' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
        })
    };
    let mut days = [false; 7];
    if matches!(text.to_ascii_lowercase().as_str(), "daily" | "*" | "mon-sun") {
        return Ok([true; 7]);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

impl Freeze {
    /// `2026-12-20..2027-01-04`, both days included.
    pub fn parse(text: &str) -> Result<Freeze, String> {
        let bad = || format!("--freeze '{text}': use FIRST..LAST, two dates, e.g. 2026-12-20..2027-01-04");
        let (from, to) = text.trim().split_once("..").ok_or_else(bad)?;
        let (from, to): (Date, Date) = (from.parse().map_err(|_| bad())?, to.parse().map_err(|_| bad())?);
        if to < from {
            return Err(format!("--freeze '{text}': it ends before it begins"));
        }
        Ok(Freeze { text: text.to_string(), from, to })
    }

    /// Whether `t` falls in the freeze, and if so when it ends.
    fn holds_at(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let day = t.to_zoned_datetime(tz.clone()).date();
        if day < self.from || day > self.to {
            return None;
        }
        let after = self.to.tomorrow().ok()?;
        Some(after.to_zoned_datetime(tz.clone()).ok()?.timestamp())
    }
}

/// Whether a deploy may move traffic at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Open {
    /// Yes, until then (None: no end in sight).
    Until(Option<SystemTime>),
    /// No: why, and when it next opens (None: not within the horizon).
    Closed { why: String, opens: Option<SystemTime> },
}

impl Calendar {
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.freezes.is_empty()
    }

    /// Freezes are in the first window's time zone, UTC without one.
    fn tz(&self) -> TimeZone {
        self.windows.first().map_or(TimeZone::UTC, |w| w.tz.clone())
    }

    /// Whether `at` is open, and until when; or why not, and when it next opens.
    pub fn at(&self, at: SystemTime) -> Open {
        let Ok(t) = Timestamp::try_from(at) else { return Open::Until(None) };
        match self.state(t) {
            Ok(until) => Open::Until(until.and_then(|u| SystemTime::try_from(u).ok())),
            Err(why) => {
                Open::Closed { why, opens: self.next_opening(t).and_then(|o| SystemTime::try_from(o).ok()) }
            }
        }
    }

    /// Ok(when the opening ends) or Err(why it is closed).
    fn state(&self, t: Timestamp) -> Result<Option<Timestamp>, String> {
        let tz = self.tz();
        if let Some(f) = self.freezes.iter().find(|f| f.holds_at(t, &tz).is_some()) {
            return Err(format!("inside the freeze {}", f.text));
        }
        if self.windows.is_empty() {
            return Ok(self.freezes.iter().filter_map(|f| f.start_after(t, &tz)).min());
        }
        let closes = self.windows.iter().filter_map(|w| w.open_at(t)).max();
        let Some(mut closes) = closes else {
            let each: Vec<&str> = self.windows.iter().map(|w| w.text.as_str()).collect();
            return Err(format!("outside the deploy window ({})", each.join("; ")));
        };
        // Openings that meet (Mon-Fri 00:00-24:00, or two windows back to back) are one.
        for _ in 0..HORIZON_DAYS {
            match self.windows.iter().filter_map(|w| w.open_at(closes)).max() {
                Some(later) if later > closes => closes = later,
                _ => break,
            }
        }
        // A freeze that begins before the window closes closes it then.
        let freeze = self.freezes.iter().filter_map(|f| f.start_after(t, &tz)).min();
        Ok(Some(freeze.map_or(closes, |f| f.min(closes))))
    }

    /// The next moment after `t` that is open.
    fn next_opening(&self, t: Timestamp) -> Option<Timestamp> {
        let tz = self.tz();
        let mut candidates: Vec<Timestamp> = Vec::new();
        for f in &self.freezes {
            candidates.extend(f.holds_at(t, &tz));
            candidates.extend(
                f.to.tomorrow()
                    .ok()
                    .and_then(|d| d.to_zoned_datetime(tz.clone()).ok())
                    .map(|z| z.timestamp()),
            );
        }
        for w in &self.windows {
            let local = t.to_zoned_datetime(w.tz.clone()).date();
            for ahead in 0..HORIZON_DAYS {
                let Ok(day) = local.checked_add(jiff::Span::new().days(ahead)) else { break };
                candidates.extend(w.opening(day).map(|(open, _)| open));
            }
        }
        candidates.sort();
        candidates.into_iter().filter(|c| *c > t).find(|c| self.state(*c).is_ok())
    }
}

impl Freeze {
    /// When this freeze begins, if after `t`.
    fn start_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = self.from.to_zoned_datetime(tz.clone()).ok()?.timestamp();
        (start > t).then_some(start)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a deploy that must begin a hold of `hold` now stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fit {
    /// It may begin now.
    Now,
    /// Not now (why); the first moment it may is `at`.
    Later { why: String, at: SystemTime },
    /// Not now (why), nor within the horizon.
    Never { why: String },
}

/// The first moment from `now` on when a hold of `hold` can begin and end inside one opening.
pub fn first_fit(calendar: &Calendar, now: SystemTime, hold: Duration) -> Fit {
    if calendar.is_empty() {
        return Fit::Now;
    }
    let mut t = now;
    let mut why: Option<String> = None;
    for _ in 0..(HORIZON_DAYS * 4) {
        match calendar.at(t) {
            Open::Until(close) if close.is_none_or(|c| t + hold <= c) => {
                return match why {
                    None => Fit::Now,
                    Some(why) => Fit::Later { why, at: t },
                };
            }
            Open::Until(Some(close)) => {
                why.get_or_insert_with(|| closes_before(calendar, close, hold));
                t = close;
            }
            Open::Until(None) => unreachable!("matched above"),
            Open::Closed { why: closed, opens } => {
                let why = why.get_or_insert(closed).clone();
                match opens {
                    Some(opens) => t = opens,
                    None => return Fit::Never { why },
                }
            }
        }
    }
    Fit::Never { why: why.unwrap_or_default() }
}

/// Why a hold of `hold` may not begin now, if it may not: the window is closed, or closes
/// before the hold would end.
pub fn stop_before(calendar: &Calendar, now: SystemTime, hold: Duration) -> Option<String> {
    if calendar.is_empty() {
        return None;
    }
    match calendar.at(now) {
        Open::Until(close) if close.is_none_or(|c| now + hold <= c) => None,
        Open::Until(Some(close)) => Some(closes_before(calendar, close, hold)),
        Open::Until(None) => None,
        Open::Closed { why, .. } => Some(why),
    }
}

fn closes_before(calendar: &Calendar, close: SystemTime, hold: Duration) -> String {
    format!(
        "the deploy window closes at {}, before a hold of {} would end",
        local(calendar, close),
        crate::text::human(hold)
    )
}

/// `2026-12-07T09:00:00+01:00[Europe/Berlin]`-like, in the calendar's time zone: for messages.
pub fn local(calendar: &Calendar, at: SystemTime) -> String {
    match Timestamp::try_from(at) {
        Ok(t) => t.to_zoned_datetime(calendar.tz()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => crate::text::rfc3339_seconds(at),
    }
}

/// How long from `now` until `then` (zero when past).
pub fn until(now: SystemTime, then: SystemTime) -> Duration {
    then.duration_since(now).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        SystemTime::try_from(text.parse::<Timestamp>().unwrap()).unwrap()
    }

    fn calendar(windows: &[&str], freezes: &[&str]) -> Calendar {
        Calendar {
            windows: windows.iter().map(|w| Window::parse(w).unwrap()).collect(),
            freezes: freezes.iter().map(|f| Freeze::parse(f).unwrap()).collect(),
        }
    }

    #[test]
    fn a_window_opens_on_its_days_in_its_own_time_zone() {
        let c = calendar(&["Mon-Fri 09:00-16:00 Europe/Berlin"], &[]);
        // Monday 2026-12-07, 08:30 UTC is 09:30 in Berlin: open until 16:00 Berlin (15:00 UTC).
        assert_eq!(c.at(at("2026-12-07T08:30:00Z")), Open::Until(Some(at("2026-12-07T15:00:00Z"))));
        // 07:59 UTC is 08:59 in Berlin: closed, opens at 08:00 UTC.
        match c.at(at("2026-12-07T07:59:00Z")) {
            Open::Closed { opens, why } => {
                assert_eq!(opens, Some(at("2026-12-07T08:00:00Z")));
                assert!(why.contains("outside the deploy window"), "{why}");
            }
            open => panic!("{open:?}"),
        }
        // Saturday: the next opening is Monday 09:00 Berlin.
        let Open::Closed { opens, .. } = c.at(at("2026-12-12T12:00:00Z")) else { panic!() };
        assert_eq!(opens, Some(at("2026-12-14T08:00:00Z")));
    }

    #[test]
    fn a_freeze_closes_whole_days_and_the_window_reopens_after_it() {
        let c = calendar(&["Mon-Fri 09:00-16:00 Europe/Berlin"], &["2026-12-20..2027-01-04"]);
        let Open::Closed { why, opens } = c.at(at("2026-12-22T10:00:00Z")) else { panic!() };
        assert!(why.contains("freeze 2026-12-20..2027-01-04"), "{why}");
        // 2027-01-05 is a Tuesday: 09:00 Berlin.
        assert_eq!(opens, Some(at("2027-01-05T08:00:00Z")));
        // Without a window: open but for the freeze, and a freeze ahead ends the opening.
        let c = calendar(&[], &["2026-12-20..2027-01-04"]);
        assert_eq!(c.at(at("2026-12-19T12:00:00Z")), Open::Until(Some(at("2026-12-20T00:00:00Z"))));
        assert_eq!(c.at(at("2026-12-10T12:00:00Z")), Open::Until(Some(at("2026-12-20T00:00:00Z"))));
    }

    #[test]
    fn a_hold_begins_only_where_it_fits() {
        let c = calendar(&["Mon-Fri 09:00-16:00 UTC"], &[]);
        let hour = Duration::from_secs(3600);
        assert_eq!(first_fit(&c, at("2026-12-07T10:00:00Z"), hour), Fit::Now);
        // At 15:30 an hour's hold would end after 16:00: the next fit is Tuesday 09:00.
        let Fit::Later { why, at: then } = first_fit(&c, at("2026-12-07T15:30:00Z"), hour) else { panic!() };
        assert_eq!(then, at("2026-12-08T09:00:00Z"));
        assert!(why.contains("closes at 2026-12-07 16:00:00"), "{why}");
        assert!(stop_before(&c, at("2026-12-07T15:30:00Z"), hour).is_some());
        assert!(stop_before(&c, at("2026-12-07T15:30:00Z"), Duration::from_secs(60)).is_none());
        // A hold longer than any opening never fits.
        assert!(matches!(first_fit(&c, at("2026-12-07T10:00:00Z"), 8 * hour), Fit::Never { .. }));
        assert_eq!(first_fit(&Calendar::default(), at("2026-12-07T10:00:00Z"), 100 * hour), Fit::Now);
    }

    #[test]
    fn windows_across_midnight_and_mistakes() {
        let c = calendar(&["Sat-Sun 22:00-02:00"], &[]);
        // Sunday 2026-12-13 01:00 UTC is inside Saturday's opening.
        assert_eq!(c.at(at("2026-12-13T01:00:00Z")), Open::Until(Some(at("2026-12-13T02:00:00Z"))));
        // Whole days that meet are one opening: Monday noon is open until Saturday.
        let c = calendar(&["Mon-Fri 00:00-24:00"], &[]);
        assert_eq!(c.at(at("2026-12-07T12:00:00Z")), Open::Until(Some(at("2026-12-12T00:00:00Z"))));
        for bad in ["Mon-Fri", "Funday 09:00-10:00", "Mon 9-10", "Mon 09:00-10:00 Mars/Olympus", "a b c d"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
        for bad in ["2026-12-20", "2027-01-04..2026-12-20", "x..y"] {
            assert!(Freeze::parse(bad).is_err(), "{bad}");
        }
    }
}
