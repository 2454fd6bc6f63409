//! `#[derive(Event)]` for [cqrs-core](https://docs.rs/cqrs-core): use it through
//! `cqrs_core::Event`, which re-exports it; the documentation lives there.

mod attributes;
mod expand;

use proc_macro::TokenStream;

/// Implements `cqrs_core::Event` for an enum: the stored type names, their schema versions
/// and a payload holding only the variant's fields. See `cqrs_core::Event`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::event(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
