//! How failures become HTTP responses: 4xx naming the field, 409/422 for refusals, 503 for
//! infrastructure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::CommandError;
use serde::Serialize;

use crate::domain::OrderError;

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_input`, `not_found`, `refused`, `unavailable`.
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error returned by a handler.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// 400: the request is malformed; `field` names what is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                error: "invalid_input",
                message: message.into(),
                field: Some(field.into()),
            },
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: ErrorBody {
                error: "not_found",
                message: message.into(),
                field: None,
            },
        }
    }

    /// 503: the store or the read model is unavailable; nothing was applied.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: ErrorBody {
                error: "unavailable",
                message: message.into(),
                field: None,
            },
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<CommandError<OrderError>> for ApiError {
    fn from(error: CommandError<OrderError>) -> Self {
        let message = error.to_string();
        let status = match &error {
            CommandError::Rejected(OrderError::NotFound(_)) => return ApiError::not_found(message),
            CommandError::Rejected(
                OrderError::LineCount(_)
                | OrderError::Quantity { .. }
                | OrderError::Price { .. }
                | OrderError::EmptyText { .. },
            ) => StatusCode::UNPROCESSABLE_ENTITY,
            CommandError::Rejected(_) => StatusCode::CONFLICT,
            _ => {
                tracing::error!(%error, "command failed on infrastructure");
                return ApiError::unavailable(message);
            }
        };
        Self {
            status,
            body: ErrorBody {
                error: "refused",
                message,
                field: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
