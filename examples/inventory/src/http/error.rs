//! API errors and their HTTP form: a status and a JSON body naming what went wrong.
//!
//! - input that cannot be accepted (malformed JSON, wrong type, missing or out-of-range
//!   field): 400 with `field`;
//! - an unknown product or order: 404;
//! - a domain refusal: 409 (conflicts with the current state) or 422 (a rule on the
//!   values), with the domain error's message;
//!   and input the event store refuses for good (`StoreError::is_bad_input`): 422;
//! - an infrastructure failure (store unavailable, contention that did not resolve): 503,
//!   with a generic message (the driver's text goes to the log at warn level, never to
//!   the client).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::{CommandError, LoadError, StoreError};
use order::domain::OrderError;
use serde_json::json;

use crate::domain::ProductError;
use crate::views::ViewUnavailable;

/// An error answered by the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not a JSON object.
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// A field is missing, of the wrong type or out of range.
    #[error("invalid field `{field}`: {message}")]
    InvalidField {
        /// Path of the field, e.g. `items[2].quantity`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The product or order does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The domain refused the command.
    #[error("{message}")]
    Refused {
        /// 409 or 422.
        status: StatusCode,
        /// Stable machine-readable code, e.g. `insufficient_stock`.
        code: &'static str,
        /// The domain error's message.
        message: String,
        /// The offending field, when the refusal names one (`items[2].unit_price`).
        field: Option<String>,
    },
    /// The store failed or contention did not resolve; retrying later may succeed. The
    /// text is logged, never answered.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read or written (a bug or corruption). The text is logged,
    /// never answered.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    fn refused(status: StatusCode, code: &'static str, error: &impl std::fmt::Display) -> Self {
        ApiError::Refused {
            status,
            code,
            message: error.to_string(),
            field: None,
        }
    }

    /// A store failure: 422 when the input is at fault ([`StoreError::is_bad_input`]), 503
    /// otherwise.
    fn from_store(error: StoreError) -> Self {
        if error.is_bad_input() {
            let reason = match &error {
                StoreError::InvalidInput { reason, .. } => reason.clone(),
                StoreError::Refused { code, .. } => format!("refused with code {code}"),
                StoreError::DuplicateEventId { event_id, .. } => {
                    format!("event id {event_id} is already stored")
                }
                _ => "refused".into(),
            };
            tracing::warn!(%error, "the event store refused the input");
            return ApiError::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "refused_by_store",
                message: format!("the event store refused the input: {reason}"),
                field: None,
            };
        }
        ApiError::Unavailable(error.to_string())
    }

    fn from_command<E: std::error::Error + 'static>(
        error: CommandError<E>,
        refusal: impl FnOnce(E) -> ApiError,
    ) -> Self {
        match error {
            CommandError::Rejected(e) => refusal(e),
            CommandError::Store(e) => ApiError::from_store(e),
            e @ CommandError::TooManyConflicts { .. } => ApiError::Unavailable(e.to_string()),
            e @ (CommandError::Encode { .. } | CommandError::Decode(_)) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<CommandError<ProductError>> for ApiError {
    fn from(error: CommandError<ProductError>) -> Self {
        const CONFLICT: StatusCode = StatusCode::CONFLICT;
        const RULE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
        ApiError::from_command(error, |e| match &e {
            ProductError::NotRegistered(_) => ApiError::NotFound(e.to_string()),
            ProductError::AlreadyRegistered { .. } => {
                ApiError::refused(CONFLICT, "already_registered", &e)
            }
            ProductError::InsufficientStock { .. } => {
                ApiError::refused(CONFLICT, "insufficient_stock", &e)
            }
            ProductError::ReservationMismatch { .. } => {
                ApiError::refused(CONFLICT, "reservation_mismatch", &e)
            }
            ProductError::NoReservation { .. } => ApiError::refused(CONFLICT, "no_reservation", &e),
            ProductError::TooMuchStock { .. } => ApiError::refused(RULE, "too_much_stock", &e),
            ProductError::InvalidQuantity { .. } => ApiError::refused(RULE, "invalid_quantity", &e),
            ProductError::Invalid { .. } => ApiError::refused(RULE, "invalid_product", &e),
        })
    }
}

impl From<CommandError<OrderError>> for ApiError {
    fn from(error: CommandError<OrderError>) -> Self {
        const CONFLICT: StatusCode = StatusCode::CONFLICT;
        const RULE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
        ApiError::from_command(error, |e| match &e {
            OrderError::NotFound(_) => ApiError::NotFound(e.to_string()),
            OrderError::AlreadyPlaced(_) => ApiError::refused(CONFLICT, "order_exists", &e),
            OrderError::AlreadyPaid(_) => ApiError::refused(CONFLICT, "already_paid", &e),
            OrderError::InvalidStatus { .. } => ApiError::refused(CONFLICT, "invalid_status", &e),
            OrderError::Invalid(field) => ApiError::Refused {
                status: RULE,
                code: "invalid_order",
                message: e.to_string(),
                field: Some(field.field.clone()),
            },
            OrderError::TotalOverflow(_) => ApiError::refused(RULE, "invalid_order", &e),
        })
    }
}

impl From<ViewUnavailable> for ApiError {
    fn from(error: ViewUnavailable) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}

impl From<LoadError> for ApiError {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Store(e) => ApiError::from_store(e),
            LoadError::Decode(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, body) = match &self {
            ApiError::MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "malformed_json", "field": "body", "message": message }),
            ),
            ApiError::InvalidField { field, .. } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_field", "field": field, "message": message }),
            ),
            ApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                json!({ "error": "not_found", "message": message }),
            ),
            ApiError::Refused {
                status,
                code,
                field: Some(field),
                ..
            } => (
                *status,
                json!({ "error": code, "field": field, "message": message }),
            ),
            ApiError::Refused { status, code, .. } => {
                (*status, json!({ "error": code, "message": message }))
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %message, "request failed: unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": "unavailable", "message": "the service cannot answer right now; nothing was applied, retry later" }),
                )
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %message, "request failed: internal");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal", "message": "the service failed to answer; the cause is in its log" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
