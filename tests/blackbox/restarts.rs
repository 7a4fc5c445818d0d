//! Restarts (contract section 7): a node that starts is linked with every
//! live peer at once, whichever end of each link it is, so an update a
//! neighbour hears right after reaches it by flooding.

use std::time::Duration;

use herd_blackbox::*;

/// Jaquez's name sorts after both its peers' (Clark, Campbell): before both
/// ends dialled, it only ever waited for them to redial after their
/// back-off (up to 2 s).
#[test]
fn a_restarted_node_that_used_to_only_accept_has_its_neighbours_updates_every_time() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let mut linked_after = Vec::new();
    for round in 0..50 {
        // Both ways a node goes away: a clean stop and a crash.
        if round % 2 == 0 {
            assert!(herd.terminate("Jaquez").success());
        } else {
            herd.kill("Jaquez");
        }
        let opened = herd.start_timed("Jaquez");
        let all_up = || {
            let links = &herd.snapshot("Jaquez")["links"];
            links.as_array().is_some_and(|links| {
                links.len() == 2 && links.iter().all(|link| link["connected"] == true)
            })
        };
        assert!(
            wait_until(Duration::from_secs(5), all_up),
            "round {round}: Jaquez's links never came up; log:\n{}",
            herd.log("Jaquez")
        );
        linked_after.push(opened.elapsed());
        // What the classic grading client does: an update at a neighbour a
        // moment after the restart, then a question at the restarted node.
        std::thread::sleep(Duration::from_millis(300).saturating_sub(opened.elapsed()));
        let client = format!("after-restart-{round}");
        let at = one_shot(
            herd.client_addr("Clark"),
            &iamat(&client, "+34.068930-118.445127", now_text()),
        );
        assert!(at.starts_with("AT Clark "), "{at}");
        let answer = one_shot(
            herd.client_addr("Jaquez"),
            &format!("WHATSAT {client} 10 1"),
        );
        assert_eq!(
            answer.lines().next(),
            Some(at.trim_end()),
            "round {round}: Jaquez did not have the update it was flooded"
        );
    }
    linked_after.sort();
    eprintln!(
        "Jaquez linked after its client port opened: p50 {:?}, max {:?} over {} restarts",
        linked_after[linked_after.len() / 2],
        linked_after[linked_after.len() - 1],
        linked_after.len(),
    );
}

/// A rolling restart (contract section 7): every node of the default herd
/// restarted one at a time while clients keep sending IAMATs to the others.
#[test]
fn a_rolling_restart_under_load_loses_nothing_and_converges_at_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, RwLock};

    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let clients: Vec<(String, std::net::SocketAddr)> = DEFAULT_NODES
        .iter()
        .map(|name| ((*name).to_owned(), herd.client_addr(name)))
        .collect();
    // The node being restarted: a sender holds the read lock for the whole
    // of a request, so once the restart holds the write lock no request to
    // that node is under way.
    let avoid: Arc<RwLock<Option<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let unanswered: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..2)
        .map(|sender| {
            let (clients, avoid, stop) = (clients.clone(), avoid.clone(), stop.clone());
            let (acked, unanswered) = (acked.clone(), unanswered.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let held = avoid.read().unwrap_or_else(|p| p.into_inner());
                    let (name, addr) = &clients[(n + sender) % clients.len()];
                    n += 1;
                    if held.as_deref() == Some(name.as_str()) {
                        continue;
                    }
                    let client = format!("roll-{sender}-{n}");
                    let request = iamat(&client, "+34.068930-118.445127", now_text());
                    let reply = std::panic::catch_unwind(|| one_shot(*addr, &request));
                    match reply {
                        Ok(reply) if reply.starts_with("AT ") => acked
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((client, reply.trim_end().to_owned())),
                        other => unanswered
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{name} {client}: {other:?}")),
                    }
                }
            })
        })
        .collect();

    for name in DEFAULT_NODES {
        *avoid.write().unwrap_or_else(|p| p.into_inner()) = Some(name.to_owned());
        assert!(
            herd.terminate(name).success(),
            "{name} did not stop cleanly"
        );
        herd.start(name);
        let linked = wait_until(Duration::from_secs(5), || {
            herd.snapshot(name)["links"]
                .as_array()
                .is_some_and(|links| links.iter().all(|link| link["connected"] == true))
        });
        assert!(
            linked,
            "{name}'s links did not come back: {}",
            herd.log(name)
        );
        *avoid.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
    let last_restart = std::time::Instant::now();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().expect("a sender");
    }
    let converged = wait_until(Duration::from_secs(10), || {
        let output = herd.herdctl(&["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .is_ok_and(|status| status["converged"] == true)
    });
    let converged_after = last_restart.elapsed();
    assert!(converged, "not converged after the rolling restart");
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let unanswered = unanswered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let lost: Vec<&(String, String)> = acked
        .iter()
        .filter(|(client, at)| {
            let answer = one_shot(herd.client_addr("Jaquez"), &format!("WHATSAT {client} 1 1"));
            answer.lines().next() != Some(at.as_str())
        })
        .collect();
    eprintln!(
        "rolling restart: {} updates acknowledged, {} lost, {} unanswered; converged {converged_after:?} after the last restart",
        acked.len(),
        lost.len(),
        unanswered.len()
    );
    assert!(acked.len() > 100, "only {} updates were sent", acked.len());
    assert!(
        unanswered.is_empty(),
        "requests to running nodes unanswered: {unanswered:?}"
    );
    assert!(lost.is_empty(), "acknowledged updates lost: {lost:?}");
    assert!(
        converged_after <= Duration::from_secs(1),
        "converged only {converged_after:?} after the last restart"
    );
}
