//! Runs the example's binary as a child process and talks HTTP/1.1 to it over a plain
//! socket (no client library needed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::services::Services;

/// A free loopback port (bound, then released for the child to take).
pub fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// `binary serve --listen address` in embedded mode: the services' variables
/// (`DATABASE_URL`, `KAFKA_BROKERS`, `MONGODB_URL`) and every `*_LISTEN` variable removed.
pub fn spawn_embedded(binary: &str, address: SocketAddr, extra: &[&str]) -> Child {
    serve(binary, address, extra)
        .env_remove("DATABASE_URL")
        .env_remove("KAFKA_BROKERS")
        .env_remove("MONGODB_URL")
        .env("RUST_LOG", "info")
        .spawn()
        .expect("spawn the binary")
}

/// `binary serve --listen address` in services mode on `services` (PostgreSQL, Kafka; no
/// `MONGODB_URL`), with `env` set (the schemas, topic prefix or group of this run) and every
/// `*_LISTEN` variable removed.
pub fn spawn_services(
    binary: &str,
    address: SocketAddr,
    services: &Services,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Child {
    let mut command = serve(binary, address, extra);
    command
        .env("DATABASE_URL", &services.database_url)
        .env("KAFKA_BROKERS", &services.kafka_brokers)
        .env_remove("MONGODB_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("spawn the binary")
}

/// `binary serve --listen address extra...`, without the `*_LISTEN` variables, its standard
/// output discarded.
fn serve(binary: &str, address: SocketAddr, extra: &[&str]) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().ends_with("_LISTEN") {
            command.env_remove(name);
        }
    }
    command
        .arg("serve")
        .arg("--listen")
        .arg(address.to_string())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// `GET path`: the status code and the body, or `None` when nothing answers.
pub fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    exchange(address, &request, Duration::from_secs(2))
}

/// `POST path` with the JSON `body`: the status code and the body, or `None` when nothing
/// answers.
pub fn post(address: SocketAddr, path: &str, body: &str) -> Option<(u16, String)> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(address, &request, Duration::from_secs(5))
}

/// Sends `request` on a new connection and reads the reply until the server closes it:
/// its status code and body.
fn exchange(address: SocketAddr, request: &str, read_timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(read_timeout)).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Waits until `GET path` answers `status`, for at most `timeout`.
pub fn wait_for(address: SocketAddr, path: &str, status: u16, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((got, body)) = get(address, path) {
            if got == status {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not answer {status} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
}

/// Sends SIGTERM to `child` and asserts a graceful stop: exit code 0 within `within`, and
/// nothing listening at `address` afterwards. Returns how long the stop took.
pub fn assert_stops_on_sigterm(
    child: &mut Child,
    address: SocketAddr,
    within: Duration,
) -> Duration {
    let signalled = Instant::now();
    sigterm(child);
    let status = wait_exit(child, within);
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        get(address, "/health/live").is_none(),
        "nothing listens after the stop"
    );
    took
}

/// Waits for `child` to exit, for at most `timeout`; kills it and fails past that.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
