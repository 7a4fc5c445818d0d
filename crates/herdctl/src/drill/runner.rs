//! Runs a checked scenario against the live herd: the steps in order, then
//! the links put back as found (always: after a failure, after Ctrl-C),
//! the wait for equal digests, and the verification of every update sent.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::links::{self, Links};
use super::load::{self, Ledger};
use super::report::{ExpectationReport, Report, StepReport};
use super::scenario::{Scenario, Step};
use super::verify;
use crate::herd::Herd;
use crate::restart::Restarter;
use crate::status;

/// How long the drill waits for equal digests after the links are back,
/// when no `expect` asked for longer.
const SETTLE: Duration = Duration::from_secs(30);
/// How often digests are compared while waiting for them to agree.
const POLL: Duration = Duration::from_millis(20);
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
    /// Putting the links back, waiting for digests, asking every node.
    Finishing(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("the herd is not whole, so the drill could not put it back: {0}")]
    NotWhole(String),
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
    /// When the links last all came up (a heal).
    healed_at: Option<Instant>,
    converged_after: Option<Duration>,
    expectations: Vec<ExpectationReport>,
    failures: Vec<String>,
}

impl Drill<'_> {
    pub async fn run(
        &self,
        progress: &mpsc::UnboundedSender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<Report, DrillError> {
        let started = Instant::now();
        let found = status::collect(self.herd, SNAPSHOT_LIMIT).await;
        let links = Links::capture(&found).map_err(DrillError::NotWhole)?;
        let mut run = Run {
            herd: self.herd,
            links,
            ledger: Ledger::default(),
            id: run_id(),
            healed_at: None,
            converged_after: None,
            expectations: Vec::new(),
            failures: Vec::new(),
        };
        let mut steps = Vec::new();
        let of = self.scenario.steps.len();
        let mut interrupted = false;
        for (index, step) in self.scenario.steps.iter().enumerate() {
            if cancel.is_cancelled() {
                interrupted = true;
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
                () = cancel.cancelled() => Err("interrupted".to_owned()),
            };
            let report = StepReport {
                number,
                step: step.to_string(),
                ok: outcome.is_ok(),
                detail: match &outcome {
                    Ok(detail) | Err(detail) => detail.clone(),
                },
                seconds: begun.elapsed().as_secs_f64(),
            };
            if let Err(why) = &outcome {
                run.failures.push(format!("step {number} ({step}): {why}"));
            }
            let _ = progress.send(Progress::StepDone(report.clone()));
            steps.push(report);
            if cancel.is_cancelled() {
                interrupted = true;
                break;
            }
        }

        // Whatever happened: the links as found.
        let _ = progress.send(Progress::Finishing("putting the links back as found"));
        let was_up = run.links.all_up();
        let found_ends = run.links.to_found();
        let failed = links::set_ends(self.herd, &mut run.links, &found_ends).await;
        let links_restored = failed.is_empty();
        run.failures.extend(failed);
        if !was_up && run.links.all_up() {
            run.healed_at = Some(Instant::now());
            run.converged_after = None;
        }

        let mut findings = verify::Findings::default();
        if interrupted {
            run.failures.push("interrupted before its end".to_owned());
        } else {
            if run.converged_after.is_none() && run.links.all_up() {
                let _ = progress.send(Progress::Finishing("waiting for equal digests"));
                let limit = self
                    .scenario
                    .steps
                    .iter()
                    .filter_map(|step| match step {
                        Step::Expect(expect) => Some(expect.converged_within),
                        _ => None,
                    })
                    .fold(SETTLE, Duration::max);
                run.converged_after = run.await_convergence(limit, cancel).await;
            }
            if run.converged_after.is_none() && run.links.all_up() {
                run.failures
                    .push("the digests did not become equal after the links were back".to_owned());
            }
            let _ = progress.send(Progress::Finishing("asking every node for every client"));
            let asked = verify::ask_all(self.herd, &run.ledger).await;
            findings = verify::judge(&run.ledger, &asked);
            if findings.lost > 0 {
                run.failures
                    .push(format!("{} acknowledged update(s) lost", findings.lost));
            }
            if findings.newest_violations > 0 {
                run.failures.push(format!(
                    "{} client(s) whose newest update did not win everywhere",
                    findings.newest_violations
                ));
            }
            if !findings.unverified.is_empty() {
                run.failures.push(format!(
                    "not verified on {}",
                    findings.unverified.join(", ")
                ));
            }
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
        Ok(Report {
            scenario: self.name.clone(),
            herd: self.herd.name().to_owned(),
            passed: run.failures.is_empty(),
            sent: run.ledger.sent.len(),
            acknowledged: run.ledger.sent.iter().filter(|s| s.acknowledged).count(),
            lost: findings.lost,
            newest_violations: findings.newest_violations,
            both_sides_clients: both.len(),
            converged_after_s: run.converged_after.map(|d| d.as_secs_f64()),
            steps,
            expectations: run.expectations,
            unverified: findings.unverified,
            failures: run.failures,
            examples,
            links_restored,
            interrupted,
            seconds: started.elapsed().as_secs_f64(),
        })
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
    ) -> Result<String, String> {
        match step {
            Step::Partition(groups) => {
                let cuts = self.links.partition(groups);
                let names: Vec<String> = cuts.iter().map(|(a, b, _)| format!("{a}-{b}")).collect();
                self.change(&cuts).await?;
                Ok(format!("cut {} link(s): {}", cuts.len(), names.join(", ")))
            }
            Step::Cut(a, b) => {
                self.change(&[(a.clone(), b.clone(), herd_admin::AdminState::Down)])
                    .await?;
                Ok(format!("{a}-{b} down"))
            }
            Step::Restore(a, b) => {
                self.change(&[(a.clone(), b.clone(), herd_admin::AdminState::Up)])
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
                let text = format!(
                    "{} sent, {} acknowledged, {:.0}/s",
                    outcome.sent,
                    outcome.acknowledged,
                    outcome.sent as f64 / outcome.seconds.max(1e-3)
                );
                Ok(text)
            }
            Step::Wait(duration) => {
                tokio::time::sleep(*duration).await;
                Ok("waited".to_owned())
            }
            Step::Restart(node) => {
                let restarter = restarter
                    .ok_or_else(|| "restarts need the herd started by `herdctl up`".to_owned())?;
                let begun = Instant::now();
                let pid = restarter
                    .restart(node)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(format!(
                    "killed and started again: pid {pid}, answering after {:.2} s",
                    begun.elapsed().as_secs_f64()
                ))
            }
            Step::Expect(expect) => {
                let within = expect.converged_within;
                let what = format!("converged within {}", humantime::format_duration(within));
                let measured = match self.converged_after {
                    Some(after) => Some(after),
                    None => self.await_convergence(within, cancel).await,
                };
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
                if held { Ok(detail) } else { Err(detail) }
            }
        }
    }

    async fn change(&mut self, changes: &[links::Change]) -> Result<(), String> {
        let was_up = self.links.all_up();
        let failed = links::apply(self.herd, &mut self.links, changes).await;
        if !was_up && self.links.all_up() {
            // A heal: convergence is measured from here.
            self.healed_at = Some(Instant::now());
            self.converged_after = None;
        } else if !self.links.all_up() {
            self.healed_at = None;
            self.converged_after = None;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Polls every node until all answer with one digest, at most until
    /// `limit` after the heal (or after now, without one); the time from
    /// the heal when they did.
    async fn await_convergence(
        &mut self,
        limit: Duration,
        cancel: &CancellationToken,
    ) -> Option<Duration> {
        let from = self.healed_at.unwrap_or_else(Instant::now);
        loop {
            let report = status::collect(self.herd, SNAPSHOT_LIMIT).await;
            let elapsed = from.elapsed();
            if report.converged() {
                if self.healed_at.is_some() {
                    self.converged_after = Some(elapsed);
                }
                return Some(elapsed);
            }
            if elapsed >= limit || cancel.is_cancelled() {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Names this run's clients apart from every other run's.
fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}")
}
