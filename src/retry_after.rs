//! `Retry-After` as HTTP defines it: delay seconds or an HTTP date.
//!
//! Shared by the partner webhook channel and the Interaction Service client, which both let a
//! server's `Retry-After` stretch their next wait. Knows nothing about either caller.

use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// Parses `Retry-After`: delay seconds or an HTTP date (a past date means no delay).
pub(crate) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let value = value.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_delay_seconds() {
        let value = HeaderValue::from_static("7");
        assert_eq!(
            parse_retry_after(&value, SystemTime::now()),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let value = HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT");
        assert_eq!(
            parse_retry_after(&value, now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn retry_after_in_the_past_means_no_delay() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let value = HeaderValue::from_static("Sun, 06 Nov 1994 08:00:00 GMT");
        assert_eq!(parse_retry_after(&value, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_that_is_neither_is_ignored() {
        let value = HeaderValue::from_static("soon");
        assert_eq!(parse_retry_after(&value, SystemTime::now()), None);
    }
}
