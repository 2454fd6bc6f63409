//! Query-string parameters, each failure naming the parameter.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::span::Span;
use crate::store::TimeRange;

/// The query string of one request, checked against the parameters the route knows.
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string; unknown or repeated parameters are refused.
    pub(super) fn new(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
        for (index, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::invalid(
                    name.clone(),
                    format!(
                        "unknown query parameter `{name}`; this endpoint takes {}",
                        known.join(", ")
                    ),
                ));
            }
            if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::invalid(
                    name.clone(),
                    format!("`{name}` is given more than once"),
                ));
            }
        }
        Ok(Self { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An optional text parameter.
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    /// `limit`: an integer in `1..=max`, `default` when absent.
    pub(super) fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let Some(text) = self.get("limit") else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "limit",
                format!("`{text}` is not an integer in 1..={max}"),
            )),
        }
    }

    /// `from` and `to`: RFC 3339 times (`2022-03-04T15:55:07Z`) or Unix epoch seconds;
    /// `from` must be before `to`.
    pub(super) fn range(&self) -> Result<TimeRange, ApiError> {
        let range = TimeRange {
            from: self.time("from")?,
            to: self.time("to")?,
        };
        if let (Some(from), Some(to)) = (range.from, range.to) {
            if from >= to {
                return Err(ApiError::invalid("to", "`to` must be later than `from`"));
            }
        }
        Ok(range)
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let parsed = match text.parse::<i64>() {
            Ok(seconds) => DateTime::from_timestamp(seconds, 0),
            Err(_) => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        };
        parsed.map(Some).ok_or_else(|| {
            ApiError::invalid(
                name,
                format!("`{text}` is not a time: use RFC 3339 (2022-03-04T15:55:07Z) or Unix epoch seconds"),
            )
        })
    }

    /// A span parameter such as `bucket=30m`, `default` when absent.
    pub(super) fn span(&self, name: &str, default: Span) -> Result<Span, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|e: crate::span::SpanError| ApiError::invalid(name, e.to_string())),
        }
    }
}
