//! The formats of interactive messages: `choices` (Buttons, QuickReplies, ListPicker,
//! Carousel, TimePicker), `choicesResponse` (Selections), `form` (Inputs) and
//! `formResponse` (Inputs, Result) (spec §2.4, AbstractMessage table).
//!
//! Deeply nested parts the spec leaves loosely defined (carousel items, calendar
//! events, form sections and values) are kept as verbatim JSON. Formats we do not
//! model land in each enum's `Other`. Payload JSON only; no Avro, no delivery.

use serde::Deserialize;

use super::raw::RawJson;
use super::static_content::TitleItem;
use super::tagged::tagged_enum;

tagged_enum! {
    /// Options offered to the end user (`choices.formatType`).
    pub enum Choices (tag "formatType", unknown tag in format_type) {
        /// `Buttons`: a prompt with buttons.
        Buttons(ButtonsContent) => "Buttons",
        /// `QuickReplies`: a prompt with quick-reply chips.
        QuickReplies(QuickRepliesContent) => "QuickReplies",
        /// `ListPicker`: a titled list to pick from.
        ListPicker(ListPickerContent) => "ListPicker",
        /// `Carousel`: cards with their own actions.
        Carousel(CarouselContent) => "Carousel",
        /// `TimePicker`: time slots of a calendar event.
        TimePicker(TimePickerContent) => "TimePicker",
    }
}

impl Choices {
    /// The prompt text, for formats that have one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Buttons(content) => Some(&content.text),
            Self::QuickReplies(content) => Some(&content.text),
            Self::ListPicker(content) => Some(&content.title),
            _ => None,
        }
    }

    /// The options offered, for formats that list them.
    pub fn option_items(&self) -> &[OptionItem] {
        match self {
            Self::Buttons(content) => &content.option_items,
            Self::QuickReplies(content) => &content.option_items,
            Self::ListPicker(content) => &content.option_items,
            _ => &[],
        }
    }
}

/// One option the end user can pick (`TitleOptionItem`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionItem {
    /// The item kind, normally `TitleOptionItem`.
    pub item_type: Option<String>,
    /// The id to send back when the option is picked (required).
    pub option_identifier: String,
    /// The option's title.
    pub title_item: Option<TitleItem>,
}

/// `formatType: Buttons`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ButtonsContent {
    /// The prompt (required).
    pub text: String,
    /// The buttons (required).
    pub option_items: Vec<OptionItem>,
}

/// `formatType: QuickReplies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuickRepliesContent {
    /// The prompt (required).
    pub text: String,
    /// The replies (required).
    pub option_items: Vec<OptionItem>,
    /// Images for the replies, kept verbatim.
    pub images: Option<RawJson>,
}

/// `formatType: ListPicker`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPickerContent {
    /// The list title (required).
    pub title: String,
    /// The entries (required).
    pub option_items: Vec<OptionItem>,
}

/// `formatType: Carousel`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarouselContent {
    /// The cards (`TitleItemWithInteractions`, required), each kept verbatim.
    pub items: Vec<RawJson>,
}

/// `formatType: TimePicker`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimePickerContent {
    /// The calendar event and its slots (required), kept verbatim.
    pub calendar_event: RawJson,
}

tagged_enum! {
    /// The end user's answer to a choices message (`choicesResponse.formatType`).
    pub enum ChoicesResponse (tag "formatType", unknown tag in format_type) {
        /// `Selections`: the options picked.
        Selections(SelectionsContent) => "Selections",
    }
}

/// `formatType: Selections`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectionsContent {
    /// The options picked (required).
    pub selected_options: Vec<SelectedOption>,
}

/// One picked option.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectedOption {
    /// The picked option's id (required).
    pub option_identifier: String,
    /// The picked option's title.
    pub option_title: Option<TitleItem>,
}

tagged_enum! {
    /// A form to fill in (`form.formatType`).
    pub enum Form (tag "formatType", unknown tag in format_type) {
        /// `Inputs`: a titled form of sections.
        Inputs(FormInputsContent) => "Inputs",
    }
}

/// `formatType: Inputs` of a form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormInputsContent {
    /// The form title (required).
    pub form_title: TitleItem,
    /// The sections (required), each kept verbatim.
    pub sections: Vec<RawJson>,
}

tagged_enum! {
    /// A filled-in form (`formResponse.formatType`).
    pub enum FormResponse (tag "formatType", unknown tag in format_type) {
        /// `Inputs`: the values entered.
        Inputs(FormResponseInputsContent) => "Inputs",
        /// `Result`: a computed result.
        Result(FormResultContent) => "Result",
    }
}

/// `formatType: Inputs` of a form response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormResponseInputsContent {
    /// The values entered (required), each kept verbatim.
    pub input_values: Vec<RawJson>,
}

/// `formatType: Result` of a form response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormResultContent {
    /// The result (required), kept verbatim.
    pub result: RawJson,
}
