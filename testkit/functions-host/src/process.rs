//! The handler process, started and supervised the way the host's `HttpWorkerProcess` does it.
//!
//! The host picks a free loopback port, starts the executable with no arguments and the app
//! settings plus five variables in its environment, captures stdout/stderr line by line, and
//! polls `GET http://127.0.0.1:<port>/` every 25 ms until any HTTP response arrives. Only a
//! connection error keeps it waiting; after the initialization timeout (30 s by default) it gives
//! up ("Initializing HttpWorker timed out.") and kills the process.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::HostError;

/// Readiness poll interval (`WorkerConstants` in the host).
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// The handler process, started as the host starts it.
#[derive(Debug)]
pub struct HandlerProcess {
    /// The child; `None` once it has been waited for by [`HandlerProcess::terminate`].
    child: Option<Child>,
    /// The port given in `FUNCTIONS_CUSTOMHANDLER_PORT`.
    port: u16,
    /// Time from exec to the first response to `GET /`.
    ready_after: Duration,
    /// Captured stdout lines.
    stdout: Arc<Mutex<Vec<String>>>,
    /// Captured stderr lines.
    stderr: Arc<Mutex<Vec<String>>>,
    /// The tasks copying the pipes, awaited on exit so no trailing line is lost.
    readers: Vec<JoinHandle<()>>,
}

impl HandlerProcess {
    /// Starts `exe` like the host: a relative `exe` that exists under `app_root` is made absolute,
    /// otherwise it is looked up on PATH; cwd = `app_root`; env = inherited environment plus
    /// `settings` plus `FUNCTIONS_CUSTOMHANDLER_PORT`/`FUNCTIONS_HTTPWORKER_PORT` (a free 127.0.0.1
    /// port), `FUNCTIONS_CUSTOMHANDLER_WORKER_ID`/`FUNCTIONS_HTTPWORKER_ID` (a GUID) and
    /// `FUNCTIONS_APP_ROOT_PATH`; no arguments. Then waits for readiness (see the module docs).
    pub async fn start(
        exe: &Path,
        app_root: &Path,
        settings: &[(String, String)],
        init_timeout: Duration,
    ) -> Result<HandlerProcess, HostError> {
        Self::start_in(exe, app_root, None, settings, init_timeout).await
    }

    /// [`HandlerProcess::start`] with `customHandler.description.workingDirectory` (relative to
    /// `app_root`) as the current directory when given.
    pub async fn start_in(
        exe: &Path,
        app_root: &Path,
        working_directory: Option<&str>,
        settings: &[(String, String)],
        init_timeout: Duration,
    ) -> Result<HandlerProcess, HostError> {
        let exe = resolve_executable(exe, app_root);
        let cwd = match working_directory {
            Some(dir) if !dir.is_empty() => app_root.join(dir),
            _ => app_root.to_path_buf(),
        };
        let port = free_port().map_err(HostError::Process)?;
        let worker_id = uuid::Uuid::new_v4().to_string();
        let mut command = Command::new(&exe);
        command
            .current_dir(&cwd)
            .envs(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
            .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", &worker_id)
            .env("FUNCTIONS_HTTPWORKER_ID", &worker_id)
            .env("FUNCTIONS_APP_ROOT_PATH", app_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping a HandlerProcess (or a panicking test) must not leak the handler.
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| HostError::Spawn {
            exe: exe.clone(),
            source,
        })?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            spawn_reader(child.stdout.take().expect("stdout is piped"), stdout.clone()),
            spawn_reader(child.stderr.take().expect("stderr is piped"), stderr.clone()),
        ];
        let mut process = HandlerProcess {
            child: Some(child),
            port,
            ready_after: Duration::ZERO,
            stdout,
            stderr,
            readers,
        };
        process.ready_after = process.wait_ready(started, init_timeout).await?;
        Ok(process)
    }

    /// Polls `GET /` until any response, the process exits, or `init_timeout` passes.
    async fn wait_ready(&mut self, started: Instant, init_timeout: Duration) -> Result<Duration, HostError> {
        // No proxy: the host talks to loopback directly. The per-probe timeout keeps a handler
        // that accepts but never answers from stalling the loop past the init timeout.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_INTERVAL.max(Duration::from_millis(500)))
            .build()
            .expect("reqwest client builds");
        let url = format!("{}/", self.base_url());
        loop {
            let child = self.child.as_mut().expect("child present while starting");
            if let Some(status) = child.try_wait().map_err(HostError::Process)? {
                self.drain_readers().await;
                return Err(HostError::ExitedEarly {
                    code: status.code(),
                    stderr: self.stderr_lines(),
                });
            }
            match client.get(&url).send().await {
                Ok(_) => return Ok(started.elapsed()),
                // The host only keeps waiting on socket errors; anything else counts as ready. A
                // probe timeout also keeps waiting: the host's own probe would simply still be
                // blocked on such a handler.
                Err(e) if e.is_connect() || e.is_timeout() => {}
                Err(_) => return Ok(started.elapsed()),
            }
            if started.elapsed() >= init_timeout {
                if let Some(child) = self.child.as_mut() {
                    let _ = child.kill().await;
                }
                self.drain_readers().await;
                return Err(HostError::InitTimeout {
                    after: init_timeout,
                    port: self.port,
                    stderr: self.stderr_lines(),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// The port the handler was told to listen on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, the address the host always dials.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Time from exec to the first response to `GET /`.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// stdout lines so far (the host logs them at Information under `Host.Function.Console`).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("capture lock").clone()
    }

    /// stderr lines so far (the host logs them at Error, or Warning when they contain "warn").
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("capture lock").clone()
    }

    /// The OS process id while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends SIGTERM, waits up to `grace` for the process to exit and returns its status; kills it
    /// (SIGKILL) if it is still running after `grace`.
    pub async fn terminate(mut self, grace: Duration) -> Result<ExitStatus, HostError> {
        let mut child = self.child.take().expect("child present until terminate");
        if let Some(pid) = child.id() {
            let pid = libc::pid_t::try_from(pid).map_err(|e| HostError::Process(std::io::Error::other(e)))?;
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped) has no memory effects.
            if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
                return Err(HostError::Process(std::io::Error::last_os_error()));
            }
        }
        let status = match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status.map_err(HostError::Process)?,
            Err(_) => {
                child.kill().await.map_err(HostError::Process)?;
                child.wait().await.map_err(HostError::Process)?
            }
        };
        self.drain_readers().await;
        Ok(status)
    }

    /// Waits briefly for the pipe readers so the last lines before exit are captured.
    async fn drain_readers(&mut self) {
        for reader in self.readers.drain(..) {
            // A grandchild holding the pipe open must not block us forever.
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }
}

impl Drop for HandlerProcess {
    /// Kills the child if it is still running, so a failed test never leaves a handler behind.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Resolves the executable as `HttpWorkerDescription` does: relative and present under the app
/// root → absolute; otherwise as given (absolute, or a command on PATH).
fn resolve_executable(exe: &Path, app_root: &Path) -> PathBuf {
    if exe.is_relative() {
        let candidate = app_root.join(exe);
        if candidate.is_file() {
            return std::path::absolute(&candidate).unwrap_or(candidate);
        }
    }
    exe.to_path_buf()
}

/// A free port, picked like `WorkerUtilities.GetUnusedTcpPort`: bind 127.0.0.1:0 and release it.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Copies a pipe into `lines`, one entry per line (lossy UTF-8, line ending removed).
fn spawn_reader(pipe: impl AsyncRead + Unpin + Send + 'static, lines: Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    lines.lock().expect("capture lock").push(line);
                }
            }
        }
    })
}
