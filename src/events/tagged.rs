//! Single-pass decoding of JSON objects whose shape is chosen by a tag field
//! (`entryType`, `messageType`, `formatType`, `resultType`).
//!
//! Salesforce writes the tag first, so the usual path reads the tag and hands the rest
//! of the same object to the variant's derived `Deserialize`: no buffering, no second
//! parse. If the tag comes later, the entries before it are kept as borrowed raw
//! slices and replayed. An unknown tag keeps the whole object as verbatim JSON. This
//! file knows serde and JSON; the BYOC variants live with their types.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::json_path::{locate, nested_error_message, Anchor, JsonPath};
use super::raw::{CowStr, RawJson};

/// A JSON object whose variant is named by its `TAG` field.
pub(crate) trait TaggedObject<'de>: Sized {
    /// The field that names the variant.
    const TAG: &'static str;

    /// Whether `tag` names a variant we model.
    fn is_known(tag: &str) -> bool;

    /// Decodes a known variant from the object's other fields.
    fn from_known<D: Deserializer<'de>>(tag: &str, rest: D) -> Result<Self, D::Error>;

    /// Builds the value for a tag we do not model from the whole object.
    fn from_unknown<E: de::Error>(tag: &str, object: UnknownObject<'de>) -> Result<Self, E>;
}

/// An object with an unknown tag: its fields as borrowed raw JSON, in order.
pub(crate) struct UnknownObject<'de> {
    /// Every field but the tag.
    fields: Vec<(Cow<'de, str>, &'de RawValue)>,
    tag_key: Cow<'de, str>,
    /// Where the tag stood among `fields`, to rebuild the object in its original order.
    tag_position: usize,
    tag: Cow<'de, str>,
}

impl<'de> UnknownObject<'de> {
    /// The whole object as verbatim JSON (whitespace between tokens is not kept).
    pub(crate) fn to_raw<E: de::Error>(&self) -> Result<RawJson, E> {
        let mut text = String::with_capacity(
            2 + self
                .fields
                .iter()
                .map(|(key, value)| key.len() + value.get().len() + 4)
                .sum::<usize>(),
        );
        let quoted_tag = serde_json::to_string(self.tag.as_ref()).map_err(E::custom)?;
        let tag_entry = (&self.tag_key, quoted_tag.as_str());
        let other_entries = self.fields.iter().map(|(key, value)| (key, value.get()));
        let mut entries: Vec<(&Cow<'de, str>, &str)> = other_entries.collect();
        entries.insert(self.tag_position.min(entries.len()), tag_entry);
        text.push('{');
        for (position, (key, value_text)) in entries.into_iter().enumerate() {
            if position > 0 {
                text.push(',');
            }
            let quoted_key = serde_json::to_string(key.as_ref()).map_err(E::custom)?;
            text.push_str(&quoted_key);
            text.push(':');
            text.push_str(value_text);
        }
        text.push('}');
        RawJson::from_validated_text(text).map_err(E::custom)
    }
}

/// Deserializes a `TaggedObject` from a JSON object.
pub(crate) fn deserialize_tagged<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TaggedObject<'de>,
{
    deserializer.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: TaggedObject<'de>> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "an object with a `{}` field", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut before_tag: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        while let Some(key) = map.next_key_seed(CowStr)? {
            if key != T::TAG {
                before_tag.push((key, map.next_value::<&'de RawValue>()?));
                continue;
            }
            let tag = map.next_value_seed(CowStr)?;
            if !T::is_known(&tag) {
                let tag_position = before_tag.len();
                let mut fields = before_tag;
                while let Some(key) = map.next_key_seed(CowStr)? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                let object = UnknownObject {
                    fields,
                    tag_key: key,
                    tag_position,
                    tag: tag.clone(),
                };
                return T::from_unknown(&tag, object);
            }
            if before_tag.is_empty() {
                return T::from_known(&tag, MapAccessDeserializer::new(map));
            }
            let replay = ReplayThenLive {
                replayed: before_tag.into_iter(),
                pending_value: None,
                live: map,
            };
            return T::from_known(&tag, MapAccessDeserializer::new(replay));
        }
        Err(de::Error::missing_field(T::TAG))
    }
}

/// Replays entries buffered before the tag, then continues with the live object.
struct ReplayThenLive<'de, A> {
    replayed: std::vec::IntoIter<(Cow<'de, str>, &'de RawValue)>,
    pending_value: Option<(Cow<'de, str>, &'de RawValue)>,
    live: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ReplayThenLive<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.replayed.next() {
            Some((key, value)) => {
                let key_for_seed = key.clone();
                self.pending_value = Some((key, value));
                seed.deserialize(CowStrDeserializer::<A::Error>::new(key_for_seed))
                    .map(Some)
            }
            None => self.live.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let Some((key, value)) = self.pending_value.take() else {
            return self.live.next_value_seed(seed);
        };
        let mut value_deserializer = serde_json::Deserializer::from_str(value.get());
        seed.deserialize(&mut value_deserializer)
            .map_err(|error| de::Error::custom(nested_value_error(&key, value.get(), &error)))
    }
}

/// A message for an error inside a replayed value, carrying its path below the object.
fn nested_value_error(key: &str, value_text: &str, error: &serde_json::Error) -> String {
    let mut located = locate(value_text, error);
    located.path = JsonPath::key(key).join(located.path);
    nested_error_message(&located, Anchor::ReplayedField)
}

/// Defines an enum decoded from a tagged JSON object, with an `Other` variant that
/// keeps objects whose tag this version does not model.
macro_rules! tagged_enum {
    (
        $(#[$enum_meta:meta])*
        pub enum $name:ident (tag $tag:literal, unknown tag in $tag_field:ident) {
            $( $(#[$variant_meta:meta])* $variant:ident($payload:ty) => $text:literal, )*
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant($payload), )*
            /// A kind this version does not model, kept verbatim.
            Other {
                /// The tag value Salesforce sent.
                $tag_field: String,
                /// The whole object as Salesforce sent it.
                raw: $crate::events::RawJson,
            },
        }

        impl<'de> $crate::events::tagged::TaggedObject<'de> for $name {
            const TAG: &'static str = $tag;

            fn is_known(tag: &str) -> bool {
                matches!(tag, $($text)|*)
            }

            fn from_known<D: serde::Deserializer<'de>>(
                tag: &str,
                rest: D,
            ) -> Result<Self, D::Error> {
                match tag {
                    $( $text => <$payload as serde::Deserialize>::deserialize(rest)
                        .map(Self::$variant), )*
                    other => Err(serde::de::Error::unknown_variant(other, &[$($text),*])),
                }
            }

            fn from_unknown<E: serde::de::Error>(
                tag: &str,
                object: $crate::events::tagged::UnknownObject<'de>,
            ) -> Result<Self, E> {
                Ok(Self::Other {
                    $tag_field: tag.to_owned(),
                    raw: object.to_raw()?,
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::events::tagged::deserialize_tagged(deserializer)
            }
        }
    };
}

pub(crate) use tagged_enum;
