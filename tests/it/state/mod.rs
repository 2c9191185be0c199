//! The connector's own knowledge of its conversations: the capabilities it registers at start,
//! the MessagingSession ids it learns from `/interactions` answers, the rep told about a
//! message the partner refused, and the conversation state the sidecar serves.

mod fake_rules;
