//! The webhook signature, as docs/partner-webhook.md documents it for partners.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use byoc_connector::channel::signature::{sign, verify, verify_at, SignatureError};
use byoc_connector::secret::SecretString;

/// The worked example of the webhook contract in docs/partner-webhook.md; its `v1` was computed with `openssl dgst`.
const DOC_SECRET: &str = "whsec_example";
const DOC_TIMESTAMP: u64 = 1_700_000_000;
const DOC_BODY: &[u8] = br#"{"id":"evt_1","type":"interaction.message"}"#;
const DOC_HEADER: &str =
    "t=1700000000,v1=1181a417502ba2d67bbf22f5226e07123b13fe65245b2df6280a08abb5e3482f";

const TOLERANCE: Duration = Duration::from_secs(300);

fn doc_secret() -> SecretString {
    SecretString::new(DOC_SECRET)
}

fn at(unix_seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_seconds)
}

#[test]
fn signing_the_documented_example_gives_the_documented_header() {
    assert_eq!(sign(&doc_secret(), DOC_TIMESTAMP, DOC_BODY), DOC_HEADER);
}

#[test]
fn the_documented_header_verifies_within_the_tolerance() {
    verify_at(
        &doc_secret(),
        DOC_HEADER,
        DOC_BODY,
        TOLERANCE,
        at(DOC_TIMESTAMP + 299),
    )
    .unwrap();
    verify_at(
        &doc_secret(),
        DOC_HEADER,
        DOC_BODY,
        TOLERANCE,
        at(DOC_TIMESTAMP - 299),
    )
    .unwrap();
}

#[test]
fn a_fresh_signature_verifies_against_the_local_clock() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = sign(&doc_secret(), now, DOC_BODY);
    verify(&doc_secret(), &header, DOC_BODY, TOLERANCE).unwrap();
}

#[test]
fn a_changed_body_or_another_secret_does_not_verify() {
    let now = at(DOC_TIMESTAMP);
    let changed_body = br#"{"id":"evt_2","type":"interaction.message"}"#;
    assert_eq!(
        verify_at(&doc_secret(), DOC_HEADER, changed_body, TOLERANCE, now),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_at(
            &SecretString::new("whsec_other"),
            DOC_HEADER,
            DOC_BODY,
            TOLERANCE,
            now
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_signature_older_than_the_tolerance_is_rejected_as_a_replay() {
    let outcome = verify_at(
        &doc_secret(),
        DOC_HEADER,
        DOC_BODY,
        TOLERANCE,
        at(DOC_TIMESTAMP + 301),
    );
    assert_eq!(
        outcome,
        Err(SignatureError::OutsideTolerance { age_seconds: 301 })
    );
}

#[test]
fn any_matching_v1_verifies_so_secrets_can_rotate() {
    let old_secret_header = sign(&SecretString::new("whsec_old"), DOC_TIMESTAMP, DOC_BODY);
    let old_v1 = old_secret_header.split_once(",v1=").unwrap().1;
    let new_v1 = DOC_HEADER.split_once(",v1=").unwrap().1;
    let both = format!("t={DOC_TIMESTAMP},v1={old_v1},v1={new_v1},v2=future-scheme");
    verify_at(&doc_secret(), &both, DOC_BODY, TOLERANCE, at(DOC_TIMESTAMP)).unwrap();
}

#[test]
fn malformed_headers_are_rejected_without_panicking() {
    for header in [
        "",
        "garbage",
        "v1=1181a417",
        "t=1700000000",
        "t=yesterday,v1=00",
        "t=1,t=2,v1=00",
    ] {
        let outcome = verify_at(
            &doc_secret(),
            header,
            DOC_BODY,
            TOLERANCE,
            at(DOC_TIMESTAMP),
        );
        assert!(
            matches!(outcome, Err(SignatureError::Malformed { .. })),
            "{header:?} gave {outcome:?}"
        );
    }
    let not_hex = "t=1700000000,v1=zz";
    assert_eq!(
        verify_at(
            &doc_secret(),
            not_hex,
            DOC_BODY,
            TOLERANCE,
            at(DOC_TIMESTAMP)
        ),
        Err(SignatureError::Mismatch)
    );
}
