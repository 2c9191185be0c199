//! Faults the fake Pub/Sub server injects on demand.
//!
//! Tests (in-process or over the control plane) describe a fault with [`FaultRequest`];
//! sessions consult [`Faults`] as they stream and are woken whenever it changes. Faults
//! that act on other parts of the fake (token expiry, retention) are carried here and
//! applied by the server. It knows nothing about gRPC.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// A change to the fault plan; absent fields leave the current setting alone.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    /// Stop sending anything, keepalives included, until set back to false.
    pub stall: Option<bool>,
    /// End streams with UNAVAILABLE once this many more events have been sent (0 = now).
    pub unavailable_after_events: Option<u64>,
    /// Refuse the next N Subscribe calls with RESOURCE_EXHAUSTED.
    pub resource_exhausted_calls: Option<u32>,
    /// Refuse the next N Subscribe calls with UNAVAILABLE and the `service.unavailable` error
    /// code, as Salesforce answers while the service is down.
    pub service_unavailable_calls: Option<u32>,
    /// Expire every token the fake has issued (not the static token).
    pub expire_tokens: Option<bool>,
    /// Expire one token, for static-token clients.
    pub expire_token: Option<String>,
    /// Send each of the next N events twice.
    pub duplicate_next: Option<u32>,
    /// Delay before every response, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Treat every replay id up to this one as outside retention.
    pub expire_through: Option<u64>,
    /// Send the next N keepalives without a `latest_replay_id` (empty bytes). Salesforce is
    /// not known to do this; it tests that a client takes no position from such a keepalive.
    pub blank_keepalive_positions: Option<u32>,
}

/// The current fault plan.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<FaultState>,
    /// Bumped on every change so idle sessions re-check.
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct FaultState {
    stall: bool,
    unavailable_after_events: Option<u64>,
    resource_exhausted_calls: u32,
    service_unavailable_calls: u32,
    duplicate_next: u32,
    latency: Duration,
    blank_keepalive_positions: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            state: Mutex::new(FaultState::default()),
            changed: watch::Sender::new(0),
        }
    }
}

impl Faults {
    /// Applies the stream-level parts of `request` and wakes every session.
    pub fn apply(&self, request: &FaultRequest) {
        {
            let mut state = self.lock();
            if let Some(stall) = request.stall {
                state.stall = stall;
            }
            if let Some(after) = request.unavailable_after_events {
                state.unavailable_after_events = Some(after);
            }
            if let Some(calls) = request.resource_exhausted_calls {
                state.resource_exhausted_calls = calls;
            }
            if let Some(calls) = request.service_unavailable_calls {
                state.service_unavailable_calls = calls;
            }
            if let Some(count) = request.duplicate_next {
                state.duplicate_next = count;
            }
            if let Some(latency_ms) = request.latency_ms {
                state.latency = Duration::from_millis(latency_ms);
            }
            if let Some(count) = request.blank_keepalive_positions {
                state.blank_keepalive_positions = count;
            }
        }
        self.wake_sessions();
    }

    /// Wakes every session so it re-checks faults and tokens.
    pub fn wake_sessions(&self) {
        self.changed
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A receiver that changes whenever the plan changes.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether streams are stalled.
    pub fn stalled(&self) -> bool {
        self.lock().stall
    }

    /// The delay before each response.
    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// Whether this Subscribe call must be refused with RESOURCE_EXHAUSTED.
    pub fn take_resource_exhausted(&self) -> bool {
        take_one(&mut self.lock().resource_exhausted_calls)
    }

    /// Whether this Subscribe call must be refused with the `service.unavailable` code.
    pub fn take_service_unavailable(&self) -> bool {
        take_one(&mut self.lock().service_unavailable_calls)
    }

    /// Whether the next event must be sent twice.
    pub fn take_duplicate(&self) -> bool {
        take_one(&mut self.lock().duplicate_next)
    }

    /// Whether the next keepalive must go out without a position.
    pub fn take_blank_keepalive_position(&self) -> bool {
        take_one(&mut self.lock().blank_keepalive_positions)
    }

    /// Whether a stream must fail with UNAVAILABLE now (checked before sending).
    pub fn unavailable_now(&self) -> bool {
        let mut state = self.lock();
        if state.unavailable_after_events == Some(0) {
            state.unavailable_after_events = None;
            return true;
        }
        false
    }

    /// How many of `wanted` events may be sent before the UNAVAILABLE fault fires; counts
    /// them as sent.
    pub fn allow_events(&self, wanted: usize) -> usize {
        let mut state = self.lock();
        match state.unavailable_after_events {
            None => wanted,
            Some(remaining) => {
                let allowed = wanted.min(usize::try_from(remaining).unwrap_or(usize::MAX));
                state.unavailable_after_events =
                    Some(remaining.saturating_sub(u64::try_from(allowed).unwrap_or(u64::MAX)));
                allowed
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Uses up one of `remaining`; false when none is left.
fn take_one(remaining: &mut u32) -> bool {
    let had_one = *remaining > 0;
    *remaining = remaining.saturating_sub(1);
    had_one
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_fires_after_the_counted_events() {
        let faults = Faults::default();
        faults.apply(&FaultRequest {
            unavailable_after_events: Some(5),
            ..FaultRequest::default()
        });
        assert_eq!(faults.allow_events(3), 3);
        assert!(!faults.unavailable_now());
        assert_eq!(faults.allow_events(3), 2);
        assert!(faults.unavailable_now());
        assert!(!faults.unavailable_now(), "the fault fires once");
        assert_eq!(faults.allow_events(100), 100);
    }

    #[test]
    fn counted_faults_are_consumed() {
        let faults = Faults::default();
        faults.apply(&FaultRequest {
            resource_exhausted_calls: Some(1),
            service_unavailable_calls: Some(1),
            duplicate_next: Some(2),
            ..FaultRequest::default()
        });
        assert!(faults.take_resource_exhausted());
        assert!(!faults.take_resource_exhausted());
        assert!(faults.take_service_unavailable());
        assert!(!faults.take_service_unavailable());
        assert!(faults.take_duplicate() && faults.take_duplicate());
        assert!(!faults.take_duplicate());
    }
}
