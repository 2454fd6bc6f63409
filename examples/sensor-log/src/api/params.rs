//! Query-string parameters, each failure naming the parameter.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::span::Span;
use crate::store::{TimeRange, EARLIEST_QUERY_SECONDS, LATEST_QUERY_SECONDS};

/// Longest part of a client's text echoed back in an error message, in characters.
const MAX_ECHOED_CHARS: usize = 64;

/// `text` as echoed in an error message: at most [`MAX_ECHOED_CHARS`] characters, control
/// characters escaped, so an error answer stays small and printable whatever was sent.
pub(super) fn shown(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(MAX_ECHOED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX_ECHOED_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

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
                    shown(name),
                    format!(
                        "unknown query parameter `{}`; this endpoint takes {}",
                        shown(name),
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
                format!("`{}` is not an integer in 1..={max}", shown(text)),
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
        match parsed {
            Some(time) if TimeRange::queryable(time) => Ok(Some(time)),
            Some(_) => Err(ApiError::invalid(
                name,
                format!(
                    "`{}` is outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z \
                     (Unix seconds {EARLIEST_QUERY_SECONDS}..={LATEST_QUERY_SECONDS})",
                    shown(text)
                ),
            )),
            None => Err(ApiError::invalid(
                name,
                format!(
                    "`{}` is not a time: use RFC 3339 (2022-03-04T15:55:07Z) or Unix epoch seconds",
                    shown(text)
                ),
            )),
        }
    }

    /// A span parameter such as `bucket=30m`, `default` when absent.
    pub(super) fn span(&self, name: &str, default: Span) -> Result<Span, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                let echoed = crate::span::SpanError { text: shown(text) };
                ApiError::invalid(name, echoed.to_string())
            }),
        }
    }
}
