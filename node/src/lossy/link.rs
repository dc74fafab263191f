//! One direction of a simulated link, without I/O: packets are offered with the
//! time they arrived and come out of [`Link::pop_due`] when they are due, or are
//! dropped and counted. The proxy drives it with tokio time; unit tests drive it
//! with instants of their own.
//!
//! Order of impairments: blackout at arrival, loss, bottleneck queue and rate
//! (a FIFO drained at `rate_bps`: a token bucket one packet deep), propagation
//! delay with jitter (kept FIFO), reordering, duplication, blackout when leaving.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::profile::{Blackout, LinkProfile, LossModel};
use super::stats::Counters;

/// How long a packet picked for reordering waits for a later one to overtake it;
/// after that it is sent anyway (not reordered, only late).
pub const REORDER_HOLD: Duration = Duration::from_millis(50);

/// Whether the link is up: the blackout schedule, and a switch tests can flip.
/// Shared by both directions of every client.
#[derive(Debug)]
pub(crate) struct LinkSwitch {
    started: Instant,
    schedule: Option<Blackout>,
    /// `false` forces the link down whatever the schedule says.
    forced_up: AtomicBool,
}

impl LinkSwitch {
    pub(crate) fn new(started: Instant, schedule: Option<Blackout>) -> Self {
        LinkSwitch {
            started,
            schedule,
            forced_up: AtomicBool::new(true),
        }
    }

    pub(crate) fn set_forced_up(&self, up: bool) {
        self.forced_up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn is_up(&self, now: Instant) -> bool {
        self.forced_up.load(Ordering::Relaxed)
            && self
                .schedule
                .is_none_or(|b| b.is_up_at(now.saturating_duration_since(self.started)))
    }
}

/// What [`Link::offer`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Will come out of `pop_due` (possibly held for reordering).
    Scheduled,
    /// Dropped by the loss model.
    Lost,
    /// Dropped: the bottleneck queue was full.
    QueueFull,
    /// Dropped: the link was down.
    Blackout,
}

/// The random choices for one packet. All of them are drawn for every packet,
/// whatever then happens to it, so a seed gives the same pattern at any timing.
struct Draws {
    lost: bool,
    /// In -1..1: fraction of the jitter added to (or taken from) the delay.
    jitter: f64,
    reorder: bool,
    duplicate: bool,
}

/// One direction of one client's link.
pub(crate) struct Link {
    profile: LinkProfile,
    rng: StdRng,
    /// Gilbert-Elliott state: `true` while in the bad state.
    bad: bool,
    /// When the bottleneck will have finished sending what it has accepted.
    tx_free_at: Option<Instant>,
    /// Delivery time of the last scheduled packet (deliveries stay in order).
    last_delivery: Option<Instant>,
    /// A packet waiting for the next one to overtake it, and when it gives up.
    held: Option<(Instant, Vec<u8>)>,
    /// Scheduled packets, in delivery order.
    pending: VecDeque<(Instant, Vec<u8>)>,
    counters: Arc<Counters>,
}

impl Link {
    pub(crate) fn new(profile: LinkProfile, seed: u64, counters: Arc<Counters>) -> Self {
        Link {
            profile,
            rng: StdRng::seed_from_u64(seed),
            bad: false,
            tx_free_at: None,
            last_delivery: None,
            held: None,
            pending: VecDeque::new(),
            counters,
        }
    }

    fn draw(&mut self) -> Draws {
        let switch: f64 = self.rng.random();
        let loss: f64 = self.rng.random();
        let jitter = self.rng.random::<f64>() * 2.0 - 1.0;
        let reorder = self.rng.random::<f64>() < self.profile.reorder();
        let duplicate = self.rng.random::<f64>() < self.profile.duplicate();
        let lost = match self.profile.loss() {
            LossModel::None => false,
            LossModel::Uniform(p) => loss < p,
            LossModel::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                let flip = if self.bad { to_good } else { to_bad };
                if switch < flip {
                    self.bad = !self.bad;
                }
                loss < if self.bad { loss_bad } else { loss_good }
            }
        };
        Draws {
            lost,
            jitter,
            reorder,
            duplicate,
        }
    }

    /// A packet arrives at `now`; `up` is whether the link is up.
    pub(crate) fn offer(&mut self, now: Instant, up: bool, packet: Vec<u8>) -> Verdict {
        let len = packet.len();
        self.counters.received.add(len);
        let draws = self.draw();
        if !up {
            self.counters.dropped_blackout.add(len);
            return Verdict::Blackout;
        }
        if draws.lost {
            self.counters.dropped_loss.add(len);
            return Verdict::Lost;
        }
        let sent_at = match self.profile.rate_bps() {
            None => now,
            Some(rate) => {
                let free = self.tx_free_at.map_or(now, |t| t.max(now));
                let backlog = bytes_sent_in(free - now, rate);
                // An idle bottleneck takes any packet; a busy one only what fits.
                if backlog > 0 && backlog + len as u64 > self.profile.queue_bytes() as u64 {
                    self.counters.dropped_queue.add(len);
                    return Verdict::QueueFull;
                }
                let done = free + time_to_send(len, rate);
                self.tx_free_at = Some(done);
                done
            }
        };
        let jitter = self.profile.jitter().mul_f64(draws.jitter.abs());
        let delay = if draws.jitter >= 0.0 {
            self.profile.one_way_delay() + jitter
        } else {
            self.profile.one_way_delay().saturating_sub(jitter)
        };
        let at = sent_at + delay;
        if draws.duplicate {
            self.counters.duplicated.add(len);
        }
        let copy = draws.duplicate.then(|| packet.clone());
        if let Some((_, held)) = self.held.take() {
            self.push(at, packet);
            self.push(at, held);
        } else if draws.reorder {
            self.counters.reordered.add(len);
            self.held = Some((self.later_than_last(at) + REORDER_HOLD, packet));
        } else {
            self.push(at, packet);
        }
        if let Some(copy) = copy {
            self.push(at, copy);
        }
        Verdict::Scheduled
    }

    fn later_than_last(&self, at: Instant) -> Instant {
        self.last_delivery.map_or(at, |last| last.max(at))
    }

    fn push(&mut self, at: Instant, packet: Vec<u8>) {
        let at = self.later_than_last(at);
        self.last_delivery = Some(at);
        self.pending.push_back((at, packet));
    }

    /// When the link next has something to do, if anything.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        let due = self.pending.front().map(|(at, _)| *at);
        let hold = self.held.as_ref().map(|(at, _)| *at);
        match (due, hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next packet due by `now`, if any; packets due while the link is down
    /// are dropped and counted.
    pub(crate) fn pop_due(&mut self, now: Instant, up: bool) -> Option<Vec<u8>> {
        if self.held.as_ref().is_some_and(|(at, _)| *at <= now) {
            if let Some((at, packet)) = self.held.take() {
                self.push(at, packet);
            }
        }
        while self.pending.front().is_some_and(|(at, _)| *at <= now) {
            let (_, packet) = self.pending.pop_front()?;
            if up {
                return Some(packet);
            }
            self.counters.dropped_blackout.add(packet.len());
        }
        None
    }

    /// Whether nothing is queued, delayed or held.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.held.is_none()
    }
}

/// Time the bottleneck takes to send `len` bytes at `rate` bit/s.
fn time_to_send(len: usize, rate: u64) -> Duration {
    let nanos = (len as u128 * 8 * 1_000_000_000) / rate as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Bytes the bottleneck sends at `rate` bit/s in `d`.
fn bytes_sent_in(d: Duration, rate: u64) -> u64 {
    u64::try_from(d.as_nanos() * rate as u128 / 8_000_000_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(profile: LinkProfile, seed: u64) -> (Link, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (Link::new(profile, seed, counters.clone()), counters)
    }

    /// Offers `n` packets (numbered) at `now` and returns them in delivery order.
    fn run(link: &mut Link, t0: Instant, n: u32, spacing: Duration) -> Vec<u32> {
        for i in 0..n {
            link.offer(t0 + spacing * i, true, i.to_be_bytes().to_vec());
        }
        let mut out = Vec::new();
        while let Some(at) = link.next_wakeup() {
            while let Some(p) = link.pop_due(at, true) {
                out.push(u32::from_be_bytes(p[..4].try_into().expect("4 bytes")));
            }
        }
        out
    }

    #[test]
    fn delay_and_jitter_keep_order() {
        let profile = LinkProfile::clean()
            .with_one_way_delay(Duration::from_millis(100))
            .with_jitter(Duration::from_millis(80));
        let (mut link, _) = link(profile, 7);
        let t0 = Instant::now();
        link.offer(t0, true, vec![0; 10]);
        let first = link.next_wakeup().expect("scheduled");
        assert!(
            first >= t0 + Duration::from_millis(20) && first <= t0 + Duration::from_millis(180)
        );
        assert!(link
            .pop_due(first - Duration::from_millis(1), true)
            .is_none());
        assert!(link.pop_due(first, true).is_some());
        let order = run(&mut link, t0, 200, Duration::from_millis(1));
        assert_eq!(order, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn rate_paces_and_queue_bounds() {
        // 80 kbit/s = 10 bytes/ms; 1,000-byte packets take 100 ms each.
        let profile = LinkProfile::clean()
            .with_rate_bps(Some(80_000))
            .with_queue_bytes(3_000);
        let (mut link, counters) = link(profile, 1);
        let t0 = Instant::now();
        let verdicts: Vec<_> = (0..10)
            .map(|_| link.offer(t0, true, vec![0; 1000]))
            .collect();
        // The queue holds 3,000 bytes, counting the packet being sent; the rest drop.
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| **v == Verdict::Scheduled)
                .count(),
            3
        );
        assert_eq!(counters.snapshot().dropped_queue.packets, 7);
        let mut times = Vec::new();
        while let Some(at) = link.next_wakeup() {
            while link.pop_due(at, true).is_some() {
                times.push(at - t0);
            }
        }
        let ms = |m| Duration::from_millis(m);
        assert_eq!(times, vec![ms(100), ms(200), ms(300)]);
        // Once the first has gone, there is room for one more.
        assert_eq!(
            link.offer(t0 + ms(100), true, vec![0; 1000]),
            Verdict::Scheduled
        );
    }

    #[test]
    fn reordering_swaps_with_the_next_packet() {
        let profile = LinkProfile::clean().with_reorder(0.3);
        let (mut link, counters) = link(profile, 3);
        let order = run(&mut link, Instant::now(), 1000, Duration::from_micros(10));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..1000).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
        let swapped = order.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert!(swapped > 150, "{swapped} swaps");
        assert!(swapped <= counters.snapshot().reordered.packets);
    }

    #[test]
    fn blackout_drops_on_arrival_and_in_flight() {
        let profile = LinkProfile::clean().with_one_way_delay(Duration::from_millis(100));
        let (mut link, counters) = link(profile, 3);
        let t0 = Instant::now();
        assert_eq!(link.offer(t0, false, vec![0; 5]), Verdict::Blackout);
        assert_eq!(link.offer(t0, true, vec![0; 5]), Verdict::Scheduled);
        assert!(link
            .pop_due(t0 + Duration::from_millis(100), false)
            .is_none());
        assert!(link.is_idle());
        assert_eq!(counters.snapshot().dropped_blackout.packets, 2);
    }

    #[test]
    fn switch_follows_schedule_and_force() {
        let t0 = Instant::now();
        let switch = LinkSwitch::new(
            t0,
            Some(Blackout {
                up: Duration::from_secs(1),
                down: Duration::from_secs(2),
            }),
        );
        assert!(switch.is_up(t0));
        assert!(!switch.is_up(t0 + Duration::from_millis(1500)));
        assert!(switch.is_up(t0 + Duration::from_millis(3500)));
        switch.set_forced_up(false);
        assert!(!switch.is_up(t0));
        switch.set_forced_up(true);
        assert!(switch.is_up(t0));
    }
}
