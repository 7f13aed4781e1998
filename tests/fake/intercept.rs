//! Answers SDK calls from Rust closures, per attempt: an interceptor computes each attempt's
//! reply from a clone of the typed input, and an HTTP connector that never touches the network
//! returns the faults (an error status, or no answer at all, on virtual time). Unlike replaying canned responses, a retried call is answered afresh, so
//! "throttled once, then fine" is a real SDK retry.

use std::fmt;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, Error,
    FinalizerInterceptorContextMut, Input, Output,
};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// What one attempt of an operation gets back.
pub enum Reply<O, E> {
    Output(O),
    Error(E),
    /// A raw HTTP answer, e.g. a throttle or a 500 the SDK may retry, or none at all.
    Raw(Raw),
}

/// What the connector does instead of answering with the modeled reply.
#[derive(Clone, Debug)]
pub enum Raw {
    /// A status, a body and its content type.
    Status(u16, Vec<u8>, &'static str),
    /// Never answers: the SDK's per-attempt timeout has to cut it.
    Hang,
}

enum Answer {
    Output(Output),
    Error(OrchestratorError<Error>),
}

type AttemptFn = Arc<dyn Fn() -> Reply<Output, OrchestratorError<Error>> + Send + Sync>;
/// Given a type-erased input: None if it is not this handler's operation.
pub type Handler = Arc<dyn Fn(&Input) -> Option<AttemptFn> + Send + Sync>;

/// A handler for operation input `I`, answering with `reply` on every attempt.
pub fn route<I, O, E>(reply: impl Fn(&I) -> Reply<O, E> + Send + Sync + 'static) -> Handler
where
    I: Clone + fmt::Debug + Send + Sync + 'static,
    O: fmt::Debug + Send + Sync + 'static,
    E: std::error::Error + fmt::Debug + Send + Sync + 'static,
{
    let reply = Arc::new(reply);
    Arc::new(move |input: &Input| {
        let typed = input.downcast_ref::<I>()?.clone();
        let reply = reply.clone();
        let attempt: AttemptFn = Arc::new(move || match reply(&typed) {
            Reply::Output(o) => Reply::Output(Output::erase(o)),
            Reply::Error(e) => Reply::Error(OrchestratorError::operation(Error::erase(e))),
            Reply::Raw(raw) => Reply::Raw(raw),
        });
        Some(attempt)
    })
}

#[derive(Clone)]
struct Attempt(AttemptFn);
impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attempt")
    }
}
impl Storable for Attempt {
    type Storer = StoreReplace<Attempt>;
}

#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Option<Answer>>>);
impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending")
    }
}
impl Storable for Pending {
    type Storer = StoreReplace<Pending>;
}

/// The raw answer for a faulted attempt, carried to the connector on the request.
#[derive(Clone)]
struct FaultResponse(Raw);

/// After an attempt's reply is computed: how long its answer should take (a slow call).
pub type DelayFn = Arc<dyn Fn() -> Option<Duration> + Send + Sync>;

/// AWS's time now, for each answer's `Date` header.
pub type DateFn = Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>;

pub struct FakeInterceptor {
    handlers: Vec<Handler>,
    delay: DelayFn,
    date: DateFn,
}

/// The `Date` header an answer carries, on the request.
#[derive(Clone)]
struct ServerDate(std::time::SystemTime);

/// How long the connector waits before answering, carried on the request.
#[derive(Clone)]
struct Delay(Duration);

impl fmt::Debug for FakeInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FakeInterceptor({} handlers)", self.handlers.len())
    }
}

impl FakeInterceptor {
    pub fn new(handlers: Vec<Handler>, delay: DelayFn, date: DateFn) -> Self {
        FakeInterceptor { handlers, delay, date }
    }
}

impl Intercept for FakeInterceptor {
    fn name(&self) -> &'static str {
        "FakeInterceptor"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.inner().input().expect("input is set");
        let attempt = self
            .handlers
            .iter()
            .find_map(|h| h(input))
            .unwrap_or_else(|| panic!("the fake has no handler for {input:?}"));
        cfg.interceptor_state().store_put(Attempt(attempt));
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<Attempt>().expect("attempt stored").clone();
        let pending = Pending::default();
        match (attempt.0)() {
            Reply::Raw(raw) => {
                context.request_mut().add_extension(FaultResponse(raw));
            }
            Reply::Output(o) => *pending.0.lock().unwrap() = Some(Answer::Output(o)),
            Reply::Error(e) => *pending.0.lock().unwrap() = Some(Answer::Error(e)),
        }
        if let Some(d) = (self.delay)() {
            context.request_mut().add_extension(Delay(d));
        }
        context.request_mut().add_extension(ServerDate((self.date)()));
        cfg.interceptor_state().store_put(pending);
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(pending) = cfg.load::<Pending>()
            && let Some(answer) = pending.0.lock().unwrap().take()
        {
            match answer {
                Answer::Output(o) => context.inner_mut().set_output_or_error(Ok(o)),
                Answer::Error(e) => context.inner_mut().set_output_or_error(Err(e)),
            }
        }
        Ok(())
    }
}

/// Answers faulted attempts with their status or not at all, and everything else with a
/// placeholder the interceptor replaces with the modeled reply.
#[derive(Debug)]
struct FakeConnector;

impl HttpConnector for FakeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fault = request.extension::<FaultResponse>().cloned();
        let delay = request.extension::<Delay>().cloned();
        let date = request.extension::<ServerDate>().cloned();
        HttpConnectorFuture::new(async move {
            if let Some(Delay(d)) = delay {
                tokio::time::sleep(d).await;
            }
            let (status, body, content_type) = match fault {
                Some(FaultResponse(Raw::Hang)) => {
                    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                    (504, Vec::new(), "text/plain")
                }
                Some(FaultResponse(Raw::Status(status, body, content_type))) => (status, body, content_type),
                None => (200, b"{}".to_vec(), "application/x-amz-json-1.0"),
            };
            let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
            response.headers_mut().insert("content-type", content_type);
            if content_type == "application/cbor" {
                response.headers_mut().insert("smithy-protocol", "rpc-v2-cbor");
            }
            if let Some(ServerDate(date)) = date {
                let date = aws_smithy_types::DateTime::from(date)
                    .fmt(aws_smithy_types::date_time::Format::HttpDate)
                    .expect("a date");
                response.headers_mut().insert("date", date);
            }
            Ok(response)
        })
    }
}

pub fn http_client() -> SharedHttpClient {
    http_client_fn(|_, _| SharedHttpConnector::new(FakeConnector))
}

/// Checks the key each call is signed with: one the issuer's STS issued, not yet expired on the
/// issuer's AWS time; any other is noted in its sessions' `bad_uses`.
#[derive(Clone)]
pub struct SignedBy {
    sessions: super::Sessions,
    now: DateFn,
}

impl fmt::Debug for SignedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedBy")
    }
}

impl SignedBy {
    pub fn new(sessions: super::Sessions, now: DateFn) -> Self {
        SignedBy { sessions, now }
    }
}

impl Intercept for SignedBy {
    fn name(&self) -> &'static str {
        "SignedBy"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<
            '_,
        >,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let header = context.request().headers().get("authorization").unwrap_or_default().to_string();
        let key = header.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or_default();
        let now = (self.now)();
        let good = self.sessions.issued.lock().unwrap().iter().any(|(k, until)| k == key && now < *until);
        if !good {
            self.sessions.bad_uses.lock().unwrap().push(format!("{key} at {now:?}"));
        }
        Ok(())
    }
}
