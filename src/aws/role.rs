//! Credentials of another account: a role assumed with STS from the run's own credentials, and
//! assumed again before the session ends. A role reached from credentials that are themselves a
//! role's (role chaining, as in CI with OIDC) lasts an hour at most, and a bake may last twelve:
//! a session is asked for an hour and renewed [`RENEW_BEFORE`] before it ends, as judged on AWS's
//! time (the expiry is AWS's date; a runner's clock may be minutes off).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use tokio::sync::Mutex;

use super::AwsResultExt;
use crate::clock::ServerClock;

/// The session asked for: one hour, the most role chaining allows.
pub const SESSION: Duration = Duration::from_secs(3600);

/// A session is renewed this long before it ends: no call is signed with credentials about to
/// expire, even a slow one.
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The session name every assumed session carries (CloudTrail shows it).
const SESSION_NAME: &str = "sfndeploy";

/// A role's credentials, assumed when first needed and again before they expire. Clones share
/// the session.
#[derive(Clone, Debug)]
pub struct RoleCredentials(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// STS, with the run's own credentials.
    sts: aws_sdk_sts::Client,
    role: String,
    /// AWS's time.
    clock: ServerClock,
    /// The session, and when it ends (AWS's time).
    session: Mutex<Option<(Credentials, SystemTime)>>,
}

impl RoleCredentials {
    pub fn new(sts: aws_sdk_sts::Client, role: &str, clock: ServerClock) -> Self {
        RoleCredentials(Arc::new(Inner { sts, role: role.to_string(), clock, session: Mutex::new(None) }))
    }

    /// The session's credentials, assumed afresh when none is held or it ends within
    /// [`RENEW_BEFORE`].
    async fn credentials(&self) -> provider::Result {
        let inner = &self.0;
        let mut session = inner.session.lock().await;
        if let Some((credentials, ends)) = session.as_ref()
            && inner.clock.now() + RENEW_BEFORE < *ends
        {
            return Ok(credentials.clone());
        }
        let out = inner
            .sts
            .assume_role()
            .role_arn(&inner.role)
            .role_session_name(SESSION_NAME)
            .duration_seconds(SESSION.as_secs() as i32)
            .send()
            .await
            .aws_context(|| format!("assuming role {} (sts:AssumeRole)", inner.role))
            .map_err(|e| CredentialsError::provider_error(format!("{e:#}")))?;
        let Some(given) = out.credentials() else {
            return Err(CredentialsError::invalid_configuration(format!(
                "sts:AssumeRole of {} answered without credentials",
                inner.role
            )));
        };
        let ends = SystemTime::try_from(*given.expiration())
            .unwrap_or_else(|_| inner.clock.now() + Duration::from_secs(900));
        // Said on the runner's own clock too, for any cache that judges it there.
        let left = ends.duration_since(inner.clock.now()).unwrap_or_default();
        let credentials = Credentials::new(
            given.access_key_id(),
            given.secret_access_key(),
            Some(given.session_token().to_string()),
            Some(SystemTime::now() + left.saturating_sub(RENEW_BEFORE)),
            "sfndeploy-assume-role",
        );
        tracing::debug!("assumed role {} until {}", inner.role, crate::text::rfc3339_seconds(ends));
        *session = Some((credentials.clone(), ends));
        Ok(credentials)
    }
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.credentials())
    }
}
