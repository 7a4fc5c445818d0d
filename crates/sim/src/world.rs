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
//! or answers it); link machines, their queues and messages in flight do
//! not.

use std::sync::Arc;
use std::time::Duration;

use herd_core::{
    ClientDecision, Forward, LinkMachine, LinkPolicy, NodeCore, Opener, PeerDecision, Push,
    Received, Records, Transmit,
};
use herd_proto::peer::PeerMessage;
use herd_proto::repair::RepairMessage;
use herd_proto::{Nanos, Record, Request, parse_request};

use crate::schedule::{Micros, Schedule};
use crate::topology::{node_name, random_graph};
use crate::{Report, SimConfig};

const MS: Micros = 1_000;
/// Wall-clock time at simulated time zero (any fixed value will do).
const EPOCH_NS: u64 = 1_800_000_000_000_000_000;
/// How often convergence is checked after the final heal.
const CHECK_EVERY: Micros = 10 * MS;
/// Flood messages one direction of a link carries at once (the socket
/// buffer); the rest wait in the send queue.
const WINDOW: usize = 8;

enum Message {
    Update(Arc<Record>),
    Repair(RepairMessage),
    Ping,
}

impl Message {
    fn bytes(&self) -> u64 {
        match self {
            Message::Update(record) => record.at_line().len() as u64 + 1,
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
            .map(|i| Node {
                core: NodeCore::new(node_name(i), Nanos(3_600_000_000_000)),
                alive: true,
                boot: 0,
                links: Vec::new(),
                machines: Vec::new(),
                armed: Vec::new(),
                clock_skew_ns: rng.i64(-5_000_000..5_000_000),
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
            Event::Heal { link } => self.set_cut(link, false),
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
                    self.set_cut(link, false);
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

    fn now(&self) -> Duration {
        Duration::from_micros(self.schedule.now())
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
                    self.report.update_msgs += 1;
                    self.links[link].in_flight[direction] += 1;
                    (Message::Update(record), true)
                }
                Transmit::Repaired(record) => {
                    self.report.repair_records += 1;
                    (Message::Update(record), false)
                }
                Transmit::Repair(message) => {
                    if matches!(message, RepairMessage::Sync { .. }) {
                        self.report.repair_rounds += 1;
                    }
                    self.report.repair_msgs += 1;
                    (Message::Repair(message), false)
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
        let now = self.now();
        let n = &mut self.nodes[node];
        n.machines[local].connected(now, n.core.records(), opener, &boot(peer_boot));
        if self.links[link].is_up() {
            self.linked(link);
        }
        self.pump(node, local);
    }

    /// Connection `conn` of `link` is gone, with everything in flight on
    /// it; an end that was on it learns so.
    fn close(&mut self, link: usize, conn: u64) {
        let l = &mut self.links[link];
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
                    conn,
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
        let message = match message {
            Message::Update(record) => PeerMessage::Update(Arc::unwrap_or_clone(record)),
            Message::Repair(message) => PeerMessage::Repair(message),
            Message::Ping => PeerMessage::Ping,
        };
        match n.machines[local].receive(message) {
            Received::Merge(record) => {
                let decision = n.core.on_peer_update(Arc::new(record), local);
                if let PeerDecision::Won { record, forward } = decision {
                    n.core.commit(record.clone());
                    self.flood(to, &record, forward);
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

    fn crash(&mut self, node: usize) {
        if !self.nodes[node].alive {
            return;
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
        n.boot += 1;
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
            self.arm(node, local);
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
