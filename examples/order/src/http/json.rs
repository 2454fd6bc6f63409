//! A JSON body extractor whose rejections name the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest accepted request body (the limit [`router`](super::router) sets on every route
/// through `service_kit::harden`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Like `axum::Json`, but a malformed body is a 400 whose JSON error names the field
/// (`items[0].quantity`) and says what is wrong with it.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::invalid(
                "content-type",
                "expected `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(format!(
                    "the request body is larger than {MAX_BODY_BYTES} bytes"
                ))
            } else {
                ApiError::invalid("body", format!("cannot read the body: {e}"))
            }
        })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::too_large(format!(
                "the request body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(ValidJson(value)),
            Err(error) => {
                let path = error.path().to_string();
                let field = if path == "." { "body".to_owned() } else { path };
                Err(ApiError::invalid(field, error.into_inner().to_string()))
            }
        }
    }
}
