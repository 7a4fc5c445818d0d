//! A real Prometheus server (Debian's `prometheus` package) scraping a
//! herd, for the metrics tests: the tool operators point at the herd.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http;
use crate::wait_until;

pub struct Prometheus {
    pub addr: SocketAddr,
    child: Child,
    /// Its config, data and log.
    pub dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `targets`
    /// every second and loading the alert rules in `rule_files`; returns
    /// once it says it is ready.
    pub fn start(targets: &[SocketAddr], rule_files: &[&Path]) -> Prometheus {
        let binary = which("prometheus").unwrap_or_else(|| {
            panic!("Prometheus is needed for this test: apt-get install prometheus (.ci/run does)")
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|path| format!("  - '{}'", path.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\n\
             scrape_configs:\n  - job_name: herd\n    static_configs:\n      - targets: [{}]\n",
            if rules.is_empty() {
                "  []".to_owned()
            } else {
                rules.join("\n")
            },
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let prometheus = Prometheus { addr, child, dir };
        let ready = wait_until(Duration::from_secs(30), || {
            http::try_get(addr, "/-/ready", &[]).is_some_and(|r| r.status == 200)
        });
        assert!(ready, "Prometheus did not get ready: {}", prometheus.log());
        prometheus
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's `data.result` (an array of series).
    pub fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let reply = http::get(
            self.addr,
            &format!("/api/v1/query?query={}", http::encode(expr)),
        );
        let json = reply.json();
        assert_eq!(json["status"], "success", "{expr}: {}", reply.body);
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The value of a query that gives one series, if it gives one.
    pub fn scalar(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        let [series] = &result[..] else {
            return None;
        };
        series["value"][1].as_str()?.parse().ok()
    }

    /// `/api/v1/<path>`'s `data`.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let reply = http::get(self.addr, &format!("/api/v1/{path}"));
        let json = reply.json();
        assert_eq!(json["status"], "success", "{path}: {}", reply.body);
        json["data"].clone()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of `program` on PATH (Debian puts promtool and prometheus in
/// /usr/bin).
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
