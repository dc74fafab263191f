//! Counters of what the proxy did to packets, per direction and by cause.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A count of packets and of their UDP payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Number of packets.
    pub packets: u64,
    /// Sum of their UDP payload sizes.
    pub bytes: u64,
}

impl std::ops::Add for Traffic {
    type Output = Traffic;

    fn add(self, other: Traffic) -> Traffic {
        Traffic {
            packets: self.packets + other.packets,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// What happened to the packets of one direction (summed over all clients).
///
/// Every received packet is either dropped at arrival (`dropped_loss`,
/// `dropped_queue`, some of `dropped_blackout`) or scheduled; scheduled packets and
/// their `duplicated` copies end up `forwarded`, in `dropped_blackout` (the link
/// went down while they were in flight) or in `send_failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets that reached the proxy.
    pub received: Traffic,
    /// Packets (and duplicate copies) sent on to their destination.
    pub forwarded: Traffic,
    /// Dropped by the loss model.
    pub dropped_loss: Traffic,
    /// Dropped because the bottleneck queue was full.
    pub dropped_queue: Traffic,
    /// Dropped because the link was down when they arrived or were due to leave.
    pub dropped_blackout: Traffic,
    /// Extra copies made by duplication.
    pub duplicated: Traffic,
    /// Packets held back to be delivered after the next one.
    pub reordered: Traffic,
    /// Packets the proxy could not send (socket error, e.g. nothing listening).
    pub send_failed: Traffic,
}

impl DirectionStats {
    /// All packets the simulated link dropped (loss, queue and blackout).
    pub fn dropped(&self) -> Traffic {
        self.dropped_loss + self.dropped_queue + self.dropped_blackout
    }

    /// Packets still inside the proxy (queued or delayed). Counters are read one
    /// by one, so this is exact only once traffic has stopped.
    pub fn in_flight(&self) -> u64 {
        (self.received.packets + self.duplicated.packets).saturating_sub(
            self.forwarded.packets + self.dropped().packets + self.send_failed.packets,
        )
    }
}

impl fmt::Display for DirectionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in {} pkt / {} B, out {} pkt / {} B, dropped loss {} queue {} blackout {}, \
             dup {}, reordered {}, send failed {}",
            self.received.packets,
            self.received.bytes,
            self.forwarded.packets,
            self.forwarded.bytes,
            self.dropped_loss.packets,
            self.dropped_queue.packets,
            self.dropped_blackout.packets,
            self.duplicated.packets,
            self.reordered.packets,
            self.send_failed.packets
        )
    }
}

/// A snapshot of a [`LossyProxy`](super::LossyProxy)'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client → upstream.
    pub to_upstream: DirectionStats,
    /// Upstream → client.
    pub to_client: DirectionStats,
    /// Upstream sockets opened so far: one per client address, and another when
    /// a client comes back after [`NAT_IDLE_TIMEOUT`](super::NAT_IDLE_TIMEOUT).
    pub clients: u64,
}

impl fmt::Display for ProxyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clients {}\n  to upstream: {}\n  to client:   {}",
            self.clients, self.to_upstream, self.to_client
        )
    }
}

/// Live counters of one direction, shared by every client's link.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: Pair,
    pub(crate) forwarded: Pair,
    pub(crate) dropped_loss: Pair,
    pub(crate) dropped_queue: Pair,
    pub(crate) dropped_blackout: Pair,
    pub(crate) duplicated: Pair,
    pub(crate) reordered: Pair,
    pub(crate) send_failed: Pair,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            received: self.received.load(),
            forwarded: self.forwarded.load(),
            dropped_loss: self.dropped_loss.load(),
            dropped_queue: self.dropped_queue.load(),
            dropped_blackout: self.dropped_blackout.load(),
            duplicated: self.duplicated.load(),
            reordered: self.reordered.load(),
            send_failed: self.send_failed.load(),
        }
    }
}

/// Packet and byte counters updated together.
#[derive(Debug, Default)]
pub(crate) struct Pair {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Pair {
    pub(crate) fn add(&self, len: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }

    fn load(&self) -> Traffic {
        Traffic {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}
