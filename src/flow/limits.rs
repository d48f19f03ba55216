//! Per-client request budgets of the OpenID endpoints (`[rate_limits]`), counted per minute
//! in the store so that every instance shares them.

use super::Provider;
use crate::protocol::OAuthError;
use crate::store::concerns::Counters;

/// What a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    Par,
    Token,
    CaptureUpload,
}

impl Budget {
    fn name(self) -> &'static str {
        match self {
            Budget::Par => "par",
            Budget::Token => "token",
            Budget::CaptureUpload => "upload",
        }
    }

    fn per_minute(self, l: &crate::config::RateLimits) -> i64 {
        match self {
            Budget::Par => l.par_per_minute,
            Budget::Token => l.token_per_minute,
            Budget::CaptureUpload => l.capture_uploads_per_minute,
        }
    }
}

impl Provider {
    /// Charges one request of `budget` to `client_id`; over the minute's budget, a 429 error
    /// with the seconds until the next minute.
    pub(crate) fn charge(&self, client_id: &str, budget: Budget) -> Result<(), OAuthError> {
        if !self.cfg.rate_limits.enabled {
            return Ok(());
        }
        let now = self.now();
        let window = now.div_euclid(60);
        let reset = (window + 1) * 60;
        let used = self
            .store
            .add(
                super::didit::RATE,
                &format!("client:{client_id}:{}:{window}", budget.name()),
                1,
                Some((reset + 60) * 1000),
            )
            .map_err(super::store_err)?;
        let limit = budget.per_minute(&self.cfg.rate_limits);
        if used > limit {
            return Err(OAuthError::too_many_requests(
                (reset - now).max(1) as u64,
                format!(
                    "this client may make {limit} {} requests a minute; try again later",
                    budget.name()
                ),
            ));
        }
        Ok(())
    }
}
