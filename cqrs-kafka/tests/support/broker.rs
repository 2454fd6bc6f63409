//! The broker under test: `KAFKA_BROKERS` (default 127.0.0.1:19092), and tansu brokers
//! the tests start themselves.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use cqrs_kafka::KafkaConfig;

/// The brokers to test against, or `None` (after printing why) when none answers and the
/// run is not CI. With `CI=true` an unreachable broker fails the test.
pub fn broker() -> Option<String> {
    init_tracing();
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".to_owned());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    if answers(&first) {
        return Some(brokers);
    }
    unavailable(&format!("no broker at {brokers}"))
}

/// Fails under CI, otherwise prints one SKIPPED line (see
/// [`cqrs_core::testing::skip_or_fail`]).
pub fn unavailable(what: &str) -> Option<String> {
    cqrs_core::testing::skip_or_fail("cqrs-kafka", what);
    None
}

/// True when something accepts TCP connections at `address`.
pub fn answers(address: &str) -> bool {
    let Ok(mut addresses) = address.to_socket_addrs() else {
        return false;
    };
    addresses.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// A name no other test run uses.
pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Creates the topics with 3 partitions: through the admin API, falling back to the tansu
/// command line when the broker does not support CreateTopics.
pub async fn create_topics(kafka: &KafkaConfig, topics: &[String]) {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let admin_error = match cqrs_kafka::create_topics(kafka, &names, 3, 1).await {
        Ok(()) => return,
        Err(error) => error,
    };
    eprintln!("admin create_topics failed ({admin_error}); trying `tansu topic create`");
    for topic in topics {
        let status = std::process::Command::new(tansu_binary().expect("tansu binary"))
            .args([
                "topic",
                "create",
                topic,
                "--broker",
                &format!("tcp://{}", kafka.brokers()),
                "--partitions",
                "3",
            ])
            .status()
            .expect("run tansu topic create");
        assert!(status.success(), "tansu topic create {topic} failed");
    }
}

/// The tansu binary: `TANSU_BIN`, `tansu` on the PATH, or `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("TANSU_BIN") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        Some(PathBuf::from(home).join(".cargo/bin/tansu")).filter(|p| p.is_file())
    })
}

/// A free TCP port on loopback (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Starts a tansu broker with memory storage at 127.0.0.1:`port`; killed when dropped.
pub async fn start_tansu(port: u16) -> tokio::process::Child {
    let binary = tansu_binary().expect("tansu binary");
    let url = format!("tcp://127.0.0.1:{port}");
    let child = tokio::process::Command::new(binary)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start tansu");
    let address = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if answers(&address) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("tansu did not start on {address}");
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,librdkafka=error".into()),
        )
        .with_test_writer()
        .try_init();
}
