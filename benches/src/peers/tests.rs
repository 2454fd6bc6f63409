//! The peers group on a small workload: every system ends with every command applied and
//! reports both figures, and a system that loses commands fails the run instead of
//! reporting a figure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

const SMALL: Workload = Workload {
    aggregates: 16,
    commands_per_aggregate: 4,
    long_stream: 200,
    long_commands: 3,
};

/// PostgreSQL's URL if it answers; otherwise `None` after a SKIPPED line (a panic when
/// `CI=true`).
async fn database_url(test: &str) -> Option<String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match tokio::time::timeout(Duration::from_secs(5), sqlx::PgPool::connect(&url)).await {
        Ok(Ok(pool)) => {
            pool.close().await;
            Some(url)
        }
        outcome => {
            let reason = format!("PostgreSQL at {url} is unreachable: {outcome:?}");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: {reason}"
            );
            eprintln!("SKIPPED {test}: {reason}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_system_reports_both_figures_after_its_state_checks() {
    let Some(url) = database_url("every_system_reports_both_figures_after_its_state_checks").await
    else {
        return;
    };
    let report = measure(&url, SMALL).await.expect("PostgreSQL answers");
    let names: Vec<_> = report.figures.iter().map(|f| f.system).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for wanted in [
        "naive raw sqlx",
        "cqrs-rs `Repository::new` (no cache)",
        "with_cache",
        "cqrs-es 0.5",
        "esrs 0.18",
    ] {
        assert!(
            names.iter().any(|n| n.contains(wanted)),
            "{wanted} missing from {names:?}"
        );
    }
    for f in &report.figures {
        assert!(
            f.commands_per_s > 0.0 && f.long_command_ms > 0.0,
            "{}: {} commands/s, {} ms",
            f.system,
            f.commands_per_s,
            f.long_command_ms
        );
    }
    let markdown = report.to_markdown();
    assert!(markdown.contains("the best peer"), "{markdown}");
}

/// The naive system, except that every `drop_every`-th W1 command does nothing.
struct Lossy {
    inner: naive::Naive,
    commands: AtomicUsize,
    drop_every: usize,
}

impl System for Lossy {
    fn name(&self) -> &'static str {
        "lossy"
    }

    fn role(&self) -> Role {
        Role::Floor
    }

    fn command(&self, target: Target) -> BoxFuture<'_, ()> {
        let n = self.commands.fetch_add(1, Ordering::Relaxed) + 1;
        if matches!(target, Target::Account(_)) && n.is_multiple_of(self.drop_every) {
            return Box::pin(async {});
        }
        self.inner.command(target)
    }

    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)> {
        self.inner.state(target)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_that_loses_commands_fails_the_run() {
    let Some(url) = database_url("a_system_that_loses_commands_fails_the_run").await else {
        return;
    };
    let admin = sqlx::PgPool::connect(&url).await.expect("admin pool");
    let schema = format!("peers_lossy_{}", &Uuid::new_v4().simple().to_string()[..8]);
    create_schema(&admin, &schema).await;
    let lossy: Arc<dyn System> = Arc::new(Lossy {
        inner: naive::Naive::start(&url, &schema, &SMALL).await,
        commands: AtomicUsize::new(0),
        drop_every: 7,
    });
    let outcome = tokio::spawn(async move { workload::run(&[lossy], &SMALL).await }).await;
    drop_schema(&admin, &schema).await;
    let panic = outcome.expect_err("a run with lost commands must not report figures");
    let message = match panic.into_panic().downcast::<String>() {
        Ok(message) => *message,
        Err(_) => String::from("(not a string)"),
    };
    assert!(
        message.contains("lossy: aggregate") && message.contains("after W1"),
        "{message}"
    );
}
