//! What a drill found: a table for people, one JSON object for scripts
//! (contract section 10: `acknowledged`, `lost`, `newest_violations`,
//! `converged_after_s`, `passed`).

use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub herd: String,
    pub passed: bool,
    pub sent: usize,
    pub acknowledged: usize,
    pub lost: usize,
    pub newest_violations: usize,
    /// Clients that were updated on both sides.
    pub both_sides_clients: usize,
    /// From the last heal to equal digests on every node; null when they
    /// never became equal.
    pub converged_after_s: Option<f64>,
    pub steps: Vec<StepReport>,
    pub expectations: Vec<ExpectationReport>,
    /// Nodes the verification could not ask.
    pub unverified: Vec<String>,
    /// Why the drill did not pass, one line each.
    pub failures: Vec<String>,
    /// A few lost updates or violations, to look at.
    pub examples: Vec<String>,
    pub links_restored: bool,
    pub interrupted: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub number: usize,
    pub step: String,
    pub ok: bool,
    pub detail: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpectationReport {
    pub step: usize,
    pub expect: String,
    pub held: bool,
    pub detail: String,
}

impl Report {
    /// A drill that did not start (the herd not whole): nothing touched.
    pub fn not_run(scenario: &str, herd: &str, why: String) -> Report {
        Report {
            scenario: scenario.to_owned(),
            herd: herd.to_owned(),
            passed: false,
            sent: 0,
            acknowledged: 0,
            lost: 0,
            newest_violations: 0,
            both_sides_clients: 0,
            converged_after_s: None,
            steps: Vec::new(),
            expectations: Vec::new(),
            unverified: Vec::new(),
            failures: vec![why],
            examples: Vec::new(),
            links_restored: true,
            interrupted: false,
            seconds: 0.0,
        }
    }

    /// One line: the verdict and its figures (the dashboard's flood feed).
    pub fn verdict(&self) -> String {
        let mut line = format!(
            "{}: {}: {} acknowledged, {} lost, {} newest violations, {}",
            self.scenario,
            if self.passed { "PASSED" } else { "FAILED" },
            self.acknowledged,
            self.lost,
            self.newest_violations,
            self.converged_words()
        );
        if let Some(why) = self.failures.first() {
            line.push_str(" — ");
            line.push_str(why);
        }
        line
    }

    fn converged_words(&self) -> String {
        match self.converged_after_s {
            Some(s) => format!("converged {s:.3} s after the heal"),
            None => "not converged".to_owned(),
        }
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "drill {} on herd {:?}: {}{}",
            self.scenario,
            self.herd,
            if self.passed { "PASSED" } else { "FAILED" },
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        let width = self
            .steps
            .iter()
            .map(|s| s.step.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:>3}  {:<width$}  {:>7}  outcome",
            "#", "step", "took"
        );
        for step in &self.steps {
            let _ = writeln!(
                out,
                "{:>3}  {:<width$}  {:>6.2}s  {}{}",
                step.number,
                step.step,
                step.seconds,
                if step.ok { "" } else { "FAILED: " },
                step.detail
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "acknowledged  {} of {} sent",
            self.acknowledged, self.sent
        );
        let _ = writeln!(out, "lost          {}", self.lost);
        let _ = writeln!(
            out,
            "newest wins   {} violations in {} clients updated on both sides",
            self.newest_violations, self.both_sides_clients
        );
        let converged = match self.converged_after_s {
            Some(s) => format!("{s:.3} s after the heal"),
            None => "no: the digests did not become equal".to_owned(),
        };
        let _ = writeln!(out, "converged     {converged}");
        let _ = writeln!(
            out,
            "links         {}",
            if self.links_restored {
                "restored as found"
            } else {
                "NOT all restored: see the failures"
            }
        );
        if !self.unverified.is_empty() {
            let _ = writeln!(out, "unverified    {}", self.unverified.join(", "));
        }
        for failure in &self.failures {
            let _ = writeln!(out, "FAILED: {failure}");
        }
        for example in &self.examples {
            let _ = writeln!(out, "  {example}");
        }
        out
    }
}
