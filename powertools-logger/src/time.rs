//! RFC 3339 UTC timestamps with milliseconds, without a date-time dependency.

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Appends `2026-11-21T13:42:27.123Z` for `millis` since the epoch.
pub(crate) fn write_rfc3339_millis(out: &mut Vec<u8>, millis: u64) {
    let secs = (millis / 1_000) as i64;
    let ms = (millis % 1_000) as u32;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let year = year.clamp(0, 9_999) as u32;
    push_2(out, year / 100);
    push_2(out, year % 100);
    out.push(b'-');
    push_2(out, month);
    out.push(b'-');
    push_2(out, day);
    out.push(b'T');
    push_2(out, sod / 3_600);
    out.push(b':');
    push_2(out, sod / 60 % 60);
    out.push(b':');
    push_2(out, sod % 60);
    out.push(b'.');
    out.push(b'0' + (ms / 100) as u8);
    push_2(out, ms % 100);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(millis: u64) -> String {
        let mut out = Vec::new();
        write_rfc3339_millis(&mut out, millis);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt(1_763_732_547_123), "2025-11-21T13:42:27.123Z");
        assert_eq!(fmt(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(fmt(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(fmt(1_709_164_800_007), "2024-02-29T00:00:00.007Z");
    }

    #[test]
    fn every_day_for_a_few_centuries_is_a_valid_date() {
        let mut previous = String::new();
        for day in 0..(400 * 366) {
            let s = fmt(day * 86_400_000 + 43_200_000);
            assert!(s > previous, "{s} after {previous}");
            let month: u32 = s[5..7].parse().unwrap();
            let dom: u32 = s[8..10].parse().unwrap();
            assert!((1..=12).contains(&month) && (1..=31).contains(&dom), "{s}");
            previous = s;
        }
    }
}
