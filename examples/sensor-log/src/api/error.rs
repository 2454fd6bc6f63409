//! How failures become HTTP responses: 400 naming the field, 404, 422 for data the
//! database refuses for good, 503 for an unavailable database, 500 for the rest.
//!
//! 5xx bodies never carry the driver's error text (it can name tables, hosts, users):
//! they say what happened in general terms, and the details are logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::FailureKind;
use serde::Serialize;

use crate::device::Rejection;
use crate::ingest::IngestError;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_input`, `not_found`, `refused`, `unavailable`,
    /// `internal`, or for a rejected device message the rejection code (`out_of_range`,
    /// `missing_field`, `control_character`, ...).
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
    /// - the data is at fault ([`StoreError::is_bad_input`]: SQLSTATE class 22, 23 or 54):
    ///   422 `refused` with the SQLSTATE; sending it again fails again;
    /// - transient ([`StoreError::kind`]): 503 `unavailable`, the client may retry;
    /// - any other permanent failure (a missing table, a permission): 500 `internal`.
    ///
    /// None of them echoes the driver's text; it is logged instead.
    fn from(error: StoreError) -> Self {
        let (status, code, message) = if error.is_bad_input() {
            tracing::warn!(%error, "the database refused the request's data");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                format!(
                    "the database refused this data for good (SQLSTATE {}); sending it again will fail again",
                    error.code().unwrap_or("unknown")
                ),
            )
        } else if error.kind() == FailureKind::Transient {
            tracing::warn!(%error, "store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; try again later".to_owned(),
            )
        } else {
            tracing::error!(%error, "store failed for good");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the service failed to answer; the details are in its log".to_owned(),
            )
        };
        Self {
            status,
            body: ErrorBody {
                error: code,
                message,
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
