//! `halfsky freshness` and the freshness lines of `halfsky status` as text: every unit
//! below with when it was last heard from, how, and when its data last changed.

use std::io::Write;

use crate::sync::freshness::{ArrivalPath, FreshnessReport};

/// Unix seconds as RFC 3339 (UTC).
pub fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// A path in words.
pub fn path(p: ArrivalPath) -> &'static str {
    match p {
        ArrivalPath::Local => "this node",
        ArrivalPath::Direct => "direct link",
        ArrivalPath::Relay => "through the relay",
        ArrivalPath::Bundle => "bundle file",
    }
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 2 * 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}

/// The summary line: units, stale ones, and the least recently heard.
pub fn print_summary(out: &mut dyn Write, f: &FreshnessReport) -> std::io::Result<()> {
    let s = &f.summary;
    write!(
        out,
        "units below: {} known, {} not heard from within {} min",
        s.units.saturating_sub(1),
        s.stale_units,
        s.stale_after_secs / 60
    )?;
    match &s.oldest {
        Some(o) if o.org != f.org => {
            let heard = o
                .last_heard
                .map(|at| format!("{} ({})", time(at), age(f.now - at)))
                .unwrap_or_else(|| "never".into());
            writeln!(out, "; longest unheard: {} — {heard}", o.org)
        }
        _ => writeln!(out),
    }
}

/// Every unit: code, last heard, age, path (and reporter), data changed, stale mark.
pub fn print(out: &mut dyn Write, f: &FreshnessReport) -> std::io::Result<()> {
    print_summary(out, f)?;
    writeln!(
        out,
        "{:<12}  {:<20}  {:<14}  {:<32}  {:<20}",
        "unit", "last heard", "age", "via", "data changed"
    )?;
    for row in &f.units {
        let u = &row.unit;
        let via = match (u.via, u.reported_by) {
            (Some(p), Some(by)) => format!("{}, reported by {by}", path(p)),
            (Some(p), None) => path(p).to_string(),
            (None, _) => "-".into(),
        };
        writeln!(
            out,
            "{:<12}  {:<20}  {:<14}  {:<32}  {:<20}{}",
            u.org,
            u.last_heard.map(time).unwrap_or_else(|| "never".into()),
            row.age_secs.map(age).unwrap_or_else(|| "-".into()),
            via,
            u.data_changed.map(time).unwrap_or_else(|| "-".into()),
            if row.stale { "  STALE" } else { "" }
        )?;
    }
    Ok(())
}
