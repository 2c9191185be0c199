//! The formats of a `StaticContentMessage` (`staticContent.formatType`): Text,
//! Attachments, RichLink, Media, Links and WebView, plus attachment upload results
//! (spec §2.4, AbstractMessage table).
//!
//! Formats we do not model (Application, ExperienceType, anything newer) are kept as
//! verbatim JSON in `StaticContent::Other`. Payload JSON only; no Avro, no delivery.

use serde::Deserialize;

use super::raw::{string_enum, RawJson};
use super::tagged::tagged_enum;

tagged_enum! {
    /// Fixed content, selected by `formatType`.
    pub enum StaticContent (tag "formatType", unknown tag in format_type) {
        /// `Text`: plain text, or Markdown where the channel supports it.
        Text(TextContent) => "Text",
        /// `Attachments`: files with download URLs.
        Attachments(AttachmentsContent) => "Attachments",
        /// `RichLink`: a titled link with an optional image or video.
        RichLink(Box<RichLinkContent>) => "RichLink",
        /// `Media`: one image, video or document asset.
        Media(Box<MediaContent>) => "Media",
        /// `Links`: bare URLs.
        Links(LinksContent) => "Links",
        /// `WebView`: a page to open in the channel's web view.
        WebView(Box<WebViewContent>) => "WebView",
    }
}

impl StaticContent {
    /// The text of this content, if its format carries one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(content) => Some(&content.text),
            Self::Attachments(content) => content.text.as_deref(),
            Self::RichLink(content) => content.text.as_deref(),
            _ => None,
        }
    }
}

/// `formatType: Text`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextContent {
    /// The message text (required); may be Markdown.
    pub text: String,
    /// Agentforce citations, kept verbatim.
    pub citation_content: Option<RawJson>,
}

/// `formatType: Attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsContent {
    /// The files (required, at least one).
    pub attachments: Vec<Attachment>,
    /// An optional caption.
    pub text: Option<String>,
}

/// One attached file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The attachment id (required).
    pub id: String,
    /// The file name (required).
    pub name: String,
    /// The MIME type (required).
    pub mime_type: String,
    /// Where to download the file (required).
    pub url: String,
    /// The partner's reference for an inbound upload.
    pub reference_id: Option<String>,
    /// How an asynchronous upload ended; sent on `MessageUpdated`.
    pub attachment_upload_result: Option<AttachmentUploadResult>,
}

tagged_enum! {
    /// How an attachment upload ended (`attachmentUploadResult.resultType`).
    pub enum AttachmentUploadResult (tag "resultType", unknown tag in result_type) {
        /// `CompletedAttachmentUploadResult`: the upload succeeded.
        Completed(CompletedUpload) => "CompletedAttachmentUploadResult",
        /// `PendingAttachmentUploadResult`: still uploading.
        Pending(PendingUpload) => "PendingAttachmentUploadResult",
        /// `ErrorAttachmentUploadResult`: the upload failed.
        Error(FailedUpload) => "ErrorAttachmentUploadResult",
    }
}

/// A completed upload; it has no fields of its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CompletedUpload {}

/// A pending upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingUpload {
    /// The reference of the upload in progress (required).
    pub reference_id: String,
}

/// A failed upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedUpload {
    /// Why it failed (required).
    pub error_type: UploadErrorType,
    /// A human-readable explanation.
    pub error_message: Option<String>,
}

string_enum! {
    /// Why an attachment upload failed (`errorType`).
    pub enum UploadErrorType {
        /// The org's storage is full.
        StorageLimitExceeded => "StorageLimitExceeded",
        /// The file is too large.
        AttachmentTooLarge => "AttachmentTooLarge",
        /// The file could not be found.
        AttachmentNotFound => "AttachmentNotFound",
        /// Uploads are not enabled.
        AttachmentUploadNotEnabled => "AttachmentUploadNotEnabled",
        /// This upload is not allowed.
        AttachmentUploadNotAllowed => "AttachmentUploadNotAllowed",
        /// Salesforce failed internally.
        InternalServerError => "InternalServerError",
    }
}

/// `formatType: RichLink`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RichLinkContent {
    /// The link (required).
    pub link_item: LinkItem,
    /// An image, kept verbatim.
    pub image: Option<RawJson>,
    /// A video, kept verbatim.
    pub video: Option<RawJson>,
    /// An optional caption.
    pub text: Option<String>,
}

/// A titled link (`TitleLinkItem`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkItem {
    /// The item kind, normally `TitleLinkItem`.
    pub item_type: Option<String>,
    /// The link's title.
    pub title_item: Option<TitleItem>,
    /// The link's target.
    pub url: Option<String>,
}

/// A title with an optional subtitle (`AbstractTitleItem`, normally `itemType: TitleItem`).
///
/// The schema gives every title this object form. A bare JSON string is read as the title's
/// text, so a title flattened by some sender never costs the whole event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleItem {
    /// The item kind (`itemType`), normally `TitleItem`; `None` for a bare string.
    pub item_type: Option<String>,
    /// The title text.
    pub title: Option<String>,
    /// The subtitle text.
    pub sub_title: Option<String>,
}

impl<'de> Deserialize<'de> for TitleItem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fields {
            item_type: Option<String>,
            title: Option<String>,
            sub_title: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a title item object or a string")]
        enum Either {
            Text(String),
            Item(Fields),
        }
        Ok(match Either::deserialize(deserializer)? {
            Either::Text(title) => Self {
                item_type: None,
                title: Some(title),
                sub_title: None,
            },
            Either::Item(fields) => Self {
                item_type: fields.item_type,
                title: fields.title,
                sub_title: fields.sub_title,
            },
        })
    }
}

/// `formatType: Media`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaContent {
    /// The asset (required).
    pub media_asset: MediaAsset,
    /// Links shown with the asset, kept verbatim.
    pub link_items: Option<RawJson>,
}

/// An image, video or document (`mediaAsset`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaAsset {
    /// The asset kind (required).
    pub asset_type: AssetType,
    /// The asset id (required).
    pub id: String,
    /// The MIME type (required).
    pub mime_type: String,
    /// Where to download the asset (required).
    pub asset_url: String,
    /// A handle for the asset.
    pub asset_handle: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// The partner's reference.
    pub reference_id: Option<String>,
}

string_enum! {
    /// The kind of a media asset (`assetType`).
    pub enum AssetType {
        /// An image.
        ImageAsset => "ImageAsset",
        /// A video.
        VideoAsset => "VideoAsset",
        /// A document.
        DocumentAsset => "DocumentAsset",
    }
}

/// `formatType: Links`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinksContent {
    /// The links (required; the spec allows exactly one).
    pub links: Vec<Link>,
}

/// One bare link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The URL (required).
    pub url: String,
}

/// `formatType: WebView`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebViewContent {
    /// The page to open (required).
    pub url: String,
    /// How to show it.
    pub display_type: Option<WebViewDisplayType>,
    /// The page title.
    pub title: Option<TitleItem>,
    /// Extra parameters (`NamedValue`s), kept verbatim.
    pub parameters: Option<RawJson>,
}

string_enum! {
    /// How a web view is shown (`displayType`).
    pub enum WebViewDisplayType {
        /// Overlay chosen by the client.
        AutoOverlay => "AutoOverlay",
    }
}
