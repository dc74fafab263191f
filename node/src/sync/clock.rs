//! How far apart this node's clock and a peer's are, and what a clerk should do
//! about it. Each end of a session tells its wall clock right after the Hellos
//! (`Frame::Clock`); the difference is kept in the link status, logged when large,
//! shown by `status` and checked by `doctor`.
//!
//! Why it matters: admission refuses records dated more than a day in the receiver's
//! future, certificates and bundles are valid between two times, revocations apply
//! from a time, and contact times are capped at the receiver's clock. A few seconds
//! apart is normal (the figure includes the network's delay); minutes apart mean a
//! clock that is wrong.

use std::time::Duration;

/// Apart by this much or more, the clocks are reported (log, `status`, `doctor`
/// warns): further than network delay explains.
pub const SKEW_WARN: Duration = Duration::from_secs(2 * 60);
/// Apart by this much or more, `doctor` fails: bundles, freshness and record dates
/// start to go wrong.
pub const SKEW_FAIL: Duration = Duration::from_secs(60 * 60);

/// How serious a measured skew is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkewLevel {
    /// Within [`SKEW_WARN`].
    Fine,
    /// At least [`SKEW_WARN`].
    Warn,
    /// At least [`SKEW_FAIL`].
    Fail,
}

/// The level of a skew of `skew_ms` (peer minus this node).
pub fn level(skew_ms: i64) -> SkewLevel {
    let apart = Duration::from_millis(skew_ms.unsigned_abs());
    if apart >= SKEW_FAIL {
        SkewLevel::Fail
    } else if apart >= SKEW_WARN {
        SkewLevel::Warn
    } else {
        SkewLevel::Fine
    }
}

/// "7 minutes", "2 hours 5 minutes", "12 seconds": rounded to the nearest second,
/// and to the nearest minute from a minute on (the delay of the link blurs the rest).
fn span(ms: u64) -> String {
    let secs = (ms + 500) / 1000;
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if secs < 60 {
        return unit(secs, "second");
    }
    let minutes = (secs + 30) / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => unit(m, "minute"),
        (h, 0) => unit(h, "hour"),
        (h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
    }
}

/// How far apart, in words: "7 minutes ahead of" or "2 hours behind" (the peer
/// runs `skew_ms` ahead of this node, so this node is behind it when positive).
pub fn apart(skew_ms: i64) -> String {
    let side = if skew_ms > 0 { "behind" } else { "ahead of" };
    format!("{} {side}", span(skew_ms.unsigned_abs()))
}

/// The skew in words, naming `peer` (e.g. "the parent 230129100000"), with what to do
/// when it is not fine.
pub fn describe(skew_ms: i64, peer: &str) -> String {
    match level(skew_ms) {
        SkewLevel::Fine => format!(
            "this computer's clock agrees with {peer}'s (within {})",
            span(skew_ms.unsigned_abs())
        ),
        _ => format!(
            "this computer's clock is {} {peer}'s: set the right date, time and time zone \
             on whichever is wrong (on Linux `sudo timedatectl set-ntp true` keeps it right), \
             or records dated today may be refused upstream as dated in the future",
            apart(skew_ms)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_words() {
        assert_eq!(level(1_500), SkewLevel::Fine);
        assert_eq!(level(-3 * 60_000), SkewLevel::Warn);
        assert_eq!(level(2 * 3_600_000), SkewLevel::Fail);
        let ahead = describe(-7 * 60_000, "the parent 230129100000");
        assert!(
            ahead.starts_with(
                "this computer's clock is 7 minutes ahead of the parent 230129100000's"
            ),
            "{ahead}"
        );
        assert!(ahead.contains("timedatectl"), "{ahead}");
        let behind = describe(65 * 60_000, "the parent");
        assert!(behind.contains("1 hour 5 minutes behind"), "{behind}");
        assert!(describe(800, "the parent").contains("agrees"));
    }
}
