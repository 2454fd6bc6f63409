//! The fulfilment saga's decisions, independent of how events reach it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{
    CommandBus, CommandContext, CommandEnvelope, CommandError, CommandOutcome, EventStore,
    FailureKind, InvalidCommand, RecordedEvent, Repository, Upcasters,
};
use order::domain::{Order, OrderCommand, OrderEvent, OrderLine};

use tracing::Instrument;

use super::{SagaError, SagaOutcome, SagaProjection};
use crate::domain::{
    AllocatedLine, AllocationCommand, AllocationError, AllocationStatus, OrderAllocation, Product,
    ProductCommand, ProductError, Shortage,
};

/// The `saga` span of one order event; see [`FulfilmentSaga::handle`].
fn saga_span(event: &OrderEvent, envelope: &RecordedEvent) -> tracing::Span {
    let step = match event {
        OrderEvent::OrderPlaced { .. } => "reserve",
        OrderEvent::OrderCancelled { .. } => "release",
        OrderEvent::OrderShipped => "ship",
        OrderEvent::OrderPaid { .. } | OrderEvent::OrderConfirmed => "ignore",
    };
    tracing::info_span!(
        "saga",
        saga = SagaProjection::NAME,
        order_id = envelope.aggregate_id(),
        event_id = %envelope.event_id,
        event_type = &*envelope.event_type,
        // i64: OpenTelemetry has no unsigned attributes (a u64 would be exported as text).
        position = i64::try_from(envelope.position).unwrap_or(i64::MAX),
        correlation_id = envelope.metadata.correlation_id.map(tracing::field::display),
        step,
        outcome = tracing::field::Empty,
    )
}

/// The cancellation reason the saga gives an order it cannot fill.
pub const OUT_OF_STOCK: &str = "out_of_stock";

/// The process manager between orders and stock. Cheap to clone.
///
/// Every command it issues runs in a [`CommandContext::caused_by_step`] the event it reacts
/// to: the whole business transaction shares one correlation id, and each command's id is
/// derived from the event and the step, so a redelivered event issues the same command ids
/// again and they have no second effect (in the inventory's store for product and
/// allocation commands, in the order service's store for order commands).
///
/// Order commands (`ConfirmOrder`, `CancelOrder`) go to the order service through a
/// [`CommandBus`]: Kafka in services mode, in process in embedded mode.
#[derive(Clone)]
pub struct FulfilmentSaga {
    orders: Arc<dyn CommandBus>,
    order_timeout: Duration,
    upcasters: Arc<Upcasters>,
    products: Repository<Product, dyn EventStore>,
    allocations: Repository<OrderAllocation, dyn EventStore>,
}

impl FulfilmentSaga {
    /// How long the saga waits for the order service's reply before it gives up on the
    /// event for now (a transient failure: the event is retried, and the command, resent
    /// under the same id, has one effect).
    pub const ORDER_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

    /// A saga sending order commands through `orders` and running product and allocation
    /// commands through these repositories.
    pub fn new(
        orders: Arc<dyn CommandBus>,
        products: Repository<Product, dyn EventStore>,
        allocations: Repository<OrderAllocation, dyn EventStore>,
    ) -> Self {
        Self {
            orders,
            order_timeout: Self::ORDER_REPLY_TIMEOUT,
            upcasters: Arc::new(Upcasters::new()),
            products,
            allocations,
        }
    }

    /// Sets how long to wait for the order service's replies.
    pub fn with_order_timeout(mut self, timeout: Duration) -> Self {
        self.order_timeout = timeout;
        self
    }

    /// The upcasters order events are decoded with.
    pub fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    /// Reacts to one order event, `envelope` being the event as recorded (its order id,
    /// and the cause of every command the saga issues).
    ///
    /// Runs in the span `saga` (fields `order_id`, `event_id`, `event_type`, `position`,
    /// `correlation_id`, `step`: what the event makes the saga do, and `outcome`), a child
    /// of the span the event was delivered in (the Kafka consumer's `consume`, continuing
    /// the order service's trace); the commands it sends to the order service are its
    /// children.
    ///
    /// Safe to call again with the same event: the recorded allocation makes it a no-op.
    pub async fn handle(
        &self,
        event: &OrderEvent,
        envelope: &RecordedEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let span = saga_span(event, envelope);
        let handled = self.react(event, envelope).instrument(span.clone()).await;
        match &handled {
            Ok(outcome) => span.record("outcome", outcome.label()),
            Err(_) => span.record("outcome", "failed"),
        };
        handled
    }

    async fn react(
        &self,
        event: &OrderEvent,
        envelope: &RecordedEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let order_id = envelope.aggregate_id();
        let outcome = match event {
            OrderEvent::OrderPlaced { lines, .. } => {
                self.on_placed(envelope, order_id, lines).await?
            }
            OrderEvent::OrderCancelled { reason } => {
                self.on_cancelled(envelope, order_id, reason).await?
            }
            OrderEvent::OrderShipped => self.on_shipped(envelope, order_id).await?,
            OrderEvent::OrderPaid { .. } | OrderEvent::OrderConfirmed => SagaOutcome::Ignored,
        };
        if outcome != SagaOutcome::Ignored {
            tracing::info!(
                order_id,
                position = envelope.position,
                outcome = ?outcome,
                "fulfilment saga handled order event"
            );
        }
        Ok(outcome)
    }

    async fn on_placed(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        lines: &[OrderLine],
    ) -> Result<SagaOutcome, SagaError> {
        let wanted = quantities_by_sku(lines);
        match self.allocation(order_id).await?.status {
            AllocationStatus::Pending => {}
            AllocationStatus::Rejected => {
                // Re-run the (idempotent) compensation in case a crash interrupted it.
                self.compensate(event, order_id, &wanted).await?;
                return Ok(SagaOutcome::already(order_id, AllocationStatus::Rejected));
            }
            AllocationStatus::Confirmed => {
                // Resend the (idempotent) confirmation in case a crash interrupted it.
                self.confirm_order(event, order_id).await?;
                return Ok(SagaOutcome::already(order_id, AllocationStatus::Confirmed));
            }
            status => return Ok(SagaOutcome::already(order_id, status)),
        }

        let mut reserved = Vec::with_capacity(wanted.len());
        for (sku, &qty) in &wanted {
            let command = ProductCommand::ReserveStock {
                sku: sku.clone(),
                order_id: order_id.to_owned(),
                qty,
            };
            let step = format!("reserve:{sku}");
            match self
                .products
                .execute_in(&CommandContext::caused_by_step(event, &step), command)
                .await
            {
                Ok(_) => reserved.push(AllocatedLine {
                    sku: sku.clone(),
                    qty,
                }),
                Err(CommandError::Rejected(refusal)) => {
                    let shortage = shortage_of(sku, qty, &refusal);
                    return self.reject(event, order_id, &wanted, shortage).await;
                }
                // Refused in an earlier delivery of this event: decide the same way again.
                Err(CommandError::AlreadyRefused(refusal)) => {
                    let shortage = Shortage {
                        sku: sku.clone(),
                        requested: qty,
                        available: 0,
                        detail: refusal.message,
                    };
                    return self.reject(event, order_id, &wanted, shortage).await;
                }
                Err(source) => {
                    return Err(SagaError::Product {
                        order_id: order_id.to_owned(),
                        source,
                    })
                }
            }
        }

        let confirm = AllocationCommand::Confirm {
            order_id: order_id.to_owned(),
            lines: reserved,
        };
        match self.record(event, order_id, confirm).await? {
            Ok(()) => {
                self.confirm_order(event, order_id).await?;
                Ok(SagaOutcome::Confirmed {
                    order_id: order_id.to_owned(),
                })
            }
            // Another delivery of this event decided first; follow its decision.
            Err(AllocationError::AlreadyDecided { status, .. }) => {
                match status {
                    AllocationStatus::Rejected => self.compensate(event, order_id, &wanted).await?,
                    AllocationStatus::Confirmed => self.confirm_order(event, order_id).await?,
                    _ => {}
                }
                Ok(SagaOutcome::already(order_id, status))
            }
            Err(AllocationError::NotConfirmed { status, .. }) => {
                Ok(SagaOutcome::already(order_id, status))
            }
        }
    }

    /// Records the rejection first, then compensates: a crash in between leaves a recorded
    /// rejection whose compensation the redelivery completes.
    async fn reject(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        wanted: &BTreeMap<String, u64>,
        shortage: Shortage,
    ) -> Result<SagaOutcome, SagaError> {
        let reject = AllocationCommand::Reject {
            order_id: order_id.to_owned(),
            reason: OUT_OF_STOCK.to_owned(),
            shortage: shortage.clone(),
        };
        match self.record(event, order_id, reject).await? {
            Ok(()) => {}
            Err(AllocationError::AlreadyDecided { status, .. }) => {
                // Confirmed by a concurrent delivery: its reservations are ours (reserving
                // is idempotent per order id), so there is nothing to undo.
                return Ok(SagaOutcome::already(order_id, status));
            }
            Err(AllocationError::NotConfirmed { status, .. }) => {
                return Ok(SagaOutcome::already(order_id, status))
            }
        }
        self.compensate(event, order_id, wanted).await?;
        Ok(SagaOutcome::Rejected {
            order_id: order_id.to_owned(),
            shortage,
        })
    }

    /// Releases every sku of the order (a no-op where nothing is reserved) and cancels the
    /// order with reason `out_of_stock` (a no-op when it is cancelled already).
    async fn compensate(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        wanted: &BTreeMap<String, u64>,
    ) -> Result<(), SagaError> {
        let skus: Vec<String> = wanted.keys().cloned().collect();
        self.release_all(event, order_id, &skus).await?;
        let cancel = OrderCommand::CancelOrder {
            order_id: order_id.to_owned(),
            reason: OUT_OF_STOCK.to_owned(),
        };
        // Refused: cancelled or shipped meanwhile; there is nothing to cancel.
        self.send_order_command(event, order_id, "order:cancel", cancel)
            .await
    }

    /// Tells the order service the order's stock is reserved. Refused (the order was
    /// cancelled meanwhile): the cancellation's event releases the stock.
    async fn confirm_order(&self, event: &RecordedEvent, order_id: &str) -> Result<(), SagaError> {
        let confirm = OrderCommand::ConfirmOrder {
            order_id: order_id.to_owned(),
        };
        self.send_order_command(event, order_id, "order:confirm", confirm)
            .await
    }

    /// Sends an order command to the order service and waits for its outcome. Accepted and
    /// refused both complete the step (a refusal is logged); an invalid command or a
    /// permanent failure is a permanent [`SagaError`] (the event is dead-lettered); no
    /// reply in time or a transient failure is a transient one (the event is retried, and
    /// the command, resent under the same id, has one effect).
    async fn send_order_command(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        step: &'static str,
        command: OrderCommand,
    ) -> Result<(), SagaError> {
        let failed = |kind: FailureKind, detail: String| SagaError::OrderCommand {
            order_id: order_id.to_owned(),
            step,
            kind,
            detail,
        };
        let context = CommandContext::caused_by_step(event, step);
        let envelope = CommandEnvelope::new::<Order>(&command, &context)
            .map_err(|error| failed(FailureKind::Permanent, error.to_string()))?;
        let reply = self
            .orders
            .send(envelope, self.order_timeout)
            .await
            .map_err(|error| failed(error.kind(), error.to_string()))?;
        match reply.outcome {
            CommandOutcome::Accepted { .. } => Ok(()),
            CommandOutcome::Refused { code, message } => {
                tracing::info!(
                    order_id,
                    step,
                    code,
                    message,
                    "order service refused the saga's command"
                );
                Ok(())
            }
            // An order service that does not know the command (yet): during a rolling
            // upgrade an older one may answer so; a newer one will take it.
            CommandOutcome::Invalid {
                code:
                    code @ (InvalidCommand::UnknownAggregateType
                    | InvalidCommand::UnsupportedCommandVersion),
                message,
            } => Err(failed(
                FailureKind::Transient,
                format!("the order service cannot run it yet ({code}): {message}"),
            )),
            CommandOutcome::Invalid { code, message } => Err(failed(
                FailureKind::Permanent,
                format!("invalid command ({code}): {message}"),
            )),
            CommandOutcome::Failed { kind, message } => Err(failed(kind, message)),
        }
    }

    async fn on_cancelled(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        reason: &str,
    ) -> Result<SagaOutcome, SagaError> {
        let allocation = self.allocation(order_id).await?;
        if allocation.status != AllocationStatus::Confirmed {
            return Ok(SagaOutcome::Ignored);
        }
        // Release first, record after: a crash in between is completed by the redelivery.
        let skus: Vec<String> = allocation.lines.iter().map(|l| l.sku.clone()).collect();
        self.release_all(event, order_id, &skus).await?;
        let release = AllocationCommand::Release {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        match self.record(event, order_id, release).await? {
            Ok(()) => Ok(SagaOutcome::Released {
                order_id: order_id.to_owned(),
            }),
            Err(refusal) => {
                tracing::warn!(order_id, %refusal, "allocation not released");
                Ok(SagaOutcome::Ignored)
            }
        }
    }

    async fn on_shipped(
        &self,
        event: &RecordedEvent,
        order_id: &str,
    ) -> Result<SagaOutcome, SagaError> {
        let allocation = self.allocation(order_id).await?;
        if allocation.status != AllocationStatus::Confirmed {
            return Ok(SagaOutcome::Ignored);
        }
        for line in &allocation.lines {
            let ship = ProductCommand::ConfirmShipment {
                sku: line.sku.clone(),
                order_id: order_id.to_owned(),
            };
            let step = format!("ship:{}", line.sku);
            match self
                .products
                .execute_in(&CommandContext::caused_by_step(event, &step), ship)
                .await
            {
                Ok(_) => {}
                Err(refusal) if refusal.is_rejection() => {
                    tracing::warn!(order_id, %refusal, "shipment not confirmed")
                }
                Err(source) => {
                    return Err(SagaError::Product {
                        order_id: order_id.to_owned(),
                        source,
                    })
                }
            }
        }
        let shipped = AllocationCommand::MarkShipped {
            order_id: order_id.to_owned(),
        };
        match self.record(event, order_id, shipped).await? {
            Ok(()) => Ok(SagaOutcome::Shipped {
                order_id: order_id.to_owned(),
            }),
            Err(refusal) => {
                tracing::warn!(order_id, %refusal, "allocation not marked shipped");
                Ok(SagaOutcome::Ignored)
            }
        }
    }

    async fn release_all(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        skus: &[String],
    ) -> Result<(), SagaError> {
        for sku in skus {
            let release = ProductCommand::ReleaseReservation {
                sku: sku.clone(),
                order_id: order_id.to_owned(),
            };
            let step = format!("release:{sku}");
            match self
                .products
                .execute_in(&CommandContext::caused_by_step(event, &step), release)
                .await
            {
                // An unknown reservation is a no-op; a refusal (the product is not
                // registered) means there is nothing to release either.
                Ok(_) | Err(CommandError::Rejected(_) | CommandError::AlreadyRefused(_)) => {}
                Err(source) => {
                    return Err(SagaError::Product {
                        order_id: order_id.to_owned(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    async fn allocation(&self, order_id: &str) -> Result<OrderAllocation, SagaError> {
        self.allocations
            .load(order_id)
            .await
            .map(|loaded| loaded.state)
            .map_err(|source| SagaError::Load {
                order_id: order_id.to_owned(),
                source,
            })
    }

    /// Runs an allocation command: `Ok(Err(refusal))` when the domain refused it.
    ///
    /// Allocation commands run with a fresh command id (not one derived from the step):
    /// a redelivered event must see the allocation's current decision, which the
    /// aggregate's own rules make idempotent (`AlreadyDecided`).
    async fn record(
        &self,
        event: &RecordedEvent,
        order_id: &str,
        command: AllocationCommand,
    ) -> Result<Result<(), AllocationError>, SagaError> {
        match self
            .allocations
            .execute_in(&CommandContext::caused_by(event), command)
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(CommandError::Rejected(refusal)) => Ok(Err(refusal)),
            Err(source) => Err(SagaError::Allocation {
                order_id: order_id.to_owned(),
                source,
            }),
        }
    }
}

/// The units wanted per sku: an order may name a sku on several lines.
fn quantities_by_sku(lines: &[OrderLine]) -> BTreeMap<String, u64> {
    let mut wanted = BTreeMap::new();
    for line in lines {
        *wanted.entry(line.sku.clone()).or_insert(0) += u64::from(line.quantity);
    }
    wanted
}

fn shortage_of(sku: &str, requested: u64, refusal: &ProductError) -> Shortage {
    let available = match refusal {
        ProductError::InsufficientStock { available, .. } => *available,
        _ => 0,
    };
    Shortage {
        sku: sku.to_owned(),
        requested,
        available,
        detail: refusal.to_string(),
    }
}
