//! Runs the example's binary as a child process and talks HTTP/1.1 to it over a plain
//! socket (no client library needed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the child to take).
pub fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// `binary serve --listen address` in embedded mode: the services' variables
/// (`DATABASE_URL`, `KAFKA_BROKERS`, `MONGODB_URL`) and every `*_LISTEN` variable removed.
pub fn spawn_embedded(binary: &str, address: SocketAddr, extra: &[&str]) -> Child {
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
        .env_remove("DATABASE_URL")
        .env_remove("KAFKA_BROKERS")
        .env_remove("MONGODB_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the binary")
}

/// `GET path`: the status code and the body, or `None` when nothing answers.
pub fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
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
