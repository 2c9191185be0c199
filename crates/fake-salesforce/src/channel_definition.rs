//! The fake org's ConversationChannelDefinition record and the SOQL query that reads it:
//! `SELECT <fields> FROM ConversationChannelDefinition WHERE DeveloperName = '<name>'`,
//! optionally followed by `LIMIT n`.
//!
//! Field names are the sObject's (`DeveloperName`, `RoutingOwner`, `ConsentOwner`,
//! `CustomPlatformEvent`, `CustomEventTypeField`, `CustomEventPayloadField`, …); a field the
//! object does not have is refused with `INVALID_FIELD`, as the REST API does. The record
//! starts out matching the fake's topic and schema, `RoutingOwner = Partner`,
//! `ConsentOwner = Salesforce`; tests replace or remove it to make a setup check fail. Whether
//! `GET`/`PUT`/`DELETE /_harness/channel-definition` read, replace and remove it over HTTP
//! (the router is in [`crate::soql`]). Whether a real org answers the event fields bare (`Payload__c`) or qualified
//! (`Byoc_Event__e.Payload__c`) is unverified; the fake answers them bare, as the sample
//! connector reads them. It knows nothing about the connector.

use serde_json::{json, Map, Value};

use crate::avro::EventSchemaSpec;

/// The object's API name.
pub const OBJECT: &str = "ConversationChannelDefinition";

/// Fields of the object the fake knows (SOQL names); others are `INVALID_FIELD`.
const FIELDS: [&str; 9] = [
    "Id",
    "DeveloperName",
    "MasterLabel",
    "RoutingOwner",
    "ConsentOwner",
    "CustomPlatformEvent",
    "CustomEventTypeField",
    "CustomEventPayloadField",
    "ConversationVendorInfoId",
];

/// One ConversationChannelDefinition record; as JSON (the control plane's
/// `/_harness/channel-definition`), by its SOQL field names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ChannelDefinition {
    /// `Id`, 15 characters (answered in the 18-character form).
    pub id: String,
    /// `DeveloperName`: the `AuthorizationContext` of Interaction Service calls.
    pub developer_name: String,
    /// `RoutingOwner`: `Partner` or `Salesforce`.
    pub routing_owner: String,
    /// `ConsentOwner`: `Partner` or `Salesforce`.
    pub consent_owner: String,
    /// `CustomPlatformEvent`: the platform event's API name, e.g. `Byoc_Event__e`.
    pub custom_platform_event: String,
    /// `CustomEventTypeField`: the event-type field's API name.
    pub custom_event_type_field: String,
    /// `CustomEventPayloadField`: the payload field's API name.
    pub custom_event_payload_field: String,
}

impl ChannelDefinition {
    /// The record matching the fake's topic `schema` and `developer_name`, partner-routed.
    pub fn matching(schema: &EventSchemaSpec, developer_name: &str) -> Self {
        Self {
            // The key prefix of ConversationChannelDefinition ids is not documented; made up.
            id: "0YbFAKE00000001".to_owned(),
            developer_name: developer_name.to_owned(),
            routing_owner: "Partner".to_owned(),
            consent_owner: "Salesforce".to_owned(),
            custom_platform_event: schema.event_name.clone(),
            custom_event_type_field: schema.event_type_field.clone(),
            custom_event_payload_field: schema.payload_field.clone(),
        }
    }

    fn field(&self, name: &str) -> Value {
        match name {
            "Id" => json!(crate::record_id::long_form(&self.id)),
            "DeveloperName" => json!(self.developer_name),
            "MasterLabel" => json!(self.developer_name.replace('_', " ")),
            "RoutingOwner" => json!(self.routing_owner),
            "ConsentOwner" => json!(self.consent_owner),
            "CustomPlatformEvent" => json!(self.custom_platform_event),
            "CustomEventTypeField" => json!(self.custom_event_type_field),
            "CustomEventPayloadField" => json!(self.custom_event_payload_field),
            _ => Value::Null,
        }
    }

    /// The record as the REST API answers it, with the `selected` fields only.
    pub fn as_record(&self, selected: &[String], version: &str) -> Value {
        let mut record = Map::new();
        let id = crate::record_id::long_form(&self.id);
        record.insert(
            "attributes".to_owned(),
            json!({
                "type": OBJECT,
                "url": format!("/services/data/{version}/sobjects/{OBJECT}/{id}"),
            }),
        );
        for field in selected {
            record.insert(field.clone(), self.field(field));
        }
        Value::Object(record)
    }
}

/// A parsed channel-definition query: the selected fields (as the fake spells them) and the
/// developer name asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct DefinitionQuery {
    /// The selected fields, in the object's spelling.
    pub fields: Vec<String>,
    /// The `DeveloperName` literal.
    pub developer_name: String,
}

/// Why a query on the object was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryError {
    /// Not a query on this object (another parser may take it).
    NotThisObject,
    /// A query on this object the fake does not understand (`MALFORMED_QUERY`).
    Malformed,
    /// A selected field the object does not have (`INVALID_FIELD`).
    InvalidField(String),
}

/// Parses `SELECT a, b FROM ConversationChannelDefinition WHERE DeveloperName = 'x' [LIMIT n]`.
pub fn parse(soql: &str) -> Result<DefinitionQuery, QueryError> {
    let collapsed = soql.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = collapsed.to_ascii_lowercase();
    let from = format!(" from {} ", OBJECT.to_ascii_lowercase());
    let Some(from_at) = lower.find(&from) else {
        return Err(QueryError::NotThisObject);
    };
    let select = lower
        .strip_prefix("select ")
        .map(|_| &collapsed["select ".len()..from_at])
        .ok_or(QueryError::Malformed)?;
    let mut fields = Vec::new();
    for field in select.split(',').map(str::trim) {
        let known = FIELDS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(field))
            .ok_or_else(|| QueryError::InvalidField(field.to_owned()))?;
        fields.push((*known).to_owned());
    }
    let condition = &collapsed[from_at + from.len()..];
    let rest = condition
        .get(.."where developername = '".len())
        .filter(|head| head.eq_ignore_ascii_case("where developername = '"))
        .map(|head| &condition[head.len()..])
        .ok_or(QueryError::Malformed)?;
    let (literal, tail) = rest.split_once('\'').ok_or(QueryError::Malformed)?;
    let tail = tail.trim().to_ascii_lowercase();
    let plain = !literal.is_empty()
        && literal
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_');
    if !plain || !(tail.is_empty() || tail.starts_with("limit ")) {
        return Err(QueryError::Malformed);
    }
    Ok(DefinitionQuery {
        fields,
        developer_name: literal.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_query_is_understood_with_any_known_fields() {
        let query = parse(
            "SELECT Id, routingowner, ConsentOwner FROM ConversationChannelDefinition \
             WHERE DeveloperName = 'Byoc_Def1' LIMIT 1",
        )
        .unwrap();
        assert_eq!(query.fields, ["Id", "RoutingOwner", "ConsentOwner"]);
        assert_eq!(query.developer_name, "Byoc_Def1");
    }

    #[test]
    fn unknown_fields_and_other_shapes_are_refused() {
        assert_eq!(
            parse("SELECT Id, Colour FROM ConversationChannelDefinition WHERE DeveloperName = 'a'"),
            Err(QueryError::InvalidField("Colour".to_owned()))
        );
        assert_eq!(
            parse("SELECT Id FROM ConversationChannelDefinition WHERE Id != 'a'"),
            Err(QueryError::Malformed)
        );
        assert_eq!(
            parse("SELECT Id FROM ConversationChannelDefinition WHERE DeveloperName = 'a' OR Id != 'b'"),
            Err(QueryError::Malformed)
        );
        assert_eq!(
            parse("SELECT Id FROM MessagingSession"),
            Err(QueryError::NotThisObject)
        );
    }

    #[test]
    fn the_record_answers_the_selected_fields_and_an_18_character_id() {
        let record = ChannelDefinition::matching(&EventSchemaSpec::default(), "Byoc_Def1")
            .as_record(&["Id".to_owned(), "RoutingOwner".to_owned()], "v62.0");
        assert_eq!(record["Id"].as_str().map(str::len), Some(18));
        assert_eq!(record["RoutingOwner"], "Partner");
        assert!(record.get("ConsentOwner").is_none());
        assert_eq!(record["attributes"]["type"], OBJECT);
    }
}
