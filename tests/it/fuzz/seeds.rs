//! The fuzz targets' seed inputs, built from what the tests already trust: every event fixture
//! (as payload JSON and as Avro written by apache-avro), the `channelData` of every routing
//! fixture, the example and minimal configurations, and a valid and a broken body for every
//! sidecar route. They are committed under `fuzz/corpus/<target>/seed-*`.

use apache_avro::types::{Record, Value};
use byoc_connector::config::Config;
use byoc_connector::fuzzing::{Target, RICH_SCHEMA, SIDECAR_BODIES};

use crate::support::config::MINIMAL;
use crate::support::events::{all_fixtures, SchemaShape, CREATED_DATE_MS};

/// One seed: its target, its file name and its bytes.
pub struct Seed {
    /// The target whose corpus it belongs to.
    pub target: Target,
    /// The file name under `fuzz/corpus/<target>/`.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

fn seed(target: Target, name: impl Into<String>, selector: Option<u8>, body: &[u8]) -> Seed {
    let mut bytes: Vec<u8> = selector.into_iter().collect();
    bytes.extend_from_slice(body);
    Seed {
        target,
        name: format!("seed-{}", name.into()),
        bytes,
    }
}

/// Every seed of every target.
pub fn all_seeds() -> Vec<Seed> {
    let mut seeds = event_seeds();
    seeds.push(seed(
        Target::ConfigFile,
        "example.toml",
        None,
        Config::example_toml().as_bytes(),
    ));
    seeds.push(seed(
        Target::ConfigFile,
        "minimal.toml",
        None,
        MINIMAL.as_bytes(),
    ));
    seeds.extend(sidecar_seeds());
    seeds
}

fn event_seeds() -> Vec<Seed> {
    let plain = SchemaShape::default();
    let mut seeds = Vec::new();
    for fixture in all_fixtures() {
        let routing = fixture.event_type == "RoutingRequested";
        let selector = u8::from(routing);
        seeds.push(seed(
            Target::OutboundEvent,
            format!("{}.json", fixture.name),
            Some(selector),
            fixture.payload_json.as_bytes(),
        ));
        let avro = plain.encode(
            Some("event-uuid-1"),
            Some(&fixture.event_type),
            Some(&fixture.payload_json),
        );
        seeds.push(seed(
            Target::AvroRecord,
            format!("{}.avro", fixture.name),
            Some(0),
            &avro,
        ));
        if matches!(
            fixture.name.as_str(),
            "message-text" | "routing-requested-queue"
        ) {
            let rich = encode_rich(&fixture.event_type, &fixture.payload_json);
            seeds.push(seed(
                Target::AvroRecord,
                format!("{}.rich.avro", fixture.name),
                Some(1),
                &rich,
            ));
        }
        let channel_data = fixture.payload_value()["payload"]["routingParameters"]["channelData"]
            .as_str()
            .map(str::to_owned);
        if let Some(channel_data) = channel_data {
            seeds.push(seed(
                Target::ChannelData,
                format!("{}.json", fixture.name),
                None,
                channel_data.as_bytes(),
            ));
        }
    }
    seeds
}

/// One record of [`RICH_SCHEMA`], every field set.
fn encode_rich(event_type: &str, payload: &str) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(RICH_SCHEMA).unwrap();
    let mut record = Record::new(&schema).unwrap();
    let some = |value: Value| Value::Union(1, Box::new(value));
    record.put("CreatedDate", Value::Long(CREATED_DATE_MS));
    record.put("ReplayCounter__c", some(Value::Int(7)));
    record.put("Score__c", some(Value::Double(0.5)));
    record.put("Flags__c", Value::Array(vec![Value::Boolean(true)]));
    record.put(
        "CreatedById",
        Value::String("005xx000001SvNAAA0".to_owned()),
    );
    record.put("EventUuid", some(Value::String("event-uuid-1".to_owned())));
    record.put(
        "Meta__c",
        Value::Map([("k".to_owned(), Value::String("v".to_owned()))].into()),
    );
    record.put(
        "Nested__c",
        Value::Record(vec![
            ("inner".to_owned(), Value::String("x".to_owned())),
            ("count".to_owned(), Value::Long(3)),
        ]),
    );
    record.put("Kind__c", Value::Enum(1, "B".to_owned()));
    record.put("Blob__c", Value::Bytes(vec![1, 2, 3]));
    record.put("Hash__c", Value::Fixed(4, vec![9, 9, 9, 9]));
    record.put(
        "byoc__EventType__c",
        some(Value::String(event_type.to_owned())),
    );
    record.put("byoc__Payload__c", some(Value::String(payload.to_owned())));
    record.put("Ratio__c", Value::Float(0.25));
    record.put("Trailer__c", Value::Union(0, Box::new(Value::Null)));
    apache_avro::to_avro_datum(&schema, record).unwrap()
}

/// A valid and a broken body for every sidecar route, in the order of [`SIDECAR_BODIES`].
fn sidecar_seeds() -> Vec<Seed> {
    let bodies: [(&str, &str); SIDECAR_BODIES.len()] = [
        (
            r#"{"endUserClientId":"end-user-1","text":"hello","channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a","routingAttributes":{"Topic":"billing"}}"#,
            r#"{"endUserClientId":"end-user-1","text":"  "}"#,
        ),
        (
            r#"{"endUserClientId":"end-user-1","channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a","routingAttributes":{"Topic":"billing"}}"#,
            r#"{"endUserClientId":""}"#,
        ),
        (
            r#"{"endUserClientId":"end-user-1","state":"started"}"#,
            r#"{"endUserClientId":"end-user-1","state":"paused"}"#,
        ),
        (
            r#"{"endUserClientId":"end-user-1","receipts":[{"type":"Delivered","entryId":"entry-1","timestamp":1690344475579},{"type":"Read","entryId":"entry-1"}]}"#,
            r#"{"endUserClientId":"end-user-1","receipts":[]}"#,
        ),
        (
            r#"{"endUserClientId":"end-user-1","operation":"Inactivate","operationBy":"EndUser","sessionId":"0Mwxx0000000001"}"#,
            r#"{"endUserClientId":"end-user-1","operation":"Inactivate"}"#,
        ),
        (r#"{"status":"Accept"}"#, r#"{"status":"Opened"}"#),
        (
            r#"{"success":false,"externallyRouted":false,"errorMessage":"no rep available"}"#,
            r#"{"externallyRouted":true}"#,
        ),
        (
            r#"{"userId":"005xx000001SvNAAA0"}"#,
            r#"{"userId":"00Gxx000001SvNA"}"#,
        ),
        (
            r#"{"errorCode":"1001","failedConversationEntryIdentifier":"entry-1","errorMessage":"the device is offline","endUserClientId":"end-user-1","channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a"}"#,
            r#"{"errorCode":"9999","extra":1}"#,
        ),
        (
            r#"{"endUserClientId":"+15550123","consentStatus":"OptedOut"}"#,
            r#"{"endUserClientId":"+15550123","consentStatus":"Maybe"}"#,
        ),
        (
            r#"{"participants":[{"subject":"+15550123","role":"EndUser","joinedTime":1733100000000},{"subject":"order-bot","role":"Chatbot","displayName":"Order bot","joinedTime":1733100000000,"leftTime":1733100600000}],"entries":[{"sender":"+15550123","clientTimestamp":1733100100000,"text":"Where is my order?"}],"messagingSession":{"type":"Establish","startTime":1733100000000}}"#,
            r#"{"participants":[],"entries":[]}"#,
        ),
    ];
    let mut seeds = Vec::new();
    for (selector, (route, (valid, broken))) in SIDECAR_BODIES.iter().zip(bodies).enumerate() {
        let selector = u8::try_from(selector).unwrap();
        for (kind, body) in [("valid", valid), ("broken", broken)] {
            seeds.push(seed(
                Target::SidecarBody,
                format!("{route}.{kind}.json"),
                Some(selector),
                body.as_bytes(),
            ));
        }
    }
    seeds
}
