//! The `#[event(...)]` attributes of one variant.

use syn::{Attribute, LitInt, LitStr, Variant};

/// What `#[event(...)]` says about a variant.
pub(crate) struct VariantAttributes {
    /// The stored type name: `rename = "..."`, or the variant's name.
    pub(crate) name: String,
    /// Older stored names that still decode into this variant: `alias = "..."` (repeatable).
    pub(crate) aliases: Vec<String>,
    /// The payload's schema version: `version = N`, default 1.
    pub(crate) version: u32,
}

impl VariantAttributes {
    pub(crate) fn parse(variant: &Variant) -> syn::Result<Self> {
        let mut parsed = Self {
            name: variant.ident.to_string(),
            aliases: Vec::new(),
            version: 1,
        };
        for attribute in variant.attrs.iter().filter(|a| a.path().is_ident("event")) {
            parsed.read(attribute)?;
        }
        Ok(parsed)
    }

    fn read(&mut self, attribute: &Attribute) -> syn::Result<()> {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                self.name = non_empty(meta.value()?.parse::<LitStr>()?)?;
            } else if meta.path.is_ident("alias") {
                self.aliases
                    .push(non_empty(meta.value()?.parse::<LitStr>()?)?);
            } else if meta.path.is_ident("version") {
                let version: LitInt = meta.value()?.parse()?;
                self.version = version.base10_parse()?;
                if self.version == 0 {
                    return Err(syn::Error::new_spanned(
                        version,
                        "event versions start at 1",
                    ));
                }
            } else {
                return Err(
                    meta.error("expected `rename = \"...\"`, `alias = \"...\"` or `version = N`")
                );
            }
            Ok(())
        })
    }
}

fn non_empty(name: LitStr) -> syn::Result<String> {
    let value = name.value();
    if value.is_empty() || value.contains('\0') {
        return Err(syn::Error::new_spanned(
            name,
            "an event type name must be non-empty text without NUL",
        ));
    }
    Ok(value)
}
