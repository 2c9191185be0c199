//! The entry points of the fuzz targets in `fuzz/` and of the test that replays their corpora:
//! one function per untrusted input, each taking arbitrary bytes.
//!
//! Every function must return normally on any input. Bad input is the library's ordinary
//! business (an error value or a `4xx`); a panic, here or in the code under test, is a finding.
//! Besides "no panic", each function checks a contract the input must not be able to break
//! (a decoded event's webhook body is JSON, never harder to parse than its payload; a bad
//! sidecar body gets a `4xx`), and panics when it is broken, so the fuzzer reports it. It owns
//! no parsing of its own and must not know libFuzzer: it calls the same functions the
//! connector runs.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;

use crate::config::Config;
use crate::events::{decode_event, EventContext, FieldNames, OutboundEvent};
use crate::routing::PartnerDecision;

/// The replay id every fuzzed event carries.
const REPLAY_ID: [u8; 8] = [0, 0, 0, 0, 0, 0, 0x30, 0x39];

/// A platform-event schema shaped like Salesforce's: the standard fields, then the
/// event-type and payload fields.
pub(crate) const PLAIN_SCHEMA: &str = r#"{"type":"record","name":"Byoc_Event__e","namespace":"com.sforce.eventbus","fields":[
{"name":"CreatedDate","type":"long"},
{"name":"CreatedById","type":"string"},
{"name":"EventUuid","type":["null","string"],"default":null},
{"name":"EventType__c","type":["null","string"],"default":null},
{"name":"Payload__c","type":["null","string"],"default":null}]}"#;

/// A schema with namespaced event-type and payload fields between fields of every other Avro
/// kind, which the decoder must skip.
pub const RICH_SCHEMA: &str = r#"{"type":"record","name":"Byoc_Event__e","namespace":"com.sforce.eventbus","fields":[
{"name":"CreatedDate","type":"long"},
{"name":"ReplayCounter__c","type":["null","int"],"default":null},
{"name":"Score__c","type":["null","double"],"default":null},
{"name":"Flags__c","type":{"type":"array","items":"boolean"}},
{"name":"CreatedById","type":"string"},
{"name":"EventUuid","type":["null","string"],"default":null},
{"name":"Meta__c","type":{"type":"map","values":"string"}},
{"name":"Nested__c","type":{"type":"record","name":"Nested","fields":[{"name":"inner","type":"string"},{"name":"count","type":"long"}]}},
{"name":"Kind__c","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
{"name":"Blob__c","type":"bytes"},
{"name":"Hash__c","type":{"type":"fixed","name":"Hash","size":4}},
{"name":"byoc__EventType__c","type":["null","string"],"default":null},
{"name":"byoc__Payload__c","type":["null","string"],"default":null},
{"name":"Ratio__c","type":"float"},
{"name":"Trailer__c","type":["null","string"],"default":null}]}"#;

/// The sidecar request bodies `sidecar_body` reaches, in the order of the input's first byte.
pub const SIDECAR_BODIES: [&str; 11] = [
    "messages",
    "conversations",
    "typing",
    "receipts",
    "session",
    "agent-work",
    "routing-result",
    "routing-assign",
    "delivery-failures",
    "consent",
    "conversation-history",
];

/// One fuzz target: a directory name under `fuzz/corpus` and its entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `avro_record`.
    AvroRecord,
    /// `outbound_event`.
    OutboundEvent,
    /// [`channel_data`].
    ChannelData,
    /// [`config_file`].
    ConfigFile,
    /// `sidecar_body`.
    SidecarBody,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 5] = [
        Self::AvroRecord,
        Self::OutboundEvent,
        Self::ChannelData,
        Self::ConfigFile,
        Self::SidecarBody,
    ];

    /// The target's name: its fuzz binary and its corpus directory.
    pub fn name(self) -> &'static str {
        match self {
            Self::AvroRecord => "avro_record",
            Self::OutboundEvent => "outbound_event",
            Self::ChannelData => "channel_data",
            Self::ConfigFile => "config_file",
            Self::SidecarBody => "sidecar_body",
        }
    }

    /// Runs the target's entry point on `input`.
    pub fn run(self, input: &[u8]) {
        match self {
            Self::AvroRecord => avro_record(input),
            Self::OutboundEvent => outbound_event(input),
            Self::ChannelData => channel_data(input),
            Self::ConfigFile => config_file(input),
            Self::SidecarBody => sidecar_body(input),
        }
    }
}

/// Avro bytes → record → event. The first byte picks the schema (even: [`PLAIN_SCHEMA`], odd:
/// [`RICH_SCHEMA`]); the rest is one Avro datum, as a Pub/Sub `ConsumerEvent` carries it.
///
/// # Panics
/// When the decoder panics, or a decoded event's webhook body is not a JSON object, or is
/// harder to parse than its payload: a finding.
pub(crate) fn avro_record(input: &[u8]) {
    // Parsed once: parsing a schema costs more than decoding a datum.
    static SCHEMAS: OnceLock<[serde_avro_fast::Schema; 2]> = OnceLock::new();
    let Some((&selector, datum)) = input.split_first() else {
        return;
    };
    let schemas = SCHEMAS.get_or_init(|| {
        [PLAIN_SCHEMA, RICH_SCHEMA].map(|text| match text.parse() {
            Ok(schema) => schema,
            Err(error) => panic!("the fuzzing schema must parse: {error}"),
        })
    });
    let schema = &schemas[usize::from(selector % 2)];
    let context = EventContext {
        replay_id: &REPLAY_ID,
        producer_event_id: "",
    };
    if let Ok(decoded) = decode_event(datum, schema, &FieldNames::default(), &context) {
        assert_body_as_parseable_as_its_source(
            &decoded.webhook_body(),
            source_text(&decoded.event),
        );
    }
}

/// Payload JSON → `OutboundEvent`. The first byte picks the event type (even: `Interaction`,
/// odd: `RoutingRequested`); the rest is the payload text, which must be UTF-8 as Avro strings
/// are.
///
/// # Panics
/// When the decoder panics, or a decoded event's webhook body is not a JSON object, or is
/// harder to parse than its payload: a finding.
pub(crate) fn outbound_event(input: &[u8]) {
    let Some((&selector, payload)) = input.split_first() else {
        return;
    };
    let Ok(payload) = std::str::from_utf8(payload) else {
        return;
    };
    let event_type = if selector % 2 == 0 {
        crate::events::INTERACTION_EVENT_TYPE
    } else {
        crate::events::ROUTING_REQUESTED_EVENT_TYPE
    };
    if let Ok(event) = OutboundEvent::from_json(event_type, payload, &REPLAY_ID) {
        check_event(event);
    }
}

/// `channelData` → routing context. The input (lossily UTF-8) is the `channelData` string of
/// an otherwise valid routing request, which must decode whatever `channelData` holds: a bad
/// one is reported on the event, never a reason to leave Salesforce without an answer.
///
/// # Panics
/// When the routing request fails to decode or panics, or its webhook body is not a JSON
/// object, or is harder to parse than its payload: a finding.
pub fn channel_data(input: &[u8]) {
    let channel_data = String::from_utf8_lossy(input);
    let payload = serde_json::json!({
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-1", "role": "EndUser"},
        "payload": {
            "conversationIdentifier": "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
            "routingType": "Initial",
            "routingParameters": {"channelData": channel_data},
        },
    })
    .to_string();
    match OutboundEvent::from_json(
        crate::events::ROUTING_REQUESTED_EVENT_TYPE,
        &payload,
        &REPLAY_ID,
    ) {
        Ok(event) => check_event(event),
        Err(error) => panic!("a routing request with any channelData must decode: {error}"),
    }
}

/// The config file → `Config`, validated as `run` does it, without environment overrides.
///
/// # Panics
/// When loading panics, or an error says nothing: a finding.
pub fn config_file(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Err(error) = Config::from_toml_str(text) {
        let message = error.to_string();
        assert!(!message.is_empty(), "a config error says what is wrong");
    }
}

/// A sidecar request body. The first byte picks the route, in the order of
/// [`SIDECAR_BODIES`]; the rest is the body. The inbound routes are called through their
/// router with the connector not started, so a body that passes every check gets `503` and
/// one that does not gets a `4xx`; the routing bodies go through the functions their handlers
/// call before anything else.
///
/// # Panics
/// When a check panics, a bad body gets anything but a `4xx` (or `503` once it passes every
/// check), or an accepted `userId` is not a 15-character User id: a finding.
pub(crate) fn sidecar_body(input: &[u8]) {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    match usize::from(selector) % SIDECAR_BODIES.len() {
        0 => inbound(Method::POST, crate::inbound::MESSAGES_PATH, body),
        1 => inbound(Method::POST, crate::inbound::CONVERSATIONS_PATH, body),
        2 => inbound(Method::POST, crate::inbound::TYPING_PATH, body),
        3 => inbound(
            Method::POST,
            "/v1/conversations/conversation-1/receipts",
            body,
        ),
        4 => inbound(
            Method::POST,
            "/v1/conversations/conversation-1/session",
            body,
        ),
        5 => inbound(Method::PATCH, "/v1/agent-work/0Bzxx0000000001", body),
        6 => {
            if let Ok(decision) = PartnerDecision::from_json(body) {
                let _ = decision.into_decision();
            }
        }
        7 => {
            if let Ok(user_id) = crate::routing::user_id_from(body) {
                assert!(
                    user_id.len() == 15 && user_id.starts_with("005"),
                    "an accepted userId is a 15-character User id: {user_id:?}"
                );
            }
        }
        8 => inbound(
            Method::POST,
            "/v1/conversations/conversation-1/delivery-failures",
            body,
        ),
        9 => inbound(Method::PATCH, crate::inbound::CONSENT_PATH, body),
        _ => inbound(Method::POST, crate::inbound::HISTORY_PATH, body),
    }
}

thread_local! {
    /// One single-threaded runtime and one inbound router per thread, reused for every input.
    static INBOUND: RefCell<Option<(tokio::runtime::Runtime, axum::Router)>> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()
            .map(|runtime| (runtime, crate::inbound::router(Arc::default()))),
    );
}

/// Sends `body` to the inbound route at `path` of a connector that has not started.
fn inbound(method: Method, path: &str, body: &[u8]) {
    let Ok(request) = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let status = INBOUND.with_borrow(|inbound| {
        let (runtime, router) = inbound.as_ref()?;
        runtime
            .block_on(router.clone().oneshot(request))
            .ok()
            .map(|response| response.status())
    });
    if let Some(status) = status {
        assert!(
            status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "a sidecar body gets a 4xx, or 503 once it passes every check; got {status} for {path}"
        );
    }
}

/// The contracts of a decoded event: its webhook body is a JSON object, whatever it carries.
fn check_event(event: OutboundEvent) {
    let decoded = crate::events::DecodedEvent {
        event,
        created_date_ms: 0,
        idempotency_key: "fuzz".to_owned(),
        replay_id: REPLAY_ID.to_vec(),
    };
    let _ = decoded.event.conversation_identifier();
    let _ = decoded.event_type_name();
    assert_body_as_parseable_as_its_source(&decoded.webhook_body(), source_text(&decoded.event));
}

/// The payload field's text the event was decoded from.
fn source_text(event: &OutboundEvent) -> &str {
    match event {
        OutboundEvent::Interaction(event) => event.source.text(),
        OutboundEvent::RoutingRequested(event) => event.source.text(),
    }
}

/// The webhook body's contract. The body forwards the payload's `recipient` and entry exactly
/// as Salesforce wrote them, checked by the decoder against JSON's grammar only (RFC 8259),
/// so: the body is always a JSON object by that grammar; and wherever the payload text also
/// parses into a `serde_json::Value` (numbers within a double's range, no lone surrogate
/// escapes), so does the body. The connector never makes a payload harder to parse.
fn assert_body_as_parseable_as_its_source(body: &[u8], source: &str) {
    let text = std::str::from_utf8(body).unwrap_or_else(|error| {
        panic!("the webhook body is not UTF-8 ({error})");
    });
    if let Err(error) = serde_json::from_str::<&serde_json::value::RawValue>(text) {
        panic!("the webhook body is not JSON ({error}): {text}");
    }
    assert!(
        text.trim_start().starts_with('{'),
        "the webhook body is a JSON object: {text}"
    );
    if serde_json::from_str::<serde_json::Value>(source).is_ok() {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => assert!(value.is_object(), "the webhook body is a JSON object"),
            Err(error) => {
                panic!("the webhook body does not parse ({error}) where its payload does: {text}")
            }
        }
    }
}
