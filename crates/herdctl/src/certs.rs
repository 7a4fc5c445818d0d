//! `herdctl certs` (contract section 8): a CA and a certificate and key for
//! every node of the config and for herdctl itself (`init`), or for nodes
//! added later (`add`). Keys are written with mode 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use herd_config::{Config, HERDCTL_NAME, dns_name_problem};
use herd_tls::issue::{Authority, Validity};

use crate::{Failure, say};

/// How long the CA made by `init` is valid.
pub const CA_DAYS: u64 = 3650;

/// The files of one certificate directory as `init` writes them.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }
    fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
}

/// `herdctl certs init DIR`: a new CA, then a certificate for every node
/// and for herdctl. Refuses to replace a CA key already in DIR unless
/// `force` (its certificates would stop working).
pub fn init(config: &Config, dir: &Path, days: u64, force: bool) -> Result<(), Failure> {
    let layout = Layout {
        dir: absolute(dir)?,
    };
    for node in &config.nodes {
        certifiable(&node.name)?;
    }
    if layout.ca_key().exists() && !force {
        return Err(Failure::usage(format!(
            "{} already holds a CA key; use `herdctl certs add` for new nodes, or --force to replace the CA",
            layout.dir.display()
        )));
    }
    std::fs::create_dir_all(&layout.dir)
        .map_err(|err| Failure::failed(format!("cannot create {}: {err}", layout.dir.display())))?;
    let ca = Authority::new(
        &format!("herd {} CA", config.herd.name),
        Validity::days(CA_DAYS),
    )
    .map_err(|err| Failure::failed(err.to_string()))?;
    write(&layout.ca(), &ca.cert_pem, false)?;
    write(&layout.ca_key(), &ca.key_pem, true)?;
    say(format!(
        "wrote {} (the herd CA, valid {CA_DAYS} days; keep {} away from the nodes)",
        layout.ca().display(),
        layout.ca_key().display()
    ));
    let mut names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    names.push(HERDCTL_NAME);
    for name in names {
        issue(&ca, name, &layout.cert(name), &layout.key(name), days)?;
    }
    say(format!(
        "add to the config:\n\n[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\nadmin = true",
        layout.ca().display().to_string(),
        layout.dir.join("{name}.pem").display().to_string(),
        layout.dir.join("{name}.key").display().to_string(),
    ));
    Ok(())
}

/// Where a name's certificate and key go.
type FilesOf = dyn Fn(&str) -> (PathBuf, PathBuf);

/// `herdctl certs add NAME...`: certificates from the CA in `dir` (as
/// `init` laid it out), or else from the config's `[tls]` (the CA key
/// beside its `ca` file, the new files where `cert` and `key` say).
pub fn add(
    config: &Config,
    dir: Option<&Path>,
    names: &[String],
    days: u64,
) -> Result<(), Failure> {
    let (ca_cert, ca_key, paths): (PathBuf, PathBuf, Box<FilesOf>) = match (dir, &config.tls) {
        (Some(dir), _) => {
            let layout = Layout {
                dir: absolute(dir)?,
            };
            let (ca, key) = (layout.ca(), layout.ca_key());
            (
                ca,
                key,
                Box::new(move |name| (layout.cert(name), layout.key(name))),
            )
        }
        (None, Some(tls)) => {
            let tls = tls.clone();
            let ca = tls.ca_path();
            let key = ca.with_extension("key");
            (
                ca,
                key,
                Box::new(move |name| (tls.cert_path(name), tls.key_path(name))),
            )
        }
        (None, None) => {
            return Err(Failure::usage(
                "the config has no [tls]: say where the CA is with --dir DIR",
            ));
        }
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|err| Failure::usage(format!("cannot read {}: {err}", path.display())))
    };
    let ca = Authority::load(&read(&ca_cert)?, &read(&ca_key)?).map_err(|err| {
        Failure::usage(format!(
            "{} and {}: {err}",
            ca_cert.display(),
            ca_key.display()
        ))
    })?;
    for name in names {
        certifiable(name)?;
    }
    for name in names {
        let (cert, key) = paths(name);
        issue(&ca, name, &cert, &key, days)?;
    }
    Ok(())
}

/// A node name a certificate can carry (as `[tls]` requires of the config).
fn certifiable(name: &str) -> Result<(), Failure> {
    if let Some(problem) = dns_name_problem(name) {
        return Err(Failure::usage(format!(
            "node name {name:?} is not a DNS name ({problem}): a certificate names its node as one"
        )));
    }
    if name.eq_ignore_ascii_case(HERDCTL_NAME) {
        return Err(Failure::usage(format!(
            "node name {name:?} is the name of herdctl's own certificate"
        )));
    }
    Ok(())
}

fn issue(ca: &Authority, name: &str, cert: &Path, key: &Path, days: u64) -> Result<(), Failure> {
    let issued = ca
        .issue(name, Validity::days(days))
        .map_err(|err| Failure::failed(format!("{name}: {err}")))?;
    if let Some(parent) = cert.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| Failure::failed(format!("cannot create {}: {err}", parent.display())))?;
    }
    // The key first: a reload between the two finds the new key with the
    // old certificate, refuses the pair and keeps what it had, rather than
    // taking half.
    write(key, &issued.key_pem, true)?;
    write(cert, &issued.cert_pem, false)?;
    say(format!(
        "wrote {} and {} ({name}, valid {days} days)",
        cert.display(),
        key.display()
    ));
    Ok(())
}

/// Writes `text` to `path` whole, a key readable by its owner only:
/// staged beside it and renamed over it, so a node reading it (a reload,
/// a start) sees the old file or the new, never half of one.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), Failure> {
    let failed =
        |err: std::io::Error| Failure::failed(format!("cannot write {}: {err}", path.display()));
    let mode = if secret { 0o600 } else { 0o644 };
    let mut staged_name = path.as_os_str().to_owned();
    staged_name.push(".new");
    let staged = PathBuf::from(staged_name);
    let _ = std::fs::remove_file(&staged);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&staged)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&staged, path).map_err(failed)
}

fn absolute(dir: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(dir).map_err(|err| Failure::usage(format!("{}: {err}", dir.display())))
}
