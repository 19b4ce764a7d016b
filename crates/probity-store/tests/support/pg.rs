//! A throwaway PostgreSQL server on a loopback port, for the tests and the bench: initdb into a
//! temporary directory (as the `postgres` user when run as root, since the server refuses to run
//! as root), started with pg_ctl, stopped and removed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why there is no server to test against, when the binaries are absent.
pub const MISSING: &str = "PostgreSQL's binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin \
                           or $PROBITY_POSTGRES_BIN: install the Debian package `postgresql` (CI's .ci/run \
                           does), or set PROBITY_SKIP_POSTGRES=1 to skip the PostgreSQL tests";

/// A running server; stopped (`pg_ctl -m fast stop`) and its directory removed on drop.
pub struct Server {
    bin: PathBuf,
    data: PathBuf,
    root: bool,
    port: u16,
    counter: std::sync::atomic::AtomicU32,
    // Removed after the server has stopped (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

/// The directory of PostgreSQL's binaries: `PROBITY_POSTGRES_BIN` if set (an installation
/// elsewhere), else the newest of Debian's.
pub fn binaries() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PROBITY_POSTGRES_BIN") {
        let bin = PathBuf::from(bin);
        return (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some(bin);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    // Versions are numbers: order by their value, not their text.
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Runs `program args…` (as `postgres` when root); its output if it failed.
fn run(root: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let output = if root {
        let mut line = shell_quote(&program.display().to_string());
        for arg in args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        Command::new("su").args(["postgres", "-c", &line]).output()
    } else {
        Command::new(program).args(args).output()
    };
    let output = output.map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A loopback port that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(55432)
}

impl Server {
    /// Starts a server. `durable: false` turns fsync off (tests); the bench keeps it on.
    pub fn start(durable: bool) -> Result<Server, String> {
        let bin = binaries().ok_or_else(|| MISSING.to_string())?;
        let root = is_root();
        // As root, under /tmp: the `postgres` user must be able to reach the directory, which a
        // TMPDIR under root's home would not let it.
        let mut builder = tempfile::Builder::new();
        builder.prefix("probity-pg");
        let dir = if root { builder.tempdir_in("/tmp") } else { builder.tempdir() }.map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| e.to_string())?;
        if root {
            // The server runs as `postgres`: it must reach its directory and own the data.
            let chmod = Command::new("chmod").arg("755").arg(dir.path()).status();
            let chown = Command::new("chown").arg("postgres").arg(&data).status();
            if !chmod.is_ok_and(|s| s.success()) || !chown.is_ok_and(|s| s.success()) {
                return Err(format!("cannot give {} to the postgres user", data.display()));
            }
        }
        let data_text = data.display().to_string();
        let mut initdb = vec!["-D", &data_text, "-A", "trust", "-U", "postgres"];
        if !durable {
            initdb.push("--no-sync");
        }
        run(root, &bin.join("initdb"), &initdb)?;
        let log = data.join("log").display().to_string();
        let mut last = String::new();
        // Another process may take the port between `free_port` and the start: try a few.
        for _ in 0..3 {
            let port = free_port();
            let fsync = if durable { "" } else { " -c fsync=off -c synchronous_commit=off" };
            let options = format!("-p {port} -k {data_text} -c listen_addresses=127.0.0.1{fsync}");
            match run(root, &bin.join("pg_ctl"), &["-D", &data_text, "-l", &log, "-o", &options, "-w", "start"]) {
                Ok(()) => {
                    return Ok(Server { bin, data, root, port, counter: Default::default(), _dir: dir });
                }
                Err(e) => last = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        }
        Err(last)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and gives its URL.
    pub fn create_database(&self) -> String {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("probity_{n}");
        let mut client =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect to the server");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a database");
        self.url(&name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        if let Err(e) = run(self.root, &self.bin.join("pg_ctl"), &["-D", &data, "-m", "fast", "-w", "stop"]) {
            eprintln!("stopping the test server: {e}");
        }
    }
}
