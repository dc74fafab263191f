//! The deployment's local time. Stored times stay unambiguous (UTC, RFC 3339 with `Z`);
//! people read them, and days begin and end, in the deployment's time zone (by default
//! China's, `Asia/Shanghai`): a visit at 23:30 in a village counts for that day, not the
//! next, and a card made at 08:14 is made "today" there.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// A deployment's time zone (an IANA name such as `Asia/Shanghai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

/// The zone of a deployment that names none.
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

/// A time-zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a time zone name; use an IANA name such as Asia/Shanghai (China) or Asia/Urumqi")]
pub struct ZoneError(String);

impl Default for Zone {
    fn default() -> Self {
        Zone(chrono_tz::Asia::Shanghai)
    }
}

impl FromStr for Zone {
    type Err = ZoneError;
    fn from_str(s: &str) -> Result<Self, ZoneError> {
        s.trim()
            .parse::<Tz>()
            .map(Zone)
            .map_err(|_| ZoneError(s.to_string()))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Zone {
    /// The local day of an instant.
    pub fn day_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The local day of a stored RFC 3339 time (`2026-11-28T15:30:00Z`); `None` if it
    /// is not one.
    pub fn day_of_stamp(&self, stamp: &str) -> Option<NaiveDate> {
        parse_stamp(stamp).map(|at| self.day_of(at))
    }

    /// A stored RFC 3339 time as people read it here: `2026-11-28 23:30`. Text that is
    /// not a time is returned as it is.
    pub fn show_stamp(&self, stamp: &str) -> String {
        match parse_stamp(stamp) {
            Some(at) => self.show(at),
            None => stamp.to_string(),
        }
    }

    /// Unix seconds as people read them here: `2026-11-28 23:30`.
    pub fn show_secs(&self, secs: i64) -> String {
        DateTime::from_timestamp(secs, 0)
            .map(|at| self.show(at))
            .unwrap_or_default()
    }

    fn show(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

fn parse_stamp(stamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(stamp.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_by_default_and_days_end_at_local_midnight() {
        let zone = Zone::default();
        assert_eq!(zone.to_string(), DEFAULT_ZONE);
        // 23:30 in China is 15:30 UTC: still that day.
        let day = zone.day_of_stamp("2026-11-28T15:30:00Z").expect("a time");
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 28).expect("date"));
        // 00:30 the next day in China is 16:30 UTC the day before.
        let day = zone.day_of_stamp("2026-11-28T16:30:00Z").expect("a time");
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 29).expect("date"));
        assert_eq!(zone.show_stamp("2026-11-28T08:25:47Z"), "2026-11-28 16:25");
        assert_eq!(zone.show_stamp("not a time"), "not a time");
    }

    #[test]
    fn other_zones_by_name() {
        let zone: Zone = "Asia/Urumqi".parse().expect("a zone");
        assert_eq!(zone.show_stamp("2026-11-28T08:25:47Z"), "2026-11-28 14:25");
        let err = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert!(err.to_string().contains("Asia/Shanghai"), "{err}");
    }
}
