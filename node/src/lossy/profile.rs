//! What a simulated link does to packets: [`LinkProfile`], its [`LossModel`] and
//! [`Blackout`] schedule, the named profiles and the `name,key=value,...` text form
//! the `lossy_proxy` binary takes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Names accepted by [`LinkProfile::named`], mildest first.
pub const NAMES: &[&str] = &[
    "clean",
    "satellite",
    "rural-3g",
    "edge-2g",
    "flaky",
    "awful",
];

/// How packets are lost, independently in each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    /// Nothing is lost.
    None,
    /// Each packet is lost with this probability, independently of the others.
    Uniform(f64),
    /// Gilbert-Elliott two-state model: the link is either *good* or *bad*, switches
    /// state before each packet with the given probabilities, and loses the packet
    /// with the loss probability of the state it is in. Bad states last
    /// `1 / to_good` packets on average, so losses come in bursts (radio fades).
    GilbertElliott {
        /// Probability of going from good to bad before a packet.
        to_bad: f64,
        /// Probability of going from bad to good before a packet.
        to_good: f64,
        /// Loss probability while good (usually 0).
        loss_good: f64,
        /// Loss probability while bad (usually 1).
        loss_bad: f64,
    },
}

impl LossModel {
    /// Uniform (independent) loss of fraction `p` of the packets.
    pub fn uniform(p: f64) -> Self {
        if p <= 0.0 {
            LossModel::None
        } else {
            LossModel::Uniform(p.min(1.0))
        }
    }

    /// Bursty loss of fraction `average` of the packets, in bursts of `mean_burst`
    /// packets on average (simple Gilbert model: all lost while bad, none while good).
    pub fn bursty(average: f64, mean_burst: f64) -> Self {
        let average = average.clamp(0.0, 0.99);
        if average == 0.0 {
            return LossModel::None;
        }
        let to_good = 1.0 / mean_burst.max(1.0);
        // Stationary share of bad states: to_bad / (to_bad + to_good) = average.
        let to_bad = (average * to_good / (1.0 - average)).min(1.0);
        LossModel::GilbertElliott {
            to_bad,
            to_good,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// Long-run fraction of packets lost.
    pub fn average(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Uniform(p) => p,
            LossModel::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                if to_bad + to_good == 0.0 {
                    loss_good
                } else {
                    (to_good * loss_good + to_bad * loss_bad) / (to_bad + to_good)
                }
            }
        }
    }

    /// Mean length of a bad period in packets (1 for uniform loss, 0 for none).
    pub fn mean_burst(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Uniform(_) => 1.0,
            LossModel::GilbertElliott { to_good, .. } if to_good > 0.0 => 1.0 / to_good,
            LossModel::GilbertElliott { .. } => f64::INFINITY,
        }
    }
}

/// A repeating outage: the link is up for `up`, then down for `down`, starting up
/// when the proxy starts. Both directions share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blackout {
    /// How long the link stays up in each cycle.
    pub up: Duration,
    /// How long the link stays down in each cycle.
    pub down: Duration,
}

impl Blackout {
    /// Whether the schedule has the link up `since_start` after the proxy started.
    pub fn is_up_at(&self, since_start: Duration) -> bool {
        let period = self.up + self.down;
        if period.is_zero() || self.down.is_zero() {
            return true;
        }
        let phase = since_start.as_nanos() % period.as_nanos();
        phase < self.up.as_nanos()
    }
}

/// What a simulated link does to packets, the same in each direction (each
/// direction has its own queue, rate and loss state; the blackout schedule is
/// shared). Built from [`LinkProfile::named`] or [`LinkProfile::clean`] and the
/// `with_*` setters, or parsed from text (see the [`FromStr`] impl).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProfile {
    /// Bottleneck rate in bits per second of UDP payload; `None` for unlimited.
    rate_bps: Option<u64>,
    /// Propagation delay added in each direction (half the round-trip time).
    one_way_delay: Duration,
    /// Each packet's delay varies uniformly by up to this much either way. Jitter
    /// never reorders packets by itself (a real bottleneck is FIFO); see `reorder`.
    jitter: Duration,
    /// How packets are lost.
    loss: LossModel,
    /// Probability that a packet is held back and delivered after the next one.
    reorder: f64,
    /// Probability that a packet is delivered twice.
    duplicate: f64,
    /// Bytes the bottleneck holds, counting the packet being sent, before it drops
    /// arriving packets (only with a rate; an idle bottleneck takes any packet).
    /// Deep queues add delay (bufferbloat); shallow ones add loss.
    queue_bytes: usize,
    /// Repeating outage, if any.
    blackout: Option<Blackout>,
}

impl Default for LinkProfile {
    fn default() -> Self {
        Self::clean()
    }
}

impl LinkProfile {
    /// No impairment at all: packets go straight through.
    pub fn clean() -> Self {
        LinkProfile {
            rate_bps: None,
            one_way_delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: LossModel::None,
            reorder: 0.0,
            duplicate: 0.0,
            queue_bytes: 64 * 1024,
            blackout: None,
        }
    }

    /// A named profile from [`NAMES`]:
    /// - `clean`: no impairment;
    /// - `edge-2g`: 100 kbit/s, 600 ms RTT, 5 % loss, 16 KiB queue;
    /// - `rural-3g`: 384 kbit/s, 300 ms RTT, 3 % loss, 48 KiB queue;
    /// - `satellite`: 1 Mbit/s, 700 ms RTT, 1 % loss, 128 KiB queue;
    /// - `flaky`: `rural-3g`, up 10 s / down 20 s;
    /// - `awful`: `edge-2g` with 15 % loss in bursts of 4, up 5 s / down 30 s.
    pub fn named(name: &str) -> Option<LinkProfile> {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        let profile = match name {
            "clean" => Self::clean(),
            "edge-2g" => Self::clean()
                .with_rate_bps(Some(100_000))
                .with_rtt(ms(600))
                .with_jitter(ms(40))
                .with_loss(LossModel::uniform(0.05))
                .with_queue_bytes(16 * 1024),
            "rural-3g" => Self::clean()
                .with_rate_bps(Some(384_000))
                .with_rtt(ms(300))
                .with_jitter(ms(20))
                .with_loss(LossModel::uniform(0.03))
                .with_queue_bytes(48 * 1024),
            "satellite" => Self::clean()
                .with_rate_bps(Some(1_000_000))
                .with_rtt(ms(700))
                .with_jitter(ms(10))
                .with_loss(LossModel::uniform(0.01))
                .with_queue_bytes(128 * 1024),
            "flaky" => Self::named("rural-3g")?.with_blackout(Some(Blackout {
                up: secs(10),
                down: secs(20),
            })),
            "awful" => Self::named("edge-2g")?
                .with_loss(LossModel::bursty(0.15, 4.0))
                .with_blackout(Some(Blackout {
                    up: secs(5),
                    down: secs(30),
                })),
            _ => return None,
        };
        Some(profile)
    }

    /// Sets the bottleneck rate in bits per second (`None`: unlimited).
    pub fn with_rate_bps(mut self, rate_bps: Option<u64>) -> Self {
        self.rate_bps = rate_bps.filter(|&r| r > 0);
        self
    }

    /// Sets the one-way delay to half of `rtt`.
    pub fn with_rtt(self, rtt: Duration) -> Self {
        self.with_one_way_delay(rtt / 2)
    }

    /// Sets the delay added in each direction.
    pub fn with_one_way_delay(mut self, delay: Duration) -> Self {
        self.one_way_delay = delay;
        self
    }

    /// Sets the jitter (each packet's delay varies by up to this much either way).
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the loss model.
    pub fn with_loss(mut self, loss: LossModel) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the probability (clamped to 0..=1) that a packet is delivered after the next one.
    pub fn with_reorder(mut self, p: f64) -> Self {
        self.reorder = clamp01(p);
        self
    }

    /// Sets the probability (clamped to 0..=1) that a packet is delivered twice.
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = clamp01(p);
        self
    }

    /// Sets how many bytes the bottleneck queue holds.
    pub fn with_queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// Sets the repeating outage (`None`: always up, unless forced down).
    pub fn with_blackout(mut self, blackout: Option<Blackout>) -> Self {
        self.blackout = blackout.filter(|b| !b.down.is_zero());
        self
    }

    /// Bottleneck rate in bits per second, if limited.
    pub fn rate_bps(&self) -> Option<u64> {
        self.rate_bps
    }

    /// Delay added in each direction.
    pub fn one_way_delay(&self) -> Duration {
        self.one_way_delay
    }

    /// Round-trip time the proxy adds (twice the one-way delay).
    pub fn rtt(&self) -> Duration {
        self.one_way_delay * 2
    }

    /// Jitter (maximum deviation of one packet's delay).
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// The loss model.
    pub fn loss(&self) -> LossModel {
        self.loss
    }

    /// Probability that a packet is delivered after the next one.
    pub fn reorder(&self) -> f64 {
        self.reorder
    }

    /// Probability that a packet is delivered twice.
    pub fn duplicate(&self) -> f64 {
        self.duplicate
    }

    /// Bytes the bottleneck queue holds.
    pub fn queue_bytes(&self) -> usize {
        self.queue_bytes
    }

    /// The repeating outage, if any.
    pub fn blackout(&self) -> Option<Blackout> {
        self.blackout
    }
}

fn clamp01(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// Why a profile text did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProfileError(String);

impl fmt::Display for ParseProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseProfileError {}

fn err(msg: impl Into<String>) -> ParseProfileError {
    ParseProfileError(msg.into())
}

/// Parses `NAME[,key=value...]` or `key=value,...` (starting from `clean`). Keys:
/// `rate` (`384k`, `1M`, `100000`, `none`; bits per second), `rtt`, `delay`
/// (one-way), `jitter` (`300ms`, `1.5s`), `loss` (`5%` or `0.05`), `burst` (mean
/// burst length in packets: makes the loss bursty), `reorder`, `duplicate`,
/// `queue` (bytes: `64k`, `65536`), `blackout` (`10s/20s` or `none`).
/// Example: `rural-3g,loss=10%,burst=3,blackout=5s/10s`.
impl FromStr for LinkProfile {
    type Err = ParseProfileError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(',').map(str::trim).filter(|p| !p.is_empty());
        let mut profile = LinkProfile::clean();
        let mut rest: Vec<&str> = Vec::new();
        if let Some(first) = parts.next() {
            if first.contains('=') {
                rest.push(first);
            } else {
                profile = LinkProfile::named(first).ok_or_else(|| {
                    err(format!(
                        "unknown link profile {first:?}; known: {}",
                        NAMES.join(", ")
                    ))
                })?;
            }
        }
        rest.extend(parts);
        let mut loss = None;
        let mut burst = None;
        for part in rest {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| err(format!("expected key=value, got {part:?}")))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "rate" => profile = profile.with_rate_bps(parse_rate(value)?),
                "rtt" => profile = profile.with_rtt(parse_duration(value)?),
                "delay" => profile = profile.with_one_way_delay(parse_duration(value)?),
                "jitter" => profile = profile.with_jitter(parse_duration(value)?),
                "loss" => loss = Some(parse_probability(value)?),
                "burst" => {
                    let b: f64 =
                        value
                            .parse()
                            .ok()
                            .filter(|b: &f64| *b >= 1.0)
                            .ok_or_else(|| {
                                err(format!("burst must be a number >= 1, got {value:?}"))
                            })?;
                    burst = Some(b);
                }
                "reorder" => profile = profile.with_reorder(parse_probability(value)?),
                "duplicate" | "dup" => profile = profile.with_duplicate(parse_probability(value)?),
                "queue" => profile = profile.with_queue_bytes(parse_bytes(value)?),
                "blackout" => profile = profile.with_blackout(parse_blackout(value)?),
                _ => {
                    return Err(err(format!(
                        "unknown key {key:?}; known: rate, rtt, delay, jitter, loss, burst, \
                         reorder, duplicate, queue, blackout"
                    )))
                }
            }
        }
        let average = loss.unwrap_or_else(|| profile.loss.average());
        match burst {
            Some(b) => profile = profile.with_loss(LossModel::bursty(average, b)),
            None if loss.is_some() => profile = profile.with_loss(LossModel::uniform(average)),
            None => {}
        }
        Ok(profile)
    }
}

/// Writes the `key=value,...` form, which parses back to the same profile (up to
/// rounding of the loss model to average and burst).
impl fmt::Display for LinkProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rate_bps {
            Some(r) => write!(f, "rate={r}")?,
            None => write!(f, "rate=none")?,
        }
        write!(
            f,
            ",delay={},jitter={},loss={}%",
            DurationText(self.one_way_delay),
            DurationText(self.jitter),
            percent(self.loss.average())
        )?;
        if matches!(self.loss, LossModel::GilbertElliott { .. }) {
            write!(f, ",burst={}", self.loss.mean_burst())?;
        }
        write!(
            f,
            ",reorder={}%,duplicate={}%,queue={}",
            percent(self.reorder),
            percent(self.duplicate),
            self.queue_bytes
        )?;
        match self.blackout {
            Some(b) => write!(
                f,
                ",blackout={}/{}",
                DurationText(b.up),
                DurationText(b.down)
            ),
            None => write!(f, ",blackout=none"),
        }
    }
}

/// A duration as `parse_duration` reads it: whole seconds as `10s`, else milliseconds.
struct DurationText(Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms > 0 && ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// `p` as a percentage, rounded to 4 decimals so that 0.03 prints as 3, not 3.0000000000000004.
fn percent(p: f64) -> f64 {
    (p * 100.0 * 1e4).round() / 1e4
}

fn split_number(value: &str) -> (&str, &str) {
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    (&value[..end], value[end..].trim())
}

fn parse_number(num: &str, whole: &str) -> Result<f64, ParseProfileError> {
    num.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| err(format!("expected a number in {whole:?}")))
}

fn parse_duration(value: &str) -> Result<Duration, ParseProfileError> {
    let (num, unit) = split_number(value);
    let n = parse_number(num, value)?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "min" => n * 60.0,
        _ => {
            return Err(err(format!(
                "unknown time unit in {value:?} (use ms, s, min)"
            )))
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rate(value: &str) -> Result<Option<u64>, ParseProfileError> {
    if matches!(value, "none" | "off" | "unlimited") {
        return Ok(None);
    }
    let (num, unit) = split_number(value);
    let n = parse_number(num, value)?;
    let unit = unit.to_ascii_lowercase();
    let mult = match unit.trim_end_matches("bit/s").trim_end_matches("bit") {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        _ => {
            return Err(err(format!(
                "unknown rate unit in {value:?} (use k, M, G bit/s)"
            )))
        }
    };
    Ok(Some((n * mult).round() as u64).filter(|&r| r > 0))
}

fn parse_bytes(value: &str) -> Result<usize, ParseProfileError> {
    let (num, unit) = split_number(value);
    let n = parse_number(num, value)?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        _ => return Err(err(format!("unknown size unit in {value:?} (use k, M)"))),
    };
    Ok((n * mult).round() as usize)
}

fn parse_probability(value: &str) -> Result<f64, ParseProfileError> {
    let p = match value.strip_suffix('%') {
        Some(pct) => parse_number(pct.trim(), value)? / 100.0,
        None => parse_number(value, value)?,
    };
    if p > 1.0 {
        return Err(err(format!("probability {value:?} is above 100%")));
    }
    Ok(p)
}

fn parse_blackout(value: &str) -> Result<Option<Blackout>, ParseProfileError> {
    if matches!(value, "none" | "off") {
        return Ok(None);
    }
    let (up, down) = value
        .split_once('/')
        .ok_or_else(|| err(format!("blackout is UP/DOWN like 10s/20s, got {value:?}")))?;
    Ok(Some(Blackout {
        up: parse_duration(up.trim())?,
        down: parse_duration(down.trim())?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves() {
        for name in NAMES {
            let profile = LinkProfile::named(name).expect("listed names exist");
            assert_eq!(name.parse::<LinkProfile>(), Ok(profile));
        }
        assert!(LinkProfile::named("dial-up").is_none());
    }

    #[test]
    fn named_profiles_match_their_descriptions() {
        let rural = LinkProfile::named("rural-3g").expect("exists");
        assert_eq!(rural.rate_bps(), Some(384_000));
        assert_eq!(rural.rtt(), Duration::from_millis(300));
        assert_eq!(rural.loss().average(), 0.03);
        let awful = LinkProfile::named("awful").expect("exists");
        assert!((awful.loss().average() - 0.15).abs() < 1e-9);
        assert!((awful.loss().mean_burst() - 4.0).abs() < 1e-9);
        assert_eq!(
            awful.blackout(),
            Some(Blackout {
                up: Duration::from_secs(5),
                down: Duration::from_secs(30)
            })
        );
    }

    #[test]
    fn parses_overrides_and_round_trips() {
        let p: LinkProfile = "rural-3g,loss=10%,burst=3,blackout=5s/10s,rate=1M,queue=8k"
            .parse()
            .expect("valid");
        assert_eq!(p.rate_bps(), Some(1_000_000));
        assert_eq!(p.queue_bytes(), 8192);
        assert!((p.loss().average() - 0.10).abs() < 1e-9);
        assert!((p.loss().mean_burst() - 3.0).abs() < 1e-9);
        let again: LinkProfile = p.to_string().parse().expect("display parses");
        assert_eq!(again.rate_bps(), p.rate_bps());
        assert_eq!(again.blackout(), p.blackout());
        assert!((again.loss().average() - 0.10).abs() < 1e-9);

        let q: LinkProfile = "delay=50ms,reorder=0.1,dup=2%".parse().expect("valid");
        assert_eq!(q.one_way_delay(), Duration::from_millis(50));
        assert_eq!(q.reorder(), 0.1);
        assert_eq!(q.duplicate(), 0.02);
        assert_eq!(q.rate_bps(), None);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "dial-up",
            "rate=fast",
            "loss=150%",
            "blackout=10s",
            "colour=blue",
            "rtt",
            "burst=0",
        ] {
            assert!(
                bad.parse::<LinkProfile>().is_err(),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn blackout_schedule_cycles() {
        let b = Blackout {
            up: Duration::from_secs(10),
            down: Duration::from_secs(20),
        };
        let at = |s: f64| b.is_up_at(Duration::from_secs_f64(s));
        assert!(at(0.0) && at(9.9) && !at(10.0) && !at(29.9) && at(30.0) && at(39.0));
        assert!(!at(45.0));
    }
}
