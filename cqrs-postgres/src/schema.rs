//! The PostgreSQL schema that holds one store's tables, and SQL rendered for it.

use std::fmt;

/// A validated PostgreSQL schema name: `^[a-z_][a-z0-9_]{0,62}$`.
///
/// The rule keeps the name a plain lower-case identifier, so it can be quoted into SQL
/// without escaping and never collides with a reserved word once quoted. Two stores with
/// different schema names in one database are fully independent (tables, positions,
/// checkpoints, wake-up channel).
///
/// ```
/// use cqrs_postgres::SchemaName;
/// assert!(SchemaName::new("orders_service").is_ok());
/// assert!(SchemaName::new("Orders").is_err());
/// assert!(SchemaName::new("x; DROP TABLE y").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

/// A schema name that does not match `^[a-z_][a-z0-9_]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema name `{0}`: it must match ^[a-z_][a-z0-9_]{{0,62}}$")]
pub struct InvalidSchemaName(pub String);

impl SchemaName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidSchemaName> {
        let name = name.into();
        let mut bytes = name.bytes();
        let first_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'_'));
        let rest_ok = bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'));
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(Self(name))
        } else {
            Err(InvalidSchemaName(name))
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier (`"name"`). Safe because of the validation.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The LISTEN/NOTIFY channel of this schema's store: `cqrs_events_<schema>`, cut to
    /// PostgreSQL's 63-byte identifier limit. Two long names sharing a 51-byte prefix share a
    /// channel, which only causes spurious wake-ups (readers re-check the log), never
    /// missed events.
    pub fn notify_channel(&self) -> String {
        let mut channel = format!("cqrs_events_{}", self.0);
        channel.truncate(63);
        channel
    }

    /// `template` with every `{schema}` replaced by the quoted schema name.
    ///
    /// ```
    /// let schema = cqrs_postgres::SchemaName::new("views").unwrap();
    /// assert_eq!(schema.render("SELECT * FROM {schema}.t"), "SELECT * FROM \"views\".t");
    /// ```
    pub fn render(&self, template: &str) -> String {
        template.replace("{schema}", &self.quoted())
    }
}

impl Default for SchemaName {
    /// `cqrs`.
    fn default() -> Self {
        Self("cqrs".to_owned())
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SchemaName {
    type Err = InvalidSchemaName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_follow_the_identifier_rule() {
        for ok in ["a", "_", "cqrs", "tenant_42", &"a".repeat(63)] {
            assert!(SchemaName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Abc",
            "a-b",
            "a\"b",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(SchemaName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_fits_the_identifier_limit() {
        let long = SchemaName::new("a".repeat(63)).unwrap();
        assert_eq!(long.notify_channel().len(), 63);
        assert_eq!(SchemaName::default().notify_channel(), "cqrs_events_cqrs");
    }

    #[test]
    fn render_quotes_the_schema() {
        let s = SchemaName::new("t1").unwrap();
        assert_eq!(
            s.render("SELECT 1 FROM {schema}.events"),
            "SELECT 1 FROM \"t1\".events"
        );
    }
}
