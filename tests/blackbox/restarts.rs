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
