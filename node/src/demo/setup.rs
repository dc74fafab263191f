//! Making the demo city's node homes: each unit's home with its certificate from the
//! demo CA, the city's dashboard login, villages seeded with households, nodes started.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::IdKeyGiven;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::Kind;
use rand::Rng;

use super::error::{Context, DemoError, Result};
use super::plan::Unit;
use crate::config::NodeHome;
use crate::ledger::Ledger;
use crate::run::RunningNode;

/// Device name of every demo node.
const DEVICE: &str = "demo";

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
pub(super) fn enable_dashboard(dir: &Path, home: &NodeHome, port: u16) -> Result<DemoLogin> {
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

/// Creates a node home (with its certificate) unless it exists.
pub(super) fn ensure_home(
    dir: &Path,
    ca: &Path,
    unit: &Unit,
    key: &IdKeyGiven,
    listen: bool,
) -> Result<NodeHome> {
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
pub(super) fn seed_village(home: &NodeHome, households: usize, seed: u64) -> Result<usize> {
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

/// The Harbin plan's city targets (seed 001, 2016–2020), written once into the city's
/// ledger so its overview measures against them; the per-county 300 person-times a year
/// is the counties' default and needs no record.
pub(super) const SEED_CITY_TARGETS: &[(&str, &str)] = &[
    ("city_bases", "50"),
    ("handicraft_bases", "50"),
    ("model_women", "100"),
    ("insured", "60000"),
    ("training_person_times", "30000"),
];

/// Writes [`SEED_CITY_TARGETS`] into an empty city ledger; how many were written.
pub(super) fn seed_city_targets(home: &NodeHome) -> Result<usize> {
    let mut ledger = Ledger::open(home)?;
    if !ledger.list(Kind::Target, "", true)?.is_empty() {
        return Ok(0);
    }
    let org = ledger.config().org.to_string();
    for (metric, value) in SEED_CITY_TARGETS {
        let inputs: Vec<(String, String)> = [
            ("org", org.as_str()),
            ("metric", metric),
            ("period", "2016-2020"),
            ("value", value),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ledger.add(Kind::Target, &inputs)?;
    }
    Ok(SEED_CITY_TARGETS.len())
}

pub(super) async fn start_node(home: &NodeHome, parent: Option<SocketAddr>) -> Result<RunningNode> {
    home.set_sync_option("parent", parent.map(|a| a.to_string()).as_deref())?;
    RunningNode::start(home)
        .await
        .with_context(|| format!("starting the node in {}", home.dir().display()))
}

/// Points a node at the relay (short timings, for a demo), or at none.
pub(super) fn set_relay(home: &NodeHome, relay: Option<&str>) -> Result<()> {
    home.set_sync_option("relay", relay)?;
    home.set_sync_option("relay_after", relay.map(|_| "10s"))?;
    home.set_sync_option("relay_poll", relay.map(|_| "5s"))?;
    Ok(())
}
