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
//!   the client);
//! - a malformed `Idempotency-Key` header or `min_position`: 400 `invalid_field` naming it;
//!   an `Idempotency-Key` used for a command on another aggregate: 422
//!   `idempotency_key_reused`; a read model behind a query's `min_position`: service-kit's
//!   503 `not_caught_up` with `Retry-After`.
//!
//! A domain refusal is answered by its code (`ProductError::code`, `OrderError::code`) and
//! message alone, so a refusal recorded by an earlier execution of the same
//! `Idempotency-Key` (`CommandError::AlreadyRefused`) gets the same status and body as the
//! first answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::{Aggregate, CommandError, EventStore, LoadError, Repository, StoreError};
use order::domain::{Order, OrderError};
use serde_json::json;
use service_kit::idempotency::{InvalidIdempotencyKey, HEADER_NAME};
use service_kit::read_your_writes::{InvalidMinPosition, NotCaughtUpResponse};

use crate::domain::{Product, ProductError};
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
        code: String,
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
    /// The query's read model did not reach its `min_position` in time.
    #[error("{0}")]
    NotCaughtUp(Box<NotCaughtUpResponse>),
}

impl ApiError {
    /// An invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A refusal with this `status`, `code` and `message`.
    fn refused(status: StatusCode, code: &str, message: String, field: Option<String>) -> Self {
        ApiError::Refused {
            status,
            code: code.to_owned(),
            message,
            field,
        }
    }

    /// A product refusal, by its code ([`ProductError::code`]): `not_found` 404; a rule on
    /// the values (`invalid_quantity`, `too_much_stock`, `invalid_product`) 422; the others
    /// (conflicts with the current state) 409.
    pub fn product_refusal(code: &str, message: String) -> Self {
        match code {
            "not_found" => ApiError::NotFound(message),
            "invalid_quantity" | "too_much_stock" | "invalid_product" => {
                ApiError::refused(StatusCode::UNPROCESSABLE_ENTITY, code, message, None)
            }
            _ => ApiError::refused(StatusCode::CONFLICT, code, message, None),
        }
    }

    /// An order refusal, by its code (`OrderError::code`): `not_found` 404;
    /// `invalid_order` and `total_overflow` 422 `invalid_order` (with `field` when the
    /// refusal names one: only a fresh refusal does); the others 409 under their code.
    pub fn order_refusal(code: &str, message: String, field: Option<String>) -> Self {
        match code {
            "not_found" => ApiError::NotFound(message),
            "invalid_order" | "total_overflow" => ApiError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_order",
                message,
                field,
            ),
            _ => ApiError::refused(StatusCode::CONFLICT, code, message, None),
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
            return ApiError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused_by_store",
                format!("the event store refused the input: {reason}"),
                None,
            );
        }
        ApiError::Unavailable(error.to_string())
    }

    /// A failed command of aggregate `A`: a refusal, fresh or recorded, by its code
    /// (`refusal(code, message, field of a fresh refusal)`); the rest by kind.
    fn from_command<A: Aggregate>(
        error: CommandError<A::Error>,
        refusal: impl FnOnce(&str, String, Option<String>) -> ApiError,
        field: impl FnOnce(&A::Error) -> Option<String>,
    ) -> Self {
        if let Some((code, message)) = Repository::<A, dyn EventStore>::refusal_of(&error) {
            let field = error.rejection().and_then(field);
            return refusal(&code, message, field);
        }
        match error {
            CommandError::CommandIdReused {
                recorded_stream, ..
            } => ApiError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("this Idempotency-Key was used for a command on `{recorded_stream}`: a key names one command"),
                Some(HEADER_NAME.into()),
            ),
            e @ (CommandError::Rejected(_) | CommandError::AlreadyRefused(_)) => {
                ApiError::Internal(format!("a refusal without a code: {e}"))
            }
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
        ApiError::from_command::<Product>(
            error,
            |code, message, _| ApiError::product_refusal(code, message),
            |_| None,
        )
    }
}

impl From<CommandError<OrderError>> for ApiError {
    fn from(error: CommandError<OrderError>) -> Self {
        ApiError::from_command::<Order>(error, ApiError::order_refusal, |e| match e {
            OrderError::Invalid(field) => Some(field.field.clone()),
            _ => None,
        })
    }
}

/// A malformed `Idempotency-Key`: 400 naming the header.
impl From<InvalidIdempotencyKey> for ApiError {
    fn from(error: InvalidIdempotencyKey) -> Self {
        ApiError::field(HEADER_NAME, error.to_string())
    }
}

/// A malformed `min_position` (or `X-Min-Position`): 400 naming it.
impl From<InvalidMinPosition> for ApiError {
    fn from(error: InvalidMinPosition) -> Self {
        ApiError::field(error.parameter, error.to_string())
    }
}

impl From<NotCaughtUpResponse> for ApiError {
    fn from(behind: NotCaughtUpResponse) -> Self {
        ApiError::NotCaughtUp(Box::new(behind))
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
        if let ApiError::NotCaughtUp(behind) = self {
            return behind.into_response();
        }
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
            ApiError::Internal(_) | ApiError::NotCaughtUp(_) => {
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
