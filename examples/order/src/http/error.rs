//! How failures become HTTP responses: 4xx naming the field, 409/422 for refusals, 503 for
//! infrastructure (with a generic message: the driver's text goes to the log, not to the
//! client).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::{CommandError, LoadError, StoreError};
use serde::Serialize;

use crate::domain::{FieldError, OrderError};

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_input`, `not_found`, `refused`, `unavailable`,
    /// `internal`.
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, for invalid input (`items[2].unit_price`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error returned by a handler.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
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
            },
        }
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
        match error {
            CommandError::Rejected(OrderError::NotFound(id)) => {
                ApiError::not_found(format!("order {id} does not exist"))
            }
            CommandError::Rejected(OrderError::Invalid(field)) => field.into(),
            CommandError::Rejected(e @ OrderError::TotalOverflow(_)) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                e.to_string(),
                None,
            ),
            CommandError::Rejected(e) => {
                Self::new(StatusCode::CONFLICT, "refused", e.to_string(), None)
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
