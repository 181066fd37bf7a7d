//! Running a Lambda function binary as a child process against the local Runtime API.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::HarnessError;
use crate::runtime_api::{InvocationRequest, Outcome, Pending, RuntimeApi};

/// Where the function's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Output {
    /// Kept line by line, readable with [`LocalFunction::stdout_lines`] (the default).
    #[default]
    Capture,
    /// Passed through to this process's own stream.
    Inherit,
    /// Thrown away.
    Discard,
}

/// Everything a stopped function wrote, and how it ended.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Captured stdout lines (empty unless [`Output::Capture`]).
    pub stdout: Vec<String>,
    /// Captured stderr lines (empty unless [`Output::Capture`]).
    pub stderr: Vec<String>,
    /// The exit status, when the process exited by itself before it was stopped.
    pub exited_by_itself: Option<ExitStatus>,
}

impl Stopped {
    /// The stdout lines that are JSON objects (log lines and EMF blobs), parsed.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The log lines whose `message` is `message`.
    pub fn lines_with_message(&self, message: &str) -> Vec<serde_json::Value> {
        self.json_lines()
            .into_iter()
            .filter(|line| line["message"] == message)
            .collect()
    }
}

/// Configures and starts a [`LocalFunction`].
#[derive(Debug)]
#[must_use]
pub struct LocalFunctionBuilder {
    program: OsString,
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    function_name: String,
    memory_size_mb: u32,
    version: String,
    initialization_type: String,
    max_concurrency: Option<u32>,
    stdout: Output,
    stderr: Output,
}

impl LocalFunctionBuilder {
    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for the function (e.g. `POWERTOOLS_SERVICE_NAME`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the function name (`AWS_LAMBDA_FUNCTION_NAME`, default `local-function`).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }

    /// Sets the memory size (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, default 128).
    pub fn memory_size_mb(mut self, mb: u32) -> Self {
        self.memory_size_mb = mb;
        self
    }

    /// Sets the version (`AWS_LAMBDA_FUNCTION_VERSION`, default `$LATEST`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets `AWS_LAMBDA_INITIALIZATION_TYPE` (default `on-demand`).
    pub fn initialization_type(mut self, kind: impl Into<String>) -> Self {
        self.initialization_type = kind.into();
        self
    }

    /// Sets `AWS_LAMBDA_MAX_CONCURRENCY`, as on Lambda Managed Instances: a function using
    /// `lambda_runtime::run_concurrent` then serves that many invocations at once.
    pub fn max_concurrency(mut self, n: u32) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Where the function's stdout goes (default: captured).
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Where the function's stderr goes (default: captured).
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Starts the Runtime API and the function process.
    ///
    /// The child gets this process's environment minus every `AWS_LAMBDA_*` variable and
    /// `_X_AMZN_TRACE_ID`, plus the Lambda variables set here and the builder's own `env`.
    pub async fn start(self) -> Result<LocalFunction, HarnessError> {
        let api = RuntimeApi::start(&self.function_name).await?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .kill_on_drop(true)
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let inherited_lambda_var = key
                .to_str()
                .is_some_and(|k| k.starts_with("AWS_LAMBDA_") || k == "_X_AMZN_TRACE_ID");
            if inherited_lambda_var {
                command.env_remove(&key);
            }
        }
        let name = &self.function_name;
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api_env())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.memory_size_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", &self.version)
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", &self.initialization_type);
        if std::env::var_os("AWS_REGION").is_none() && !self.env.contains_key("AWS_REGION") {
            command.env("AWS_REGION", "us-east-1");
        }
        if let Some(n) = self.max_concurrency {
            command.env("AWS_LAMBDA_MAX_CONCURRENCY", n.to_string());
        }
        command.envs(&self.env);
        command
            .stdout(stdio(self.stdout))
            .stderr(stdio(self.stderr));

        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            source,
        })?;
        let pid = child.id();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(collect_lines(out, Arc::clone(&stdout))));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(collect_lines(err, Arc::clone(&stderr))));
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let supervisor = tokio::spawn(async move {
            tokio::select! {
                status = child.wait() => {
                    let _ = exit_tx.send(Some(status.ok()));
                    true
                }
                _ = kill_rx => {
                    let _ = child.kill().await;
                    false
                }
            }
        });
        Ok(LocalFunction {
            api,
            stdout,
            stderr,
            readers,
            exit: exit_rx,
            kill: Some(kill_tx),
            supervisor: Some(supervisor),
            pid,
        })
    }
}

/// The `VmHWM` line of a `/proc/<pid>/status` text (`VmHWM:     1234 kB`), in bytes.
fn peak_resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

fn stdio(output: Output) -> Stdio {
    match output {
        Output::Capture => Stdio::piped(),
        Output::Inherit => Stdio::inherit(),
        Output::Discard => Stdio::null(),
    }
}

async fn collect_lines<R: AsyncRead + Unpin>(stream: R, sink: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut sink) = sink.lock() {
            sink.push(line);
        }
    }
}

/// A function binary running the real `lambda_runtime` loop in a child process, fed by a
/// local [`RuntimeApi`]. The process is killed when this value is dropped.
///
/// ```no_run
/// use powertools_testing::{InvocationRequest, LocalFunction};
///
/// // In an integration test of the crate that defines the `orders` binary, `binary` is
/// // `env!("CARGO_BIN_EXE_orders")`.
/// async fn creates_an_order(binary: &str) -> Result<(), powertools_testing::HarnessError> {
///     let function = LocalFunction::builder(binary)
///         .function_name("orders")
///         .env("POWERTOOLS_SERVICE_NAME", "orders")
///         .start()
///         .await?;
///     let outcome = function
///         .invoke(InvocationRequest::json(&serde_json::json!({"id": 1}))?)
///         .await?;
///     assert_eq!(outcome.json()?["status"], "created");
///     let stopped = function.stop().await;
///     assert!(stopped.stdout.iter().any(|line| line.contains("order created")));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct LocalFunction {
    api: RuntimeApi,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    exit: watch::Receiver<Option<Option<ExitStatus>>>,
    kill: Option<oneshot::Sender<()>>,
    supervisor: Option<JoinHandle<bool>>,
    pid: Option<u32>,
}

impl LocalFunction {
    /// Configures a function process for the executable at `program`.
    pub fn builder(program: impl Into<OsString>) -> LocalFunctionBuilder {
        LocalFunctionBuilder {
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            function_name: "local-function".to_owned(),
            memory_size_mb: 128,
            version: "$LATEST".to_owned(),
            initialization_type: "on-demand".to_owned(),
            max_concurrency: None,
            stdout: Output::Capture,
            stderr: Output::Capture,
        }
    }

    /// The Runtime API the function talks to.
    pub fn runtime_api(&self) -> &RuntimeApi {
        &self.api
    }

    /// Queues an invocation without waiting (to have several in flight at once).
    pub fn enqueue(&self, request: InvocationRequest) -> Result<Pending, HarnessError> {
        self.api.enqueue(request)
    }

    /// Invokes the function and waits for its answer. Fails with
    /// [`HarnessError::FunctionExited`] if the process dies first.
    pub async fn invoke(&self, request: InvocationRequest) -> Result<Outcome, HarnessError> {
        let pending = self.enqueue(request)?;
        self.wait(pending).await
    }

    /// Waits for a queued invocation's answer, or for the process to die.
    pub async fn wait(&self, pending: Pending) -> Result<Outcome, HarnessError> {
        let mut exit = self.exit.clone();
        tokio::select! {
            outcome = pending.outcome() => outcome,
            status = exit.wait_for(Option::is_some) => {
                let status = status.ok().and_then(|s| *s).flatten();
                // Give the reader tasks a moment to drain what the process wrote last.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(HarnessError::FunctionExited {
                    status: status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".to_owned()),
                    stderr_tail: self.stderr_lines().iter().rev().take(20).rev().cloned().collect(),
                })
            }
        }
    }

    /// The most memory the process has held so far, in bytes: its peak resident set, what
    /// Lambda reports as "Max Memory Used". `None` once it has exited, or where the system
    /// does not tell (it is read from `/proc`, on Linux).
    pub fn max_memory_used(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        peak_resident_bytes(&status)
    }

    /// Error posted to `/init/error`, if the function failed during INIT.
    pub fn init_error(&self) -> Option<crate::FunctionError> {
        self.api.init_error()
    }

    /// The stdout lines captured so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The stderr lines captured so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Stops the process and returns all it wrote (every captured line up to its end; a
    /// grandchild that keeps the pipes open is waited for at most 2 s).
    pub async fn stop(mut self) -> Stopped {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let exited_by_itself = match self.supervisor.take() {
            Some(supervisor) => match supervisor.await {
                Ok(true) => (*self.exit.borrow()).flatten(),
                _ => None,
            },
            None => None,
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        Stopped {
            stdout: self.stdout_lines(),
            stderr: self.stderr_lines(),
            exited_by_itself,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::peak_resident_bytes;

    #[test]
    fn the_peak_resident_set_is_read_from_the_status_text() {
        let status = "Name:\tprobe\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4096 kB\n";
        assert_eq!(peak_resident_bytes(status), Some(5120 * 1024));
        assert_eq!(peak_resident_bytes("VmRSS:\t 4096 kB\n"), None);
        assert_eq!(peak_resident_bytes("VmHWM:\t lots kB\n"), None);
        assert_eq!(
            peak_resident_bytes("VmHWM:\t 18446744073709551615 kB\n"),
            None
        );
    }
}
