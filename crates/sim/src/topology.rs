//! Random connected graphs.

/// `nodes` nodes joined by a random spanning tree plus about `nodes / 2`
/// extra links (no duplicates, no self-links): connected, with cycles, so
/// updates reach nodes over several paths.
pub fn random_graph(rng: &mut fastrand::Rng, nodes: usize) -> Vec<(usize, usize)> {
    let mut links = Vec::new();
    for node in 1..nodes {
        links.push((rng.usize(..node), node));
    }
    for _ in 0..nodes / 2 {
        let a = rng.usize(..nodes);
        let b = rng.usize(..nodes);
        let link = (a.min(b), a.max(b));
        if a != b && !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// Node names sort like their indices, so the lower index dials.
pub fn node_name(index: usize) -> String {
    format!("N{index:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_are_connected_and_simple() {
        for seed in 0..200 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let nodes = 2 + seed as usize % 40;
            let links = random_graph(&mut rng, nodes);
            let mut reached = vec![false; nodes];
            reached[0] = true;
            let mut changed = true;
            while changed {
                changed = false;
                for &(a, b) in &links {
                    if reached[a] != reached[b] {
                        reached[a] = true;
                        reached[b] = true;
                        changed = true;
                    }
                }
            }
            assert!(reached.iter().all(|&r| r), "seed {seed}");
            assert!(links.iter().all(|&(a, b)| a < b));
        }
    }
}
