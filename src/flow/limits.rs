//! Per-client request budgets of the OpenID endpoints (`[rate_limits]`), counted per minute
//! in the store so that every instance shares them.
//!
//! An instance does not go to the store for every request: it takes a share of the minute's
//! budget at once (a lease of 1 % of it, at least one request) with one atomic increment, and
//! spends it locally. The shared counter hands out disjoint ranges, so all instances together
//! never admit more than the budget; what an instance leased and did not spend by the end of the
//! minute is lost (at most one lease per instance), so a client may be refused a little before
//! its budget. With a budget under 100 a minute every request is counted in the store.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Provider;
use crate::protocol::OAuthError;
use crate::store::concerns::Counters;

/// What a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    fn per_minute(self, l: &crate::flow::settings::RateLimits) -> i64 {
        match self {
            Budget::Par => l.par_per_minute,
            Budget::Token => l.token_per_minute,
            Budget::CaptureUpload => l.capture_uploads_per_minute,
        }
    }
}

/// Requests of one client and budget that this instance may still admit in a minute.
#[derive(Clone, Copy, Debug)]
struct Lease {
    window: i64,
    left: i64,
}

/// This instance's unspent leases, per client and budget (one entry each: a new minute
/// replaces the old one).
#[derive(Debug, Default)]
pub struct Leases(Mutex<HashMap<(String, Budget), Lease>>);

impl Leases {
    /// Spends one request of an unexpired lease, if there is one.
    fn spend(&self, client_id: &str, budget: Budget, window: i64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(&(client_id.to_owned(), budget)) {
            Some(l) if l.window == window && l.left > 0 => {
                l.left -= 1;
                true
            }
            _ => false,
        }
    }

    fn keep(&self, client_id: &str, budget: Budget, lease: Lease) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.insert((client_id.to_owned(), budget), lease);
    }
}

/// The share of a minute's budget taken at once.
fn lease_size(limit: i64) -> i64 {
    (limit / 100).max(1)
}

/// Of the range `(used - size, used]` just taken from the shared counter, how many requests
/// fall within the budget.
fn granted(used: i64, size: i64, limit: i64) -> i64 {
    (limit - (used - size)).clamp(0, size)
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
        if self.leases.spend(client_id, budget, window) {
            return Ok(());
        }
        let reset = (window + 1) * 60;
        let limit = budget.per_minute(&self.cfg.rate_limits);
        let size = lease_size(limit);
        let used = self
            .store
            .add(
                &super::didit::RATE,
                &format!("client:{client_id}:{}:{window}", budget.name()),
                size,
                Some((reset + 60) * 1000),
            )
            .map_err(super::store_err)?;
        let got = granted(used, size, limit);
        if got == 0 {
            return Err(OAuthError::too_many_requests(
                (reset - now).max(1) as u64,
                format!(
                    "this client may make {limit} {} requests a minute; try again later",
                    budget.name()
                ),
            ));
        }
        self.leases.keep(
            client_id,
            budget,
            Lease {
                window,
                left: got - 1,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_never_admit_more_than_the_budget() {
        for limit in [1, 3, 99, 100, 250, 6000] {
            let size = lease_size(limit);
            // Instances taking leases in turn from one shared counter.
            let (mut used, mut admitted) = (0, 0);
            for _ in 0..(limit / size + 5) {
                used += size;
                admitted += granted(used, size, limit);
            }
            assert_eq!(admitted, limit, "limit {limit}");
        }
        assert_eq!(
            lease_size(50),
            1,
            "small budgets are counted request by request"
        );
        assert_eq!(lease_size(6000), 60);
    }

    #[test]
    fn a_lease_is_spent_once_and_only_in_its_minute() {
        let l = Leases::default();
        assert!(!l.spend("c", Budget::Token, 7));
        l.keep("c", Budget::Token, Lease { window: 7, left: 2 });
        assert!(l.spend("c", Budget::Token, 7));
        assert!(!l.spend("c", Budget::Par, 7), "per budget");
        assert!(!l.spend("d", Budget::Token, 7), "per client");
        assert!(l.spend("c", Budget::Token, 7));
        assert!(!l.spend("c", Budget::Token, 7), "spent");
        l.keep("c", Budget::Token, Lease { window: 7, left: 5 });
        assert!(
            !l.spend("c", Budget::Token, 8),
            "a new minute needs a new lease"
        );
    }
}
