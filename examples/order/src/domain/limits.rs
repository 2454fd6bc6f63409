//! Bounds on every field of an order, in one place: the aggregate enforces them on every
//! command (whatever sends it) and the HTTP edges check them first to name the field.
//!
//! The bounds keep the largest valid `OrderPlaced` event far below what the outbox relay can
//! publish (see `services::store_limits`, tested), keep every total inside `u64`
//! with room to spare (`MAX_LINES * MAX_QUANTITY * MAX_UNIT_PRICE` is 10^13), and keep every
//! text a PostgreSQL b-tree key can index.

/// Most lines in one order.
pub const MAX_LINES: usize = 100;
/// Most units of one line.
pub const MAX_QUANTITY: u32 = 1000;
/// Highest unit price, in minor units (1,000,000.00).
pub const MAX_UNIT_PRICE: u64 = 100_000_000;
/// Longest order or customer id, in characters. The order id becomes the stream id
/// `Order-{id}`: 126 characters of up to 4 bytes of UTF-8 each, plus the prefix, stay within
/// the store's 512-byte stream id limit, so the store never refuses a valid id.
pub const MAX_ID_LEN: usize = 126;
/// Longest sku, in characters.
pub const MAX_SKU_LEN: usize = 64;
/// Longest line label, in characters.
pub const MAX_LABEL_LEN: usize = 200;
/// Longest cancellation reason, in characters.
pub const MAX_REASON_LEN: usize = 500;

/// A field that breaks a limit: its path (`items[2].unit_price`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the field in the command or request body, e.g. `items[2].label`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// `field` is wrong because of `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks a text field: 1 to `max` characters, not only whitespace, and no control
/// characters (NUL, newlines, escapes: PostgreSQL refuses NUL in text, and none belongs
/// in an id, a sku, a label or a reason).
///
/// ```
/// use order::domain::check_text;
/// assert!(check_text("items[0].sku", "pen", 64).is_ok());
/// let refused = check_text("items[0].sku", "a\u{0}b", 64).unwrap_err();
/// assert_eq!(refused.field, "items[0].sku");
/// assert!(check_text("reason", &"x".repeat(501), 500).is_err());
/// ```
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::new(
            field,
            "must not be empty or only whitespace",
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters (NUL, newline, tab, ...)",
        ));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters, got {chars}"),
        ));
    }
    Ok(())
}

/// Checks an order or customer id ([`MAX_ID_LEN`], printable).
pub fn check_id(field: &str, id: &str) -> Result<(), FieldError> {
    check_text(field, id, MAX_ID_LEN)
}

/// Checks a cancellation reason ([`MAX_REASON_LEN`], printable).
pub fn check_reason(reason: &str) -> Result<(), FieldError> {
    check_text("reason", reason, MAX_REASON_LEN)
}

/// Checks the lines of an order: 1 to [`MAX_LINES`] of them, each with a sku, a label, a
/// unit price of 1 to [`MAX_UNIT_PRICE`] and a quantity of 1 to [`MAX_QUANTITY`]. The error
/// names the first offending field, e.g. `items[2].unit_price`.
pub fn check_lines(lines: &[super::OrderLine]) -> Result<(), FieldError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(FieldError::new(
            "items",
            format!("must have 1 to {MAX_LINES} lines, got {}", lines.len()),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        check_text(&format!("items[{i}].sku"), &line.sku, MAX_SKU_LEN)?;
        check_text(&format!("items[{i}].label"), &line.label, MAX_LABEL_LEN)?;
        if line.unit_price.0 == 0 || line.unit_price.0 > MAX_UNIT_PRICE {
            return Err(FieldError::new(
                format!("items[{i}].unit_price"),
                format!(
                    "must be 1 to {MAX_UNIT_PRICE} minor units, got {}",
                    line.unit_price.0
                ),
            ));
        }
        if line.quantity == 0 || line.quantity > MAX_QUANTITY {
            return Err(FieldError::new(
                format!("items[{i}].quantity"),
                format!("must be 1 to {MAX_QUANTITY}, got {}", line.quantity),
            ));
        }
    }
    Ok(())
}

/// Checks a whole `PlaceOrder`: both ids and every line.
pub fn check_place(
    order_id: &str,
    customer_id: &str,
    lines: &[super::OrderLine],
) -> Result<(), FieldError> {
    check_id("order_id", order_id)?;
    check_id("customer_id", customer_id)?;
    check_lines(lines)
}
