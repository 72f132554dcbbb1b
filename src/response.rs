//! What the logged status and length of a response tell about a call's outcome.
//!
//! pveproxy logs the final status and the byte length of the body it sent (pve-sources.md §1).
//! Two facts make them worth more than "HTTP 200":
//!
//! - The web UI's writes go through `/api2/extjs`, which answers HTTP 200 even on error, but the
//!   body differs (pve-http-server `src/PVE/APIServer/Formatter/Standard.pm`,
//!   `prepare_response_data`): success is `{"data":…,"success":1}`, an error adds `"message"` and
//!   `"status"` with `"success":0`. Perl's JSON encoder varies the key order, never the length:
//!   a null answer is exactly 25 bytes, a UPID answer `len(UPID) + 23`. `/api2/json` has the
//!   same without `success` (13 bytes and `+ 11`), `htmljs` the extjs body with each `"` as
//!   `&quot;` (`encode_entities`). A body over 1024 bytes may be gzip-compressed (the length is
//!   then the compressed one) and tells nothing.
//! - Some statuses are not the call's: 595–599 are AnyEvent::HTTP's own codes for a proxied call
//!   that got no answer in time, and `500` without a body is a client that went away
//!   (`log_aborted_request`); the call may have run. 301 and 308 are `ensure_tls_connection`'s
//!   redirects to HTTPS: the call never ran.
//!
//! A UPID is `UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:` with PID, PSTART and STARTTIME as
//! `%08X` (pve-common `src/PVE/UPID.pm` `encode`; PSTART grows a ninth digit after 497 days of
//! uptime), so its length is 36 bytes plus the lengths of the node, type, id and user.

/// The length of a body bigger than this may be the compressed one (`response()` compresses
/// above 1024 bytes when the client accepts it).
pub(crate) const COMPRESSED_ABOVE: u64 = 1024;

/// The fixed part of a UPID's length: `UPID:` and eight `:` around three 8-digit hex numbers.
const UPID_FIXED: usize = 36;

/// The successful answers of a format: the length of a null answer and what a UPID answer adds
/// to the UPID's JSON string length; `None` for formats whose bodies are not those (png, html).
pub(crate) fn success_shape(format: &[u8]) -> Option<(u64, u64)> {
    match format {
        b"json" => Some((13, 11)),
        b"extjs" => Some((25, 23)),
        // encode_entities turns the four (null answer) or six (UPID answer) quotes into &quot;.
        b"htmljs" => Some((45, 53)),
        _ => None,
    }
}

/// The length of a string encoded as a JSON string's content by Perl's JSON (`"` and `\` are
/// escaped with a backslash, control bytes as `\uXXXX` or a two-byte escape).
pub(crate) fn json_string_len(s: &[u8]) -> usize {
    s.iter()
        .map(|&b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0C => 2,
            0..=0x1F => 6,
            _ => 1,
        })
        .sum()
}

/// The possible lengths of a UPID with these parts, for PSTART of 8 or 9 digits.
pub(crate) fn upid_lengths(node: &[u8], kind: &str, id: &[u8], user: &[u8]) -> [usize; 2] {
    let len = UPID_FIXED + node.len() + kind.len() + id.len() + user.len();
    [len, len + 1]
}

/// What the status alone says, before the body is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 1xx, 2xx, 304: the call was answered as handled.
    Answered,
    /// A redirect to HTTPS (301, 308): the call never ran.
    Redirected,
    /// 595–599 or `500` without a body: the call may have run; its task may tell.
    Unanswered,
    /// Any other status: refused or failed.
    Failed,
}

/// Judges a logged status and length.
pub(crate) fn status(status: u16, length: Option<u64>) -> Status {
    match status {
        100..=299 | 304 => Status::Answered,
        301 | 308 => Status::Redirected,
        595..=599 => Status::Unanswered,
        500 if length.is_none() => Status::Unanswered,
        _ => Status::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_lengths_of_perls_json() {
        // The bodies themselves, as Perl's JSON writes them (one of the key orders).
        let extjs_null = br#"{"data":null,"success":1}"#;
        assert_eq!(success_shape(b"extjs").unwrap().0, extjs_null.len() as u64);
        let json_null = br#"{"data":null}"#;
        assert_eq!(success_shape(b"json").unwrap().0, json_null.len() as u64);
        let upid = "UPID:pve1:0000A1B2:0012D687:6A3BC788:qmstart:100:root@pam:";
        let extjs = format!(r#"{{"success":1,"data":"{upid}"}}"#);
        let (_, add) = success_shape(b"extjs").unwrap();
        assert_eq!(extjs.len() as u64, upid.len() as u64 + add);
        let json = format!(r#"{{"data":"{upid}"}}"#);
        assert_eq!(
            json.len() as u64,
            upid.len() as u64 + success_shape(b"json").unwrap().1
        );
        let htmljs = extjs.replace('"', "&quot;");
        assert_eq!(
            htmljs.len() as u64,
            upid.len() as u64 + success_shape(b"htmljs").unwrap().1
        );
        let htmljs_null = String::from_utf8_lossy(extjs_null).replace('"', "&quot;");
        assert_eq!(
            htmljs_null.len() as u64,
            success_shape(b"htmljs").unwrap().0
        );
        assert_eq!(
            upid_lengths(b"pve1", "qmstart", b"100", b"root@pam")[0],
            upid.len()
        );
        assert_eq!(success_shape(b"png"), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(status(200, Some(25)), Status::Answered);
        assert_eq!(status(101, None), Status::Answered);
        assert_eq!(status(304, None), Status::Answered);
        assert_eq!(status(301, Some(0)), Status::Redirected);
        assert_eq!(status(308, None), Status::Redirected);
        assert_eq!(status(596, Some(40)), Status::Unanswered);
        assert_eq!(status(500, None), Status::Unanswered);
        assert_eq!(status(500, Some(80)), Status::Failed);
        assert_eq!(status(403, Some(80)), Status::Failed);
    }

    #[test]
    fn json_escapes_count() {
        assert_eq!(json_string_len(b"a\"b\\c"), 7);
        assert_eq!(json_string_len(b"\x01"), 6);
    }
}
