//! Stop signals of the background tasks (relay, consumer runner).

use std::time::Duration;

use tokio::sync::watch;

/// Resolves once a stop is requested; never if the handle was dropped without one (the
/// task then keeps running, as documented on the handles).
pub(crate) async fn requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps `delay`; true if a stop was requested meanwhile.
pub(crate) async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = requested(stop) => true,
        () = tokio::time::sleep(delay) => *stop.borrow(),
    }
}
