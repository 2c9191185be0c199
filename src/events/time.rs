//! RFC 3339 timestamps for the webhook envelope, from epoch milliseconds.
//!
//! Hand-written civil-from-days arithmetic (Howard Hinnant's algorithm) so the crate
//! needs no date library. Always UTC with milliseconds: `2023-07-26T04:07:55.579Z`.
//! Knows nothing about events.

const MILLIS_PER_SECOND: i64 = 1_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339_millis(epoch_ms: i64) -> String {
    let mut text = Vec::with_capacity(24);
    write_rfc3339_millis(&mut text, epoch_ms);
    String::from_utf8(text).unwrap_or_default()
}

/// Appends epoch milliseconds as RFC 3339 UTC with milliseconds to `out`.
///
/// Years outside 0000–9999 cannot be written in RFC 3339; they are printed with as
/// many digits as needed (and a sign when negative) rather than failing. Written by
/// hand because `write!` formatting costs more than the rest of the envelope.
pub fn write_rfc3339_millis(out: &mut Vec<u8>, epoch_ms: i64) {
    let days = epoch_ms.div_euclid(MILLIS_PER_DAY);
    let millis_of_day = epoch_ms.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds_of_day = millis_of_day / MILLIS_PER_SECOND;
    let millis = millis_of_day % MILLIS_PER_SECOND;
    let hour = seconds_of_day / 3_600;
    let minute = seconds_of_day % 3_600 / 60;
    let second = seconds_of_day % 60;
    if (0..=9_999).contains(&year) {
        // The usual case, written in place and appended once.
        let mut text = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut text[0..4], year.unsigned_abs());
        put_digits(&mut text[5..7], u64::from(month));
        put_digits(&mut text[8..10], u64::from(day));
        put_digits(&mut text[11..13], hour.unsigned_abs());
        put_digits(&mut text[14..16], minute.unsigned_abs());
        put_digits(&mut text[17..19], second.unsigned_abs());
        put_digits(&mut text[20..23], millis.unsigned_abs());
        out.extend_from_slice(&text);
        return;
    }
    write_year(out, year);
    out.push(b'-');
    write_digits(out, i64::from(month), 2);
    out.push(b'-');
    write_digits(out, i64::from(day), 2);
    out.push(b'T');
    write_digits(out, hour, 2);
    out.push(b':');
    write_digits(out, minute, 2);
    out.push(b':');
    write_digits(out, second, 2);
    out.push(b'.');
    write_digits(out, millis, 3);
    out.push(b'Z');
}

/// Fills `slots` with `value`'s last digits, zero-padded.
fn put_digits(slots: &mut [u8], mut value: u64) {
    for slot in slots.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Writes a year with at least four digits, and a sign when negative.
fn write_year(out: &mut Vec<u8>, year: i64) {
    if year < 0 {
        out.push(b'-');
    }
    let magnitude = year.unsigned_abs();
    let width = magnitude
        .checked_ilog10()
        .map_or(1, |log| log as usize + 1)
        .max(4);
    write_digits_unsigned(out, magnitude, width);
}

/// Writes a non-negative value zero-padded to `width` digits.
fn write_digits(out: &mut Vec<u8>, value: i64, width: usize) {
    write_digits_unsigned(out, value.unsigned_abs(), width);
}

fn write_digits_unsigned(out: &mut Vec<u8>, value: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    put_digits(&mut out[start..], value);
}

/// Converts days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar. Valid for every `i64` day count that comes from `i64` milliseconds.
fn civil_from_days(days_since_epoch: i64) -> (i64, u32, u32) {
    let shifted = days_since_epoch + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    // Always 1..=31 and 1..=12 by construction, so the conversions cannot fail.
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_formatted_as_the_first_millisecond_of_1970() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn spec_example_created_date_is_formatted_in_utc_with_millis() {
        assert_eq!(
            format_rfc3339_millis(1_690_344_475_579),
            "2023-07-26T04:07:55.579Z"
        );
    }

    #[test]
    fn leap_day_and_year_ends_are_correct() {
        assert_eq!(
            format_rfc3339_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(1_704_067_199_999),
            "2023-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn negative_milliseconds_fall_before_the_epoch() {
        assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn extreme_values_do_not_panic_and_keep_every_year_digit() {
        assert_eq!(
            format_rfc3339_millis(i64::MAX),
            "292278994-08-17T07:12:55.807Z"
        );
        assert_eq!(
            format_rfc3339_millis(i64::MIN),
            "-292275055-05-16T16:47:04.192Z"
        );
        assert_eq!(
            format_rfc3339_millis(-62_167_219_200_001),
            "-0001-12-31T23:59:59.999Z"
        );
    }

    /// The four-digit years are written in place, the others digit by digit; the two meet
    /// without a gap or an overlap.
    #[test]
    fn the_first_and_last_four_digit_years_meet_the_others() {
        assert_eq!(
            format_rfc3339_millis(-62_167_219_200_000),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            format_rfc3339_millis(253_402_300_800_000),
            "10000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_for_four_centuries_round_trips_through_days_from_civil() {
        for days in -146_097..146_097 {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let year = year - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month = i64::from(month);
        let day_of_year =
            (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
}
