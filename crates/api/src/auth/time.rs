//! Parsing the time a signature claims.
//!
//! RPC `Timestamp` and ACS3 `x-acs-date` are ISO 8601 UTC
//! (`yyyy-MM-ddTHH:mm:ssZ`); ROA V1 uses the HTTP `Date` header (RFC 1123).
//! Only the format is checked here: the server enforces the ±15 min window,
//! which is why a bad format must be its own error (`InvalidTimeStamp.Format`).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::AuthError;

/// `yyyy-MM-ddTHH:mm:ssZ`, the form every SDK sends; other RFC 3339 forms
/// (fractional seconds, explicit offsets) are accepted and converted to UTC.
pub(crate) fn parse_iso8601(s: &str) -> Result<DateTime<Utc>, AuthError> {
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ") {
        return Ok(t.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AuthError::InvalidTimestampFormat(s.to_string()))
}

/// An HTTP date (`Mon, 23 Nov 2026 00:05:19 GMT`; the obsolete RFC 850 and
/// asctime forms are accepted too, as HTTP requires).
pub(crate) fn parse_http_date(s: &str) -> Result<DateTime<Utc>, AuthError> {
    httpdate::parse_http_date(s)
        .map(DateTime::<Utc>::from)
        .map_err(|_| AuthError::InvalidTimestampFormat(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn iso8601_forms() {
        let want = Utc.with_ymd_and_hms(2026, 11, 23, 0, 5, 19).unwrap();
        assert_eq!(parse_iso8601("2026-11-23T00:05:19Z").unwrap(), want);
        assert_eq!(parse_iso8601("2026-11-23T08:05:19+08:00").unwrap(), want);
        for bad in ["", "mock date", "2026-11-23 00:05:19", "2026-13-23T00:05:19Z"] {
            assert_eq!(parse_iso8601(bad), Err(AuthError::InvalidTimestampFormat(bad.into())));
        }
    }

    #[test]
    fn http_dates() {
        let want = Utc.with_ymd_and_hms(2026, 11, 23, 0, 5, 19).unwrap();
        assert_eq!(parse_http_date("Mon, 23 Nov 2026 00:05:19 GMT").unwrap(), want);
        assert!(matches!(parse_http_date("mock date"), Err(AuthError::InvalidTimestampFormat(_))));
    }
}
