//! `POST /interactions`: inbound end-user traffic (messages, typing, delivery failures, files).
//!
//! The body is `multipart/form-data` with a part `json` and at most one `attachments` part.
//! Conversation entry payloads stay JSON values: their model belongs to the events module. It
//! knows nothing about Pub/Sub.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::interaction::client::{Attachment, Endpoint, RequestBody};
use crate::interaction::{InteractionClient, InteractionError, StreamedFile};

/// One item of `interactions` (Salesforce takes exactly one per request).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "interactionType", rename_all_fields = "camelCase")]
pub enum Interaction {
    /// A conversation entry: a message, a typing indicator or a delivery failure.
    EntryInteraction {
        /// Client time in epoch milliseconds.
        timestamp: i64,
        /// The entry (`entryType`, `id`, …); for messages `id` must equal `abstractMessage.id`.
        payload: Value,
    },
    /// Describes the file sent in the `attachments` part.
    AttachmentInteraction {
        /// Client time in epoch milliseconds.
        timestamp: i64,
        /// Client-generated id of the attachment entry.
        id: String,
        /// Index of the file among the attachments (always 0: one file per request).
        attachment_index: u32,
        /// File size in bytes.
        content_length: u64,
        /// Optional text sent with the file.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

impl Interaction {
    /// A plain-text end-user message; `message_id` is a client UUID used for both ids.
    pub fn text_message(message_id: &str, text: &str, timestamp_ms: i64) -> Self {
        Self::EntryInteraction {
            timestamp: timestamp_ms,
            payload: json!({
                "entryType": "Message",
                "id": message_id,
                "abstractMessage": {
                    "messageType": "StaticContentMessage",
                    "id": message_id,
                    "staticContent": {"formatType": "Text", "text": text}
                }
            }),
        }
    }

    /// A typing indicator; `started` picks TypingStartedIndicator or TypingStoppedIndicator.
    pub fn typing(entry_id: &str, started: bool, timestamp_ms: i64) -> Self {
        let entry_type = if started {
            "TypingStartedIndicator"
        } else {
            "TypingStoppedIndicator"
        };
        Self::EntryInteraction {
            timestamp: timestamp_ms,
            payload: json!({"entryType": entry_type, "id": entry_id, "timestamp": timestamp_ms}),
        }
    }
}

/// The `json` part of `POST /interactions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionRequest {
    /// The channel's `channelAddressIdentifier`.
    pub to: String,
    /// The end user's client id.
    pub from: String,
    /// Routing attributes (channel variables to string values, as the official definition
    /// types them); only when Salesforce owns routing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_attributes: Option<BTreeMap<String, String>>,
    /// Exactly one interaction.
    pub interactions: Vec<Interaction>,
}

/// Answer to `POST /interactions` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InteractionResponse {
    /// The conversation the message went to (created on first contact).
    pub conversation_identifier: Option<String>,
    /// MessagingSession ids; the first is the `workItemId` for routing calls.
    pub work_item_ids: Vec<String>,
    /// Salesforce's `success`.
    pub success: Option<bool>,
    /// Entry id, when sent.
    pub id: Option<String>,
}

/// Sees every accepted `POST /interactions` answer, whoever made the call (the sidecar's
/// routes, the connector's own delivery-failure notices): the place to learn what Salesforce
/// returned, such as the MessagingSession that serves a conversation. Called on the caller's
/// task after the answer is parsed, so it must not block.
pub(crate) trait InteractionsObserver: Send + Sync + 'static {
    /// `request` was accepted with `response`.
    fn interactions_answered(&self, request: &InteractionRequest, response: &InteractionResponse);
}

const POST_INTERACTIONS: Endpoint = Endpoint {
    method: Method::POST,
    path: "interactions",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /interactions`: sends end-user traffic, with at most one file.
    pub async fn post_interactions(
        &self,
        request: &InteractionRequest,
        attachment: Option<Attachment>,
    ) -> Result<InteractionResponse, InteractionError> {
        super::rules::post_interactions(request)?;
        let json = serde_json::to_vec(request).map_err(|err| InteractionError::Config {
            problem: format!("cannot serialise the request body: {err}"),
        })?;
        let response: InteractionResponse = self
            .call(
                &POST_INTERACTIONS,
                RequestBody::Multipart { json, attachment },
            )
            .await?;
        if let Some(observer) = self.interactions_observer() {
            observer.interactions_answered(request, &response);
        }
        Ok(response)
    }
}

impl InteractionClient {
    /// `POST /interactions` with one file streamed from `file` as it arrives. Sent once: a
    /// stream cannot be replayed, so neither an auth refresh nor a retry repeats it.
    pub(crate) async fn post_interactions_streamed(
        &self,
        request: &InteractionRequest,
        file: StreamedFile,
    ) -> Result<InteractionResponse, InteractionError> {
        super::rules::post_interactions(request)?;
        let json = serde_json::to_vec(request).map_err(|err| InteractionError::Config {
            problem: format!("cannot serialise the request body: {err}"),
        })?;
        let body = RequestBody::MultipartStream {
            json,
            file: std::sync::Mutex::new(Some(file)),
        };
        self.call(&POST_INTERACTIONS, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_message_uses_one_id_for_entry_and_message() {
        let json = serde_json::to_value(Interaction::text_message("m-1", "hi", 1_700_000_000_000))
            .unwrap();
        assert_eq!(json["interactionType"], "EntryInteraction");
        assert_eq!(
            json["payload"]["id"],
            json["payload"]["abstractMessage"]["id"]
        );
    }

    // Nothing listens on the client's address: a refusal can only come from the local check.
    #[tokio::test]
    async fn a_streamed_upload_breaking_a_rule_is_refused_before_anything_is_sent() {
        use crate::auth::{AuthConfig, StaticConfig, TokenProvider};
        let provider = TokenProvider::new(&AuthConfig::Static(StaticConfig {
            token: crate::secret::SecretString::new("token".to_owned()),
            instance_url: "http://127.0.0.1:9".to_owned(),
            org_id: "00D000000000001AAA".parse().unwrap(),
        }))
        .unwrap();
        let settings = crate::interaction::ClientSettings {
            insecure: true,
            ..crate::interaction::ClientSettings::default()
        };
        let client = InteractionClient::new(
            "http://127.0.0.1:9",
            "Channel_Definition",
            provider,
            settings,
        )
        .unwrap();
        let request = InteractionRequest {
            to: "b0ffeafe-0d89-4338-b14a-172ad203f22a".to_owned(),
            from: "u".repeat(256),
            routing_attributes: None,
            interactions: vec![Interaction::AttachmentInteraction {
                timestamp: 1,
                id: "a".into(),
                attachment_index: 0,
                content_length: 3,
                text: None,
            }],
        };
        let file = StreamedFile {
            file_name: "f.bin".to_owned(),
            mime_type: "application/octet-stream".to_owned(),
            length: 3,
            body: axum::body::Body::from(vec![1_u8, 2, 3]),
        };
        let refused = client
            .post_interactions_streamed(&request, file)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, InteractionError::InvalidRequest { field, .. } if *field == "from"),
            "{refused:?}"
        );
    }

    #[test]
    fn attachment_fields_are_camel_case() {
        let json = serde_json::to_value(Interaction::AttachmentInteraction {
            timestamp: 1,
            id: "a".into(),
            attachment_index: 0,
            content_length: 3,
            text: None,
        })
        .unwrap();
        assert_eq!(json["attachmentIndex"], 0);
        assert_eq!(json["contentLength"], 3);
    }
}
