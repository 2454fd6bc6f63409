//! How failures become HTTP responses: 4xx naming the field, 409/422 for refusals, 503 for
//! infrastructure (with a generic message: the driver's text goes to the log, not to the
//! client).
//!
//! A refusal is answered by its code ([`OrderError::code`]) and message alone
//! ([`ApiError::refusal`]), so a refusal recorded by an earlier execution of the same
//! `Idempotency-Key` (`CommandError::AlreadyRefused`) gets the same status and body as the
//! first answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::{CommandError, EventStore, LoadError, Repository, StoreError};
use serde::Serialize;
use service_kit::idempotency::{InvalidIdempotencyKey, HEADER_NAME};
use service_kit::read_your_writes::{InvalidMinPosition, NotCaughtUpResponse};

use crate::domain::{FieldError, Order, OrderError};

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_input`, `not_found`, `refused`, `conflict`,
    /// `idempotency_key_reused`, `unavailable`, `internal` (and `not_caught_up`, see
    /// `service_kit::read_your_writes`).
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, for invalid input (`items[2].unit_price`, `Idempotency-Key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The domain refusal's code ([`OrderError::code`]), on refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// An error returned by a handler.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// A query's read model was behind: answered by service-kit's 503 instead.
    not_caught_up: Option<Box<NotCaughtUpResponse>>,
}

/// What a 503 says: retrying later may succeed; the cause is in the service's log.
const UNAVAILABLE: &str = "the service cannot answer right now; nothing was applied, retry later";

impl ApiError {
    fn new(
        status: StatusCode,
        error: &'static str,
        message: String,
        field: Option<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error,
                message,
                field,
                code: None,
            },
            not_caught_up: None,
        }
    }

    /// A domain refusal, by its code ([`OrderError::code`]): `not_found` 404, `invalid_order`
    /// 422 `invalid_input` (with `field` when the refusal names one: only a fresh refusal
    /// does, a recorded one keeps its code and message only), `total_overflow` 422,
    /// every other code 409 (`refused`).
    pub fn refusal(code: &str, message: String, field: Option<String>) -> Self {
        let (status, error) = match code {
            "not_found" => (StatusCode::NOT_FOUND, "not_found"),
            "invalid_order" => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            "total_overflow" => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            _ => (StatusCode::CONFLICT, "refused"),
        };
        let mut refused = Self::new(status, error, message, field);
        refused.body.code = Some(code.to_owned());
        refused
    }

    /// 400: the request is malformed; `field` names what is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            message.into(),
            Some(field.into()),
        )
    }

    /// 413: the body is larger than the service accepts.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            message.into(),
            None,
        )
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message.into(), None)
    }

    /// 503: the store or the read model is unavailable; nothing was applied. The message
    /// is generic: log the cause before answering this.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            UNAVAILABLE.into(),
            None,
        )
    }

    /// 500: stored data could not be read back (a bug or corruption). Generic message.
    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service failed to answer; the cause is in its log".into(),
            None,
        )
    }

    /// A store failure: 422 when the input is at fault ([`StoreError::is_bad_input`]:
    /// refused, invalid or a reused event id, which retrying cannot fix), 409 for a
    /// conflict, 503 otherwise.
    pub fn from_store(error: &StoreError) -> Self {
        if error.is_bad_input() {
            tracing::warn!(%error, "the event store refused the input");
            return Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                format!("the event store refused the input: {}", store_reason(error)),
                None,
            );
        }
        if error.as_conflict().is_some() {
            return Self::new(StatusCode::CONFLICT, "conflict", error.to_string(), None);
        }
        tracing::error!(%error, "event store failed");
        Self::unavailable()
    }

    /// A failure to load an order.
    pub fn from_load(error: LoadError) -> Self {
        match error {
            LoadError::Store(e) => Self::from_store(&e),
            LoadError::Decode(e) => {
                tracing::error!(error = %e, "a stored order does not decode");
                Self::internal()
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// What the client may read of a refusal: the reason, never a driver's error text.
fn store_reason(error: &StoreError) -> String {
    match error {
        StoreError::InvalidInput { reason, .. } => reason.clone(),
        StoreError::Refused { code, .. } => format!("refused with code {code}"),
        StoreError::DuplicateEventId { event_id, .. } => {
            format!("event id {event_id} is already stored")
        }
        _ => "refused".into(),
    }
}

/// A field outside the order's limits: 422 naming it, whether the HTTP edge or the
/// aggregate found it.
impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("{}: {}", error.field, error.reason),
            Some(error.field),
        )
    }
}

impl From<CommandError<OrderError>> for ApiError {
    fn from(error: CommandError<OrderError>) -> Self {
        if let Some((code, message)) = Repository::<Order, dyn EventStore>::refusal_of(&error) {
            let field = match &error {
                CommandError::Rejected(OrderError::Invalid(field)) => Some(field.field.clone()),
                _ => None,
            };
            return ApiError::refusal(&code, message, field);
        }
        match error {
            CommandError::CommandIdReused {
                recorded_stream, ..
            } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("this Idempotency-Key was used for a command on `{recorded_stream}`: a key names one command"),
                Some(HEADER_NAME.into()),
            ),
            e @ (CommandError::Rejected(_) | CommandError::AlreadyRefused(_)) => {
                tracing::error!(error = %e, "a refusal without a code");
                Self::internal()
            }
            CommandError::Store(e) => Self::from_store(&e),
            e @ CommandError::TooManyConflicts { .. } => {
                tracing::warn!(error = %e, "command gave up on contention");
                Self::unavailable()
            }
            e @ (CommandError::Encode { .. } | CommandError::Decode(_)) => {
                tracing::error!(error = %e, "command failed encoding or decoding events");
                Self::internal()
            }
        }
    }
}

/// A malformed `Idempotency-Key`: 400 naming the header.
impl From<InvalidIdempotencyKey> for ApiError {
    fn from(error: InvalidIdempotencyKey) -> Self {
        ApiError::invalid(HEADER_NAME, error.to_string())
    }
}

/// A malformed `min_position` (or `X-Min-Position`): 400 naming it.
impl From<InvalidMinPosition> for ApiError {
    fn from(error: InvalidMinPosition) -> Self {
        ApiError::invalid(error.parameter, error.to_string())
    }
}

/// The read model did not reach the query's `min_position` in time: service-kit's 503
/// with `Retry-After`.
impl From<NotCaughtUpResponse> for ApiError {
    fn from(behind: NotCaughtUpResponse) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_caught_up",
            behind.to_string(),
            None,
        );
        error.not_caught_up = Some(Box::new(behind));
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.not_caught_up {
            Some(behind) => behind.into_response(),
            None => (self.status, Json(self.body)).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_code_answers_a_client_error_like_its_fresh_refusal() {
        let refusals = [
            OrderError::Invalid(FieldError::new("items[0].quantity", "must be 1 to 1000")),
            OrderError::TotalOverflow("o1".into()),
            OrderError::AlreadyPlaced("o1".into()),
            OrderError::NotFound("o1".into()),
            OrderError::AlreadyPaid("o1".into()),
            OrderError::InvalidStatus {
                order_id: "o1".into(),
                status: crate::domain::OrderStatus::Cancelled,
                action: "pay",
            },
        ];
        let codes: Vec<&str> = refusals.iter().map(OrderError::code).collect();
        assert_eq!(codes, OrderError::CODES);
        for refusal in refusals {
            let code = refusal.code();
            let message = refusal.to_string();
            let fresh = ApiError::from(CommandError::Rejected(refusal));
            let recorded = ApiError::from(CommandError::<OrderError>::AlreadyRefused(
                cqrs_core::RecordedRefusal::new(
                    uuid::Uuid::now_v7(),
                    "Order-o1",
                    1,
                    code,
                    &message,
                ),
            ));
            assert!(fresh.status().is_client_error(), "{code}");
            assert_eq!(fresh.status(), recorded.status(), "{code}");
            assert_eq!(fresh.body.error, recorded.body.error, "{code}");
            assert_eq!(fresh.body.message, recorded.body.message, "{code}");
            assert_eq!(fresh.body.code.as_deref(), Some(code));
            assert_eq!(recorded.body.code.as_deref(), Some(code));
        }
    }
}
