//! AWS's time. A runner's clock can be minutes off (AWS accepts signed requests within 5
//! minutes), and the dates AWS returns (an execution's start, a metric's timestamp) are AWS's.
//! Every answer carries a `Date` header; [`ServerClock`] keeps the latest one against the
//! monotonic clock, so "since the deploy began" and a marker's due time are AWS's time, never the
//! runner's clock alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_sfn::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sfn::error::BoxError;
use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use tokio::time::Instant;

/// `Date` headers have whole seconds: the server's time was within the second after the one
/// written. The clock reads the middle of that second.
const HALF_A_SECOND: Duration = Duration::from_millis(500);

/// AWS's time, as the latest answer told it. Clones share what they learn.
#[derive(Clone, Debug, Default)]
pub struct ServerClock(Arc<Mutex<Option<(SystemTime, Instant)>>>);

impl ServerClock {
    /// AWS's time now: the latest `Date` header plus the monotonic time since it came; the
    /// runner's clock only until an answer has come.
    pub fn now(&self) -> SystemTime {
        match *self.0.lock().expect("server clock") {
            Some((date, at)) => date + HALF_A_SECOND + at.elapsed(),
            None => SystemTime::now(),
        }
    }

    /// Whether an answer has set the clock yet.
    pub fn is_set(&self) -> bool {
        self.0.lock().expect("server clock").is_some()
    }

    /// An answer dated `date` (AWS's time, to the second) came now.
    pub fn observe(&self, date: SystemTime) {
        *self.0.lock().expect("server clock") = Some((date, Instant::now()));
    }

    /// The interceptor that feeds this clock from every answer's `Date` header.
    pub fn interceptor(&self) -> DateHeaders {
        DateHeaders(self.clone())
    }
}

/// Reads the `Date` header of every answer into a [`ServerClock`].
#[derive(Debug)]
pub struct DateHeaders(ServerClock);

impl Intercept for DateHeaders {
    fn name(&self) -> &'static str {
        "DateHeaders"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date")
            && let Ok(date) = DateTime::from_str(date, DateTimeFormat::HttpDate)
            && let Ok(date) = SystemTime::try_from(date)
        {
            self.0.observe(date);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn aws_time_runs_on_from_the_latest_answer() {
        let clock = ServerClock::default();
        assert!(!clock.is_set());
        let aws = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        clock.observe(aws);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), aws + Duration::from_millis(90_500));
        assert!(clock.is_set());
    }
}
