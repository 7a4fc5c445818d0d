//! Runs a checked scenario against the live herd: the steps in order, then
//! the verdict (every link up for it, the wait for equal digests, every
//! update asked for on every node), then the links put back as found:
//! always, also after a failed step and after Ctrl-C.

use std::time::{Duration, Instant};

use herd_admin::AdminState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::convergence::Convergence;
use super::links::{self, EndFailed, Links};
use super::load::{self, Ledger};
use super::report::{ExpectationReport, Report, StepReport};
use super::scenario::{Scenario, Step};
use super::verify;
use crate::herd::Herd;
use crate::restart::Restarter;
use crate::status;

/// How long the drill waits for equal digests before it asks every node,
/// when no `expect` asked for longer.
const SETTLE: Duration = Duration::from_secs(30);
/// How long the drill keeps trying to put back a link end it could not
/// set (a node in the middle of a restart).
const RESTORE_LIMIT: Duration = Duration::from_secs(20);
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(2);

/// What the drill is doing, as it happens.
#[derive(Debug, Clone)]
pub enum Progress {
    Step {
        number: usize,
        of: usize,
        step: String,
    },
    StepDone(StepReport),
    /// Bringing the links up, waiting for digests, asking every node,
    /// putting the links back.
    Finishing(&'static str),
}

pub struct Drill<'a> {
    pub herd: &'a Herd,
    pub scenario: &'a Scenario,
    /// The scenario's file, for the report.
    pub name: String,
    /// Needed by `restart` steps (checked before the drill starts).
    pub restarter: Option<Restarter>,
}

/// Where the drill is.
struct Run<'a> {
    herd: &'a Herd,
    links: Links,
    ledger: Ledger,
    id: String,
    /// Watching for equal digests since the last heal (None while a link
    /// the drill cut is down).
    convergence: Option<Convergence>,
    expectations: Vec<ExpectationReport>,
    failures: Vec<String>,
}

impl Drill<'_> {
    /// Runs the drill; a herd it cannot see whole is not touched, and the
    /// report says why.
    pub async fn run(
        &self,
        progress: &mpsc::UnboundedSender<Progress>,
        cancel: &CancellationToken,
    ) -> Report {
        let started = Instant::now();
        let found = status::collect(self.herd, SNAPSHOT_LIMIT).await;
        let links = match Links::capture(&found) {
            Ok(links) => links,
            Err(not_whole) => {
                return Report::not_run(
                    &self.name,
                    self.herd.name(),
                    format!("the herd is not whole, so the drill did not start: {not_whole}"),
                );
            }
        };
        let mut run = Run {
            herd: self.herd,
            links,
            ledger: Ledger::default(),
            id: run_id(),
            convergence: None,
            expectations: Vec::new(),
            failures: Vec::new(),
        };
        if run.links.all_up() {
            // Nothing cut: equal digests are measured from the start.
            run.convergence = Some(Convergence::start(self.herd, Instant::now()));
        }
        let mut steps = Vec::new();
        let of = self.scenario.steps.len();
        for (index, step) in self.scenario.steps.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            let number = index + 1;
            let _ = progress.send(Progress::Step {
                number,
                of,
                step: step.to_string(),
            });
            let begun = Instant::now();
            let outcome = tokio::select! {
                outcome = run.step(number, step, self.restarter.as_ref(), cancel) => outcome,
                () = cancel.cancelled() => Err(StepFailed::Interrupted),
            };
            let report = StepReport {
                number,
                step: step.to_string(),
                ok: outcome.is_ok(),
                detail: match &outcome {
                    Ok(detail) => detail.clone(),
                    Err(why) => why.to_string(),
                },
                seconds: begun.elapsed().as_secs_f64(),
            };
            if let Err(why) = &outcome {
                run.failures.push(format!("step {number} ({step}): {why}"));
            }
            let _ = progress.send(Progress::StepDone(report.clone()));
            steps.push(report);
        }

        let mut findings = verify::Findings::default();
        let mut converged_after = None;
        if !cancel.is_cancelled() {
            let limit = self
                .scenario
                .steps
                .iter()
                .filter_map(|step| match step {
                    Step::Expect(expect) => Some(expect.converged_within),
                    _ => None,
                })
                .fold(SETTLE, Duration::max);
            (converged_after, findings) = run.verdict(limit, progress, cancel).await;
        }

        // Whatever happened: the links as found.
        let _ = progress.send(Progress::Finishing("putting the links back as found"));
        let links_restored = run.restore().await;
        let interrupted = cancel.is_cancelled();
        if interrupted {
            run.failures.push("interrupted before its end".to_owned());
        }
        let mut both: Vec<&str> = run
            .ledger
            .sent
            .iter()
            .filter(|s| s.both_sides)
            .map(|s| s.client.as_str())
            .collect();
        both.sort_unstable();
        both.dedup();
        let mut examples = findings.examples;
        examples.extend(run.ledger.errors.iter().map(|e| format!("unanswered: {e}")));
        Report {
            scenario: self.name.clone(),
            herd: self.herd.name().to_owned(),
            passed: run.failures.is_empty(),
            sent: run.ledger.sent.len(),
            acknowledged: run.ledger.sent.iter().filter(|s| s.acknowledged).count(),
            lost: findings.lost,
            newest_violations: findings.newest_violations,
            both_sides_clients: both.len(),
            converged_after_s: converged_after.map(|d| d.as_secs_f64()),
            steps,
            expectations: run.expectations,
            unverified: findings.unverified,
            failures: run.failures,
            examples,
            links_restored,
            interrupted,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

impl Run<'_> {
    /// One step; what it did in words, or why it failed.
    async fn step(
        &mut self,
        number: usize,
        step: &Step,
        restarter: Option<&Restarter>,
        cancel: &CancellationToken,
    ) -> Result<String, StepFailed> {
        match step {
            Step::Partition(groups) => {
                let cuts = self.links.partition(groups);
                let names: Vec<String> = cuts.iter().map(|(a, b, _)| format!("{a}-{b}")).collect();
                self.change(&cuts).await?;
                Ok(format!("cut {} link(s): {}", cuts.len(), names.join(", ")))
            }
            Step::Cut(a, b) => {
                self.change(&[(a.clone(), b.clone(), AdminState::Down)])
                    .await?;
                Ok(format!("{a}-{b} down"))
            }
            Step::Restore(a, b) => {
                self.change(&[(a.clone(), b.clone(), AdminState::Up)])
                    .await?;
                Ok(format!("{a}-{b} up"))
            }
            Step::Heal => {
                let all = self.links.heal();
                self.change(&all).await?;
                Ok(format!("{} link(s) up", all.len()))
            }
            Step::Load(spec) => {
                let sides = self.links.sides(self.herd);
                let outcome =
                    load::run(self.herd, spec, &sides, &self.id, &mut self.ledger, cancel).await;
                self.changed_records();
                Ok(format!(
                    "{} sent, {} acknowledged, {:.0}/s",
                    outcome.sent,
                    outcome.acknowledged,
                    outcome.sent as f64 / outcome.seconds.max(1e-3)
                ))
            }
            Step::Wait(duration) => {
                tokio::time::sleep(*duration).await;
                Ok("waited".to_owned())
            }
            Step::Restart(node) => {
                let restarter = restarter.ok_or(StepFailed::NoUp)?;
                let begun = Instant::now();
                let restarted = restarter.restart(node).await;
                self.changed_records();
                let pid = restarted?;
                Ok(format!(
                    "killed and started again: pid {pid}, answering after {:.2} s",
                    begun.elapsed().as_secs_f64()
                ))
            }
            Step::Expect(expect) => {
                let within = expect.converged_within;
                let what = format!("converged within {}", humantime::format_duration(within));
                let convergence = self
                    .convergence
                    .get_or_insert_with(|| Convergence::start(self.herd, Instant::now()));
                let measured = convergence.within(within, cancel).await;
                let (held, detail) = match measured {
                    Some(after) if after <= within => (
                        true,
                        format!("digests equal {:.3} s after the heal", after.as_secs_f64()),
                    ),
                    Some(after) => (
                        false,
                        format!(
                            "digests equal only {:.3} s after the heal, not within {}",
                            after.as_secs_f64(),
                            humantime::format_duration(within)
                        ),
                    ),
                    None => (
                        false,
                        format!(
                            "digests not equal {} after the heal",
                            humantime::format_duration(within)
                        ),
                    ),
                };
                self.expectations.push(ExpectationReport {
                    step: number,
                    expect: what,
                    held,
                    detail: detail.clone(),
                });
                if held {
                    Ok(detail)
                } else {
                    Err(StepFailed::Expectation(detail))
                }
            }
        }
    }

    /// Sets links; a heal (every link up again) starts the watch for equal
    /// digests, a cut stops it.
    async fn change(&mut self, changes: &[links::Change]) -> Result<(), LinksNotSet> {
        let was_up = self.links.all_up();
        let failed = links::apply(self.herd, &mut self.links, changes).await;
        if !self.links.all_up() {
            self.convergence = None;
        } else if !was_up {
            self.convergence = Some(Convergence::start(self.herd, Instant::now()));
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(LinksNotSet(failed))
        }
    }

    /// New updates (a load, a restart): digests equal before them say
    /// nothing of after, so the watch starts again (still timed from the
    /// heal).
    fn changed_records(&mut self) {
        if let Some(old) = self.convergence.take() {
            self.convergence = Some(Convergence::start(self.herd, old.from()));
        }
    }

    /// Every link up (a drill that ends partitioned, or a herd found with a
    /// link down, is healed for the check: the links are put back after),
    /// then equal digests, then every update asked for on every node.
    async fn verdict(
        &mut self,
        limit: Duration,
        progress: &mpsc::UnboundedSender<Progress>,
        cancel: &CancellationToken,
    ) -> (Option<Duration>, verify::Findings) {
        if !self.links.all_up() {
            let _ = progress.send(Progress::Finishing("bringing every link up for the check"));
            let all = self.links.heal();
            if let Err(why) = self.change(&all).await {
                self.failures
                    .push(format!("not every link came up for the check: {why}"));
            }
        }
        let _ = progress.send(Progress::Finishing("waiting for equal digests"));
        let convergence = self
            .convergence
            .get_or_insert_with(|| Convergence::start(self.herd, Instant::now()));
        let converged_after = convergence.within(limit, cancel).await;
        if converged_after.is_none() && !cancel.is_cancelled() {
            self.failures.push(format!(
                "the digests were not equal {} after the heal",
                humantime::format_duration(limit)
            ));
        }
        let _ = progress.send(Progress::Finishing("asking every node for every client"));
        let asked = tokio::select! {
            asked = verify::ask_all(self.herd, &self.ledger) => asked,
            () = cancel.cancelled() => return (converged_after, verify::Findings::default()),
        };
        let findings = verify::judge(&self.ledger, &asked);
        if findings.lost > 0 {
            self.failures
                .push(format!("{} acknowledged update(s) lost", findings.lost));
        }
        if findings.newest_violations > 0 {
            self.failures.push(format!(
                "{} client(s) whose newest update did not win everywhere",
                findings.newest_violations
            ));
        }
        if !findings.unverified.is_empty() {
            self.failures.push(format!(
                "not verified on {}",
                findings.unverified.join(", ")
            ));
        }
        (converged_after, findings)
    }

    /// Every link end back to its state as found, retrying ends that
    /// cannot be set yet (a node in the middle of a restart) for a while;
    /// true when all are.
    async fn restore(&mut self) -> bool {
        let deadline = Instant::now() + RESTORE_LIMIT;
        let mut ends = self.links.to_found();
        loop {
            let failed = links::set_ends(self.herd, &mut self.links, &ends).await;
            if failed.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                self.failures
                    .push(format!("links not put back as found: {}", join(&failed)));
                return false;
            }
            ends = failed
                .into_iter()
                .map(|end| (end.node, end.peer, end.state))
                .collect();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Link ends that could not be set, all of them.
#[derive(Debug, thiserror::Error)]
#[error("{}", join(.0))]
pub struct LinksNotSet(pub Vec<EndFailed>);

/// Why a step failed (its line in the report).
#[derive(Debug, thiserror::Error)]
pub enum StepFailed {
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Links(#[from] LinksNotSet),
    #[error("restarts need the herd started by `herdctl up`")]
    NoUp,
    #[error(transparent)]
    Restart(#[from] crate::restart::RestartError),
    /// The expectation's own words.
    #[error("{0}")]
    Expectation(String),
}

fn join(failed: &[EndFailed]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Names this run's clients apart from every other run's.
fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}")
}
