//! How failures become HTTP responses: 400 naming the field, 404, 503 for infrastructure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::device::Rejection;
use crate::ingest::IngestError;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_input`, `not_found`, `unavailable`, or for a
    /// rejected device message the rejection code (`out_of_range`, `missing_field`, ...).
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field or query parameter, when one is to blame.
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
    /// 400: a query parameter or the body is malformed; `field` names it.
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

    /// 404: no such route or resource.
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

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    /// 503: the store is unavailable; the client may retry.
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "store unavailable");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: ErrorBody {
                error: "unavailable",
                message: error.to_string(),
                field: None,
            },
        }
    }
}

impl From<Rejection> for ApiError {
    /// 400 with the rejection code and the offending field of the device message.
    fn from(rejection: Rejection) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                error: rejection.reason.code(),
                message: rejection.to_string(),
                field: rejection.field,
            },
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Rejected(rejection) => rejection.into(),
            IngestError::Store(error) => error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
