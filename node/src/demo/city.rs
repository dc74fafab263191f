//! The demo city running: every unit of a [`CityPlan`] as its own node (own QUIC
//! endpoint, own certificate from a demo CA) in this process on loopback; each
//! village behind a simulated rural link to its township; villages writing realistic
//! records at a gentle rate; and a [`Snapshot`] of it all for the screen and the
//! benchmark.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use halfsky_shared::idcard::IdKey;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, Level, OrgCode, RecordId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::error::{Context, DemoError, Result};
use super::plan::{CityPlan, Unit, VillageLink};
use crate::command::{BundleReport, BundleRequest};
use crate::config::NodeHome;
use crate::ledger::Ledger;
use crate::lossy::{LinkProfile, LossyProxy};
use crate::run::RunningNode;

/// Device name of every demo node.
const DEVICE: &str = "demo";

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

/// The city dashboard's login for the demo.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// User name.
    pub user: String,
    /// Password (kept in `DIR/demo-login.txt` so a kept demo keeps it).
    pub password: String,
}

/// Gives the city node a dashboard on loopback with a `demo` user (created once,
/// its password kept beside the node homes).
fn enable_dashboard(dir: &Path, home: &NodeHome, port: u16) -> Result<DemoLogin> {
    let port = if port != 0 && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
        port
    } else {
        0
    };
    home.set_option("dashboard", "listen", Some(&format!("127.0.0.1:{port}")))?;
    let file = dir.join("demo-login.txt");
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Some((user, password)) = text.trim().split_once(' ') {
            return Ok(DemoLogin {
                user: user.into(),
                password: password.into(),
            });
        }
    }
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let password: String = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let hash = crate::dashboard::auth::hash_password(&password)
        .map_err(|e| DemoError::Missing(format!("hashing the demo password: {e}")))?;
    crate::config::set_dashboard_user(home, "demo", crate::config::Role::Editor, &hash)?;
    std::fs::write(&file, format!("demo {password}\n"))?;
    Ok(DemoLogin {
        user: "demo".into(),
        password,
    })
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

/// Creates a node home (with its certificate) unless it exists.
fn ensure_home(dir: &Path, ca: &Path, unit: &Unit, key: &IdKey, listen: bool) -> Result<NodeHome> {
    let home = NodeHome::new(dir.join(unit.org.to_string()));
    if !home.config_path().exists() {
        home.init_with(
            unit.org,
            &unit.name,
            DEVICE,
            Some(key.clone()),
            None,
            listen.then(|| "127.0.0.1:0".to_string()),
        )
        .with_context(|| format!("creating the node home of {} {}", unit.org, unit.name))?;
        crate::pki::issue(ca, unit.org, DEVICE, home.dir())
            .with_context(|| format!("issuing the certificate of {}", unit.org))?;
    }
    Ok(home)
}

/// Fills an empty village ledger with `households` synthetic households.
fn seed_village(home: &NodeHome, households: usize, seed: u64) -> Result<usize> {
    let mut ledger = Ledger::open(home)?;
    if !ledger.list(Kind::Household, "", true)?.is_empty() {
        return Ok(0);
    }
    let org = ledger.config().org;
    let mut generator = Generator::new(seed, ledger.today());
    let mut written = 0;
    generator.village(&org, households, |kind, inputs| {
        written += 1;
        ledger.add(kind, &inputs)
    })?;
    Ok(written)
}

async fn start_node(home: &NodeHome, parent: Option<SocketAddr>) -> Result<RunningNode> {
    home.set_sync_option("parent", parent.map(|a| a.to_string()).as_deref())?;
    RunningNode::start(home)
        .await
        .with_context(|| format!("starting the node in {}", home.dir().display()))
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
        let city_home = NodeHome::new(dir.join(plan.city.org.to_string()));
        let key = if city_home.config_path().exists() {
            city_home.config()?.id_key
        } else {
            IdKey::generate()
        };
        let mut plan = plan;
        let relay = if plan
            .villages()
            .any(|(_, _, v)| v.link == VillageLink::Relay)
        {
            match RelayProcess::start(dir, &ca, plan.city.org).await {
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
    /// trainings and exits.
    fn start_writers(&mut self, per_minute: f64, seed: u64) {
        let mean = Duration::from_secs_f64(60.0 / per_minute);
        for (i, n) in self.nodes.iter().enumerate() {
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
        let mut snapshot = Snapshot {
            uptime: self.started.elapsed(),
            nodes: self.nodes.len(),
            city_women: totals.0,
            city_households: totals.1,
            city_visits: totals.2,
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
            relay.stop();
        }
    }
}

/// Runs a bundle request on a running node's ledger.
async fn bundle_command(
    handle: &crate::ledger::actor::LedgerHandle,
    request: BundleRequest,
) -> Result<BundleReport> {
    Ok(handle
        .run(move |ledger| crate::command::bundle::execute(ledger, request))
        .await
        .map_err(|_| DemoError::Missing("the node stopped".into()))??)
}

/// One trip of the bundle carrier for one village.
async fn carry(
    dir: &Path,
    unit: &Unit,
    village: &crate::ledger::actor::LedgerHandle,
    township: &crate::ledger::actor::LedgerHandle,
    township_cert: &Path,
) -> Result<String> {
    let bundle = dir.join(format!("{}.bundle", unit.org));
    let ack = dir.join(format!("{}.ack", unit.org));
    let parent = unit.org.parent().context("a village has a township")?;
    bundle_command(
        village,
        BundleRequest::Export {
            to: parent,
            out: bundle.clone(),
            to_cert: Some(township_cert.to_path_buf()),
            expires_days: 30,
        },
    )
    .await
    .context("sealing the bundle")?;
    let imported = bundle_command(
        township,
        BundleRequest::Import {
            file: bundle.clone(),
            ack_out: Some(ack.clone()),
        },
    )
    .await
    .context("importing the bundle at the township")?;
    bundle_command(village, BundleRequest::Ack { file: ack.clone() })
        .await
        .context("carrying the acknowledgement back")?;
    let _ = std::fs::remove_file(&bundle);
    let _ = std::fs::remove_file(&ack);
    Ok(format!(
        "carried a bundle from {} {} to its township: {}",
        unit.org,
        unit.name,
        match imported {
            BundleReport::Imported {
                changes, documents, ..
            } => format!("applied {changes} changes of {documents} documents"),
            _ => "applied".to_string(),
        }
    ))
}

/// Points a node at the relay (short timings, for a demo), or at none.
fn set_relay(home: &NodeHome, relay: Option<&str>) -> Result<()> {
    home.set_sync_option("relay", relay)?;
    home.set_sync_option("relay_after", relay.map(|_| "10s"))?;
    home.set_sync_option("relay_poll", relay.map(|_| "5s"))?;
    Ok(())
}

/// The `halfsky-relay` binary: `$HALFSKY_RELAY_BIN`, or beside this executable (or
/// one folder up, as for test binaries in `target/*/deps`).
fn relay_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HALFSKY_RELAY_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let name = format!("halfsky-relay{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent()?;
    [dir.join(&name), dir.parent()?.join(&name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// The demo's relay: a `halfsky-relay` child process on loopback (the relay is its
/// own program; the node cannot link it in).
struct RelayProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl RelayProcess {
    async fn start(dir: &Path, ca: &Path, city: OrgCode) -> Result<RelayProcess> {
        let bin = relay_binary().context(
            "halfsky-relay is not built beside halfsky (cargo build --release builds both)",
        )?;
        let home = dir.join("relay");
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        if home.join("relay.toml").exists() {
            // A kept demo: the relay keeps its mailboxes, on a new port.
            let text = std::fs::read_to_string(home.join("relay.toml"))?;
            let mut table: toml::Table =
                toml::from_str(&text).context("reading the relay's relay.toml")?;
            if let Some(relay) = table.get_mut("relay").and_then(|r| r.as_table_mut()) {
                relay.insert("listen".into(), toml::Value::String(addr.to_string()));
            }
            let text = toml::to_string(&table).context("writing the relay's relay.toml")?;
            std::fs::write(home.join("relay.toml"), text)?;
        } else {
            let status = std::process::Command::new(&bin)
                .arg("-d")
                .arg(&home)
                .args(["init", "--listen", &addr.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .with_context(|| format!("running {}", bin.display()))?;
            if !status.success() {
                return Err(DemoError::Missing(format!(
                    "halfsky-relay init failed ({status})"
                )));
            }
            crate::pki::issue(ca, city, "relay", &home).context("the relay's certificate")?;
        }
        let log = std::fs::File::create(dir.join("relay.log"))?;
        let child = std::process::Command::new(&bin)
            .arg("-d")
            .arg(&home)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(RelayProcess { child, addr })
    }

    /// Stops the relay (SIGTERM, then waits; its store is durable either way).
    fn stop(mut self) {
        #[cfg(unix)]
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A village writer's memory between records.
struct WriterState {
    generator: Option<Generator>,
    rng: StdRng,
    women: Vec<RecordId>,
    loaded: bool,
}

impl WriterState {
    fn new(seed: u64) -> Self {
        WriterState {
            generator: None,
            rng: StdRng::seed_from_u64(seed),
            women: Vec::new(),
            loaded: false,
        }
    }

    /// Writes one realistic record into the village's ledger.
    fn write_one(&mut self, ledger: &mut Ledger) -> Result<()> {
        let org = ledger.config().org;
        if !self.loaded {
            self.women = ledger
                .list(Kind::Woman, "", true)?
                .into_iter()
                .map(|r| r.record.id)
                .collect();
            self.loaded = true;
        }
        let today = ledger.today();
        let seed = self.rng.random();
        let generator = self
            .generator
            .get_or_insert_with(|| Generator::new(seed, today));
        let roll = self.rng.random_range(0..100);
        let woman = (!self.women.is_empty())
            .then(|| self.women[self.rng.random_range(0..self.women.len())].clone());
        match (roll, woman) {
            (0..=39, Some(w)) => {
                ledger.add(Kind::Visit, &generator.visit(&w, 3))?;
            }
            (40..=49, Some(w)) => {
                ledger.add(Kind::Pairing, &generator.pairing(&w))?;
            }
            (50..=59, Some(w)) => {
                ledger.add(Kind::Measure, &generator.measure(&w))?;
            }
            (60..=64, Some(w)) => {
                ledger.add(Kind::Loan, &generator.loan(&w))?;
            }
            (65..=69, Some(_)) => {
                let attendees: Vec<_> = self.women.iter().take(12).cloned().collect();
                ledger.add(Kind::Training, &generator.training(&attendees))?;
            }
            (70..=74, Some(w)) => {
                let exit = vec![("status".to_string(), "exited".to_string())];
                ledger.update(&w, Some(Kind::Woman), &exit)?;
            }
            _ => {
                let household = ledger.add(Kind::Household, &generator.household())?;
                let w = ledger.add(Kind::Woman, &generator.woman(&org, Some(&household)))?;
                self.women.push(w);
            }
        }
        Ok(())
    }
}
