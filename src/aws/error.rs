//! A failed AWS call as one readable line, and its kind: what a deploy makes of it differs.

use std::fmt;

use anyhow::Result;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

/// What kind of failure an AWS call ended with: what a deploy makes of it differs. A throttle
/// proves the service is up and asks for fewer calls; no answer is blindness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The service answered with a throttling error (or HTTP 429).
    Throttled,
    /// No answer in time.
    TimedOut,
    /// The service could not be reached at all.
    Unreachable,
    /// Any other error.
    Other,
}

/// A failed AWS call: one readable line, and its kind.
#[derive(Debug)]
pub struct AwsError {
    pub kind: FailureKind,
    pub text: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for AwsError {}

/// The kind of the AWS failure behind `err`, if an AWS call is what failed.
pub fn failure_kind(err: &anyhow::Error) -> Option<FailureKind> {
    err.chain().find_map(|e| e.downcast_ref::<AwsError>()).map(|e| e.kind)
}

/// The error codes AWS services use for throttling.
const THROTTLING_CODES: [&str; 11] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Turns an SDK error into one readable line that names the operation, the HTTP status and the
/// service's error code and message: `PublishStateMachineVersion: HTTP 400, ThrottlingException:
/// Rate exceeded`. An answer the SDK cannot read (no code) says so, never a debug dump; transport
/// failures give their cause chain (DNS, connection refused, credentials).
pub fn sdk_error<E>(err: SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let op = operation_name::<E>();
    let (kind, text) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let throttled = status == 429 || e.code().is_some_and(|c| THROTTLING_CODES.contains(&c));
            let kind = if throttled { FailureKind::Throttled } else { FailureKind::Other };
            let text = match (e.code(), e.message()) {
                (Some(code), Some(msg)) if !msg.is_empty() => format!("{op}: HTTP {status}, {code}: {msg}"),
                (Some(code), _) => format!("{op}: HTTP {status}, {code}"),
                _ => format!("{op}: HTTP {status} with no error code in the answer"),
            };
            (kind, text)
        }
        SdkError::TimeoutError(_) => {
            (FailureKind::TimedOut, format!("{op}: the call timed out (see --call-timeout)"))
        }
        SdkError::DispatchFailure(_) if causes(&err).contains("no credentials found") => (
            FailureKind::Other,
            format!(
                "{op}: no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name \
                 a profile (--profile or AWS_PROFILE; `aws sso login` first for SSO), or run where a role \
                 is available (web identity, ECS, EC2)"
            ),
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            (FailureKind::TimedOut, format!("{op}: the call timed out: {}", causes(&err)))
        }
        SdkError::DispatchFailure(_) => {
            (FailureKind::Unreachable, format!("{op}: could not reach AWS: {}", causes(&err)))
        }
        SdkError::ResponseError(r) => (
            FailureKind::Other,
            format!("{op}: HTTP {} with an answer that could not be read", r.raw().status().as_u16()),
        ),
        _ => (FailureKind::Other, format!("{op}: {}", causes(&err))),
    };
    anyhow::Error::new(AwsError { kind, text })
}

/// `PublishStateMachineVersion` from the SDK's `...::PublishStateMachineVersionError` type.
fn operation_name<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    let last = name.rsplit("::").next().unwrap_or(name);
    last.strip_suffix("Error").unwrap_or(last)
}

/// An error and its sources, each once, as `a: b: c` (Display only, no debug dumps).
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        // One line each: some causes list every provider they tried, a line each.
        let text =
            e.to_string().lines().next().unwrap_or_default().trim_end_matches([' ', ':', '.']).to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// `.aws_context(|| "doing X to ARN")` on an SDK result: a readable error with what we were doing.
pub trait AwsResultExt<T> {
    fn aws_context<C, F>(self, what: F) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E> AwsResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn aws_context<C, F>(self, what: F) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|e| sdk_error(e).context(what()))
    }
}
