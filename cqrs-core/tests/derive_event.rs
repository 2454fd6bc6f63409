//! `#[derive(Event)]`: names, versions and the fields-only payload, through the stores'
//! encode and decode paths.

use cqrs_core::testing::through_stored_form;
use cqrs_core::{DecodeError, Event, NewEvent, Upcasters};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipment {
    carrier: String,
    parcels: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
enum LibraryEvent {
    Lent {
        member: String,
        #[serde(rename = "due")]
        due_day: u32,
    },
    #[event(rename = "BookReturned", alias = "Returned", version = 3)]
    Returned {
        member: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Shipped(Shipment),
    Lost,
}

#[test]
fn names_versions_and_aliases_come_from_the_variants() {
    assert_eq!(
        LibraryEvent::EVENT_TYPES,
        ["Lent", "BookReturned", "Returned", "Shipped", "Lost"]
    );
    let returned = LibraryEvent::Returned {
        member: "m".into(),
        note: None,
    };
    assert_eq!(
        (returned.event_type(), returned.event_version()),
        ("BookReturned", 3)
    );
    assert_eq!(
        (
            LibraryEvent::Lost.event_type(),
            LibraryEvent::Lost.event_version()
        ),
        ("Lost", 1)
    );
}

#[test]
fn payloads_hold_the_variant_fields_without_a_wrapper() {
    let stored = |event: &LibraryEvent| {
        NewEvent::from_event(event)
            .unwrap()
            .payload
            .to_value()
            .unwrap()
    };
    let lent = LibraryEvent::Lent {
        member: "m0".into(),
        due_day: 14,
    };
    assert_eq!(stored(&lent), json!({"member": "m0", "due": 14}));
    let shipped = LibraryEvent::Shipped(Shipment {
        carrier: "post".into(),
        parcels: 2,
    });
    assert_eq!(stored(&shipped), json!({"carrier": "post", "parcels": 2}));
    assert_eq!(stored(&LibraryEvent::Lost), json!({}));
    let returned = LibraryEvent::Returned {
        member: "m1".into(),
        note: None,
    };
    assert_eq!(stored(&returned), json!({"member": "m1"}));
}

#[test]
fn every_variant_survives_its_stored_form() {
    for event in [
        LibraryEvent::Lent {
            member: "m0".into(),
            due_day: 1,
        },
        LibraryEvent::Returned {
            member: "m0".into(),
            note: Some("wet".into()),
        },
        LibraryEvent::Shipped(Shipment {
            carrier: "c".into(),
            parcels: 1,
        }),
        LibraryEvent::Lost,
    ] {
        assert_eq!(through_stored_form(&event), event);
    }
}

#[test]
fn upcasters_see_the_fields_and_an_alias_still_decodes() {
    // v1 called the member `reader`; v2 renamed it; v3 added the optional note.
    let upcasters = Upcasters::new().register("Returned", 1, |mut v| {
        v["member"] = v["reader"].take();
        Ok(v)
    });
    let decoded: LibraryEvent = upcasters
        .decode_parts("Library-1", 4, "Returned", 1, r#"{"reader":"m7"}"#)
        .unwrap();
    assert_eq!(
        decoded,
        LibraryEvent::Returned {
            member: "m7".into(),
            note: None
        }
    );
}

#[test]
fn a_payload_of_another_shape_is_a_decode_error_naming_the_stream() {
    let error = Upcasters::new()
        .decode_parts::<LibraryEvent>("Library-1", 2, "Lent", 1, r#"{"member": 5}"#)
        .unwrap_err();
    assert!(
        matches!(&error, DecodeError::Deserialize { stream, stream_version: 2, .. } if stream == "Library-1"),
        "{error}"
    );
    let error = Upcasters::new()
        .decode_parts::<LibraryEvent>(
            "Library-1",
            3,
            "Lent",
            1,
            r#"{"member":"m","due":1} trailing"#,
        )
        .unwrap_err();
    assert!(matches!(error, DecodeError::Deserialize { .. }), "{error}");
}

/// A hand-written `Event` whose list misses a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Forgetful {
    Listed,
    Unlisted,
}

impl Event for Forgetful {
    const EVENT_TYPES: &'static [&'static str] = &["Listed"];
    fn event_type(&self) -> &'static str {
        match self {
            Forgetful::Listed => "Listed",
            Forgetful::Unlisted => "Unlisted",
        }
    }
}

#[test]
fn an_event_type_missing_from_the_list_is_refused_before_it_is_stored() {
    assert!(NewEvent::from_event(&Forgetful::Listed).is_ok());
    let error = NewEvent::from_event(&Forgetful::Unlisted).unwrap_err();
    assert!(
        error.to_string().contains("`Unlisted` is not listed"),
        "{error}"
    );
}

#[test]
#[should_panic(expected = "cannot encode")]
fn the_test_kit_fails_on_an_event_that_could_not_be_decoded_once_stored() {
    through_stored_form(&Forgetful::Unlisted);
}
