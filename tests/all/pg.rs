//! A throwaway PostgreSQL cluster for one test: `initdb` into a temporary
//! directory, `pg_ctl` listening on a loopback port (outside the kernel's
//! ephemeral range, another when it is in use) and a socket in that
//! directory, run as the unprivileged `postgres` user when the tests run as
//! root (PostgreSQL refuses to run as root), stopped when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use hookbox_testkit::ports::{Started, start_on_a_free_port};

/// The superuser's password: connections over TCP must give it.
pub(crate) const PASSWORD: &str = "pg-test-password-7c1e";

/// A running cluster on loopback only: over TCP the superuser signs in with
/// [`PASSWORD`] (SCRAM), over its socket without one.
pub(crate) struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

/// Debian's server binaries (`postgresql` package), newest version first.
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
    });
    found.pop().expect(
        "PostgreSQL's server is missing: install Debian's postgresql package (tests/run.sh does)",
    )
}

/// Whether the tests run as root: `/proc/self` belongs to the process's
/// effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Cluster {
    /// Creates and starts a cluster.
    pub(crate) fn start() -> Cluster {
        Self::start_with_tls(None)
    }

    /// Creates and starts a cluster that also offers TLS with `tls`'s
    /// server certificate.
    pub(crate) fn start_with_tls(tls: Option<&crate::receiver::TestCa>) -> Cluster {
        let bin = server_bin();
        let dir = tempfile::Builder::new()
            .prefix("hookbox-pg-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut cluster = Cluster { bin, dir, port: 0 };
        let data = cluster.data_dir();
        let password_file = cluster.dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", password_file.display()),
                "--username=postgres",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        // Disposable: no fsync (a stopped server's writes are still in the
        // kernel's cache), but commits wait for the WAL write, so stopping
        // the server at once (`-m immediate`) loses nothing acknowledged.
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 32MB\n",
            cluster.dir.path().display()
        );
        let conf = match tls {
            Some(ca) => {
                // Owned by the server's user, the key readable by it alone.
                use std::os::unix::fs::MetadataExt;
                let owner = std::fs::metadata(&data).unwrap();
                for (name, pem, mode) in [
                    ("server.crt", &ca.server_cert_pem, 0o644),
                    ("server.key", &ca.server_key_pem, 0o600),
                ] {
                    let path = data.join(name);
                    std::fs::write(&path, pem).unwrap();
                    std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                }
                format!("{conf}ssl = on\n")
            }
            None => conf,
        };
        let conf_path = data.join("postgresql.auto.conf");
        // PostgreSQL cannot be handed a listening socket: it is told a port,
        // and given another when it finds that one in use.
        let port = start_on_a_free_port(5, |port| {
            std::fs::write(&conf_path, format!("port = {port}\n{conf}")).unwrap();
            match cluster.try_start_server() {
                Ok(()) => Started::Up(port),
                Err(log) if log.contains("Address already in use") => Started::PortTaken,
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        });
        cluster.port = port;
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A connection URL for the `postgres` database, with the password.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// The URL without the password.
    pub(crate) fn url_without_password(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server again, after [`Cluster::stop_server`].
    pub(crate) fn start_server(&self) {
        if let Err(log) = self.try_start_server() {
            panic!("PostgreSQL did not start again:\n{log}");
        }
    }

    /// Starts the server; on failure, what it said and logged meanwhile.
    fn try_start_server(&self) -> Result<(), String> {
        let data = self.data_dir().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.try_pg(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        )
        .map(drop)
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub(crate) fn stop_server(&self) {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// One of the server's programs, as the unprivileged user when root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    /// Runs one of the server's programs; it must succeed.
    fn pg(&self, program: &str, args: &[&str]) -> Output {
        self.try_pg(program, args)
            .unwrap_or_else(|said| panic!("{program} {args:?} failed:\n{said}"))
    }

    /// Runs one of the server's programs; on failure, what it printed and
    /// what the server logged meanwhile.
    fn try_pg(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let log = self.dir.path().join("server.log");
        let logged_before = std::fs::metadata(&log).map_or(0, |meta| meta.len() as usize);
        let output = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        if output.status.success() {
            return Ok(output);
        }
        let logged = std::fs::read(&log).unwrap_or_default();
        Err(format!(
            "{}{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(logged.get(logged_before..).unwrap_or_default())
        ))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data_dir().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
