//! The demo's terminal summary: one screen (refreshed in place) when stdout is a
//! terminal, one line per refresh when it is not (a log, a CI run).

use std::fmt::Write;

use super::city::{DemoCity, Snapshot};

fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// How long ago an RFC 3339 time was, as `1m05s`, or the text itself if it does not
/// parse.
fn ago(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_seconds()
                .max(0);
            if secs >= 60 {
                format!("{}m{:02}s", secs / 60, secs % 60)
            } else {
                format!("{secs}s")
            }
        }
        Err(_) => rfc3339.to_string(),
    }
}

fn arrived_percent(s: &Snapshot) -> f64 {
    let held: i64 = s
        .villages
        .iter()
        .map(|v| v.women_at_city.min(v.women_here))
        .sum();
    if s.village_women == 0 {
        100.0
    } else {
        held as f64 * 100.0 / s.village_women as f64
    }
}

/// One line: for logs and non-terminal output.
pub fn line(s: &Snapshot) -> String {
    let oldest = s
        .oldest_pending
        .as_ref()
        .map(|(t, org)| format!(", oldest {} ago at {org}", ago(t)))
        .unwrap_or_default();
    format!(
        "[{}] city holds {} women ({:.1} % of the villages' {}), {} households, {} visits; {} changes pending at {} nodes{oldest}",
        clock(s.uptime),
        s.city_women,
        arrived_percent(s),
        s.village_women,
        s.city_households,
        s.city_visits,
        s.pending,
        s.pending_nodes,
    )
}

/// The whole screen.
pub fn full(city: &DemoCity, s: &Snapshot) -> String {
    let mut t = String::new();
    let plan = &city.plan;
    let _ = writeln!(
        t,
        "halfsky demo — {} {} · {} nodes · up {} · Ctrl-C stops",
        plan.city.name,
        plan.city.org,
        s.nodes,
        clock(s.uptime)
    );
    let _ = writeln!(
        t,
        "市 city holds: {} women · {} households · {} visits   ({:.1} % of the {} women in village ledgers have arrived)",
        s.city_women,
        s.city_households,
        s.city_visits,
        arrived_percent(s),
        s.village_women
    );
    let oldest = s
        .oldest_pending
        .as_ref()
        .map(|(t, org)| format!("; oldest unacknowledged change {} ago, at {org}", ago(t)))
        .unwrap_or_else(|| "; nothing waiting".into());
    let _ = writeln!(
        t,
        "待确认 pending: {} changes at {} nodes not yet acknowledged by their parent{oldest}",
        s.pending, s.pending_nodes
    );
    if let Some((addr, login)) = &city.dashboard {
        let _ = writeln!(
            t,
            "仪表盘 dashboard: http://{addr}/   login {} / {}",
            login.user, login.password
        );
    }
    let carried = city.carrier.lock().map(|c| c.clone()).unwrap_or_default();
    if !carried.is_empty() {
        let _ = writeln!(t, "U盘 bundle carrier: {carried}");
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "{:<8} {:<10} {:<8} {:<12} {:<9} {:>6} {:>8} {:>8} {:>8}",
        "county", "township", "village", "code", "link", "up", "women", "at city", "pending"
    );
    for v in &s.villages {
        let pending = match (&v.oldest_pending, v.pending) {
            (_, 0) => "0".to_string(),
            (Some(o), n) => format!("{n} ({})", ago(o)),
            (None, n) => n.to_string(),
        };
        let _ = writeln!(
            t,
            "{:<8} {:<10} {:<8} {:<12} {:<9} {:>6} {:>8} {:>8} {:>8}",
            v.county,
            v.township,
            v.village.name,
            v.village.org,
            v.link,
            if v.connected { "●" } else { "○" },
            v.women_here,
            v.women_at_city,
            pending
        );
    }
    t
}
