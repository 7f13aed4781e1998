//! Keeping calls inside the account's API rate. Step Functions meters changes (alias updates,
//! publishes, deletions) with a token bucket per account: 100 at once, refilled at 1 a second,
//! shared with everything else the account runs. A [`Pacer`] is our own bucket in front of it:
//! `burst` calls at once, then `per_second`, shared by every clone, so the members of a release
//! (and pruning) never spend the account's tokens faster than it refills them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How fast: `burst` at once, then `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacing {
    pub burst: u32,
    pub per_second: f64,
}

/// The changes sfndeploy makes to aliases and versions: half of Step Functions' bucket of 100
/// at once (leaving the rest to the account), then its refill rate.
pub const CHANGES: Pacing = Pacing { burst: 50, per_second: 1.0 };

/// A token bucket shared by its clones.
#[derive(Clone, Debug)]
pub struct Pacer(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    pacing: Pacing,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Pacer {
    pub fn new(pacing: Pacing) -> Self {
        let bucket = Mutex::new(Bucket { tokens: f64::from(pacing.burst), at: Instant::now() });
        Pacer(Arc::new(Shared { pacing, bucket }))
    }

    /// Whether `other` is a clone of this pacer (one bucket).
    pub fn shares(&self, other: &Pacer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn pacing(&self) -> Pacing {
        self.0.pacing
    }

    /// Waits until a call is allowed, and takes it.
    pub async fn take(&self) {
        let pacing = self.0.pacing;
        let mut b = self.0.bucket.lock().await;
        let now = Instant::now();
        let refill = now.duration_since(b.at).as_secs_f64() * pacing.per_second;
        b.tokens = (b.tokens + refill).min(f64::from(pacing.burst));
        b.at = now;
        if b.tokens < 1.0 {
            let wait = (1.0 - b.tokens) / pacing.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            b.tokens = 1.0;
            b.at = Instant::now();
        }
        b.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_refill_rate_shared_by_clones() {
        let pacer = Pacer::new(Pacing { burst: 3, per_second: 2.0 });
        let other = pacer.clone();
        let began = Instant::now();
        for _ in 0..3 {
            pacer.take().await;
        }
        assert_eq!(began.elapsed(), Duration::ZERO, "the burst at once");
        other.take().await;
        other.take().await;
        assert_eq!(began.elapsed(), Duration::from_secs(1), "then two a second, whichever clone asks");
    }
}
