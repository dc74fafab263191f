//! A reconnect of running nodes after their link dropped (the rural case: the nodes
//! stay up, the radio does not): UDP bytes from the moment the link comes back until
//! the first sync after it, nothing having changed. Measured with QUIC's MTU probes
//! off (the default since they were found to be most of these bytes) beside on (the
//! earlier default), in the same run. Both ends keep the first connection's TLS
//! session for resumption; whether the reconnect used it is not observed here.

use std::net::SocketAddr;
use std::time::Duration;

use halfsky_node::lossy::{LinkProfile, LossyProxy};
use halfsky_node::run::RunningNode;

use crate::bench_sync::SyncFigure;
use crate::deploy::{start, Deployment, NodeSpec};
use crate::eventually;

const LIMIT: Duration = Duration::from_secs(120);

/// The county's view of its parent link.
async fn parent_link(county: &RunningNode) -> Option<halfsky_node::sync::status::ParentStatus> {
    county.handle().status().await.ok()?.parent
}

/// UDP bytes that reached the proxy, both ways.
fn bytes(proxy: &LossyProxy) -> u64 {
    let s = proxy.stats();
    s.to_upstream.received.bytes + s.to_client.received.bytes
}

/// Bytes of one reconnect after a drop, with MTU discovery on or off at both ends.
async fn one_reconnect(mtu_discovery: bool) -> u64 {
    let d = Deployment::new();
    let options = vec![
        ("mtu_discovery", mtu_discovery.to_string()),
        ("idle_timeout_secs", "3".to_string()),
        ("keep_alive_secs", "1".to_string()),
        ("max_backoff_secs", "1".to_string()),
    ];
    let city = start(&d.home(
        "230100000000",
        "市",
        &NodeSpec {
            device: "c".into(),
            listen: true,
            sync: options.clone(),
            ..Default::default()
        },
    ))
    .await;
    let localhost: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let proxy = LossyProxy::start(
        localhost,
        city.listen_addr().expect("the city listens"),
        LinkProfile::clean(),
        1,
    )
    .await
    .expect("proxy");
    let county = start(&d.home(
        "230129000000",
        "县",
        &NodeSpec {
            device: "k".into(),
            parent: Some(proxy.local_addr()),
            sync: options,
            ..Default::default()
        },
    ))
    .await;
    let first = eventually(LIMIT, "the first sync", || async {
        parent_link(&county).await?.last_sync
    })
    .await;
    // The first connection's probes and session tickets go before the drop.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    proxy.set_link_up(false);
    eventually(LIMIT, "the county to see its link down", || async {
        (!parent_link(&county).await?.connected).then_some(())
    })
    .await;
    let before = bytes(&proxy);
    proxy.set_link_up(true);
    eventually(LIMIT, "a sync after the reconnect", || {
        let first = first.clone();
        let county = &county;
        async move {
            let p = parent_link(county).await?;
            (p.connected && p.last_sync.is_some_and(|s| s != first)).then_some(())
        }
    })
    .await;
    // Whatever follows the sync on the new connection (probes, tickets) counts too.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let spent = bytes(&proxy) - before;
    county.shutdown().await;
    city.shutdown().await;
    spent
}

/// The figure: bytes of a reconnect after a drop, MTU discovery off beside on.
pub async fn reconnect_after_drop() -> Vec<SyncFigure> {
    let on = one_reconnect(true).await;
    let off = one_reconnect(false).await;
    vec![SyncFigure {
        name: "reconnect of running nodes after a link drop, nothing changed: UDP bytes".into(),
        value: off as f64,
        unit: "B",
        baseline_name: "the same with QUIC MTU discovery on (the earlier default)".into(),
        baseline: on as f64,
        goal: "≤ 6 KB".into(),
    }]
}
