//! The classification of driver errors, from scripted facts.
use super::*;
use std::sync::Arc;

fn facts(kind: FactKind, code: Option<i32>, labels: &[&str]) -> ErrorFacts {
    ErrorFacts {
        kind,
        code,
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

#[test]
fn duplicate_key_codes_are_recognised_before_labels() {
    for code in [11000, 11001, 12582] {
        let f = facts(FactKind::Write, Some(code), &[TRANSIENT_TRANSACTION_ERROR]);
        assert_eq!(classify(&f), ErrorClass::DuplicateKey);
    }
}

#[test]
fn write_conflicts_and_aborted_transactions_are_serialization_failures() {
    assert_eq!(
        classify(&facts(FactKind::Command, Some(112), &[])),
        ErrorClass::Serialization
    );
    assert_eq!(
        classify(&facts(FactKind::Command, Some(251), &[])),
        ErrorClass::Serialization
    );
    assert_eq!(
        classify(&facts(
            FactKind::Command,
            Some(999_999),
            &[TRANSIENT_TRANSACTION_ERROR]
        )),
        ErrorClass::Serialization
    );
}

#[test]
fn network_and_primary_changes_are_unavailable() {
    assert_eq!(
        classify(&facts(
            FactKind::Io { timed_out: false },
            None,
            &[TRANSIENT_TRANSACTION_ERROR]
        )),
        ErrorClass::Unavailable
    );
    assert_eq!(
        classify(&facts(FactKind::ServerSelection, None, &[])),
        ErrorClass::Unavailable
    );
    assert_eq!(
        classify(&facts(FactKind::ConnectionLost, None, &[])),
        ErrorClass::Unavailable
    );
    assert_eq!(
        classify(&facts(FactKind::Command, Some(10107), &[])),
        ErrorClass::Unavailable
    );
    assert_eq!(
        classify(&facts(FactKind::Command, Some(189), &[])),
        ErrorClass::Unavailable
    );
    assert_eq!(
        classify(&facts(FactKind::Command, Some(1), &[RETRYABLE_WRITE_ERROR])),
        ErrorClass::Unavailable
    );
}

#[test]
fn timeouts_are_timeouts() {
    assert_eq!(
        classify(&facts(FactKind::Io { timed_out: true }, None, &[])),
        ErrorClass::Timeout
    );
    assert_eq!(
        classify(&facts(FactKind::Command, Some(50), &[])),
        ErrorClass::Timeout
    );
    assert_eq!(
        classify(&facts(FactKind::Write, Some(64), &[])),
        ErrorClass::Timeout
    );
}

#[test]
fn data_the_server_refuses_for_good_is_refused_and_permanent() {
    // BadValue, DocumentValidationFailure, BSONObjectTooLarge, KeyTooLong, and the rest.
    for code in codes::REFUSED {
        for kind in [FactKind::Write, FactKind::Command] {
            assert_eq!(
                classify(&facts(kind, Some(code), &[])),
                ErrorClass::Refused(code)
            );
        }
        let error = from_class("append", ErrorClass::Refused(code), "refused".into());
        assert!(
            matches!(&error, StoreError::Refused { operation: "append", code: c, .. } if *c == code.to_string()),
            "{error:?}"
        );
        assert_eq!(error.kind(), cqrs_core::FailureKind::Permanent);
        assert!(error.is_bad_input());
    }
}

#[test]
fn retryable_labels_keep_a_refusing_code_transient() {
    for label in [RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR] {
        let class = classify(&facts(FactKind::Write, Some(2), &[label]));
        assert_ne!(class, ErrorClass::Refused(2), "{label}");
        let error = from_class("append", class, "retry".into());
        assert_eq!(error.kind(), cqrs_core::FailureKind::Transient, "{label}");
    }
}

#[test]
fn a_duplicate_key_no_guard_resolved_is_refused() {
    let error = from_class("append", ErrorClass::DuplicateKey, "E11000".into());
    assert!(
        matches!(&error, StoreError::Refused { code, .. } if code == "11000"),
        "{error:?}"
    );
    assert_eq!(error.kind(), cqrs_core::FailureKind::Permanent);
}

#[test]
fn other_errors_stay_backend_errors() {
    assert_eq!(
        classify(&facts(FactKind::Command, Some(13), &[])),
        ErrorClass::Other
    ); // Unauthorized
    assert_eq!(
        classify(&facts(FactKind::Other, None, &[])),
        ErrorClass::Other
    );
    let unknown = from_class("append", ErrorClass::Other, "unknown".into());
    assert_eq!(unknown.kind(), cqrs_core::FailureKind::Transient);
}

#[test]
fn facts_are_extracted_from_driver_errors() {
    let io = DriverError::from(ErrorKind::Io(Arc::new(std::io::Error::from(
        std::io::ErrorKind::TimedOut,
    ))));
    assert_eq!(ErrorFacts::of(&io).kind, FactKind::Io { timed_out: true });
    assert!(matches!(
        store_error("append", io),
        StoreError::Timeout {
            operation: "append"
        }
    ));

    let refused = DriverError::from(ErrorKind::Io(Arc::new(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    ))));
    assert!(matches!(
        store_error("read_all", refused),
        StoreError::Unavailable {
            operation: "read_all",
            ..
        }
    ));

    // Server replies deserialize into the driver's public error types.
    let command: mongodb::error::CommandError = bson::from_document(
        bson::doc! { "code": 112, "codeName": "WriteConflict", "errmsg": "conflict" },
    )
    .unwrap();
    let conflict = DriverError::from(ErrorKind::Command(command));
    assert_eq!(ErrorFacts::of(&conflict).code, Some(112));
    assert!(matches!(
        store_error("append", conflict),
        StoreError::Serialization { .. }
    ));

    let write: mongodb::error::WriteError =
        bson::from_document(bson::doc! { "code": 11000, "errmsg": "E11000 duplicate key" })
            .unwrap();
    let duplicate = DriverError::from(ErrorKind::Write(WriteFailure::WriteError(write)));
    assert_eq!(
        classify(&ErrorFacts::of(&duplicate)),
        ErrorClass::DuplicateKey
    );

    let insert: mongodb::error::InsertManyError = bson::from_document(bson::doc! {
        "writeErrors": [{ "index": 3, "code": 11000, "errmsg": "E11000 duplicate key" }],
    })
    .unwrap();
    let insert = DriverError::from(ErrorKind::InsertMany(insert));
    assert_eq!(ErrorFacts::of(&insert).code, Some(11000));
    assert_eq!(classify(&ErrorFacts::of(&insert)), ErrorClass::DuplicateKey);

    // A server reply refusing a too large document maps to a permanent refusal.
    let too_large: mongodb::error::WriteError = bson::from_document(
        bson::doc! { "code": 10334, "codeName": "BSONObjectTooLarge", "errmsg": "object to insert too large" },
    )
    .unwrap();
    let too_large = DriverError::from(ErrorKind::Write(WriteFailure::WriteError(too_large)));
    assert!(matches!(
        store_error("append", too_large),
        StoreError::Refused { code, .. } if code == "10334"
    ));
    let invalid: mongodb::error::CommandError = bson::from_document(
        bson::doc! { "code": 121, "codeName": "DocumentValidationFailure", "errmsg": "Document failed validation" },
    )
    .unwrap();
    let invalid = DriverError::from(ErrorKind::Command(invalid));
    assert!(matches!(
        store_error("save_checkpoint", invalid),
        StoreError::Refused { code, .. } if code == "121"
    ));

    let shutdown = DriverError::from(ErrorKind::Shutdown);
    assert!(matches!(
        store_error("head_position", shutdown),
        StoreError::Unavailable { .. }
    ));
}
