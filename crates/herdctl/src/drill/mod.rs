//! `herdctl drill SCENARIO.toml` (contract section 10): a scripted
//! partition test against a live herd, with a verdict on every update it
//! sent.
//!
//! - [`scenario`]: the file, checked against the herd before anything is
//!   touched (a bad one exits 2).
//! - [`links`]: the links as found, as set since, and the partition's sides.
//! - [`load`]: IAMATs of fresh clients at a rate, each one remembered.
//! - [`verify`]: every node asked with WHATSAT; lost updates and newest-wins
//!   violations.
//! - [`convergence`]: from a heal on, the first moment digests agree.
//! - [`runner`]: the steps, then the verdict, then the links put back.
//! - [`report`]: the table and the JSON.

pub mod convergence;
pub mod links;
pub mod load;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod verify;

use std::path::Path;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::runner::{Drill, Progress};
use self::scenario::Scenario;
use crate::Failure;
use crate::herd::Herd;
use crate::restart::Restarter;

/// Runs the drill in `path`; prints its progress on stderr and its report
/// on stdout. Restarts go to the `herdctl up` that runs the herd.
pub async fn run(herd: &Herd, path: &Path, json: bool) -> Result<(), Failure> {
    let scenario = Scenario::load(path, herd).map_err(|err| Failure::usage(err.to_string()))?;
    let restarter = restarter_for(&scenario, herd, Restarter::for_herd(herd)).await?;
    let (Ok(mut term), Ok(mut int), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return Err(Failure::failed("cannot install signal handlers"));
    };
    let cancel = CancellationToken::new();
    let drill = Drill {
        herd,
        scenario: &scenario,
        name: path.display().to_string(),
        restarter,
    };
    let (progress, mut said) = mpsc::unbounded_channel();
    // Ctrl-C, SIGTERM or SIGHUP (the terminal closed) cancels the drill,
    // which then puts the links back and reports.
    let running = async move {
        let outcome = drill.run(&progress, &cancel);
        tokio::pin!(outcome);
        loop {
            tokio::select! {
                outcome = &mut outcome => break outcome,
                _ = term.recv() => cancel.cancel(),
                _ = int.recv() => cancel.cancel(),
                _ = hangup.recv() => cancel.cancel(),
            }
            crate::note("herdctl: drill interrupted: putting the links back");
        }
    };
    let printing = async {
        while let Some(news) = said.recv().await {
            crate::note(progress_line(&news));
        }
    };
    let (report, ()) = tokio::join!(running, printing);
    if json {
        let text = serde_json::to_string(&report)
            .map_err(|err| Failure::failed(format!("cannot write the report: {err}")))?;
        crate::say(text);
    } else {
        crate::say(report.to_table().trim_end());
    }
    if report.passed {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "drill failed: {}",
            report.failures.first().map_or("", String::as_str)
        )))
    }
}

/// The restarter, checked, when the scenario restarts nodes; a bad
/// scenario (exit 2) when nothing can restart them.
pub async fn restarter_for(
    scenario: &Scenario,
    herd: &Herd,
    restarter: Restarter,
) -> Result<Option<Restarter>, Failure> {
    let Some((step, node)) = scenario.restarts().next() else {
        return Ok(None);
    };
    restarter
        .check(herd.name())
        .await
        .map_err(|err| Failure::usage(format!("step {step} restarts {node}: {err}")))?;
    Ok(Some(restarter))
}

/// One line per piece of news, for stderr and the dashboard.
pub fn progress_line(news: &Progress) -> String {
    match news {
        Progress::Step { number, of, step } => format!("drill: step {number}/{of}: {step}"),
        Progress::StepDone(done) => format!(
            "drill: step {}: {}{} ({:.2} s)",
            done.number,
            if done.ok { "" } else { "FAILED: " },
            done.detail,
            done.seconds
        ),
        Progress::Finishing(what) => format!("drill: {what}"),
    }
}
