//! The generated `impl cqrs_core::Event`.
//!
//! Payload shape: a variant with named fields stores them as a JSON object (`{"member":
//! "m0"}`), a newtype variant stores its inner value, a unit variant stores `{}`. The
//! variant's name is not in the payload: it is the stored event type.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Variant};

use crate::attributes::VariantAttributes;

pub(crate) fn event(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Event)] takes an enum: one variant per event type",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Event)] does not take generic enums",
        ));
    }
    if data.variants.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "an event enum needs a variant",
        ));
    }
    let variants = data
        .variants
        .iter()
        .map(|v| Ok((v, VariantAttributes::parse(v)?)))
        .collect::<syn::Result<Vec<_>>>()?;
    check_unique_names(&variants)?;

    let ty = &input.ident;
    let all_names = variants
        .iter()
        .flat_map(|(_, a)| std::iter::once(&a.name).chain(&a.aliases));
    let type_arms = variants.iter().map(|(v, a)| {
        let (pattern, name) = (wildcard(ty, v), &a.name);
        quote!(#pattern => #name)
    });
    let version_arms = variants.iter().map(|(v, a)| {
        let (pattern, version) = (wildcard(ty, v), a.version);
        quote!(#pattern => #version)
    });
    let encode_arms = variants
        .iter()
        .map(|(v, _)| encode_arm(ty, v))
        .collect::<syn::Result<Vec<_>>>()?;
    let decode_arms = variants
        .iter()
        .map(|(v, a)| decode_arm(ty, v, a))
        .collect::<syn::Result<Vec<_>>>()?;

    Ok(quote! {
        impl ::cqrs_core::Event for #ty {
            const EVENT_TYPES: &'static [&'static str] = &[#(#all_names),*];

            fn event_type(&self) -> &'static str {
                match self { #(#type_arms,)* }
            }

            fn event_version(&self) -> u32 {
                match self { #(#version_arms,)* }
            }

            fn encode_payload<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: ::cqrs_core::__private::serde::Serializer,
            {
                use ::cqrs_core::__private::serde::ser::{Serialize as _, SerializeMap as _};
                match self { #(#encode_arms)* }
            }

            fn decode_payload<'de, D>(event_type: &str, deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: ::cqrs_core::__private::serde::Deserializer<'de>,
            {
                use ::cqrs_core::__private::serde::de::{Deserialize as _, Error as _};
                match event_type {
                    #(#decode_arms)*
                    other => ::core::result::Result::Err(D::Error::custom(::core::format_args!(
                        "`{}` is not an event type of {}", other, ::core::stringify!(#ty)
                    ))),
                }
            }
        }
    })
}

fn check_unique_names(variants: &[(&Variant, VariantAttributes)]) -> syn::Result<()> {
    let mut seen = BTreeMap::new();
    for (variant, attributes) in variants {
        for name in std::iter::once(&attributes.name).chain(&attributes.aliases) {
            if let Some(first) = seen.insert(name.clone(), &variant.ident) {
                return Err(syn::Error::new_spanned(
                    variant,
                    format!("event type name `{name}` is already used by `{first}`"),
                ));
            }
        }
    }
    Ok(())
}

fn wildcard(ty: &syn::Ident, variant: &Variant) -> TokenStream {
    let name = &variant.ident;
    match &variant.fields {
        Fields::Named(_) => quote!(#ty::#name { .. }),
        Fields::Unnamed(_) => quote!(#ty::#name(..)),
        Fields::Unit => quote!(#ty::#name),
    }
}

/// The serde attributes of a field, carried over to the generated payload struct.
fn serde_attributes(field: &syn::Field) -> impl Iterator<Item = &syn::Attribute> {
    field.attrs.iter().filter(|a| a.path().is_ident("serde"))
}

fn newtype_only(variant: &Variant, fields: &syn::FieldsUnnamed) -> syn::Result<()> {
    if fields.unnamed.len() == 1 {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        variant,
        "an event variant has named fields, one unnamed field (a newtype) or none",
    ))
}

fn encode_arm(ty: &syn::Ident, variant: &Variant) -> syn::Result<TokenStream> {
    let name = &variant.ident;
    Ok(match &variant.fields {
        Fields::Named(fields) => {
            let idents: Vec<_> = fields.named.iter().map(|f| f.ident.as_ref()).collect();
            let decls = fields.named.iter().map(|f| {
                let (ident, field_ty, attrs) = (&f.ident, &f.ty, serde_attributes(f));
                quote!(#(#attrs)* #ident: &'__payload #field_ty)
            });
            quote! {
                #ty::#name { #(#idents),* } => {
                    #[derive(::cqrs_core::__private::serde::Serialize)]
                    #[serde(crate = "::cqrs_core::__private::serde")]
                    struct Payload<'__payload> { #(#decls),* }
                    Payload { #(#idents),* }.serialize(serializer)
                }
            }
        }
        Fields::Unnamed(fields) => {
            newtype_only(variant, fields)?;
            quote!(#ty::#name(inner) => inner.serialize(serializer),)
        }
        Fields::Unit => {
            quote!(#ty::#name => serializer.serialize_map(::core::option::Option::Some(0))?.end(),)
        }
    })
}

fn decode_arm(
    ty: &syn::Ident,
    variant: &Variant,
    attributes: &VariantAttributes,
) -> syn::Result<TokenStream> {
    let name = &variant.ident;
    let stored = std::iter::once(&attributes.name).chain(&attributes.aliases);
    let body = match &variant.fields {
        Fields::Named(fields) => {
            let idents: Vec<_> = fields.named.iter().map(|f| f.ident.as_ref()).collect();
            let decls = fields.named.iter().map(|f| {
                let (ident, field_ty, attrs) = (&f.ident, &f.ty, serde_attributes(f));
                quote!(#(#attrs)* #ident: #field_ty)
            });
            let payload = format_ident!("{}Payload", name);
            quote! {{
                #[derive(::cqrs_core::__private::serde::Deserialize)]
                #[serde(crate = "::cqrs_core::__private::serde")]
                struct #payload { #(#decls),* }
                let #payload { #(#idents),* } = #payload::deserialize(deserializer)?;
                ::core::result::Result::Ok(#ty::#name { #(#idents),* })
            }}
        }
        Fields::Unnamed(fields) => {
            newtype_only(variant, fields)?;
            quote!(::core::result::Result::Ok(#ty::#name(::cqrs_core::__private::serde::Deserialize::deserialize(deserializer)?)))
        }
        Fields::Unit => quote! {{
            ::cqrs_core::__private::serde::de::IgnoredAny::deserialize(deserializer)?;
            ::core::result::Result::Ok(#ty::#name)
        }},
    };
    Ok(quote!(#(#stored)|* => #body,))
}
