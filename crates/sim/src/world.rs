//! One simulated herd: nodes running the real core (`NodeCore`,
//! `SendQueue`, `RepairState`), links that behave like the node's TCP
//! connections, and the faults of a run.
//!
//! A link carries messages in order per direction (it is one TCP
//! connection) with a random latency; "loss" is what loss is for TCP: the
//! connection drops, everything in flight on it is gone, and it reconnects
//! a little later. Both ends dial, and a dial takes a handshake: the HELLO
//! reaches the accepting end one latency later, its answer the dialling end
//! one more, and each end decides then by the machine's collision rule
//! which connection it keeps. Two ends dialling each other at once (after a
//! drop, after a heal) is ordinary here, so the rule is exercised by every
//! run. On top of that, update messages may be delivered twice
//! or overtaken (updates are idempotent and commute, so the node must not
//! care); repair messages never are, as on the real connection.
//!
//! Each link end is the node's own [`LinkMachine`]: the simulator only
//! delivers its events (connected, closed, messages, timers) and carries
//! out what it asks (dial, send, close), so every rule of the link policy
//! (dialling and back-off, which connection wins, heartbeats, when repair
//! rounds start, what goes on the wire first) is the one the node runs.
//!
//! A link takes only so many flood messages at a time (the socket's
//! buffer): beyond that the machine's send queue holds them, and when that
//! is full an update is dropped and a repair round asked for. Repair
//! answers and heartbeats are not held back.
//!
//! Records survive a crash (the node writes each update before it commits
//! or answers it), and so do tombstones and the time of the node's last
//! contact with the herd; link machines, their queues and messages in
//! flight do not.
//!
//! Forgetting (docs/repair.md, "Forgetting"): the operator forgets random
//! clients at random nodes in contact with the herd, half the time while a
//! fault is in force; records may expire, and tombstones are kept only a
//! second or so. Each node sweeps on a tick at its clock's step boundaries
//! (a sweep at any other moment would set the core's next sweep off the
//! boundaries, and the node would then lag up to a step behind the
//! others), calls `contact` at every link-up, before the link computes its
//! SYNC, and on every tick while a link is up, and `back` when it starts.
//!
//! The rule that keeps a node that was away from bringing forgotten
//! clients back assumes that only a node out of contact with the whole herd
//! can miss a tombstone for as long as it is kept: a herd split into groups
//! that stay apart longer, each in contact within itself, brings forgotten
//! clients back, by design. With forgets, the fault model therefore keeps
//! every fault that can split the herd (partitions, cut links, crashes),
//! together with those it overlaps or comes within [`GAP`] of, shorter than
//! [`SPLIT_SHARE`] of the tombstone ttl, and sends nodes away past the
//! horizon only one at a time, and only nodes whose absence splits nothing:
//! a long crash, or a long isolation (every link of the node cut: it stays
//! up, takes updates and keeps its send queues). The report measures the
//! longest split (loss can still keep a link down for its back-off).
//!
//! For the same reason a long absence waits while the node is the only one
//! holding a tombstone, and the operator forgets only at a node that has a
//! link up: a forget known only to a node that is away would expire with
//! it unseen, a loss the oracle could not tell from a broken rule. An
//! update only the absent node holds is another matter: the oracle learns
//! of each one its return discards (see `oracle`).
//!
//! A resurrection is a failure at once: a node takes a forgotten update
//! after every node's clock passed the forget's tombstone expiry, or holds
//! one then after the final heal, or holds one at all once the herd has
//! converged. The failure says how it came back (by a flood, by repair,
//! or a copy from a send queue whose sender no longer held it).

use std::sync::Arc;
use std::time::Duration;

use herd_core::{
    ClientDecision, ForgetDecision, Forward, Lifecycle, LinkMachine, LinkPolicy, NodeCore, Opener,
    PeerDecision, Push, Received, Records, Transmit,
};
use herd_proto::peer::PeerMessage;
use herd_proto::repair::RepairMessage;
use herd_proto::{Nanos, Record, Request, Tombstone, parse_request};

use crate::oracle::{Clocks, Oracle};
use crate::schedule::{Micros, Schedule};
use crate::topology::{node_name, random_graph};
use crate::{Report, SimConfig};

const MS: Micros = 1_000;
/// Wall-clock time at simulated time zero (any fixed value will do).
const EPOCH_NS: u64 = 1_800_000_000_000_000_000;
/// How often convergence is checked after the final heal.
const CHECK_EVERY: Micros = 10 * MS;
/// The bound on client times ahead of a node's clock (an hour).
const MAX_FUTURE_SKEW: Nanos = Nanos(3_600_000_000_000);
/// Faults that split the herd, with the ones they overlap or come within
/// `GAP` of, last at most this share of the tombstone ttl: a tombstone made
/// in one group reaches the other once they are together again (within a
/// few rounds), well before it expires.
const SPLIT_SHARE: (u64, u64) = (3, 5);
/// Full connectivity between two clusters of splitting faults, so that
/// what one split kept apart spreads before the next.
const GAP: Micros = 200 * MS;
/// A long absence outlasts the tombstone ttl by at least this: the updates
/// a node took just before it went (client times up to 50 ms ahead of its
/// clock) are then older than its return horizon by more than an expiry
/// step (100 ms) and the clock spread (10 ms).
const PAST_HORIZON: Micros = 200 * MS;
/// A long crash that would take the only copy of a tombstone away waits
/// this long and tries again.
const CRASH_RETRY: Micros = 20 * MS;
/// Sweep ticks come at least this often (for `contact`), at multiples of
/// it by the node's clock.
const TICK_MAX: u64 = 100_000_000;
/// Flood messages one direction of a link carries at once (the socket
/// buffer); the rest wait in the send queue.
const WINDOW: usize = 8;

enum Message {
    Update(Arc<Record>, Via),
    Forget(Tombstone),
    Repair(RepairMessage),
    Ping,
}

/// How an update travels: the resurrection check names it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Flood,
    /// Flooded from a send queue after the sender's records lost it
    /// (forgotten, expired, or discarded on a return): a stale copy.
    StaleFlood,
    Repair,
}

impl Via {
    fn describe(self, sender: &str) -> String {
        match self {
            Via::Flood => format!("{sender} by flooding"),
            Via::StaleFlood => {
                format!("{sender} by flooding a copy left in its send queue (it no longer held it)")
            }
            Via::Repair => format!("{sender} by repair"),
        }
    }
}

impl Message {
    fn bytes(&self) -> u64 {
        match self {
            Message::Update(record, _) => record.at_line().len() as u64 + 1,
            Message::Forget(tombstone) => tombstone.to_line().len() as u64 + 1,
            Message::Repair(message) => message.to_line().len() as u64,
            Message::Ping => herd_proto::peer::PING_LINE.len() as u64,
        }
    }
}

enum Event {
    Iamat {
        node: usize,
        client: usize,
        skew_ns: i64,
    },
    /// The operator forgets a client at a node (the next live one if that
    /// one is down).
    Forget {
        node: usize,
        client: usize,
    },
    /// A node's sweep tick, at a step boundary of its clock.
    Tick {
        node: usize,
    },
    Deliver {
        link: usize,
        towards_b: bool,
        conn: u64,
        message: Message,
        /// A flood message that holds a place in the link's window.
        windowed: bool,
    },
    /// A dial's HELLO reaches the accepting end.
    HelloArrives {
        link: usize,
        conn: u64,
        /// The dialling end: 0 is `a`, 1 is `b`.
        dialler: usize,
        dialler_boot: u64,
    },
    /// The accepting end's answer reaches the dialling end.
    AnswerArrives {
        link: usize,
        conn: u64,
        dialler: usize,
        dialler_boot: u64,
        acceptor_boot: u64,
    },
    /// A link machine's timeout, armed for `at`.
    LinkTimer {
        node: usize,
        local: usize,
        at: Micros,
    },
    Cut {
        link: usize,
    },
    Heal {
        link: usize,
    },
    /// A crash, with its restart `lasts` later; `long`: an absence past the
    /// tombstone horizon.
    Crash {
        node: usize,
        lasts: Micros,
        long: bool,
    },
    Restart {
        node: usize,
    },
    /// Every link of the node is cut for `lasts`: away past the horizon,
    /// alive.
    Isolate {
        node: usize,
        lasts: Micros,
    },
    Rejoin {
        node: usize,
    },
    FinalHeal,
    Check,
}

struct Link {
    a: usize,
    b: usize,
    /// The link's index in `a`'s and `b`'s link lists.
    local: (usize, usize),
    /// Cut by the operator (both ends' admin state).
    cut: bool,
    /// The connection each end (`a`, `b`) is on. The two differ for a
    /// moment while a collision is being resolved.
    attached: [Option<u64>; 2],
    /// Connections not closed yet (attached, or their handshake under way).
    open: Vec<u64>,
    next_conn: u64,
    /// Latest arrival time per direction (a→b, b→a): keeps order.
    last_arrival: [Micros; 2],
    /// Flood messages in flight per direction, on the sender's connection.
    in_flight: [usize; 2],
}

impl Link {
    /// Both ends: (node, the link's index in that node's list), `a` first.
    fn ends(&self) -> [(usize, usize); 2] {
        [(self.a, self.local.0), (self.b, self.local.1)]
    }

    /// The end a message travelling towards `b` (or towards `a`) comes from,
    /// and the one it goes to.
    fn sender_and_receiver(&self, towards_b: bool) -> ((usize, usize), (usize, usize)) {
        let [a, b] = self.ends();
        if towards_b { (a, b) } else { (b, a) }
    }

    /// Which end `node` is: 0 for `a`, 1 for `b`.
    fn end_of(&self, node: usize) -> usize {
        usize::from(node != self.a)
    }

    /// Both ends on the same connection: the link is up.
    fn is_up(&self) -> bool {
        self.attached[0].is_some() && self.attached[0] == self.attached[1]
    }
}

struct Node {
    core: NodeCore,
    alive: bool,
    /// Which start of the process this is (the peer's "boot id").
    boot: u64,
    links: Vec<usize>,
    /// This node's end of each of its links.
    machines: Vec<LinkMachine>,
    /// The machine's timeout an event is scheduled for.
    armed: Vec<Option<Micros>>,
    /// This node's clock minus true time.
    clock_skew_ns: i64,
    /// Per link, tombstones pushed by flooding and not sent yet: a
    /// `Transmit::Forget` is counted as a flood while there are some, else
    /// as a repair answer's.
    forget_floods: Vec<u64>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Chaos,
    /// After the final heal, until every node agrees with the oracle.
    Converging,
    /// Converged: the run goes on until every tombstone has expired, and
    /// no node may hold a forgotten update meanwhile.
    Watching {
        until: Micros,
    },
    /// Until the nodes agree with the oracle once more.
    Settling,
}

pub struct World<'c> {
    config: &'c SimConfig,
    rng: fastrand::Rng,
    schedule: Schedule<Event>,
    nodes: Vec<Node>,
    links: Vec<Link>,
    /// Per client, the newest operation any node acknowledged.
    oracle: Oracle,
    lifecycle: Lifecycle,
    /// The period of the sweep ticks, in nanoseconds.
    tick_ns: u64,
    /// The smallest and largest clock skew of the nodes.
    skews: (i64, i64),
    phase: Phase,
    /// The run ends by then, converged or not.
    deadline: Micros,
    /// A failure found before the end (a resurrection).
    failure: Option<String>,
    /// Since when two groups of live nodes have been apart, if they are.
    split_since: Option<Micros>,
    longest_split: Micros,
    /// Splitting faults and long absences (start, end), for the forgets.
    fault_windows: Vec<(Micros, Micros)>,
    /// The node on a long absence (one at a time).
    long_away: Option<usize>,
    /// Nodes cut off from every peer (a long absence, alive).
    isolated: Vec<bool>,
    /// No more faults: the final heal happened.
    calm: bool,
    /// Restarted nodes whose links are not all up yet: (node, boot, when
    /// it started, the links still to come up).
    relinking: Vec<(usize, u64, Micros, Vec<usize>)>,
    healed_at: Option<Micros>,
    report: Report,
}

impl<'c> World<'c> {
    pub fn new(config: &'c SimConfig) -> World<'c> {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let edges = random_graph(&mut rng, config.nodes);
        let mut nodes: Vec<Node> = (0..config.nodes)
            .map(|i| {
                let mut core = NodeCore::new(node_name(i), MAX_FUTURE_SKEW);
                core.set_lifecycle(config.lifecycle());
                Node {
                    core,
                    alive: true,
                    boot: 0,
                    links: Vec::new(),
                    machines: Vec::new(),
                    armed: Vec::new(),
                    clock_skew_ns: rng.i64(-5_000_000..5_000_000),
                    forget_floods: Vec::new(),
                }
            })
            .collect();
        let mut links = Vec::new();
        for (id, &(a, b)) in edges.iter().enumerate() {
            let local = (nodes[a].links.len(), nodes[b].links.len());
            for end in [a, b] {
                // Names sort in node order: `b` (the later) wins collisions.
                let machine = new_machine(config, end == b, true, 0, &mut rng);
                let node = &mut nodes[end];
                node.links.push(id);
                node.machines.push(machine);
                node.armed.push(None);
                node.forget_floods.push(0);
            }
            links.push(Link {
                a,
                b,
                local,
                cut: false,
                attached: [None, None],
                open: Vec::new(),
                next_conn: 0,
                last_arrival: [0, 0],
                in_flight: [0, 0],
            });
        }
        let report = Report {
            seed: config.seed,
            nodes: config.nodes,
            links: links.len(),
            ttl_ms: config.ttl_ms,
            tombstone_ttl_ms: config.tombstone_ttl_ms,
            ..Report::default()
        };
        let lifecycle = config.lifecycle();
        let skews = nodes.iter().fold((i64::MAX, i64::MIN), |(low, high), n| {
            (low.min(n.clock_skew_ns), high.max(n.clock_skew_ns))
        });
        World {
            config,
            rng,
            schedule: Schedule::default(),
            nodes,
            links,
            oracle: Oracle::default(),
            lifecycle,
            tick_ns: lifecycle.sweep_every().0.clamp(1, TICK_MAX),
            skews,
            phase: Phase::Chaos,
            deadline: config.chaos_ms * MS + config.quiet_limit_ms * MS,
            failure: None,
            split_since: None,
            longest_split: 0,
            fault_windows: Vec::new(),
            isolated: vec![false; config.nodes],
            long_away: None,
            calm: false,
            relinking: Vec::new(),
            healed_at: None,
            report,
        }
    }

    /// Runs the whole scenario and reports.
    pub fn run(mut self) -> Report {
        self.plan();
        for node in 0..self.nodes.len() {
            for local in 0..self.nodes[node].links.len() {
                self.arm(node, local);
            }
            self.next_tick(node);
        }
        while let Some(event) = self.schedule.pop_until(self.deadline) {
            if self.handle(event) {
                let converged = self.failure.is_none();
                return self.finish(converged);
            }
        }
        self.schedule.advance_to(self.deadline);
        self.finish(false)
    }

    /// Schedules the workload, the faults and the timers.
    fn plan(&mut self) {
        let chaos = self.config.chaos_ms * MS;
        for _ in 0..self.config.updates {
            let at = self.rng.u64(..chaos);
            let node = self.rng.usize(..self.nodes.len());
            let client = self.rng.usize(..self.config.clients.max(1));
            // Client clocks lag a little or run a little ahead, so an older
            // update may well reach the herd after a newer one.
            let skew_ns = self.rng.i64(-300_000_000..50_000_000);
            self.schedule.at(
                at,
                Event::Iamat {
                    node,
                    client,
                    skew_ns,
                },
            );
        }
        let keep = self.config.tombstone_ttl_ms * MS;
        // Without forgets there are no tombstones to miss: splits may last.
        let limit = if self.config.forgets > 0 {
            keep * SPLIT_SHARE.0 / SPLIT_SHARE.1
        } else {
            chaos
        };
        let mut spans: Vec<(Micros, Micros)> = Vec::new();
        for _ in 0..self.config.faults {
            let Some((at, until)) = self.place_split(&spans, chaos, limit) else {
                continue;
            };
            spans.push((at, until));
            match self.rng.u8(..3) {
                0 => {
                    // A partition: a random group against the rest.
                    let inside: Vec<bool> =
                        (0..self.nodes.len()).map(|_| self.rng.bool()).collect();
                    for (id, link) in self.links.iter().enumerate() {
                        if inside[link.a] != inside[link.b] {
                            self.schedule.at(at, Event::Cut { link: id });
                            self.schedule.at(until, Event::Heal { link: id });
                        }
                    }
                }
                1 => {
                    let link = self.rng.usize(..self.links.len().max(1));
                    if link < self.links.len() {
                        self.schedule.at(at, Event::Cut { link });
                        self.schedule.at(until, Event::Heal { link });
                    }
                }
                _ => {
                    let node = self.rng.usize(..self.nodes.len());
                    let lasts = until - at;
                    let long = false;
                    self.schedule.at(at, Event::Crash { node, lasts, long });
                }
            }
        }
        // Away past the horizon: one node at a time, one whose absence
        // leaves the others linked.
        let spare = spare_nodes(self.nodes.len(), &self.links);
        let mut free_from = 0;
        for _ in 0..self.config.long_absences {
            let lasts = keep + PAST_HORIZON + self.rng.u64(..=keep);
            let latest = chaos.saturating_sub(lasts + 100 * MS);
            if spare.is_empty() || latest <= free_from {
                break;
            }
            let at = self.rng.u64(free_from..latest);
            let node = spare[self.rng.usize(..spare.len())];
            // A crash (its queues are lost), or cut off from every peer
            // (alive, it takes updates, and keeps what it queued).
            if self.rng.bool() {
                self.schedule.at(at, Event::Isolate { node, lasts });
            } else {
                let long = true;
                self.schedule.at(at, Event::Crash { node, lasts, long });
            }
            self.fault_windows.push((at, at + lasts));
            free_from = at + lasts + GAP;
        }
        self.fault_windows.extend(spans);
        for _ in 0..self.config.forgets {
            // Half while a fault is in force, so that tombstones have to
            // reach nodes that were away when they were made.
            let at = if !self.fault_windows.is_empty() && self.rng.bool() {
                let (from, to) = self.fault_windows[self.rng.usize(..self.fault_windows.len())];
                self.rng.u64(from..to.max(from + 1)).min(chaos)
            } else {
                self.rng.u64(..chaos)
            };
            let node = self.rng.usize(..self.nodes.len());
            let client = self.rng.usize(..self.config.clients.max(1));
            self.schedule.at(at, Event::Forget { node, client });
        }
        self.schedule.at(chaos, Event::FinalHeal);
    }

    /// A splitting fault's start and end: with the faults it overlaps or
    /// comes within `GAP` of, it may span at most `limit` (a few tries,
    /// else none).
    fn place_split(
        &mut self,
        spans: &[(Micros, Micros)],
        chaos: Micros,
        limit: Micros,
    ) -> Option<(Micros, Micros)> {
        for _ in 0..8 {
            let at = self.rng.u64(..chaos);
            let until = at + self.rng.u64(100 * MS..limit.max(100 * MS + 1));
            if self.config.forgets == 0 {
                return Some((at, until));
            }
            let (mut low, mut high) = (at, until);
            let mut grew = true;
            while grew {
                grew = false;
                for &(from, to) in spans {
                    let near = from < high + GAP && low < to + GAP;
                    if near && (from < low || to > high) {
                        (low, high) = (low.min(from), high.max(to));
                        grew = true;
                    }
                }
            }
            if high - low <= limit {
                return Some((at, until));
            }
        }
        None
    }

    /// Handles one event; true when the run is over (converged after the
    /// heal, or failed).
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Iamat {
                node,
                client,
                skew_ns,
            } => self.iamat(node, client, skew_ns),
            Event::Deliver {
                link,
                towards_b,
                conn,
                message,
                windowed,
            } => {
                let l = &mut self.links[link];
                let direction = usize::from(!towards_b);
                if windowed && l.attached[direction] == Some(conn) {
                    l.in_flight[direction] = l.in_flight[direction].saturating_sub(1);
                    // The socket took more: the sender's queue moves on.
                    let ((from, local), _) = l.sender_and_receiver(towards_b);
                    self.pump(from, local);
                }
                self.deliver(link, towards_b, conn, message);
            }
            Event::HelloArrives {
                link,
                conn,
                dialler,
                dialler_boot,
            } => self.hello_arrives(link, conn, dialler, dialler_boot),
            Event::AnswerArrives {
                link,
                conn,
                dialler,
                dialler_boot,
                acceptor_boot,
            } => self.answer_arrives(link, conn, dialler, dialler_boot, acceptor_boot),
            Event::LinkTimer { node, local, at } => self.link_timer(node, local, at),
            Event::Cut { link } => {
                if !self.calm {
                    self.set_cut(link, true);
                }
            }
            Event::Heal { link } => {
                // A node cut off from all its peers stays so until it
                // rejoins.
                let l = &self.links[link];
                if !self.isolated[l.a] && !self.isolated[l.b] {
                    self.set_cut(link, false);
                }
            }
            Event::Isolate { node, lasts } => {
                if !self.calm {
                    self.isolate(node, lasts);
                }
            }
            Event::Rejoin { node } => {
                if self.long_away == Some(node) {
                    self.long_away = None;
                }
                if std::mem::take(&mut self.isolated[node]) {
                    for link in self.nodes[node].links.clone() {
                        self.set_cut(link, false);
                    }
                }
            }
            Event::Crash { node, lasts, long } => {
                if !self.calm {
                    self.crash(node, lasts, long);
                }
            }
            Event::Restart { node } => self.restart(node),
            Event::Forget { node, client } => self.forget(node, client),
            Event::Tick { node } => self.tick(node),
            Event::FinalHeal => {
                self.calm = true;
                self.isolated.fill(false);
                self.phase = Phase::Converging;
                self.healed_at = Some(self.schedule.now());
                for node in 0..self.nodes.len() {
                    self.restart(node);
                }
                for link in 0..self.links.len() {
                    self.set_cut(link, false);
                }
                self.schedule.after(0, Event::Check);
            }
            Event::Check => return self.check(),
        }
        self.failure.is_some()
    }

    /// After the final heal: converged yet, then no resurrection while the
    /// tombstones expire, then converged again. True when the run is over.
    fn check(&mut self) -> bool {
        let now = self.schedule.now();
        if let Some(why) = self.resurrected() {
            self.resurrection(why);
            return true;
        }
        match self.phase {
            Phase::Chaos => {}
            Phase::Converging => {
                if self.agree() {
                    let healed = self.healed_at.unwrap_or(0);
                    self.report.converge_ms = Some((now - healed) as f64 / 1_000.0);
                    let until = self.tombstones_gone_at().max(now);
                    self.phase = Phase::Watching { until };
                    let quiet = self.config.quiet_limit_ms * MS;
                    self.deadline = self.deadline.max(until + quiet);
                }
            }
            Phase::Watching { until } => {
                // Converged once: nothing may hold a forgotten update now,
                // whether its tombstones are still kept or not.
                if let Some(why) = self.forgotten_held() {
                    self.resurrection(format!("resurrection after convergence: {why}"));
                    return true;
                }
                if now >= until {
                    self.phase = Phase::Settling;
                }
            }
            Phase::Settling => {
                if self.agree() {
                    return true;
                }
            }
        }
        self.schedule.after(CHECK_EVERY, Event::Check);
        false
    }

    /// Every node holds the same (by digest), and what the oracle says.
    fn agree(&self) -> bool {
        let Some(first) = self.nodes.first() else {
            return true;
        };
        let digest = first.core.records().digest();
        self.nodes
            .iter()
            .all(|n| n.core.records().digest() == digest)
            && self.disagreement().is_none()
    }

    /// The true time by which every node's clock has passed the expiry of
    /// every tombstone the oracle knows of, and a little more.
    fn tombstones_gone_at(&self) -> Micros {
        let last = self
            .oracle
            .forgotten()
            .map(|(_, time)| self.lifecycle.tombstone_expires_at(time).0)
            .max()
            .unwrap_or(0);
        let true_ns = i128::from(last) - i128::from(EPOCH_NS) - i128::from(self.skews.0)
            + i128::from(crate::oracle::TOLERANCE);
        let at = u64::try_from(true_ns.max(0) / 1_000).unwrap_or(u64::MAX);
        at.saturating_add(10 * CHECK_EVERY)
    }

    /// The node clocks now.
    fn clocks(&self) -> Clocks {
        let now = EPOCH_NS + self.schedule.now() * 1_000;
        Clocks {
            low: now.saturating_add_signed(self.skews.0),
            high: now.saturating_add_signed(self.skews.1),
        }
    }

    /// A node in contact holds an update of a forgotten client that no
    /// tombstone can remove any more: every node's clock is past the
    /// forget's tombstone expiry. Only after the final heal, when a node
    /// that has a link up has been through its return (a node away past
    /// the horizon until the heal discards such updates at its first
    /// link-up, a moment later), and will not be away again.
    fn resurrected(&self) -> Option<String> {
        let clocks = self.clocks();
        let why = self.held_forgotten(true, |time| {
            Oracle::tombstone_gone(&self.lifecycle, time, clocks)
        })?;
        Some(format!(
            "resurrection: {why}, after every node dropped the tombstone"
        ))
    }

    /// A node holds an update of a forgotten client that the forget covers.
    fn forgotten_held(&self) -> Option<String> {
        self.held_forgotten(false, |_| true)
    }

    /// A node (with a link up, if `in_contact`) holds an update covered by
    /// a forget for which `which` (given the forget's time) says so.
    fn held_forgotten(&self, in_contact: bool, which: impl Fn(Nanos) -> bool) -> Option<String> {
        for (client, time) in self.oracle.forgotten() {
            if !which(time) {
                continue;
            }
            for node in &self.nodes {
                if in_contact && !node.machines.iter().any(LinkMachine::is_connected) {
                    continue;
                }
                if let Some(held) = node.core.records().get(client)
                    && held.client_time() <= time
                {
                    return Some(format!(
                        "{} holds {:?}, forgotten up to {}",
                        node.core.name(),
                        held.at_line(),
                        time.to_seconds_text()
                    ));
                }
            }
        }
        None
    }

    /// The run fails: a forgotten update came back.
    fn resurrection(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
    }

    /// A node is about to commit `record` (from `source`): a resurrection
    /// if a forget the oracle knows covers it and every node's clock is
    /// past that forget's tombstone expiry (nothing can remove it then).
    fn check_commit(&mut self, node: usize, record: &Record, source: &str) {
        if self.failure.is_some() {
            return;
        }
        let Some(time) = self.oracle.covering_forget(record) else {
            return;
        };
        let gone = Oracle::tombstone_gone(&self.lifecycle, time, self.clocks());
        if gone {
            let why = format!(
                "resurrection: {} took {:?} from {source}, forgotten up to {}, after every node dropped the tombstone",
                self.nodes[node].core.name(),
                record.at_line(),
                time.to_seconds_text()
            );
            self.resurrection(why);
        }
    }

    fn iamat(&mut self, node: usize, client: usize, skew_ns: i64) {
        if !self.nodes[node].alive {
            return; // the client gets no answer: nothing acknowledged
        }
        let now = self.clock_of(node);
        let time = now.saturating_add_signed(skew_ns);
        let line = format!(
            "IAMAT client-{client} +{}.5-{}.25 {}",
            client % 90,
            client % 180,
            Nanos(time).to_seconds_text()
        );
        let Some(Request::IAmAt(request)) = parse_request(&line) else {
            return;
        };
        let decision = self.nodes[node].core.on_client_iamat(&request, Nanos(now));
        match decision {
            ClientDecision::Accepted { record, forward } => {
                // A client's clock lags by 300 ms at most, far less than a
                // tombstone is kept: an update it sends after every
                // tombstone expired is newer than the forget.
                self.check_commit(node, &record, "a client");
                self.nodes[node].core.commit(record.clone());
                self.oracle.ack_update(&record);
                self.report.updates_acked += 1;
                self.flood(node, &record, forward);
            }
            ClientDecision::Stale { held } => {
                self.oracle.ack_update(&held);
            }
            // Refused with `?`: nothing acknowledged.
            ClientDecision::TooFarInFuture
            | ClientDecision::Forgotten
            | ClientDecision::Expired => {}
        }
    }

    /// `herdctl forget` at `node` (or the next live one): acknowledged only
    /// when the node's tombstone won and was committed.
    fn forget(&mut self, node: usize, client: usize) {
        // The operator asks a node in contact with the herd: a forget at a
        // node cut off from all its peers could expire there unseen, and
        // the operator would have been told it was done.
        let count = self.nodes.len();
        let in_contact = |n: &Node| n.alive && n.machines.iter().any(LinkMachine::is_connected);
        let Some(node) = (0..count)
            .map(|k| (node + k) % count)
            .find(|&i| in_contact(&self.nodes[i]))
        else {
            return;
        };
        let clock = Nanos(self.clock_of(node));
        let id = format!("client-{client}");
        let n = &mut self.nodes[node];
        if let ForgetDecision::Won { tombstone, forward } = n.core.on_forget(&id, clock) {
            n.core.commit_forget(tombstone);
            self.oracle.ack_forget(&id, tombstone.time);
            self.report.forgets_acked += 1;
            if self.components().0 > 1 {
                self.report.forgets_in_partition += 1;
            }
            self.flood_forget(node, tombstone, forward);
        }
    }

    /// A node's sweep tick: in contact if a link is up, then expiry.
    fn tick(&mut self, node: usize) {
        if self.nodes[node].alive {
            let clock = Nanos(self.clock_of(node));
            if self.nodes[node]
                .machines
                .iter()
                .any(LinkMachine::is_connected)
            {
                self.contact(node, clock, false);
            }
            let swept = self.nodes[node].core.expire(clock);
            self.report.records_expired += swept.records as u64;
            self.report.tombstones_dropped += swept.tombstones as u64;
        }
        self.next_tick(node);
    }

    /// Schedules `node`'s next tick: the next multiple of the tick period
    /// by its clock (a step boundary: expiry happens only there).
    fn next_tick(&mut self, node: usize) {
        let period = i128::from(self.tick_ns);
        let clock = i128::from(self.clock_of(node));
        let boundary = (clock / period + 1) * period;
        let true_ns = boundary - i128::from(EPOCH_NS) - i128::from(self.nodes[node].clock_skew_ns);
        // Rounded up: the tick finds the clock at the boundary or just past.
        let at = u64::try_from((true_ns.max(0) + 999) / 1_000).unwrap_or(u64::MAX);
        self.schedule.at(at, Event::Tick { node });
    }

    /// `node` is in contact with the herd at `clock` (`starting`: it starts,
    /// and may not be yet). A node back from past the horizon discards its
    /// older records; the oracle learns of each that was the client's
    /// newest update and that no other node held (in its store: a copy in
    /// a queue or in flight may still arrive, and the oracle allows that).
    fn contact(&mut self, node: usize, clock: Nanos, starting: bool) {
        let core = &self.nodes[node].core;
        let lifecycle = core.lifecycle();
        let unbroken = Lifecycle {
            sabotage: None,
            ..lifecycle
        };
        if unbroken
            .return_horizon(core.last_contact(), clock)
            .is_some()
        {
            self.report.returns_past_horizon += 1;
        }
        let mut doomed: Vec<Arc<Record>> = Vec::new();
        if let Some(horizon) = lifecycle.return_horizon(core.last_contact(), clock) {
            doomed.extend(
                core.records()
                    .iter()
                    .filter(|r| r.client_time() < horizon)
                    .cloned(),
            );
        }
        let n = &mut self.nodes[node];
        let reset = if starting {
            n.core.back(clock)
        } else {
            n.core.contact(clock)
        };
        if let Some(reset) = reset {
            self.report.discarded_on_return += reset.discarded as u64;
            // The queues drop their copies of what the records dropped.
            for machine in &mut n.machines {
                machine.reset(reset.horizon);
            }
        }
        for record in doomed {
            let elsewhere = self.nodes.iter().enumerate().any(|(i, other)| {
                i != node
                    && other
                        .core
                        .records()
                        .get(record.client())
                        .is_some_and(|held| **held >= *record)
            });
            // (A record that expired while the node was down is no loss.)
            if !elsewhere
                && !lifecycle.record_expired(record.client_time(), clock)
                && self.oracle.is_newest(&record)
                && self.oracle.covering_forget(&record).is_none()
            {
                self.oracle.may_be_lost(&record);
                self.report.lost_on_return += 1;
            }
        }
    }

    /// Components of the live nodes by the links that are up: how many,
    /// and how many of them have two nodes or more.
    fn components(&self) -> (usize, usize) {
        let mut parent: Vec<usize> = (0..self.nodes.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for link in &self.links {
            if link.is_up() && self.nodes[link.a].alive && self.nodes[link.b].alive {
                let (a, b) = (root(&mut parent, link.a), root(&mut parent, link.b));
                parent[a] = b;
            }
        }
        let mut sizes = vec![0usize; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive {
                let r = root(&mut parent, i);
                sizes[r] += 1;
            }
        }
        (
            sizes.iter().filter(|&&s| s > 0).count(),
            sizes.iter().filter(|&&s| s > 1).count(),
        )
    }

    /// Links or nodes came or went: are two groups of live nodes apart?
    fn track_split(&mut self) {
        let apart = self.components().1 > 1;
        let now = self.schedule.now();
        match (self.split_since, apart) {
            (None, true) => self.split_since = Some(now),
            (Some(since), false) => {
                self.longest_split = self.longest_split.max(now - since);
                self.split_since = None;
            }
            _ => {}
        }
    }

    fn clock_of(&self, node: usize) -> u64 {
        (EPOCH_NS + self.schedule.now() * 1_000)
            .saturating_add_signed(self.nodes[node].clock_skew_ns)
    }

    fn now(&self) -> Duration {
        Duration::from_micros(self.schedule.now())
    }

    /// Hands a tombstone to the links `forward` names.
    /// Tells every link of `node` of a committed tombstone (so no queued
    /// copy it covers leaves) and sends it on the links `forward` names.
    fn flood_forget(&mut self, node: usize, tombstone: Tombstone, forward: Forward) {
        let now = self.now();
        for local in 0..self.nodes[node].machines.len() {
            let send = forward.includes(local);
            self.nodes[node].machines[local].forgotten(now, tombstone, send);
            if send {
                self.nodes[node].forget_floods[local] += 1;
                self.pump(node, local);
            }
        }
    }

    fn flood(&mut self, node: usize, record: &Arc<Record>, forward: Forward) {
        let links = self.nodes[node].links.len();
        let now = self.now();
        for local in forward.targets(links) {
            if self.nodes[node].machines[local].push(now, record.clone()) == Push::Overflow {
                self.report.overflows += 1;
            }
            self.pump(node, local);
        }
    }

    /// After anything happened to a link end: send what its machine has for
    /// the wire (floods as far as the link's window allows) and arm its
    /// timer.
    fn pump(&mut self, node: usize, local: usize) {
        let link = self.nodes[node].links[local];
        let direction = self.links[link].end_of(node);
        while let Some(conn) = self.links[link].attached[direction] {
            let room = self.links[link].in_flight[direction] < WINDOW;
            let Some(transmit) = self.nodes[node].machines[local].poll_transmit(room) else {
                break;
            };
            let (message, windowed) = match transmit {
                Transmit::Flood(record) => {
                    let held = self.nodes[node].core.records().get(record.client());
                    let via = if held.is_some_and(|held| *held == record) {
                        Via::Flood
                    } else {
                        Via::StaleFlood
                    };
                    self.report.update_msgs += 1;
                    self.links[link].in_flight[direction] += 1;
                    (Message::Update(record, via), true)
                }
                Transmit::Repaired(record) => {
                    self.report.repair_records += 1;
                    (Message::Update(record, Via::Repair), false)
                }
                Transmit::Repair(message) => {
                    if matches!(message, RepairMessage::Sync { .. }) {
                        self.report.repair_rounds += 1;
                    }
                    self.report.repair_msgs += 1;
                    (Message::Repair(message), false)
                }
                Transmit::Forget(tombstone) => {
                    let floods = &mut self.nodes[node].forget_floods[local];
                    if *floods > 0 {
                        *floods -= 1;
                        self.report.forget_msgs += 1;
                    } else {
                        self.report.forget_repairs += 1;
                    }
                    self.report.forget_bytes += tombstone.to_line().len() as u64 + 1;
                    (Message::Forget(tombstone), false)
                }
                Transmit::Ping => (Message::Ping, false),
            };
            self.send(link, node, conn, message, windowed);
        }
        self.arm(node, local);
    }

    /// Schedules the machine's next timeout, if it changed.
    fn arm(&mut self, node: usize, local: usize) {
        let n = &mut self.nodes[node];
        let due = n.machines[local]
            .poll_timeout()
            // Rounded up: a timer that fires a little early finds nothing
            // due, and would be armed for the same moment again.
            .map(|at| at.as_nanos().div_ceil(1_000) as Micros);
        if due == n.armed[local] {
            return;
        }
        n.armed[local] = due;
        if let Some(at) = due {
            let when = at.max(self.schedule.now());
            self.schedule.at(when, Event::LinkTimer { node, local, at });
        }
    }

    fn link_timer(&mut self, node: usize, local: usize, at: Micros) {
        let now = self.now();
        let n = &mut self.nodes[node];
        if !n.alive || n.armed[local] != Some(at) {
            return; // superseded, or the machine is gone with its node
        }
        n.armed[local] = None;
        let link = n.links[local];
        let machine = &mut n.machines[local];
        if machine.is_connected() {
            if machine.handle_timeout(now, n.core.records()).is_some() {
                let end = self.links[link].end_of(node);
                self.close_end(link, end);
            }
        } else if machine.dial_at().is_some_and(|due| due <= now) {
            machine.dialling();
            self.dial(link, node);
        }
        self.pump(node, local);
    }

    /// `node` dials the other end of `link`: refused at once by a dead
    /// host, else its HELLO is on its way.
    fn dial(&mut self, link: usize, node: usize) {
        let l = &mut self.links[link];
        let dialler = l.end_of(node);
        let [(a, _), (b, _)] = l.ends();
        let peer = if dialler == 0 { b } else { a };
        if !self.nodes[peer].alive {
            let local = l.ends()[dialler].1;
            let now = self.now();
            self.nodes[node].machines[local].dial_failed(now);
            return;
        }
        let conn = l.next_conn;
        l.next_conn += 1;
        l.open.push(conn);
        let latency = self.latency();
        let dialler_boot = self.nodes[node].boot;
        self.schedule.after(
            latency,
            Event::HelloArrives {
                link,
                conn,
                dialler,
                dialler_boot,
            },
        );
    }

    /// The accepting end answers a HELLO (the node answers before its link
    /// decides) and takes the connection if its machine prefers it.
    fn hello_arrives(&mut self, link: usize, conn: u64, dialler: usize, dialler_boot: u64) {
        let acceptor = 1 - dialler;
        let (node, local) = self.links[link].ends()[acceptor];
        let acceptor_boot = self.nodes[node].boot;
        // The answer goes first: it travels on the connection ahead of
        // whatever the accepting end writes on it next.
        let arrival = self.schedule.now() + self.latency();
        let l = &mut self.links[link];
        l.last_arrival[acceptor] = l.last_arrival[acceptor].max(arrival);
        self.schedule.at(
            l.last_arrival[acceptor],
            Event::AnswerArrives {
                link,
                conn,
                dialler,
                dialler_boot,
                acceptor_boot,
            },
        );
        let machine = &self.nodes[node].machines[local];
        if !self.nodes[node].alive || !self.links[link].open.contains(&conn) {
            self.close(link, conn);
        } else if machine.prefers(Opener::Peer, &boot(dialler_boot)) {
            self.attach(link, acceptor, conn, Opener::Peer, dialler_boot);
        } else {
            if machine.accepts() {
                self.report.collisions += 1;
            }
            self.close(link, conn);
        }
    }

    /// The dialling end has its answer: its dial is over, and it takes the
    /// connection if it is still open and its machine prefers it.
    fn answer_arrives(
        &mut self,
        link: usize,
        conn: u64,
        dialler: usize,
        dialler_boot: u64,
        acceptor_boot: u64,
    ) {
        let (node, local) = self.links[link].ends()[dialler];
        let now = self.now();
        let n = &mut self.nodes[node];
        if !n.alive || n.boot != dialler_boot {
            return; // the dialling process is gone, and its dial with it
        }
        if !self.links[link].open.contains(&conn) {
            // Refused, or closed on the way: to the dialler, a dial that
            // came to nothing.
            n.machines[local].dial_failed(now);
            self.pump(node, local);
            return;
        }
        n.machines[local].dial_succeeded();
        if n.machines[local].prefers(Opener::Me, &boot(acceptor_boot)) {
            self.attach(link, dialler, conn, Opener::Me, acceptor_boot);
        } else {
            self.report.collisions += 1;
            self.close(link, conn);
        }
        self.pump(node, local);
    }

    /// End `end` of `link` moves to connection `conn`, leaving (and closing)
    /// the one it was on.
    fn attach(&mut self, link: usize, end: usize, conn: u64, opener: Opener, peer_boot: u64) {
        if let Some(old) = self.links[link].attached[end] {
            self.close(link, old);
        }
        let l = &mut self.links[link];
        l.attached[end] = Some(conn);
        l.in_flight[end] = 0;
        let (node, local) = l.ends()[end];
        // In contact: a node back from past the horizon discards what it
        // must not bring back before the link's SYNC is computed.
        let clock = Nanos(self.clock_of(node));
        self.contact(node, clock, false);
        let now = self.now();
        let n = &mut self.nodes[node];
        n.machines[local].connected(now, n.core.records(), opener, &boot(peer_boot));
        if self.links[link].is_up() {
            self.linked(link);
            self.track_split();
        }
        self.pump(node, local);
    }

    /// Connection `conn` of `link` is gone, with everything in flight on
    /// it; an end that was on it learns so.
    fn close(&mut self, link: usize, conn: u64) {
        let l = &mut self.links[link];
        let was_up = l.is_up();
        l.open.retain(|&c| c != conn);
        let now = self.now();
        for end in 0..2 {
            let l = &mut self.links[link];
            if l.attached[end] != Some(conn) {
                continue;
            }
            l.attached[end] = None;
            l.in_flight[end] = 0;
            let (node, local) = l.ends()[end];
            if self.nodes[node].alive {
                self.nodes[node].machines[local].closed(now);
                self.pump(node, local);
            }
        }
        if was_up && !self.links[link].is_up() {
            self.track_split();
        }
    }

    /// Closes the connection `end` of `link` is on, if any.
    fn close_end(&mut self, link: usize, end: usize) {
        if let Some(conn) = self.links[link].attached[end] {
            self.close(link, conn);
        }
    }

    /// Every connection of `link`, the ones still in their handshake too.
    fn disconnect(&mut self, link: usize) {
        for conn in self.links[link].open.clone() {
            self.close(link, conn);
        }
    }

    /// A link came up: a restarted node waiting for it has one fewer to go.
    fn linked(&mut self, link: usize) {
        let now = self.schedule.now();
        let nodes = &self.nodes;
        let report = &mut self.report;
        self.relinking.retain_mut(|(node, boot, since, waiting)| {
            if nodes[*node].boot != *boot {
                return false;
            }
            waiting.retain(|&l| l != link);
            if !waiting.is_empty() {
                return true;
            }
            let took = (now - *since) as f64 / 1_000.0;
            report.relinks += 1;
            report.relink_max_ms = Some(report.relink_max_ms.map_or(took, |max| max.max(took)));
            false
        });
    }

    /// A one-way latency.
    fn latency(&mut self) -> Micros {
        let (low, high) = self.config.latency_us;
        self.rng.u64(low..=high.max(low))
    }

    /// The operator cuts or restores `link` on both ends.
    fn set_cut(&mut self, link: usize, cut: bool) {
        self.links[link].cut = cut;
        if cut {
            self.disconnect(link);
            // A restarted node does not wait for a link the operator cut.
            for (_, _, _, waiting) in &mut self.relinking {
                waiting.retain(|&l| l != link);
            }
        }
        let now = self.now();
        for (node, local) in self.links[link].ends() {
            if self.nodes[node].alive {
                self.nodes[node].machines[local].set_admin(now, !cut);
                self.pump(node, local);
            }
        }
    }

    /// Puts a message on the wire from `from` over `link`.
    fn send(&mut self, link: usize, from: usize, conn: u64, message: Message, windowed: bool) {
        self.report.bytes += message.bytes();
        let now = self.schedule.now();
        let high = self.config.latency_us.1;
        let latency = self.latency();
        if !self.calm && self.rng.f64() < self.config.loss {
            // The connection drops: this message and all in flight are lost.
            self.close(link, conn);
            return;
        }
        let l = &mut self.links[link];
        let towards_b = from == l.a;
        let direction = usize::from(!towards_b);
        let is_update = matches!(message, Message::Update(..));
        let arrival = if is_update && self.rng.f64() < self.config.reorder {
            // Overtaken: arrives late without holding back what follows.
            now + latency + self.rng.u64(..=5 * high.max(1))
        } else {
            let arrival = (now + latency).max(l.last_arrival[direction]);
            l.last_arrival[direction] = arrival;
            arrival
        };
        if let Message::Update(record, via) = &message
            && self.rng.f64() < self.config.duplicate
        {
            let again = arrival + self.rng.u64(..=high.max(1));
            self.schedule.at(
                again,
                Event::Deliver {
                    link,
                    towards_b,
                    conn,
                    message: Message::Update(record.clone(), *via),
                    windowed: false,
                },
            );
        }
        self.schedule.at(
            arrival,
            Event::Deliver {
                link,
                towards_b,
                conn,
                message,
                windowed,
            },
        );
    }

    fn deliver(&mut self, link: usize, towards_b: bool, conn: u64, message: Message) {
        let l = &self.links[link];
        let (_, (to, local)) = l.sender_and_receiver(towards_b);
        if l.attached[usize::from(towards_b)] != Some(conn) {
            return; // sent on a connection that is gone, or not taken here
        }
        let now = self.now();
        let n = &mut self.nodes[to];
        n.machines[local].input(now);
        let mut via = Via::Repair;
        let message = match message {
            Message::Update(record, how) => {
                via = how;
                PeerMessage::Update(Arc::unwrap_or_clone(record))
            }
            Message::Forget(tombstone) => PeerMessage::Forget(tombstone),
            Message::Repair(message) => PeerMessage::Repair(message),
            Message::Ping => PeerMessage::Ping,
        };
        match n.machines[local].receive(message) {
            Received::Merge(record) => {
                let clock = Nanos(self.clock_of(to));
                let decision = self.nodes[to]
                    .core
                    .on_peer_update(Arc::new(record), local, clock);
                if let PeerDecision::Won { record, forward } = decision {
                    let ((sender, _), _) = self.links[link].sender_and_receiver(towards_b);
                    let from = via.describe(self.nodes[sender].core.name());
                    self.check_commit(to, &record, &from);
                    self.nodes[to].core.commit(record.clone());
                    self.flood(to, &record, forward);
                }
            }
            Received::Forget(tombstone) => {
                let clock = Nanos(self.clock_of(to));
                let n = &mut self.nodes[to];
                if let ForgetDecision::Won { tombstone, forward } =
                    n.core.on_peer_forget(tombstone, local, clock)
                {
                    n.core.commit_forget(tombstone);
                    self.flood_forget(to, tombstone, forward);
                }
            }
            Received::Repair(message) => {
                n.machines[local].answer_repair(now, message, n.core.records());
            }
            Received::Nothing => {}
            Received::Close(_) => self.close(link, conn),
        }
        self.pump(to, local);
    }

    /// `node` crashes, and restarts `lasts` later. A long absence waits
    /// while the node is down already (a short crash ends soon) or holds
    /// the only copy of a tombstone that is still kept (see the module).
    fn crash(&mut self, node: usize, lasts: Micros, long: bool) {
        if long && (!self.nodes[node].alive || self.long_away.is_some() || self.only_holder(node)) {
            let retry = Event::Crash { node, lasts, long };
            self.schedule.after(CRASH_RETRY, retry);
            return;
        }
        if !self.nodes[node].alive {
            return; // down already: this crash is part of that one
        }
        self.schedule.after(lasts, Event::Restart { node });
        if long {
            self.long_away = Some(node);
        }
        self.report.crashes += 1;
        self.nodes[node].alive = false;
        for link in self.nodes[node].links.clone() {
            self.disconnect(link);
        }
        // Nobody waits for a link to a node that is down.
        let links = &self.nodes[node].links;
        self.relinking.retain_mut(|(waiter, _, _, waiting)| {
            waiting.retain(|l| !links.contains(l));
            *waiter != node
        });
        self.track_split();
    }

    /// Every link of `node` is cut for `lasts`; like a long crash, this
    /// waits while the node is down, or holds the only copy of a
    /// tombstone.
    fn isolate(&mut self, node: usize, lasts: Micros) {
        if !self.nodes[node].alive || self.long_away.is_some() || self.only_holder(node) {
            self.schedule
                .after(CRASH_RETRY, Event::Isolate { node, lasts });
            return;
        }
        self.isolated[node] = true;
        self.long_away = Some(node);
        for link in self.nodes[node].links.clone() {
            self.set_cut(link, true);
        }
        self.schedule.after(lasts, Event::Rejoin { node });
    }

    /// Does `node` hold the newest forget of some client that no other
    /// node holds yet, and that is still kept?
    fn only_holder(&self, node: usize) -> bool {
        let clock = Nanos(self.clock_of(node));
        let holds = |n: &Node, client: &str, time: Nanos| {
            n.core
                .records()
                .tombstone_of(client)
                .is_some_and(|t| t.time >= time)
        };
        self.oracle.forgotten().any(|(client, time)| {
            !self.lifecycle.tombstone_expired(time, clock)
                && holds(&self.nodes[node], client, time)
                && !self
                    .nodes
                    .iter()
                    .enumerate()
                    .any(|(i, other)| i != node && holds(other, client, time))
        })
    }

    fn restart(&mut self, node: usize) {
        if self.nodes[node].alive {
            return;
        }
        // Start-up: the records, the tombstones and the last contact come
        // back from the store, nothing else.
        let old = &self.nodes[node].core;
        let mut stored = Records::default();
        for tombstone in old.records().tombstones() {
            stored.forget(*tombstone);
        }
        for record in old.records().iter() {
            stored.merge(record.clone());
        }
        let mut core = NodeCore::new(old.name().to_owned(), MAX_FUTURE_SKEW);
        core.set_lifecycle(self.lifecycle);
        core.restore_all(stored);
        core.set_last_contact(old.last_contact());
        let n = &mut self.nodes[node];
        n.core = core;
        n.alive = true;
        n.boot += 1;
        if self.long_away == Some(node) && !self.isolated[node] {
            self.long_away = None;
        }
        // Back from past the horizon: the older records go before anything
        // is exchanged. (No sweep yet: that waits for the tick, so that the
        // node's sweeps stay on the step boundaries.)
        let clock = Nanos(self.clock_of(node));
        self.contact(node, clock, true);
        // New link machines: queues, rounds and back-off start afresh; a
        // cut is remembered (the node saves it).
        let now = self.schedule.now();
        let waiting: Vec<usize> = self.nodes[node]
            .links
            .iter()
            .copied()
            .filter(|&l| {
                let link = &self.links[l];
                let peer = if link.a == node { link.b } else { link.a };
                !link.cut && self.nodes[peer].alive
            })
            .collect();
        if !self.calm && !waiting.is_empty() {
            self.relinking
                .push((node, self.nodes[node].boot, now, waiting));
        }
        for local in 0..self.nodes[node].links.len() {
            let link = &self.links[self.nodes[node].links[local]];
            let (wins, up) = (link.b == node, !link.cut);
            let machine = new_machine(self.config, wins, up, now, &mut self.rng);
            let n = &mut self.nodes[node];
            n.machines[local] = machine;
            n.armed[local] = None;
            n.forget_floods[local] = 0;
            self.arm(node, local);
        }
        self.track_split();
    }

    fn finish(mut self, converged: bool) -> Report {
        if let Some(since) = self.split_since {
            self.longest_split = self.longest_split.max(self.schedule.now() - since);
        }
        self.report.longest_split_ms = self.longest_split as f64 / 1_000.0;
        self.report.records_at_end = self
            .nodes
            .first()
            .map_or(0, |n| n.core.records().len() as u64);
        self.report.failure = if converged {
            // The checks passed when the run ended; once more, in case.
            self.disagreement()
        } else if let Some(why) = self.failure.take() {
            Some(why)
        } else {
            let why = self
                .disagreement()
                .unwrap_or_else(|| "they differ from each other".to_owned());
            let phase = match self.phase {
                Phase::Settling | Phase::Watching { .. } => " (after the tombstones expired)",
                _ => "",
            };
            Some(format!(
                "not converged {} ms after the final heal{phase}: {why}",
                self.config.quiet_limit_ms
            ))
        };
        self.report
    }

    /// The first way a node differs from the oracle, if any.
    fn disagreement(&self) -> Option<String> {
        let clocks = self.clocks();
        let lifecycle = &self.lifecycle;
        for node in &self.nodes {
            let name = node.core.name();
            let records = node.core.records();
            for held in records.iter() {
                if let Err(why) = self
                    .oracle
                    .judge(held.client(), Some(held), lifecycle, clocks)
                {
                    return Some(format!("{name} {why}"));
                }
            }
            for client in self.oracle.clients() {
                if records.get(client).is_none()
                    && let Err(why) = self.oracle.judge(client, None, lifecycle, clocks)
                {
                    return Some(format!("{name} {why}"));
                }
            }
            for (client, time) in self.oracle.forgotten() {
                if Oracle::tombstone_kept(lifecycle, time, clocks)
                    && records.tombstone_of(client).is_none_or(|t| t.time < time)
                {
                    return Some(format!(
                        "{name} holds no tombstone of {client}, forgotten up to {}",
                        time.to_seconds_text()
                    ));
                }
            }
        }
        None
    }
}

/// A link end running the node's policy, with the simulation's queue size
/// and repair period.
fn new_machine(
    config: &SimConfig,
    wins_collisions: bool,
    admin_up: bool,
    now: Micros,
    rng: &mut fastrand::Rng,
) -> LinkMachine {
    let policy = LinkPolicy {
        queue_capacity: config.queue_capacity,
        repair_every: Duration::from_millis(config.repair_every_ms),
        sabotage: config.sabotage,
        ..LinkPolicy::default()
    };
    LinkMachine::new(
        policy,
        wins_collisions,
        admin_up,
        Duration::from_micros(now),
        rng.u64(..),
    )
}

/// A node's start as the boot id its peers see.
fn boot(start: u64) -> String {
    format!("{start:016x}")
}

/// The nodes whose absence leaves the others connected (by every link of
/// the graph): a long absence of one of them splits nothing.
fn spare_nodes(nodes: usize, links: &[Link]) -> Vec<usize> {
    (0..nodes)
        .filter(|&gone| {
            let mut reached = vec![false; nodes];
            let Some(start) = (0..nodes).find(|&i| i != gone) else {
                return false;
            };
            reached[start] = true;
            let mut stack = vec![start];
            while let Some(i) = stack.pop() {
                for link in links {
                    let next = if link.a == i {
                        link.b
                    } else if link.b == i {
                        link.a
                    } else {
                        continue;
                    };
                    if next != gone && !reached[next] {
                        reached[next] = true;
                        stack.push(next);
                    }
                }
            }
            (0..nodes).all(|i| i == gone || reached[i])
        })
        .collect()
}
