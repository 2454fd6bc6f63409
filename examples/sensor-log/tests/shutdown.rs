//! The real binary stops on SIGTERM (what orchestrators send), not only on Ctrl-C: exit
//! 0 after a clean stop, non-zero when the graceful stop overruns its deadline.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary, started with `args`, its log on a pipe.
struct Running {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sensor-log"));
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start sensor-log");
        let stderr = child.stderr.take().expect("stderr");
        let (send, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(strip_ansi(&line)).is_err() {
                    break;
                }
            }
        });
        Self { child, log }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with `{needle}` within {timeout:?}"),
            }
        }
    }

    /// The address the HTTP API listens on, from its start-up log line.
    fn address(&self) -> String {
        let line = self.wait_for_log("listening", Duration::from_secs(20));
        let after = line.split("address=").nth(1).expect("address in log line");
        after.split_whitespace().next().expect("address").to_owned()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The exit status, if the process ended within `timeout` (killed otherwise).
    fn exit_within(&mut self, timeout: Duration) -> Option<(ExitStatus, Duration)> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some((status, start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn embedded_mode_exits_0_on_sigterm() {
    let mut running = Running::start(&["embedded", "--listen", "127.0.0.1:0"], &[]);
    let address = running.address();
    assert!(http_get(&address, "/health/live").starts_with("HTTP/1.1 200"));
    running.terminate();
    let (status, took) = running
        .exit_within(Duration::from_secs(5))
        .expect("stopped within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    eprintln!("embedded mode stopped {took:?} after SIGTERM");
}

#[test]
fn sigterm_at_once_after_start_up_is_still_a_graceful_stop() {
    // The signal handler must be installed before the service announces itself: a
    // SIGTERM in between would otherwise kill the process (default action, no exit code).
    for attempt in 0..10 {
        let mut running = Running::start(&["embedded", "--listen", "127.0.0.1:0"], &[]);
        running.wait_for_log("listening", Duration::from_secs(20));
        running.terminate();
        let (status, _) = running
            .exit_within(Duration::from_secs(5))
            .expect("stopped within 5 s of SIGTERM");
        assert_eq!(status.code(), Some(0), "attempt {attempt}: {status:?}");
    }
}

#[test]
fn a_graceful_stop_that_overruns_its_deadline_exits_non_zero() {
    let mut running = Running::start(
        &[
            "embedded",
            "--listen",
            "127.0.0.1:0",
            "--shutdown-timeout",
            "1",
        ],
        &[],
    );
    let address = running.address();
    // A request whose body never finishes arriving keeps the server draining.
    let mut slow = TcpStream::connect(&address).expect("connect");
    write!(
        slow,
        "POST /ingest/readings HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n["
    )
    .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    running.terminate();
    let (status, took) = running
        .exit_within(Duration::from_secs(5))
        .expect("stopped within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    running.wait_for_log("did not stop within", Duration::from_secs(1));
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_service_exits_0_on_sigterm() {
    let Some(url) = support::database_url("serve sigterm").await else {
        return;
    };
    let schema = format!("sl_{}", support::unique("serve"));
    let mut running = Running::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("SENSOR_LOG_SCHEMA", schema.as_str()),
        ],
    );
    let address = running.address();
    assert!(http_get(&address, "/health/ready").starts_with("HTTP/1.1 200"));
    running.terminate();
    let (status, _) = running
        .exit_within(Duration::from_secs(5))
        .expect("stopped within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    drop_schema(&url, &schema).await;
}

async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_job_exits_0_on_sigterm() {
    let Some(url) = support::database_url("ingest sigterm").await else {
        return;
    };
    let Some(brokers) = support::kafka_brokers("ingest sigterm").await else {
        return;
    };
    let suffix = support::unique("sigterm");
    let topic = |name: &str| format!("{name}.{suffix}");
    let (readings, sensors, dlq) = (
        topic("logger.sensor.ts"),
        topic("logger.sensor.instance"),
        topic("logger.sensor.ts.dlq"),
    );
    let schema = format!("sl_{suffix}");
    let group = format!("writer-{suffix}");
    let mut running = Running::start(
        &["ingest"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("KAFKA_BROKERS", brokers.as_str()),
            ("SENSOR_LOG_SCHEMA", schema.as_str()),
            ("SENSOR_LOG_GROUP_ID", group.as_str()),
            ("SENSOR_LOG_READINGS_TOPIC", readings.as_str()),
            ("SENSOR_LOG_SENSORS_TOPIC", sensors.as_str()),
            ("SENSOR_LOG_DLQ_TOPIC", dlq.as_str()),
        ],
    );
    running.wait_for_log("writer starting", Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.terminate();
    let (status, took) = running
        .exit_within(Duration::from_secs(10))
        .expect("stopped within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    eprintln!("ingest stopped {took:?} after SIGTERM");
    drop_schema(&url, &schema).await;
}
