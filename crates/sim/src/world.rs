//! One simulated herd: nodes running the real core (`NodeCore`,
//! `SendQueue`, `RepairState`), links that behave like the node's TCP
//! connections, and the faults of a run.
//!
//! A link carries messages in order per direction (it is one TCP
//! connection) with a random latency; "loss" is what loss is for TCP: the
//! connection drops, everything in flight on it is gone, and it reconnects
//! a little later. On top of that, update messages may be delivered twice
//! or overtaken (updates are idempotent and commute, so the node must not
//! care); repair messages never are, as on the real connection.
//!
//! A link takes only so many flood messages at a time (the socket's
//! buffer): beyond that the node's send queue holds them, and when that is
//! full an update is dropped and a repair round asked for, as in the node.
//! Repair answers are not held back (the node puts them ahead of the queue).
//!
//! Records survive a crash (the node writes each update before it commits
//! or answers it); send queues, repair rounds and messages in flight do not.

use std::sync::Arc;

use herd_core::{ClientDecision, Forward, NodeCore, PeerDecision, Records, RepairState, SendQueue};
use herd_proto::repair::RepairMessage;
use herd_proto::{Nanos, Record, Request, parse_request};

use crate::schedule::{Micros, Schedule};
use crate::topology::{node_name, random_graph};
use crate::{Report, SimConfig};

const MS: Micros = 1_000;
/// Wall-clock time at simulated time zero (any fixed value will do).
const EPOCH_NS: u64 = 1_800_000_000_000_000_000;
/// A periodic round does not interrupt an unanswered one younger than this
/// (as in the node).
const ROUND_PATIENCE: Micros = 5_000 * MS;
/// How often convergence is checked after the final heal.
const CHECK_EVERY: Micros = 10 * MS;
/// Rounds asked for by overflows are at least this far apart (as in the
/// node).
const MIN_ROUND_GAP: Micros = 100 * MS;
/// Flood messages one direction of a link carries at once (the socket
/// buffer); the rest wait in the send queue.
const WINDOW: usize = 8;

enum Message {
    Update(Arc<Record>),
    Repair(RepairMessage),
}

impl Message {
    fn bytes(&self) -> u64 {
        match self {
            Message::Update(record) => record.at_line().len() as u64 + 1,
            Message::Repair(message) => message.to_line().len() as u64,
        }
    }
}

enum Event {
    Iamat {
        node: usize,
        client: usize,
        skew_ns: i64,
    },
    Deliver {
        link: usize,
        towards_b: bool,
        epoch: u64,
        message: Message,
        /// A flood message that holds a place in the link's window.
        windowed: bool,
    },
    RepairTimer {
        link: usize,
    },
    /// A round asked for by an overflow that had to wait.
    RepairRetry {
        node: usize,
        local: usize,
    },
    Reconnect {
        link: usize,
    },
    Cut {
        link: usize,
    },
    Heal {
        link: usize,
    },
    Crash {
        node: usize,
    },
    Restart {
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
    cut: bool,
    /// Dropped by a lost message; reconnects on its own.
    resetting: bool,
    connected: bool,
    /// A new connection gets a new epoch; messages of an old one are lost.
    epoch: u64,
    /// Latest arrival time per direction (a→b, b→a): keeps order.
    last_arrival: [Micros; 2],
    /// Flood messages in flight per direction.
    in_flight: [usize; 2],
}

struct Node {
    core: NodeCore,
    alive: bool,
    links: Vec<usize>,
    queues: Vec<SendQueue>,
    repair: Vec<RepairState>,
    repair_started: Vec<Option<Micros>>,
    /// A round is wanted on the link as soon as one may start.
    repair_wanted: Vec<bool>,
    /// This node's clock minus true time.
    clock_skew_ns: i64,
}

pub struct World<'c> {
    config: &'c SimConfig,
    rng: fastrand::Rng,
    schedule: Schedule<Event>,
    nodes: Vec<Node>,
    links: Vec<Link>,
    /// Per client, the newest update any node acknowledged.
    oracle: Records,
    /// No more faults: the final heal happened.
    calm: bool,
    healed_at: Option<Micros>,
    /// False only to show that the oracle catches what flooding loses.
    repair: bool,
    report: Report,
}

impl<'c> World<'c> {
    pub fn new(config: &'c SimConfig) -> World<'c> {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let edges = random_graph(&mut rng, config.nodes);
        let mut nodes: Vec<Node> = (0..config.nodes)
            .map(|i| Node {
                core: NodeCore::new(node_name(i), Nanos(3_600_000_000_000)),
                alive: true,
                links: Vec::new(),
                queues: Vec::new(),
                repair: Vec::new(),
                repair_started: Vec::new(),
                repair_wanted: Vec::new(),
                clock_skew_ns: rng.i64(-5_000_000..5_000_000),
            })
            .collect();
        let mut links = Vec::new();
        for (id, &(a, b)) in edges.iter().enumerate() {
            let local = (nodes[a].links.len(), nodes[b].links.len());
            for end in [a, b] {
                let node = &mut nodes[end];
                node.links.push(id);
                node.queues.push(SendQueue::new(config.queue_capacity));
                node.repair.push(RepairState::default());
                node.repair_started.push(None);
                node.repair_wanted.push(false);
            }
            links.push(Link {
                a,
                b,
                local,
                cut: false,
                resetting: false,
                connected: false,
                epoch: 0,
                last_arrival: [0, 0],
                in_flight: [0, 0],
            });
        }
        let report = Report {
            seed: config.seed,
            nodes: config.nodes,
            links: links.len(),
            ..Report::default()
        };
        World {
            config,
            rng,
            schedule: Schedule::default(),
            nodes,
            links,
            oracle: Records::default(),
            calm: false,
            healed_at: None,
            repair: true,
            report,
        }
    }

    /// The same world with no repair rounds at all.
    #[cfg(test)]
    pub fn without_repair(mut self) -> Self {
        self.repair = false;
        self
    }

    /// Runs the whole scenario and reports.
    pub fn run(mut self) -> Report {
        self.plan();
        for link in 0..self.links.len() {
            self.refresh_link(link);
        }
        let end = self.config.chaos_ms * MS + self.config.quiet_limit_ms * MS;
        while let Some(event) = self.schedule.pop_until(end) {
            if self.handle(event) {
                return self.finish(true);
            }
        }
        self.schedule.advance_to(end);
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
        for _ in 0..self.config.faults {
            let at = self.rng.u64(..chaos);
            let lasts = self.rng.u64(100 * MS..chaos.max(100 * MS + 1));
            match self.rng.u8(..3) {
                0 => {
                    // A partition: a random group against the rest.
                    let inside: Vec<bool> =
                        (0..self.nodes.len()).map(|_| self.rng.bool()).collect();
                    for (id, link) in self.links.iter().enumerate() {
                        if inside[link.a] != inside[link.b] {
                            self.schedule.at(at, Event::Cut { link: id });
                            self.schedule.at(at + lasts, Event::Heal { link: id });
                        }
                    }
                }
                1 => {
                    let link = self.rng.usize(..self.links.len().max(1));
                    if link < self.links.len() {
                        self.schedule.at(at, Event::Cut { link });
                        self.schedule.at(at + lasts, Event::Heal { link });
                    }
                }
                _ => {
                    let node = self.rng.usize(..self.nodes.len());
                    self.schedule.at(at, Event::Crash { node });
                    self.schedule.at(at + lasts, Event::Restart { node });
                }
            }
        }
        for link in 0..self.links.len() {
            let first = self.rng.u64(..self.config.repair_every_ms * MS);
            self.schedule.at(first, Event::RepairTimer { link });
        }
        self.schedule.at(chaos, Event::FinalHeal);
    }

    /// Handles one event; true when the herd has converged after the heal.
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
                epoch,
                message,
                windowed,
            } => {
                if windowed && self.links[link].epoch == epoch {
                    let l = &mut self.links[link];
                    let direction = usize::from(!towards_b);
                    l.in_flight[direction] = l.in_flight[direction].saturating_sub(1);
                    // The socket took more: the sender's queue moves on.
                    let (from, local) = if towards_b {
                        (l.a, l.local.0)
                    } else {
                        (l.b, l.local.1)
                    };
                    self.drain_queue(from, local);
                }
                self.deliver(link, towards_b, epoch, message);
            }
            Event::RepairRetry { node, local } => {
                self.nodes[node].repair_wanted[local] = false;
                self.want_repair(node, local);
            }
            Event::RepairTimer { link } => {
                if self.links[link].connected {
                    // The lower name dials and starts the periodic rounds.
                    let (a, local) = (self.links[link].a, self.links[link].local.0);
                    self.start_repair(a, local, false);
                }
                let period = self.config.repair_every_ms * MS;
                let jittered = period * 4 / 5 + self.rng.u64(..=period * 2 / 5);
                self.schedule.after(jittered, Event::RepairTimer { link });
            }
            Event::Reconnect { link } => {
                self.links[link].resetting = false;
                self.refresh_link(link);
            }
            Event::Cut { link } => {
                if !self.calm {
                    self.links[link].cut = true;
                    self.refresh_link(link);
                }
            }
            Event::Heal { link } => {
                self.links[link].cut = false;
                self.refresh_link(link);
            }
            Event::Crash { node } => {
                if !self.calm {
                    self.crash(node);
                }
            }
            Event::Restart { node } => self.restart(node),
            Event::FinalHeal => {
                self.calm = true;
                self.healed_at = Some(self.schedule.now());
                for node in 0..self.nodes.len() {
                    self.restart(node);
                }
                for link in 0..self.links.len() {
                    self.links[link].cut = false;
                    self.links[link].resetting = false;
                    self.refresh_link(link);
                }
                self.schedule.after(0, Event::Check);
            }
            Event::Check => {
                let target = self.oracle.digest();
                if self
                    .nodes
                    .iter()
                    .all(|n| n.core.records().digest() == target)
                {
                    return true;
                }
                self.schedule.after(CHECK_EVERY, Event::Check);
            }
        }
        false
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
                self.nodes[node].core.commit(record.clone());
                self.oracle.merge(record.clone());
                self.report.updates_acked += 1;
                self.flood(node, &record, forward);
            }
            ClientDecision::Stale { held } => {
                self.oracle.merge(held);
            }
            ClientDecision::TooFarInFuture => {}
        }
    }

    fn clock_of(&self, node: usize) -> u64 {
        (EPOCH_NS + self.schedule.now() * 1_000)
            .saturating_add_signed(self.nodes[node].clock_skew_ns)
    }

    fn flood(&mut self, node: usize, record: &Arc<Record>, forward: Forward) {
        let links = self.nodes[node].links.len();
        for local in forward.targets(links) {
            let overflow =
                self.nodes[node].queues[local].push(record.clone()) == herd_core::Push::Overflow;
            if overflow {
                self.report.overflows += 1;
                // As in the node: the dropped update goes by repair instead.
                self.want_repair(node, local);
            }
            self.drain_queue(node, local);
        }
    }

    /// Sends what a node queued for a link, as far as the link's window
    /// allows, if the link is connected.
    fn drain_queue(&mut self, node: usize, local: usize) {
        let link = self.nodes[node].links[local];
        let direction = usize::from(node != self.links[link].a);
        while self.links[link].connected && self.links[link].in_flight[direction] < WINDOW {
            let Some(record) = self.nodes[node].queues[local].pop() else {
                break;
            };
            self.report.update_msgs += 1;
            self.links[link].in_flight[direction] += 1;
            self.send_windowed(link, node, Message::Update(record), true);
        }
    }

    /// A round as soon as one may start (after a queue overflow): now, or
    /// once the current one is answered or the gap since the last passed.
    fn want_repair(&mut self, node: usize, local: usize) {
        if self.start_repair(node, local, false) || self.nodes[node].repair_wanted[local] {
            return;
        }
        let link = self.nodes[node].links[local];
        if self.links[link].connected {
            self.nodes[node].repair_wanted[local] = true;
            self.schedule
                .after(MIN_ROUND_GAP, Event::RepairRetry { node, local });
        }
    }

    /// Starts a round unless one may not start yet; true if it did.
    fn start_repair(&mut self, node: usize, local: usize, force: bool) -> bool {
        let link = self.nodes[node].links[local];
        if !self.repair || !self.links[link].connected {
            return false;
        }
        let now = self.schedule.now();
        let n = &mut self.nodes[node];
        let busy = n.repair_started[local].is_some_and(|at| {
            now - at < MIN_ROUND_GAP || (n.repair[local].in_round() && now - at < ROUND_PATIENCE)
        });
        if busy && !force {
            return false;
        }
        n.repair_started[local] = Some(now);
        let sync = n.repair[local].start(n.core.records());
        self.report.repair_rounds += 1;
        self.report.repair_msgs += 1;
        self.send(link, node, Message::Repair(sync));
        true
    }

    /// Puts a message on the wire from `from` over `link`.
    fn send(&mut self, link: usize, from: usize, message: Message) {
        self.send_windowed(link, from, message, false);
    }

    fn send_windowed(&mut self, link: usize, from: usize, message: Message, windowed: bool) {
        self.report.bytes += message.bytes();
        let now = self.schedule.now();
        let (low, high) = self.config.latency_us;
        let latency = self.rng.u64(low..=high.max(low));
        if !self.calm && self.rng.f64() < self.config.loss {
            // The connection drops: this message and all in flight are lost.
            self.links[link].resetting = true;
            self.refresh_link(link);
            let delay = self.rng.u64(50 * MS..500 * MS);
            self.schedule.after(delay, Event::Reconnect { link });
            return;
        }
        let l = &mut self.links[link];
        let towards_b = from == l.a;
        let direction = usize::from(!towards_b);
        let epoch = l.epoch;
        let is_update = matches!(message, Message::Update(_));
        let arrival = if is_update && self.rng.f64() < self.config.reorder {
            // Overtaken: arrives late without holding back what follows.
            now + latency + self.rng.u64(..=5 * high.max(1))
        } else {
            let arrival = (now + latency).max(l.last_arrival[direction]);
            l.last_arrival[direction] = arrival;
            arrival
        };
        if let Message::Update(record) = &message
            && self.rng.f64() < self.config.duplicate
        {
            let again = arrival + self.rng.u64(..=high.max(1));
            self.schedule.at(
                again,
                Event::Deliver {
                    link,
                    towards_b,
                    epoch,
                    message: Message::Update(record.clone()),
                    windowed: false,
                },
            );
        }
        self.schedule.at(
            arrival,
            Event::Deliver {
                link,
                towards_b,
                epoch,
                message,
                windowed,
            },
        );
    }

    fn deliver(&mut self, link: usize, towards_b: bool, epoch: u64, message: Message) {
        let l = &self.links[link];
        if !l.connected || l.epoch != epoch {
            return; // sent on a connection that is gone
        }
        let (to, local) = if towards_b {
            (l.b, l.local.1)
        } else {
            (l.a, l.local.0)
        };
        match message {
            Message::Update(record) => {
                let decision = self.nodes[to].core.on_peer_update(record, local);
                if let PeerDecision::Won { record, forward } = decision {
                    self.nodes[to].core.commit(record.clone());
                    self.flood(to, &record, forward);
                }
            }
            Message::Repair(message) => {
                let pick = self.rng.usize(..);
                let n = &mut self.nodes[to];
                let reply = n.repair[local].answer(n.core.records(), message, pick);
                for record in reply.records {
                    self.report.repair_records += 1;
                    self.send(link, to, Message::Update(record));
                }
                for message in reply.messages {
                    if matches!(message, RepairMessage::Sync { .. }) {
                        // The next chunk of a large repair: a round too.
                        self.report.repair_rounds += 1;
                        self.nodes[to].repair_started[local] = Some(self.schedule.now());
                    }
                    self.report.repair_msgs += 1;
                    self.send(link, to, Message::Repair(message));
                }
            }
        }
    }

    /// Connects or drops a link to match its ends and faults.
    fn refresh_link(&mut self, link: usize) {
        let l = &self.links[link];
        let up = !l.cut && !l.resetting && self.nodes[l.a].alive && self.nodes[l.b].alive;
        if up == l.connected {
            return;
        }
        let (a, b, (la, lb)) = (l.a, l.b, l.local);
        let l = &mut self.links[link];
        l.connected = up;
        l.epoch += 1;
        l.in_flight = [0, 0];
        for (node, local) in [(a, la), (b, lb)] {
            self.nodes[node].repair[local] = RepairState::default();
            self.nodes[node].repair_started[local] = None;
        }
        if up {
            // What queued up while away goes first; then the dialling side
            // starts a round.
            self.drain_queue(a, la);
            self.drain_queue(b, lb);
            self.start_repair(a, la, true);
        }
    }

    fn crash(&mut self, node: usize) {
        if !self.nodes[node].alive {
            return;
        }
        self.report.crashes += 1;
        let n = &mut self.nodes[node];
        n.alive = false;
        for queue in &mut n.queues {
            queue.clear();
        }
        for link in n.links.clone() {
            self.refresh_link(link);
        }
    }

    fn restart(&mut self, node: usize) {
        if self.nodes[node].alive {
            return;
        }
        // Start-up: the records come back from the store, nothing else.
        let n = &mut self.nodes[node];
        let mut core = NodeCore::new(n.core.name().to_owned(), Nanos(3_600_000_000_000));
        for record in n.core.records().iter() {
            core.restore(record.clone());
        }
        n.core = core;
        n.alive = true;
        for link in n.links.clone() {
            self.refresh_link(link);
        }
    }

    fn finish(mut self, converged: bool) -> Report {
        let healed = self.healed_at.unwrap_or(0);
        if converged {
            self.report.converge_ms = Some((self.schedule.now() - healed) as f64 / 1_000.0);
        }
        self.report.failure = self.differences(converged);
        self.report
    }

    /// The first way a node differs from the oracle, if any.
    fn differences(&self, converged: bool) -> Option<String> {
        for node in &self.nodes {
            let records = node.core.records();
            if records.len() != self.oracle.len() {
                return Some(format!(
                    "{} holds {} clients, the oracle {}",
                    node.core.name(),
                    records.len(),
                    self.oracle.len()
                ));
            }
            for newest in self.oracle.iter() {
                let held = records.get(newest.client());
                if held.map(|r| r.at_line()) != Some(newest.at_line()) {
                    return Some(format!(
                        "{} holds {:?} for {}, the newest acknowledged is {:?}",
                        node.core.name(),
                        held.map(|r| r.at_line().to_owned()),
                        newest.client(),
                        newest.at_line()
                    ));
                }
            }
        }
        if !converged {
            return Some(format!(
                "digests still differ {} ms after the final heal",
                self.config.quiet_limit_ms
            ));
        }
        None
    }
}
