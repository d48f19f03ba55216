//! Wall-clock time as a dependency.
//!
//! Domain code never reads the system clock directly (clippy's `disallowed-methods` enforces it);
//! it takes a [`Clock`]. Tests use [`FixedClock`]. Durations measured for benchmarks use
//! `std::time::Instant`, which is monotonic and not wall-clock time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// A source of the current time, in whole seconds and milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;

    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read wall-clock time
    fn now_millis(&self) -> i64 {
        let since = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct FixedClock {
    millis: AtomicI64,
}

impl FixedClock {
    /// A clock standing at `secs` seconds after the epoch.
    pub fn at_secs(secs: i64) -> Self {
        Self {
            millis: AtomicI64::new(secs * 1000),
        }
    }

    /// A clock standing at `ms` milliseconds after the epoch.
    pub fn at_millis(ms: i64) -> Self {
        Self {
            millis: AtomicI64::new(ms),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// The instant `ms` milliseconds after the epoch (clamped into the calendar `time` knows).
fn instant(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Formats seconds since the epoch as an RFC 3339 UTC timestamp (`2026-11-28T13:53:13Z`).
pub fn rfc3339(secs: i64) -> String {
    const F: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    instant(secs.saturating_mul(1000))
        .format(F)
        .unwrap_or_default()
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (`2026-11-28T13:53:13.042Z`).
pub fn rfc3339_millis(ms: i64) -> String {
    const F: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    instant(ms).format(F).unwrap_or_default()
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp (`2026-11-29T00:00:00Z`,
/// `2026-11-29T01:00:00+01:00`, fractions allowed) into milliseconds since the epoch.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    Some(match parse_date_or_instant(s)? {
        DateOrInstant::Day(d) => d * 1000,
        DateOrInstant::Instant(ms) => ms,
    })
}

/// A filter bound as a client sends it: a calendar day (UTC) or an exact instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrInstant {
    /// Seconds since the epoch of the day's first second, UTC.
    Day(i64),
    /// Milliseconds since the epoch.
    Instant(i64),
}

/// `YYYY-MM-DD`, or an RFC 3339 / ISO 8601 timestamp with `Z` or an offset.
pub fn parse_date_or_instant(s: &str) -> Option<DateOrInstant> {
    const DAY: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]");
    if s.len() == 10 {
        let d = time::Date::parse(s, DAY).ok()?;
        return Some(DateOrInstant::Day(
            d.midnight().assume_utc().unix_timestamp(),
        ));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(DateOrInstant::Instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_advances() {
        let c = FixedClock::at_secs(100);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now_millis(), 101_500);
        assert_eq!(c.now_secs(), 101);
    }

    #[test]
    fn rfc3339_millis_round_trips() {
        for ms in [0, 1_764_337_993_042, 951_782_400_000, 4_102_444_799_999] {
            let s = rfc3339_millis(ms);
            assert_eq!(parse_rfc3339_millis(&s), Some(ms), "{s}");
        }
        assert_eq!(parse_rfc3339_millis("2026-11-29"), Some(1_795_910_400_000));
        assert_eq!(
            parse_rfc3339_millis("2026-11-29T00:00:00Z"),
            Some(1_795_910_400_000)
        );
        assert_eq!(
            parse_rfc3339_millis("2026-11-29T01:00:00.5+01:00"),
            Some(1_795_910_400_500),
            "offsets and fractions"
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "26-11-29",
            "2026-11-29T25:00:00Z",
            "2026-11-29 00:00:00",
            "2026-11-29T00:00:00",
            "x",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_873_993), "2026-11-28T13:53:13Z");
    }
}
