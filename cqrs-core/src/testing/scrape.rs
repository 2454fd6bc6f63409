//! Reading values out of a Prometheus text exposition (what `GET /metrics` answers), for
//! tests that assert the metrics a run recorded.

/// The value of the sample `name` whose labels include every `(label, value)` of
/// `labels` (in any order; other labels may be there too), summed over every sample that
/// matches. `None` when no sample matches.
///
/// ```
/// use cqrs_core::testing::scraped;
/// let text = "# TYPE cqrs_command_conflicts_total counter\n\
///             cqrs_command_conflicts_total{aggregate=\"Tab\"} 3\n\
///             cqrs_command_conflicts_total{aggregate=\"Order\"} 1\n";
/// assert_eq!(scraped(text, "cqrs_command_conflicts_total", &[("aggregate", "Tab")]), Some(3.0));
/// assert_eq!(scraped(text, "cqrs_command_conflicts_total", &[]), Some(4.0));
/// assert_eq!(scraped(text, "cqrs_command_conflicts_total", &[("aggregate", "Bar")]), None);
/// ```
pub fn scraped(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some((sample, labels_of_sample, value)) = parse_sample(line) else {
            continue;
        };
        if sample != name {
            continue;
        }
        let matches = labels.iter().all(|(key, wanted)| {
            labels_of_sample
                .iter()
                .any(|(k, v)| k == key && v == wanted)
        });
        if matches {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// One sample's name, labels and value.
type Sample<'a> = (&'a str, Vec<(&'a str, String)>, f64);

/// `name{a="x",b="y"} value` → (name, labels, value); comments and blank lines are `None`.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, rest)) = head.split_once('{') else {
        return Some((head, Vec::new(), value));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (at, '"') => break at,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim_start_matches(','), value));
        rest = &after[end + 1..];
    }
    Some((name, labels, value))
}
