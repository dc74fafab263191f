//! What the demo city looks like at one moment: one row per village, the city's
//! totals, what is still on its way. Read by the screen and the benchmark.

use std::time::Duration;

use halfsky_shared::OrgCode;

use super::plan::Unit;

/// What one village's row of the screen shows.
#[derive(Debug, Clone)]
pub struct VillageRow {
    /// County name.
    pub county: String,
    /// Township name.
    pub township: String,
    /// The village.
    pub village: Unit,
    /// Its link's name.
    pub link: String,
    /// The village's session with its parent is up.
    pub connected: bool,
    /// Women in the village's own ledger.
    pub women_here: i64,
    /// Women of this village the city holds.
    pub women_at_city: i64,
    /// Changes the village's parent has not acknowledged.
    pub pending: u64,
    /// Oldest unacknowledged change (RFC 3339).
    pub oldest_pending: Option<String>,
}

/// The city at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Since the demo started.
    pub uptime: Duration,
    /// Nodes running.
    pub nodes: usize,
    /// Women the city holds (whole city).
    pub city_women: i64,
    /// Households the city holds.
    pub city_households: i64,
    /// Visits the city holds.
    pub city_visits: i64,
    /// Women in all village ledgers together.
    pub village_women: i64,
    /// Changes not yet acknowledged by a parent, over all nodes.
    pub pending: u64,
    /// Nodes with such changes.
    pub pending_nodes: usize,
    /// The oldest unacknowledged change anywhere, and where.
    pub oldest_pending: Option<(String, OrgCode)>,
    /// One row per village.
    pub villages: Vec<VillageRow>,
}

impl Snapshot {
    /// Whether the city holds every woman the villages hold.
    pub fn city_has_everything(&self) -> bool {
        self.villages
            .iter()
            .all(|v| v.women_at_city >= v.women_here)
    }
}
