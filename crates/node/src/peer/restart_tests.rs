//! A link task that fails is reported and its link comes back: two real
//! nodes in this process, real TCP on loopback, their links under the
//! node's supervisor, and a panic injected into one link task while its
//! session is up.

use std::sync::Arc;
use std::time::Duration;

use herd_admin::AdminState;
use herd_core::LinkPolicy;
use herd_proto::Record;
use tokio::net::TcpListener;

use super::{Link, run_link, serve_peers};
use crate::log_store::LogStore;
use crate::node::Node;
use crate::supervisor::{Restart, Supervisor};
use crate::test_support::{NoPlaces, live, settings};

struct Started {
    node: Arc<Node>,
    link: Arc<Link>,
    receiver: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<super::connection::Arrival>>>,
    _dir: tempfile::TempDir,
}

async fn start(
    name: &str,
    peer: &str,
    listener: &Arc<TcpListener>,
    peer_addr: std::net::SocketAddr,
) -> Started {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let addr = listener.local_addr().expect("a bound listener");
    let (link, receiver) = Link::new(
        0,
        name,
        peer,
        peer_addr.into(),
        LinkPolicy::default(),
        AdminState::Up,
    );
    let settings = settings(name, addr, dir.path());
    let live = live();
    let store = LogStore::open(dir.path()).expect("a record log");
    let node = Node::new(
        settings,
        live,
        crate::live::CoreRules::default(),
        Box::new(store),
        vec![link.clone()],
        Arc::new(NoPlaces),
    )
    .expect("a node");
    Started {
        node: Arc::new(node),
        link,
        receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
        _dir: dir,
    }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_task_that_panics_is_reported_and_its_link_comes_back() {
    let listener_a = Arc::new(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
    let listener_b = Arc::new(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
    let (addr_a, addr_b) = (
        listener_a.local_addr().expect("addr"),
        listener_b.local_addr().expect("addr"),
    );
    // Both dial; the collision rule keeps one connection.
    let a = start("Alpha", "Beta", &listener_a, addr_b).await;
    let b = start("Beta", "Alpha", &listener_b, addr_a).await;
    let tasks = Supervisor::new();
    for (started, listener) in [(&a, &listener_a), (&b, &listener_b)] {
        let (node, listener) = (started.node.clone(), listener.clone());
        tasks.spawn("peer port", Restart::OnPanic, move || {
            serve_peers(node.clone(), listener.clone())
        });
    }
    let (node, link, receiver) = (b.node.clone(), b.link.clone(), b.receiver.clone());
    tasks.spawn("link to Alpha", Restart::OnPanic, move || {
        run_link(node.clone(), link.clone(), receiver.clone())
    });
    // Alpha's link task panics once, in the middle of a connected session.
    let (node, link, receiver) = (a.node.clone(), a.link.clone(), a.receiver.clone());
    let mut first = true;
    tasks.spawn("link to Beta", Restart::OnPanic, move || {
        let inject = std::mem::take(&mut first);
        let (node, link, receiver) = (node.clone(), link.clone(), receiver.clone());
        async move {
            let watched = link.clone();
            tokio::select! {
                () = run_link(node, link, receiver) => {}
                () = async {
                    while !(inject && watched.snapshot().connected) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => panic!("injected failure in the link task"),
            }
        }
    });

    // A connection is told by its two ends' remote addresses: whichever
    // end dialled it, the other sees the dialler's ephemeral port.
    let ends = || (a.link.snapshot().remote, b.link.snapshot().remote);
    until("the link is up", || b.link.snapshot().connected).await;
    let first_connection = ends();
    until("the panic is counted", || tasks.panics() == 1).await;
    // A new connection, not the old one left behind by the task that died.
    until("the link is connected again", || {
        let (a, b) = (a.link.snapshot(), b.link.snapshot());
        a.connected && b.connected && ends() != first_connection
    })
    .await;
    // The restarted link carries updates both ways.
    let line = "AT Alpha +0.000000001 kiwi +1+1 1700000000.5";
    let record = Arc::new(Record::parse_at_line(line).expect("a valid AT line"));
    a.link.enqueue(record);
    until("Beta holds the update", || b.node.records_summary().0 == 1).await;
    assert_eq!(tasks.panics(), 1, "restarted once, not in a loop");
    assert!(tasks.stop(Duration::from_secs(2)).await);
}
