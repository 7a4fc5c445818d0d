//! TLS for test herds: a CA and certificates made here (herd-tls's issuer,
//! as `herdctl certs` uses), and the `[tls]` section that points at them.

use std::path::{Path, PathBuf};

pub use herd_tls::issue::{Authority, Validity};

/// A herd's certificate directory: `ca.pem`, and `NAME.pem`/`NAME.key`.
pub struct Certs {
    pub dir: PathBuf,
    pub ca: Authority,
    /// The admin port speaks TLS too.
    pub admin: bool,
}

impl Certs {
    /// A new CA in `dir`, and certificates for `names` and herdctl.
    pub fn new(dir: &Path, names: &[&str], admin: bool) -> Certs {
        std::fs::create_dir_all(dir).expect("certs dir");
        let ca = Authority::new("test herd CA", Validity::days(30)).expect("CA");
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).expect("write CA");
        let certs = Certs {
            dir: dir.to_path_buf(),
            ca,
            admin,
        };
        for name in names.iter().copied().chain(["herdctl"]) {
            certs.issue(name);
        }
        certs
    }

    /// (Re)writes `name`'s certificate and key, valid for 10 days.
    pub fn issue(&self, name: &str) {
        self.issue_as(name, name, &self.ca, Validity::days(10));
    }

    /// Writes `file`.pem/.key: a certificate naming `name`, from `ca`.
    pub fn issue_as(&self, file: &str, name: &str, ca: &Authority, validity: Validity) {
        let issued = ca.issue(name, validity).expect("issue");
        self.write(&format!("{file}.pem"), &issued.cert_pem);
        self.write(&format!("{file}.key"), &issued.key_pem);
    }

    /// Replaces a file atomically (a node re-reading it sees old or new);
    /// a key readable by its owner only, as `herdctl certs` writes it.
    pub fn write(&self, file: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let staged = self.dir.join(format!("{file}.new"));
        std::fs::write(&staged, text).expect("write");
        let mode = if file.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::fs::rename(&staged, self.dir.join(file)).expect("replace");
    }

    pub fn has(&self, name: &str) -> bool {
        self.dir.join(format!("{name}.pem")).exists()
    }

    /// The config's `[tls]` table (relative paths: from the config's dir).
    pub fn section(&self) -> String {
        format!(
            "\n[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/{{name}}.pem\"\nkey = \"certs/{{name}}.key\"\nadmin = {}\n",
            self.admin
        )
    }
}
