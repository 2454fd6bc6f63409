//! Bounds on quantities and identifiers, shared by the aggregates and the HTTP edge. Orders
//! are the order example's: their limits are in `order::domain::limits`.

/// Most units one `ReceiveStock` may add.
pub const MAX_RECEIPT: u64 = 1_000_000;
/// Most units a product may hold on hand.
pub const MAX_ON_HAND: u64 = 1_000_000_000;
/// Longest sku, in characters.
pub const MAX_SKU_LEN: usize = 64;
/// Longest product name, in characters.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a sku: 1 to [`MAX_SKU_LEN`] characters out of `A-Z a-z 0-9 _ . -`.
///
/// ```
/// use inventory::domain::validate_sku;
/// assert!(validate_sku("pen-blue.01").is_ok());
/// assert!(validate_sku("").is_err());
/// assert!(validate_sku("has space").is_err());
/// ```
pub fn validate_sku(sku: &str) -> Result<(), String> {
    if sku.is_empty() || sku.chars().count() > MAX_SKU_LEN {
        return Err(format!("must be 1 to {MAX_SKU_LEN} characters"));
    }
    if !sku
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err("may only contain letters, digits, `_`, `.` and `-`".into());
    }
    Ok(())
}

/// Checks a product name: 1 to [`MAX_NAME_LEN`] characters, not only whitespace, no
/// control characters (a NUL would be refused by PostgreSQL's text type).
///
/// ```
/// use inventory::domain::validate_name;
/// assert!(validate_name("Ballpoint pen").is_ok());
/// assert!(validate_name("pen\u{0}").is_err());
/// assert!(validate_name(" ").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), String> {
    order::domain::check_text("name", name, MAX_NAME_LEN).map_err(|error| error.reason)
}
