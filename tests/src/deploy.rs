//! A test deployment: one CA, node homes at every level, nodes started in this process
//! on loopback (waiting on conditions is [`crate::eventually`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use halfsky_node::config::Role;
use halfsky_node::run::RunningNode;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::OrgCode;

/// A CA and a directory of node homes.
#[derive(Debug)]
pub struct Deployment {
    dir: tempfile::TempDir,
    ca: PathBuf,
    /// The deployment's ID key (its private half: offices keep it, villages only the
    /// public half, as enrollment would give them).
    id_key: halfsky_shared::idcard::IdSecret,
}

/// Where a new node sits in the deployment.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    /// Device name (unique per unit).
    pub device: String,
    /// The parent's address, if any.
    pub parent: Option<SocketAddr>,
    /// Accept children (on 127.0.0.1, port `listen_port` or any free one).
    pub listen: bool,
    /// Fixed listen port (to restart a parent on the same address); 0 = any.
    pub listen_port: u16,
    /// Extra `[sync]` settings written into `halfsky.toml` (e.g. `congestion`).
    pub sync: Vec<(&'static str, String)>,
}

impl NodeSpec {
    /// Device `device`, under the parent at `parent` (if any), accepting children on
    /// loopback if `listen`: the three things almost every test node differs in.
    pub fn new(device: &str, parent: Option<SocketAddr>, listen: bool) -> Self {
        NodeSpec {
            device: device.into(),
            parent,
            listen,
            ..NodeSpec::default()
        }
    }
}

impl Deployment {
    /// A fresh deployment for the city `230100000000`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        halfsky_node::pki::init_ca(OrgCode::parse("230100000000").expect("valid"), &ca)
            .expect("CA");
        Deployment {
            dir,
            ca,
            id_key: halfsky_shared::idcard::IdSecret::from_seed(&[42; 32]),
        }
    }

    /// The CA directory.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The deployment's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a node home for `org` with a certificate.
    pub fn home(&self, org: &str, name: &str, spec: &NodeSpec) -> NodeHome {
        let org = OrgCode::parse(org).expect("valid org");
        let device = if spec.device.is_empty() {
            "d1"
        } else {
            spec.device.as_str()
        };
        let home = NodeHome::new(self.dir.path().join(format!("{org}-{device}")));
        let listen = spec
            .listen
            .then(|| format!("127.0.0.1:{}", spec.listen_port));
        home.init_with(
            org,
            name,
            device,
            Some(halfsky_node::config::IdKeyGiven::Secret(
                self.id_key.clone(),
            )),
            spec.parent.map(|a| a.to_string()),
            listen,
        )
        .expect("node home");
        if !spec.sync.is_empty() {
            set_sync_options(&home, &spec.sync);
        }
        halfsky_node::pki::issue(&self.ca, org, device, home.dir()).expect("certificate");
        home
    }
}

/// Turns on the dashboard of a node home, on 127.0.0.1 (any free port), with one
/// user per `(name, role, password)`.
pub fn enable_dashboard(home: &NodeHome, users: &[(&str, Role, &str)]) {
    enable_dashboard_on(home, 0, users);
}

/// [`enable_dashboard`] on a fixed loopback port (for a node run as its own process,
/// whose dashboard the test must find).
pub fn enable_dashboard_on(home: &NodeHome, port: u16, users: &[(&str, Role, &str)]) {
    let path = home.config_path();
    let mut text = std::fs::read_to_string(&path).expect("config readable");
    text.push_str(&format!("\n[dashboard]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&path, text).expect("config writable");
    for (name, role, password) in users {
        let hash = halfsky_node::dashboard::auth::hash_password(password).expect("hashes");
        halfsky_node::config::set_dashboard_user(home, name, *role, &hash).expect("user saved");
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `key = value` pairs into the `[sync]` table of a node's `halfsky.toml`.
pub fn set_sync_options(home: &NodeHome, options: &[(&'static str, String)]) {
    let path = home.config_path();
    let text = std::fs::read_to_string(&path).expect("halfsky.toml");
    let mut table: toml::Table = toml::from_str(&text).expect("halfsky.toml parses");
    let sync = table
        .entry("sync")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[sync] is a table");
    for (key, value) in options {
        // Numbers and booleans as such, so `idle_timeout_secs = 3` and
        // `mtu_discovery = false` read as the config expects.
        let value = if let Ok(n) = value.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(b) = value.parse::<bool>() {
            toml::Value::Boolean(b)
        } else {
            toml::Value::String(value.clone())
        };
        sync.insert((*key).to_string(), value);
    }
    std::fs::write(&path, toml::to_string(&table).expect("serializes")).expect("written");
}

/// A running chain city → county → township → village (`230100000000`,
/// `230129000000`, `230129100000`, `230129100201`), each dialling the one above: the
/// shape of a record's way up three hops.
pub async fn chain(d: &Deployment) -> [RunningNode; 4] {
    let city = start(&d.home("230100000000", "市", &NodeSpec::new("c", None, true))).await;
    let county = start(&d.home(
        "230129000000",
        "县",
        &NodeSpec::new("k", city.listen_addr(), true),
    ))
    .await;
    let town = start(&d.home(
        "230129100000",
        "镇",
        &NodeSpec::new("t", county.listen_addr(), true),
    ))
    .await;
    let village = start(&d.home(
        "230129100201",
        "村",
        &NodeSpec::new("v", town.listen_addr(), false),
    ))
    .await;
    [city, county, town, village]
}

/// Starts a node in this process.
pub async fn start(home: &NodeHome) -> RunningNode {
    RunningNode::start(home).await.expect("node starts")
}

/// Runs `f` on a running node's ledger.
pub async fn with<T: Send + 'static>(
    node: &RunningNode,
    f: impl FnOnce(&mut Ledger) -> T + Send + 'static,
) -> T {
    node.handle().run(f).await.expect("node is running")
}

/// Adds a woman with only the fields the schema requires to a running node; returns
/// her id. For tests that need one record to travel, not a realistic village.
pub async fn add_woman(node: &RunningNode, name: &str) -> halfsky_shared::RecordId {
    let fields = vec![
        ("name".to_string(), name.to_string()),
        ("birth_year".into(), "1975".into()),
        ("labor_capacity".into(), "full".into()),
    ];
    with(node, move |l| l.add(halfsky_shared::Kind::Woman, &fields))
        .await
        .expect("a woman with the required fields is valid")
}

/// A free UDP port on loopback (to restart a parent on the same address).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Adds relay settings to a node home's `[sync]`: the relay at `relay`, parent
/// counted as gone after 300 ms, a visit every 200 ms.
pub fn use_relay(home: &NodeHome, relay: SocketAddr) {
    set_sync_options(
        home,
        &[
            ("relay", relay.to_string()),
            ("relay_after", "300ms".into()),
            ("relay_poll", "200ms".into()),
        ],
    );
    home.config().expect("the relay settings parse");
}

/// A relay home in the deployment's directory, listening on any loopback port, with
/// a relay certificate (role relay: mailboxes only).
pub fn relay_home(d: &Deployment) -> halfsky_relay::RelayHome {
    let home = halfsky_relay::RelayHome::new(d.dir().join("relay"));
    home.init("127.0.0.1:0").expect("relay home");
    halfsky_node::pki::issue_relay(d.ca(), "relay", home.dir(), &[]).expect("relay certificate");
    home
}
