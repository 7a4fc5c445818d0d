//! The herd as herdctl sees it: the configuration (with its environment
//! overrides) and the admin token.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use herd_admin::client::{AdminTls, Identity, Options};
use herd_config::{Config, NodeSpec};

use crate::Failure;

#[derive(Clone)]
pub struct Herd {
    pub config: Config,
    /// HERD_ADMIN_TOKEN, else the config's `admin_token`.
    pub token: Option<String>,
    /// The file it was read from (None: the embedded default herd).
    pub source: Option<std::path::PathBuf>,
    /// With `[tls] admin = true`: what admin ports are dialled with.
    pub admin_tls: Option<Arc<rustls::ClientConfig>>,
}

impl Herd {
    pub fn load(path: Option<&Path>) -> Result<Herd, Failure> {
        let mut config = Config::load(path).map_err(|err| Failure::usage(err.to_string()))?;
        config.apply_env(|var| std::env::var(var).ok());
        let token = config
            .herd
            .admin_token
            .as_ref()
            .map(|token| token.expose().to_owned());
        let admin_tls = match &config.tls {
            Some(tls) if tls.admin => Some(
                herd_tls::admin_connector(tls)
                    .map_err(|err| Failure::usage(format!("[tls]: {err}")))?,
            ),
            _ => None,
        };
        Ok(Herd {
            config,
            token,
            source: path.map(Path::to_path_buf),
            admin_tls,
        })
    }

    /// The same file read again (after a reload, the graph may differ).
    pub fn read_again(&self) -> Result<Herd, Failure> {
        Herd::load(self.source.as_deref())
    }

    /// The node names and links, to tell whether two reads differ.
    pub fn graph(&self) -> (Vec<String>, Vec<(usize, usize)>) {
        (
            self.nodes().iter().map(|node| node.name.clone()).collect(),
            self.config.links.iter().map(|l| (l.0, l.1)).collect(),
        )
    }

    pub fn name(&self) -> &str {
        &self.config.herd.name
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        &self.config.nodes
    }

    /// The node called `name`, or an error that lists the real ones.
    pub fn node(&self, name: &str) -> Result<&NodeSpec, Failure> {
        self.config.node(name).ok_or_else(|| {
            let names: Vec<&str> = self.nodes().iter().map(|n| n.name.as_str()).collect();
            Failure::usage(format!(
                "no node named {name:?} in the config (nodes: {})",
                names.join(", ")
            ))
        })
    }

    /// How to reach `node`'s admin port: its address, the token, and the
    /// name (and herd) that must answer there.
    pub fn admin_options(&self, node: &NodeSpec, timeout: Duration) -> Options {
        Options::new(&node.admin)
            .token(self.token.as_deref())
            .expecting(Identity::in_herd(&node.name, self.name()))
            .timeout(timeout)
            .tls(self.admin_tls.clone().map(|config| AdminTls {
                config,
                node: node.name.clone(),
            }))
    }

    /// Configured links as pairs of names.
    pub fn links(&self) -> Vec<(&str, &str)> {
        self.config
            .links
            .iter()
            .map(|link| {
                (
                    self.config.nodes[link.0].name.as_str(),
                    self.config.nodes[link.1].name.as_str(),
                )
            })
            .collect()
    }
}
