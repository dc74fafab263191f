//! The demo city running: every unit of a [`CityPlan`] as its own node (own QUIC
//! endpoint, own certificate from a demo CA) in this process on loopback; each
//! village behind a simulated rural link to its township; villages writing realistic
//! records at a gentle rate; and a [`Snapshot`] of it all for the screen and the
//! benchmark.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use halfsky_shared::{Level, OrgCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::error::{Context, Result};
use super::plan::{CityPlan, Unit, VillageLink};
use crate::config::NodeHome;
use crate::lossy::{LinkProfile, LossyProxy};
use crate::run::RunningNode;

use super::carrier::carry;
use super::relay::RelayProcess;
use super::setup::{
    enable_dashboard, ensure_home, seed_city_targets, seed_village, set_relay, start_node,
    DemoLogin,
};
pub use super::snapshot::{Snapshot, VillageRow};
use super::writer::WriterState;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the CA and the node homes live.
    pub dir: PathBuf,
    /// Households each new village starts with.
    pub households: usize,
    /// Records each village adds per minute once running (0: none).
    pub records_per_minute: f64,
    /// Seed of the synthetic data and of the simulated links.
    pub seed: u64,
    /// How often the bundle carrier takes files across.
    pub carry_every: Duration,
    /// Port of the city's dashboard on 127.0.0.1 (0: any free port; a busy port
    /// falls back to a free one).
    pub dashboard_port: u16,
}

/// One running node of the demo.
pub struct DemoNode {
    /// Its unit.
    pub unit: Unit,
    /// Its level.
    pub level: Level,
    /// A village's link to its township (`None` above villages: clean links).
    pub link: Option<VillageLink>,
    /// Its home directory.
    pub home: NodeHome,
    /// The node.
    pub node: RunningNode,
}

/// The running city.
pub struct DemoCity {
    /// The plan it runs.
    pub plan: CityPlan,
    /// Every node, city first, then each county followed by its subtree.
    pub nodes: Vec<DemoNode>,
    /// The simulated village links, by village.
    proxies: Vec<(OrgCode, LossyProxy)>,
    /// The relay process, if a village goes by relay.
    relay: Option<RelayProcess>,
    /// What the bundle carrier did last, for the screen.
    pub carrier: std::sync::Arc<std::sync::Mutex<String>>,
    /// The city dashboard's address and login.
    pub dashboard: Option<(SocketAddr, DemoLogin)>,
    writers: JoinSet<()>,
    cancel: CancellationToken,
    started: Instant,
}

impl DemoCity {
    /// Creates (or reuses, under `options.dir`) the CA and every node home, seeds new
    /// villages, and starts every node top-down, villages behind their links.
    /// `progress` hears what is happening, for the terminal.
    pub async fn start(
        plan: CityPlan,
        options: DemoOptions,
        mut progress: impl FnMut(&str),
    ) -> Result<DemoCity> {
        let started = Instant::now();
        let dir = &options.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ca = dir.join("ca");
        if !ca.join(crate::pki::CA_CERT_FILE).exists() {
            crate::pki::init_ca(plan.city.org, &ca).context("creating the demo CA")?;
        }
        // The deployment's ID key, as enrollment hands it out: kept beside the CA.
        let key = crate::pki::deployment::Deployment::load_or_create(&ca)
            .context("reading the demo deployment's settings")?
            .0
            .id_key()
            .context("the demo deployment has no ID key")?;
        let mut plan = plan;
        let relay = if plan
            .villages()
            .any(|(_, _, v)| v.link == VillageLink::Relay)
        {
            match RelayProcess::start(dir, &ca).await {
                Ok(r) => {
                    progress(&format!("started the relay on {}", r.addr));
                    Some(r)
                }
                Err(e) => {
                    progress(&format!(
                        "no relay ({e:#}); relay villages go by bundle files instead"
                    ));
                    for c in &mut plan.counties {
                        for t in &mut c.townships {
                            for v in &mut t.villages {
                                if v.link == VillageLink::Relay {
                                    v.link = VillageLink::Bundle;
                                }
                            }
                        }
                    }
                    None
                }
            }
        } else {
            None
        };
        let relay_addr = relay.as_ref().map(|r| r.addr.to_string());
        let mut nodes = Vec::new();
        let mut proxies = Vec::new();
        let home = ensure_home(dir, &ca, &plan.city, &key, true)?;
        let login = enable_dashboard(dir, &home, options.dashboard_port)?;
        let targets_home = home.clone();
        tokio::task::spawn_blocking(move || seed_city_targets(&targets_home))
            .await
            .context("writing the city's targets")??;
        let city = start_node(&home, None).await?;
        let city_addr = city.listen_addr().context("the city listens")?;
        let dashboard = city.dashboard_addr().map(|a| (a, login));
        nodes.push(DemoNode {
            unit: plan.city.clone(),
            level: Level::City,
            link: None,
            home,
            node: city,
        });
        progress(&format!("started {} {}", plan.city.org, plan.city.name));
        for (ci, county) in plan.counties.iter().enumerate() {
            let home = ensure_home(dir, &ca, &county.unit, &key, true)?;
            let node = start_node(&home, Some(city_addr)).await?;
            let county_addr = node.listen_addr().context("a county listens")?;
            nodes.push(DemoNode {
                unit: county.unit.clone(),
                level: Level::County,
                link: None,
                home,
                node,
            });
            for (ti, township) in county.townships.iter().enumerate() {
                let home = ensure_home(dir, &ca, &township.unit, &key, true)?;
                let serves_relay = township
                    .villages
                    .iter()
                    .any(|v| v.link == VillageLink::Relay);
                set_relay(&home, relay_addr.as_deref().filter(|_| serves_relay))?;
                let node = start_node(&home, Some(county_addr)).await?;
                let township_addr = node.listen_addr().context("a township listens")?;
                nodes.push(DemoNode {
                    unit: township.unit.clone(),
                    level: Level::Township,
                    link: None,
                    home,
                    node,
                });
                for (vi, village) in township.villages.iter().enumerate() {
                    let home = ensure_home(dir, &ca, &village.unit, &key, false)?;
                    let seed = options.seed ^ ((ci * 10_000 + ti * 100 + vi) as u64 + 1);
                    let village_home = home.clone();
                    let households = options.households;
                    let written = tokio::task::spawn_blocking(move || {
                        seed_village(&village_home, households, seed)
                    })
                    .await
                    .context("seeding a village")??;
                    if written > 0 {
                        progress(&format!(
                            "{} {}: wrote {written} records of {households} households",
                            village.unit.org, village.unit.name
                        ));
                    }
                    let parent = match &village.link {
                        VillageLink::Profile(name) => {
                            let profile = LinkProfile::named(name)
                                .with_context(|| format!("link profile {name}"))?;
                            let proxy = LossyProxy::start(
                                "127.0.0.1:0".parse().expect("literal"),
                                township_addr,
                                profile,
                                seed,
                            )
                            .await
                            .context("starting a simulated link")?;
                            let addr = proxy.local_addr();
                            proxies.push((village.unit.org, proxy));
                            Some(addr)
                        }
                        // Never online with its township: a link that is never up
                        // (so the node knows its parent and counts what it lacks).
                        VillageLink::Relay | VillageLink::Bundle => {
                            let proxy = LossyProxy::start(
                                "127.0.0.1:0".parse().expect("literal"),
                                township_addr,
                                LinkProfile::clean(),
                                seed,
                            )
                            .await
                            .context("starting a simulated link")?;
                            proxy.set_link_up(false);
                            let addr = proxy.local_addr();
                            proxies.push((village.unit.org, proxy));
                            Some(addr)
                        }
                    };
                    set_relay(
                        &home,
                        relay_addr
                            .as_deref()
                            .filter(|_| village.link == VillageLink::Relay),
                    )?;
                    let node = start_node(&home, parent).await?;
                    nodes.push(DemoNode {
                        unit: village.unit.clone(),
                        level: Level::Village,
                        link: Some(village.link.clone()),
                        home,
                        node,
                    });
                }
            }
            progress(&format!(
                "started {} {} and its subtree",
                county.unit.org, county.unit.name
            ));
        }
        let mut city = DemoCity {
            plan,
            nodes,
            proxies,
            relay,
            carrier: Default::default(),
            dashboard,
            writers: JoinSet::new(),
            cancel: CancellationToken::new(),
            started,
        };
        if options.records_per_minute > 0.0 {
            city.start_writers(options.records_per_minute, options.seed);
        }
        city.start_carrier(dir.join("carried"), options.carry_every);
        Ok(city)
    }

    /// Starts the bundle carrier: every `every`, for each bundle village, seals what
    /// its township lacks into a file, imports it at the township, and carries the
    /// acknowledgement back — what a cadre does with a USB stick.
    fn start_carrier(&mut self, dir: PathBuf, every: Duration) {
        let mut trips = Vec::new();
        for (_, t, v) in self.plan.villages() {
            if v.link != VillageLink::Bundle {
                continue;
            }
            let find = |org: OrgCode| self.nodes.iter().find(|n| n.unit.org == org);
            if let (Some(village), Some(township)) = (find(v.unit.org), find(t.unit.org)) {
                trips.push((
                    village.unit.clone(),
                    village.node.handle().clone(),
                    township.node.handle().clone(),
                    township.home.dir().join(crate::pki::NODE_CERT_FILE),
                ));
            }
        }
        if trips.is_empty() {
            return;
        }
        let cancel = self.cancel.clone();
        let last = self.carrier.clone();
        self.writers.spawn(async move {
            let _ = std::fs::create_dir_all(&dir);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = cancel.cancelled() => return,
                }
                for (unit, village, township, cert) in &trips {
                    let text = match carry(&dir, unit, village, township, cert).await {
                        Ok(line) => line,
                        Err(e) => format!("{} {}: {e:#}", unit.org, unit.name),
                    };
                    *last.lock().expect("carrier status") =
                        format!("{} {text}", chrono::Local::now().format("%H:%M:%S"));
                }
            }
        });
    }

    /// Starts one writer per village: a record every `60 / per_minute` seconds on
    /// average, a realistic mix of new women, visits, pairings, measures, loans,
    /// trainings and exits; and one clerk per unit, checking a few records of its
    /// subtree every few records' time.
    fn start_writers(&mut self, per_minute: f64, seed: u64) {
        let mean = Duration::from_secs_f64(60.0 / per_minute);
        for (i, n) in self.nodes.iter().enumerate() {
            // Every unit's clerk checks a few records now and then.
            let handle = n.node.handle().clone();
            let cancel = self.cancel.clone();
            let clerk_seed = seed.wrapping_mul(131).wrapping_add(i as u64);
            self.writers.spawn(async move {
                let mut rng = StdRng::seed_from_u64(clerk_seed);
                loop {
                    let wait = mean.mul_f64(rng.random_range(3.0..6.0));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return,
                    }
                    let round = StdRng::seed_from_u64(rng.random());
                    let checked = handle
                        .run(move |ledger| {
                            let mut round = round;
                            super::clerk::check_some(ledger, &mut round)
                        })
                        .await;
                    if checked.is_err() {
                        return;
                    }
                }
            });
            if n.level != Level::Village {
                continue;
            }
            let handle = n.node.handle().clone();
            let cancel = self.cancel.clone();
            let seed = seed.wrapping_mul(31).wrapping_add(i as u64);
            self.writers.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut state = Some(WriterState::new(seed));
                loop {
                    let wait = mean.mul_f64(rng.random_range(0.5..1.5));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return,
                    }
                    let Some(mut s) = state.take() else { return };
                    match handle
                        .run(move |ledger| {
                            if let Err(e) = s.write_one(ledger) {
                                tracing::warn!(error = %e, "demo writer: a record was refused");
                            }
                            s
                        })
                        .await
                    {
                        Ok(s) => state = Some(s),
                        Err(_) => return,
                    }
                }
            });
        }
    }

    /// Reads every node's status and counts for the screen.
    pub async fn snapshot(&self) -> Snapshot {
        let city = &self.nodes[0].node;
        let mut snapshot = Snapshot {
            uptime: self.started.elapsed(),
            nodes: self.nodes.len(),
            city_women: 0,
            city_households: 0,
            city_visits: 0,
            village_women: 0,
            pending: 0,
            pending_nodes: 0,
            oldest_pending: None,
            villages: Vec::new(),
        };
        for n in &self.nodes {
            let Ok(status) = n.node.handle().status().await else {
                continue;
            };
            let parent = status.parent.clone().unwrap_or_default();
            if parent.pending_changes > 0 {
                snapshot.pending += parent.pending_changes;
                snapshot.pending_nodes += 1;
                if let Some(oldest) = &parent.oldest_pending {
                    if snapshot
                        .oldest_pending
                        .as_ref()
                        .is_none_or(|(o, _)| oldest < o)
                    {
                        snapshot.oldest_pending = Some((oldest.clone(), n.unit.org));
                    }
                }
            }
            if n.level != Level::Village {
                continue;
            }
            let org = n.unit.org;
            let women = |node: &RunningNode, of: OrgCode| {
                let handle = node.handle().clone();
                async move {
                    handle
                        .run(move |l| l.stats(Some(of)).map(|s| s.women.total).unwrap_or(0))
                        .await
                        .unwrap_or(0)
                }
            };
            let here = women(&n.node, org).await;
            let at_city = women(city, org).await;
            snapshot.village_women += here;
            let (county, township) = self.names_above(&org);
            snapshot.villages.push(VillageRow {
                county,
                township,
                village: n.unit.clone(),
                link: n.link.as_ref().map_or("", |l| l.name()).to_string(),
                connected: parent.connected,
                women_here: here,
                women_at_city: at_city,
                pending: parent.pending_changes,
                oldest_pending: parent.oldest_pending,
            });
        }
        // The city's totals last: villages keep writing while the demo runs, so totals
        // read before the villages' counts could be behind them for no fault of sync.
        let totals = city
            .handle()
            .run(|l| {
                l.stats(None)
                    .map(|s| (s.women.total, s.households.total, s.visits.total))
            })
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        (
            snapshot.city_women,
            snapshot.city_households,
            snapshot.city_visits,
        ) = totals;
        snapshot
    }

    fn names_above(&self, village: &OrgCode) -> (String, String) {
        for (c, t, v) in self.plan.villages() {
            if v.unit.org == *village {
                return (c.unit.name.clone(), t.unit.name.clone());
            }
        }
        (String::new(), String::new())
    }

    /// The simulated link of a village, if it has one (to take it down, read its
    /// counters).
    pub fn link_of(&self, village: &OrgCode) -> Option<&LossyProxy> {
        self.proxies
            .iter()
            .find(|(o, _)| o == village)
            .map(|(_, p)| p)
    }

    /// Stops the writers, then every node (villages first), each closing its ledger
    /// with everything durable.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.writers.join_next().await.is_some() {}
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.reverse();
        let mut stopping = JoinSet::new();
        for n in nodes {
            stopping.spawn(n.node.shutdown());
        }
        while stopping.join_next().await.is_some() {}
        self.proxies.clear();
        if let Some(relay) = self.relay.take() {
            // Waiting for the child to exit blocks: off the async threads.
            let _ = tokio::task::spawn_blocking(move || relay.stop()).await;
        }
    }
}
