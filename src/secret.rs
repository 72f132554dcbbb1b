//! Secrets found by the shape of a value, not by the name of its parameter.
//!
//! The schema's SECRET flag and [`crate::api::secret_by_name`] judge a parameter by its name, but
//! credentials also travel inside values whose names say nothing: an API token inside the
//! property string `target-endpoint` of `remote_migrate`, a password inside the `url` of
//! `download-url`, a ticket pasted into a description. This module finds the secret *part* of
//! such a value, so that only that part is redacted and the rest stays readable for the audit.
//!
//! The shapes, where they come from, and exactly what is secret (the byte spans [`scan`]
//! returns):
//!
//! * **API token** (`PVEAPIToken=USER@REALM!TOKENID=SECRET`): the `Authorization` header value
//!   that pve-manager `PVE/HTTPServer.pm` takes apart (pve-http-server `extract_auth_value`
//!   accepts `=` or a space after the name) and pve-access-control `src/PVE/AccessControl.pm`
//!   `verify_token` checks: the token id is a name, only the value after it is compared with the
//!   stored secret. Redacted: everything after the first `=` or `:` that follows the first `!`
//!   after `PVEAPIToken`, up to the end of the word (a `,` `;` `&`, quote, bracket, space or
//!   control byte). A user name may hold `!` or `=`, in which case more is redacted, never less.
//!   Without a `!` (not a well-formed token) the whole word after `PVEAPIToken` is redacted.
//! * **Bare token** (`USER@REALM!TOKENID=SECRET` without the prefix, as `apitoken=` is often
//!   written): a `!`, a token id, `=` or `:` and a UUID (what `PVE::API2::TokenConfig` generates).
//!   Redacted: the UUID and whatever word characters follow it.
//! * **Ticket** (`PVE:USER@REALM:HEXTIME::SIGNATURE`, `PVEVNC::HEXTIME::SIGNATURE`,
//!   `PVETUNNEL:…`, any `PVE<LETTERS>:` prefix): pve-common `src/PVE/Ticket.pm`
//!   `assemble_rsa_ticket` writes `PREFIX:DATA:HEXTIME::BASE64SIG`, and `verify_rsa_ticket`
//!   accepts it only if the signature verifies over everything before `::`. The plain part (user,
//!   time) is no credential: without the signature nothing can be forged from it. Redacted: from
//!   the first `::` after the prefix (and after the empty data of a VNC ticket) to the end of the
//!   word, any further colons included. `PVE: my cluster` has no `::` and is left alone. The
//!   SPICE proxy ticket that a client sends as its `CONNECT` target
//!   (`pvespiceproxy:HEXTIME:VMID:NODE:PORT::DIGEST:PORT`, `assemble_spice_ticket` in the same
//!   file) has the same shape: its digest and the port after it are redacted.
//! * **Auth cookie** (`PVEAuthCookie=<ticket>`, as pasted from a `Cookie` header): the ticket
//!   rule applies to the value; a value that is not a well-formed ticket is redacted whole.
//! * **Credentials in a URL** (`scheme://user:pass@host/…`, RFC 3986 userinfo): redacted is the
//!   password (after the first `:` of the userinfo, up to the last `@` of the authority). A
//!   userinfo without `:` is redacted whole: a lone user part is usually a token
//!   (`https://TOKEN@host`). A password with a raw `/`, `?` or `#` (invalid, but typed) is
//!   caught too: when the authority has a `:` but no `@`, the userinfo runs to the next `@`.
//!   `https://host/path` has no userinfo and is left alone.
//!
//! Every shape is matched ASCII case-insensitively (`pveapitoken=`, `HTTPS://`), anywhere in the
//! value (no word boundary needed), and in the value as it is, once percent-decoded and twice
//! percent-decoded (`PVE%3Aroot%40pam%3A…%3A%3Asig`, `%253A`), the spans mapped back to the
//! original bytes. The cost on an ordinary value is one pass looking for `:` `%` `!` `=`; only
//! values with one of them are scanned. When in doubt a rule redacts more.
//!
//! The OpenID `code` and `state` of `/access/openid/login` are secret by name on that path (the
//! schema, see `scripts/gen-api.py`), not by shape, as are the payloads that go into a guest or
//! its monitor (`agent/file-write` `content`, `agent/exec` `input-data`, `monitor` `command`).
//!
//! Some parameters are secret **in part by name** (the schema's SECRET_PARTS flag): the webhook
//! notification target's `url` and `header`. Their secret parts ([`of_secret_parts`]) are found
//! by the parameter's own format, on top of the shapes above:
//!
//! * a URL: everything after the host (path, query, fragment), where webhook services keep the
//!   credential (`https://hooks.slack.com/services/T…/B…/SECRET`,
//!   `…/api/webhooks/ID/TOKEN`, `?token=…`); the scheme and host stay readable;
//! * a property string `name=…,value=…` (pve-manager `PVE/API2/Cluster/Notifications.pm`
//!   webhook `header`, proxmox-notify `KeyAndBase64Val`): the `value`, up to the next `,`.
//!
//! A value in which neither is found is redacted whole.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memmem;
use serde_json::Value;

/// What of a parameter's value must not be shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Redaction {
    /// Nothing: the value is shown as it is.
    #[default]
    None,
    /// The whole value (a secret parameter, or a nested value holding a secret key).
    Whole,
    /// These byte spans of the value: sorted, disjoint, not adjacent, not empty.
    Parts(Vec<Range<usize>>),
}

impl Redaction {
    /// The secret parts of `value` found by their shape.
    pub(crate) fn of_value(value: &[u8]) -> Redaction {
        Redaction::from_spans(scan(value))
    }

    pub(crate) fn from_spans(spans: Vec<Range<usize>>) -> Redaction {
        if spans.is_empty() {
            Redaction::None
        } else {
            Redaction::Parts(spans)
        }
    }

    /// Whether anything is redacted.
    pub(crate) fn any(&self) -> bool {
        !matches!(self, Redaction::None)
    }

    /// The value cut into pieces, each with whether it is secret; empty pieces left out.
    pub(crate) fn pieces<'v>(&self, value: &'v [u8]) -> Vec<(&'v [u8], bool)> {
        match self {
            Redaction::None => vec![(value, false)],
            Redaction::Whole => vec![(value, true)],
            Redaction::Parts(spans) => {
                let mut pieces = Vec::with_capacity(2 * spans.len() + 1);
                let mut at = 0;
                for span in spans {
                    let (start, end) = (span.start.min(value.len()), span.end.min(value.len()));
                    if start > at {
                        pieces.push((&value[at..start], false));
                    }
                    if end > start.max(at) {
                        pieces.push((&value[start.max(at)..end], true));
                    }
                    at = at.max(end);
                }
                if at < value.len() {
                    pieces.push((&value[at..], false));
                }
                pieces
            }
        }
    }

    /// The value with each secret piece replaced by `mark`.
    pub(crate) fn apply<'v>(&self, value: &'v [u8], mark: &[u8]) -> Cow<'v, [u8]> {
        match self {
            Redaction::None => Cow::Borrowed(value),
            Redaction::Whole => Cow::Owned(mark.to_vec()),
            Redaction::Parts(_) => {
                let mut out = Vec::with_capacity(value.len());
                for (piece, secret) in self.pieces(value) {
                    out.extend_from_slice(if secret { mark } else { piece });
                }
                Cow::Owned(out)
            }
        }
    }
}

/// The secret parts of a value that its parameter's name says holds some (the schema's
/// SECRET_PARTS flag): those of its format (see the module documentation) and those of any
/// shape; all of it when its format is not recognised.
pub(crate) fn of_secret_parts(value: &[u8]) -> Redaction {
    let mut spans = scan(value);
    let before = spans.len();
    if let Some(scheme) = memmem::find(value, b"://") {
        let host = scheme + 3;
        let end = value[host..]
            .iter()
            .position(|&b| ends_url(b))
            .map_or(value.len(), |n| host + n);
        if let Some(n) = value[host..end]
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        {
            // The `/` (or `?`, `#`) itself stays: it shows there was more.
            spans.push(host + n + 1..end);
        }
    } else {
        let mut at = 0;
        for item in value.split(|&b| b == b',') {
            if let Some(v) = item.strip_prefix(b"value=") {
                let start = at + b"value=".len();
                spans.push(start..start + v.len());
            }
            at += item.len() + 1;
        }
    }
    let found = spans.len() > before;
    match Redaction::from_spans(merge(spans)) {
        // A URL that ends at its host has nothing after it to hide.
        _ if !found && memmem::find(value, b"://").is_some() => Redaction::of_value(value),
        _ if !found => Redaction::Whole,
        r => r,
    }
}

/// The byte spans of `value` that are secret by their shape: sorted, disjoint, merged.
pub(crate) fn scan(value: &[u8]) -> Vec<Range<usize>> {
    // Every shape holds one of these (`:` of a ticket or URL, `!` of a token, `=` after
    // `PVEAPIToken`), or hides it behind a `%`.
    if !value
        .iter()
        .any(|&b| matches!(b, b':' | b'%' | b'!' | b'='))
    {
        return Vec::new();
    }
    let mut spans = Vec::new();
    shapes(value, &mut spans);
    if memchr::memchr(b'%', value).is_some() {
        if let Some((once, map1)) = percent_decode(value) {
            let mut found = Vec::new();
            shapes(&once, &mut found);
            spans.extend(found.iter().map(|r| map1[r.start]..map1[r.end]));
            if let Some((twice, map2)) = percent_decode(&once) {
                found.clear();
                shapes(&twice, &mut found);
                spans.extend(found.iter().map(|r| map1[map2[r.start]]..map1[map2[r.end]]));
            }
        }
    }
    merge(spans)
}

/// Sorts and joins overlapping or touching spans; drops empty ones.
fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.retain(|r| r.start < r.end);
    spans.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for r in spans {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `value` with each `%XX` decoded, and for each decoded byte (plus one for the end) its offset
/// in `value`; `None` when there is nothing to decode.
fn percent_decode(value: &[u8]) -> Option<(Vec<u8>, Vec<usize>)> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(value.len());
    let mut map = Vec::with_capacity(value.len() + 1);
    let mut decoded = false;
    let mut i = 0;
    while i < value.len() {
        map.push(i);
        let pair = value
            .get(i + 1..i + 3)
            .and_then(|p| Some((hex(p[0])?, hex(p[1])?)));
        match (value[i], pair) {
            (b'%', Some((hi, lo))) => {
                out.push((hi * 16 + lo) as u8);
                decoded = true;
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    map.push(value.len());
    decoded.then_some((out, map))
}

/// Ends a word: where a token secret or a ticket signature stops. No credential these shapes
/// carry holds one of these bytes (signatures are base64, token secrets UUIDs).
fn ends_word(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b",;&\"'`<>\\|()[]{}".contains(&b)
}

/// Ends a URL: whitespace and controls (a careless password may hold anything else).
fn ends_url(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// The end of the word starting at `from`.
fn word_end(d: &[u8], from: usize) -> usize {
    d[from.min(d.len())..]
        .iter()
        .position(|&b| ends_word(b))
        .map_or(d.len(), |n| from + n)
}

fn starts_with_ci(d: &[u8], at: usize, word: &[u8]) -> bool {
    d.get(at..at + word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}

/// Adds the spans of every shape in `d` (one view of the value) to `spans`.
fn shapes(d: &[u8], spans: &mut Vec<Range<usize>>) {
    let mut at = 0;
    while let Some(n) = memchr::memchr2(b'p', b'P', &d[at..]) {
        let i = at + n;
        at = i + 1;
        if !starts_with_ci(d, i, b"pve") {
            continue;
        }
        if starts_with_ci(d, i, b"pveapitoken") {
            api_token(d, i + b"pveapitoken".len(), spans);
        } else if starts_with_ci(d, i, b"pveauthcookie=") {
            let from = i + b"pveauthcookie=".len();
            match ticket(d, from) {
                Some(sig) => spans.push(sig),
                None => spans.push(from..word_end(d, from)),
            }
        } else if let Some(sig) = ticket(d, i) {
            spans.push(sig);
        }
    }
    for i in memmem::find_iter(d, b"://") {
        url_password(d, i + 3, spans);
    }
    for i in memchr::memchr_iter(b'!', d) {
        bare_token(d, i + 1, spans);
    }
}

/// `PVEAPIToken` was found and `at` is right after it.
fn api_token(d: &[u8], at: usize, spans: &mut Vec<Range<usize>>) {
    let Some(&sep) = d.get(at) else { return };
    if !matches!(sep, b'=' | b' ' | b':') {
        return;
    }
    let mut from = at + 1;
    while d.get(from) == Some(&b' ') {
        from += 1;
    }
    // The token id may hold a `,` (user names can), so look for the `!` up to a space or
    // control byte, not to the end of the word.
    let id_end = d[from..]
        .iter()
        .position(|&b| b <= b' ' || b == 0x7f)
        .map_or(d.len(), |n| from + n);
    let bang = memchr::memchr(b'!', &d[from..id_end]).map(|n| from + n);
    let secret = bang.and_then(|bang| {
        d[bang..id_end]
            .iter()
            .position(|&b| b == b'=' || b == b':')
            .map(|n| bang + n + 1)
    });
    // Without a `!` in the first word (no token id there), the first word is redacted too.
    let first = word_end(d, from);
    if bang.is_none_or(|b| b > first) {
        spans.push(from..first);
    }
    if let Some(start) = secret {
        spans.push(start..word_end(d, start));
    }
}

/// The signature span of a ticket starting at `at` (its `PVE…:` prefix), if one is there.
fn ticket(d: &[u8], at: usize) -> Option<Range<usize>> {
    if !starts_with_ci(d, at, b"pve") {
        return None;
    }
    let letters = d[at + 3..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let mut i = at + 3 + letters;
    if d.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    // A VNC ticket has no data: `PVEVNC::HEXTIME::SIG`.
    if d.get(i) == Some(&b':') {
        i += 1;
    }
    // The plain part cannot hold whitespace (`\S+` in verify_rsa_ticket), but its user name may
    // hold `,` or `;`: look for `::` up to whitespace.
    let plain_end = d[i..]
        .iter()
        .position(|&b| b <= b' ' || b == 0x7f)
        .map_or(d.len(), |n| i + n);
    let sep = memmem::find(&d[i..plain_end], b"::")? + i;
    if sep == i {
        return None; // `PVE:::x`: no plain part at all
    }
    let start = sep + 2;
    let end = word_end(d, start);
    (end > start).then_some(start..end)
}

/// `://` was found and `at` is right after it.
fn url_password(d: &[u8], at: usize, spans: &mut Vec<Range<usize>>) {
    let end = d[at..]
        .iter()
        .position(|&b| ends_url(b))
        .map_or(d.len(), |n| at + n);
    let url = &d[at..end];
    let authority_end = url
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(url.len());
    let authority = &url[..authority_end];
    let userinfo_end = match memchr::memrchr(b'@', authority) {
        Some(n) => n,
        // `user:pa/ss@host`: a `:` but no `@` before the first `/`, and an `@` after it; not
        // when the `:` is that of a port (`host:8006/@x`).
        None if memchr::memrchr(b':', authority).is_some_and(|n| {
            !authority[n + 1..].iter().all(u8::is_ascii_digit) || n + 1 == authority.len()
        }) =>
        {
            match memchr::memchr(b'@', &url[authority_end..]) {
                Some(n) => authority_end + n,
                None => return,
            }
        }
        None => return,
    };
    let userinfo = &url[..userinfo_end];
    let start = memchr::memchr(b':', userinfo).map_or(0, |n| n + 1);
    spans.push(at + start..at + userinfo_end);
}

/// A `!` was found and `at` is right after it: `TOKENID=UUID` or `TOKENID:UUID`.
fn bare_token(d: &[u8], at: usize, spans: &mut Vec<Range<usize>>) {
    let id = d[at..]
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        .count();
    if id == 0 || !matches!(d.get(at + id), Some(b'=' | b':')) {
        return;
    }
    let start = at + id + 1;
    if is_uuid(&d[start..]) {
        spans.push(start..word_end(d, start));
    }
}

/// Whether `d` starts with a UUID (`8-4-4-4-12` hex digits, any case).
fn is_uuid(d: &[u8]) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (g, len) in GROUPS.iter().enumerate() {
        if g > 0 {
            if d.get(i) != Some(&b'-') {
                return false;
            }
            i += 1;
        }
        match d.get(i..i + len) {
            Some(digits) if digits.iter().all(u8::is_ascii_hexdigit) => i += len,
            _ => return false,
        }
    }
    true
}

/// A request line outside the API, shown where it is the only record, with its secrets
/// redacted: the shapes above, and the query values of secret-looking names, `code` and `state`
/// included (the OpenID provider redirects the browser to the UI, `GET /?state=…&code=…`).
pub(crate) fn redact_request_line(line: &[u8]) -> Cow<'_, [u8]> {
    let mut spans = scan(line);
    if let Some(q) = memchr::memchr(b'?', line) {
        let end = memchr::memchr(b' ', &line[q..]).map_or(line.len(), |n| q + n);
        let mut at = q + 1;
        for pair in line[q + 1..end].split(|&b| b == b'&' || b == b';') {
            if let Some(eq) = memchr::memchr(b'=', pair) {
                let key = &pair[..eq];
                let key = percent_decode(key).map_or_else(|| key.to_vec(), |(k, _)| k);
                if crate::api::secret_by_name(&key)
                    || key.eq_ignore_ascii_case(b"code")
                    || key.eq_ignore_ascii_case(b"state")
                {
                    spans.push(at + eq + 1..at + pair.len());
                }
            }
            at += pair.len() + 1;
        }
    }
    match Redaction::from_spans(merge(spans)) {
        Redaction::None => Cow::Borrowed(line),
        r => Cow::Owned(r.apply(line, b"<redacted>").into_owned()),
    }
}

/// The compact JSON text of a nested spool value (exactly its `Display`, as the pvesh option
/// shows it) with how much of it to redact: the secret parts of its strings, or all of it when
/// an object key has a secret shape.
pub(crate) fn scan_json(value: &Value) -> (String, Redaction) {
    let mut text = String::new();
    let mut spans = Vec::new();
    let whole = !write_json(value, &mut text, &mut spans);
    let redaction = if whole {
        Redaction::Whole
    } else {
        Redaction::from_spans(merge(spans))
    };
    (text, redaction)
}

/// Writes `value` as compact JSON; false when a key has a secret shape.
fn write_json(value: &Value, out: &mut String, spans: &mut Vec<Range<usize>>) -> bool {
    match value {
        Value::String(s) => write_json_string(s, out, spans),
        Value::Array(items) => {
            out.push('[');
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ok &= write_json(item, out, spans);
            }
            out.push(']');
            ok
        }
        Value::Object(map) => {
            out.push('{');
            let mut ok = true;
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ok &= scan(key.as_bytes()).is_empty();
                push_json_str(out, key);
                out.push(':');
                ok &= write_json(item, out, spans);
            }
            out.push('}');
            ok
        }
        scalar => {
            out.push_str(&scalar.to_string());
            true
        }
    }
}

/// Writes a JSON string, adding the spans (in `out`) of its secret parts.
fn write_json_string(s: &str, out: &mut String, spans: &mut Vec<Range<usize>>) -> bool {
    let found = scan(s.as_bytes());
    out.push('"');
    let mut at = 0;
    for r in &found {
        // Spans start after an ASCII byte and end before one (or at the end): char boundaries.
        let (Some(before), Some(secret)) = (s.get(at..r.start), s.get(r.start..r.end)) else {
            return false;
        };
        push_json_str_inner(out, before);
        let start = out.len();
        push_json_str_inner(out, secret);
        spans.push(start..out.len());
        at = r.end;
    }
    push_json_str_inner(out, &s[at..]);
    out.push('"');
    true
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_str_inner(out, s);
    out.push('"');
}

/// JSON string escaping is per char, so escaping pieces one by one escapes the whole.
fn push_json_str_inner(out: &mut String, s: &str) {
    let quoted = Value::String(s.to_owned()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// A copy of a spool value with the secret parts of its strings replaced by `mark`; `None`
/// when it holds none.
pub(crate) fn redact_json(value: &Value, mark: &str) -> Option<Value> {
    match value {
        Value::String(s) => match Redaction::of_value(s.as_bytes()) {
            Redaction::None => None,
            r => Some(Value::String(
                String::from_utf8_lossy(&r.apply(s.as_bytes(), mark.as_bytes())).into_owned(),
            )),
        },
        Value::Array(items) => {
            let redacted: Vec<Option<Value>> = items.iter().map(|v| redact_json(v, mark)).collect();
            redacted.iter().any(Option::is_some).then(|| {
                Value::Array(
                    redacted
                        .into_iter()
                        .zip(items)
                        .map(|(r, v)| r.unwrap_or_else(|| v.clone()))
                        .collect(),
                )
            })
        }
        Value::Object(map) => {
            if map.keys().any(|k| !scan(k.as_bytes()).is_empty()) {
                return Some(Value::String(mark.to_owned()));
            }
            let redacted: Vec<Option<Value>> = map.values().map(|v| redact_json(v, mark)).collect();
            redacted.iter().any(Option::is_some).then(|| {
                Value::Object(
                    redacted
                        .into_iter()
                        .zip(map)
                        .map(|(r, (k, v))| (k.clone(), r.unwrap_or_else(|| v.clone())))
                        .collect(),
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value with its secret parts as `<>`.
    fn redact(value: &str) -> String {
        let r = Redaction::of_value(value.as_bytes());
        String::from_utf8(r.apply(value.as_bytes(), b"<>").into_owned()).unwrap()
    }

    const UUID: &str = "0b8a5a57-2d2c-4b4e-9f83-1e6d2b7a9c01";

    #[test]
    fn api_token_keeps_the_token_id() {
        assert_eq!(
            redact(&format!(
                "host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig={UUID},fingerprint=AA:BB:CC"
            )),
            "host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig=<>,fingerprint=AA:BB:CC"
        );
        assert_eq!(
            redact("PVEAPIToken=root@pam!mig:s3cr3tvalue"),
            "PVEAPIToken=root@pam!mig:<>"
        );
        assert_eq!(
            redact("Authorization: PVEAPIToken root@pam!ci=abc-def"),
            "Authorization: PVEAPIToken root@pam!ci=<>"
        );
        // Case tricks and odd user names redact as much or more.
        assert_eq!(
            redact("pveapitoken=a,b@pve!x=sec;rest"),
            "pveapitoken=<>,b@pve!x=<>;rest"
        );
        assert_eq!(
            redact("PVEAPIToken=bang!u=v@pve!x=sec"),
            "PVEAPIToken=bang!u=<>"
        );
        // No token id: all of it.
        assert_eq!(redact("PVEAPIToken=justasecret,x=1"), "PVEAPIToken=<>,x=1");
        assert_eq!(
            redact("PVEAPIToken=justasecret,d=hi!x=y"),
            "PVEAPIToken=<>,d=hi!x=<>"
        );
        assert_eq!(redact("PVEAPITokenizer=1"), "PVEAPITokenizer=1");
    }

    #[test]
    fn bare_token_with_a_uuid() {
        assert_eq!(
            redact(&format!("apitoken=root@pam!mig={UUID},x=1")),
            "apitoken=root@pam!mig=<>,x=1"
        );
        assert_eq!(redact("hello!world=1"), "hello!world=1");
    }

    #[test]
    fn tickets_keep_the_plain_part() {
        assert_eq!(
            redact("PVE:root@pam:65A1B2C3::c2lnbmF0dXJl+/=="),
            "PVE:root@pam:65A1B2C3::<>"
        );
        assert_eq!(
            redact("x PVEVNC::65A1B2C3::c2ln,port=5900"),
            "x PVEVNC::65A1B2C3::<>,port=5900"
        );
        assert_eq!(
            redact("PVETUNNEL:root@pam:x:65A1B2C3::sig::more"),
            "PVETUNNEL:root@pam:x:65A1B2C3::<>"
        );
        assert_eq!(redact("pve:a,b@pve:65A1::sig"), "pve:a,b@pve:65A1::<>");
        assert_eq!(
            redact("Cookie: PVEAuthCookie=PVE:root@pam:65A1B2C3::sig; lang=en"),
            "Cookie: PVEAuthCookie=PVE:root@pam:65A1B2C3::<>; lang=en"
        );
        assert_eq!(
            redact("PVEAuthCookie=garbled; lang=en"),
            "PVEAuthCookie=<>; lang=en"
        );
    }

    #[test]
    fn tickets_percent_encoded() {
        assert_eq!(
            redact("PVE%3Aroot%40pam%3A65A1B2C3%3A%3Ac2ln%2Bbg%3D%3D"),
            "PVE%3Aroot%40pam%3A65A1B2C3%3A%3A<>"
        );
        assert_eq!(
            redact("t=PVEVNC%253A%253A65A1B2C3%253A%253Asig&x=1"),
            "t=PVEVNC%253A%253A65A1B2C3%253A%253A<>&x=1"
        );
    }

    #[test]
    fn not_tickets() {
        for text in [
            "PVE: my cluster",
            "PVE::Storage and PVE::Tools",
            "see PVE:root@pam:65A1 later",
            "PVE:a :: b",
            "pvesh get /nodes",
            "PVE:::x",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            redact("https://user:pass@host/file.iso"),
            "https://user:<>@host/file.iso"
        );
        assert_eq!(
            redact("HTTPS://user:p@ss:w0rd@host:8443/x?y=1"),
            "HTTPS://user:<>@host:8443/x?y=1"
        );
        assert_eq!(
            redact("https://user:pa/ss?x@host/x"),
            "https://user:<>@host/x"
        );
        assert_eq!(
            redact("https://ghp_token@github.com/x"),
            "https://<>@github.com/x"
        );
        assert_eq!(
            redact("https%3A%2F%2Fuser%3Ap%40ss%40host%2Fx"),
            "https%3A%2F%2Fuser%3A<>%40host%2Fx"
        );
        assert_eq!(redact("url=https://user:@host/"), "url=https://user:@host/");
    }

    #[test]
    fn not_url_credentials() {
        for text in [
            "https://host/path",
            "https://host:8006/path/@user",
            "http://[fe80::1]:8006/x",
            "see https://host/a?b=c@d",
            "mailto:user@example.com",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn secret_parts_by_name() {
        let redact = |value: &str| {
            let r = of_secret_parts(value.as_bytes());
            String::from_utf8(r.apply(value.as_bytes(), b"<>").into_owned()).unwrap()
        };
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/XyZ?a=b"),
            "https://hooks.slack.com/<>"
        );
        assert_eq!(
            redact("https://u:pw@ntfy.example.com:8443/topic"),
            "https://u:<>@ntfy.example.com:8443/<>"
        );
        assert_eq!(redact("https://example.com"), "https://example.com");
        assert_eq!(
            redact("https://example.com?token=abc"),
            "https://example.com?<>"
        );
        assert_eq!(
            redact("name=Authorization,value=QmVhcmVy"),
            "name=Authorization,value=<>"
        );
        assert_eq!(redact("value=QQ==,name=X"), "value=<>,name=X");
        // Neither a URL nor a property string with a value: all of it.
        assert_eq!(redact("hooks.example.com/x"), "<>");
        assert_eq!(redact("name=X"), "<>");
    }

    #[test]
    fn plain_values_are_untouched() {
        for text in [
            "",
            "virtio=BC:24:11:00:00:01,bridge=vmbr0",
            "local:iso/debian-12.iso",
            "Hello, world!",
            "100%",
            "%zz%3",
        ] {
            assert_eq!(redact(text), text);
            assert_eq!(Redaction::of_value(text.as_bytes()), Redaction::None);
        }
    }

    #[test]
    fn request_lines_outside_the_api() {
        let line = b"GET /?state=af0ifjsl&session_state=x&c%6Fde=Splx HTTP/1.1";
        assert_eq!(
            redact_request_line(line).as_ref(),
            b"GET /?state=<redacted>&session_state=x&c%6Fde=<redacted> HTTP/1.1"
        );
        assert_eq!(
            redact_request_line(b"GET /x?t=PVE:u@pam:65A1::sig HTTP/1.1").as_ref(),
            b"GET /x?t=PVE:u@pam:65A1::<redacted> HTTP/1.1"
        );
        let plain = b"GET /pve2/ext6/ext-all.js?ver=7.0.0 HTTP/1.1";
        assert_eq!(redact_request_line(plain).as_ref(), plain);
    }

    #[test]
    fn pieces_cover_the_value() {
        let v = b"a=PVE:u:1::sig,b=https://u:p@h";
        let r = Redaction::of_value(v);
        let pieces = r.pieces(v);
        assert_eq!(
            pieces.iter().map(|p| p.0).collect::<Vec<_>>().concat(),
            v.to_vec()
        );
        let secret: Vec<&[u8]> = pieces.iter().filter(|p| p.1).map(|p| p.0).collect();
        assert_eq!(secret, [&b"sig"[..], b"p"]);
    }

    #[test]
    fn json_text_is_the_display_form() {
        let value: Value = serde_json::json!({
            "a": ["x", 1, true, null, {"b": "é\"\\\n"}],
            "url": "https://u:pa\"ss@h/",
            "t": "PVE:root@pam:65A1::sig",
        });
        let (text, redaction) = scan_json(&value);
        assert_eq!(text, value.to_string());
        let shown =
            String::from_utf8(redaction.apply(text.as_bytes(), b"<>").into_owned()).unwrap();
        assert!(shown.contains(r#""url":"https://u:<>@h/""#), "{shown}");
        assert!(shown.contains(r#""t":"PVE:root@pam:65A1::<>""#), "{shown}");
        assert_eq!(redact_json(&value, "<>").unwrap()["url"], "https://u:<>@h/");
        let key = serde_json::json!({"PVEAPIToken=a@b!c=secret": 1});
        assert_eq!(scan_json(&key).1, Redaction::Whole);
        assert_eq!(redact_json(&key, "<>").unwrap(), "<>");
        assert_eq!(redact_json(&serde_json::json!({"a": "b"}), "<>"), None);
    }

    mod rendered {
        //! Every output format, fed through the binary's own path from an access.log line
        //! (the value percent-encoded in the query) and from a spool event (the value in the
        //! body, top level and nested), shows no byte of the secret part.

        use proptest::prelude::*;
        use proptest::test_runner::Config;

        use crate::cli::Format;
        use crate::event::{Event, Origin};
        use crate::render::Renderer;
        use crate::request::Request;
        use crate::source::{access, spool};

        /// Every format, comments on: (secrets hidden, secrets shown).
        fn render_all(event: &Event<'_>) -> (String, String) {
            let render = |show_secrets| {
                let mut out = Vec::new();
                for format in [
                    Format::Pvesh,
                    Format::Json,
                    Format::JsonPretty,
                    Format::Script,
                ] {
                    let mut renderer = Renderer::new(format, show_secrets, true);
                    renderer.event(&mut out, event);
                    // The script holds its events until the end (its header has the list of
                    // secret variables).
                    renderer.finish(&mut out);
                }
                String::from_utf8_lossy(&out).into_owned()
            };
            (render(false), render(true))
        }

        fn percent_encode(text: &str) -> String {
            text.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        }

        /// Renders a query-string event and a spool event of `name` = `value`.
        fn outputs(path: &str, name: &str, value: &str) -> Vec<(String, String)> {
            let mut outs = Vec::new();
            let line = format!(
                "::ffff:10.0.0.7 - alice@pve [24/06/2026:14:00:05 +0200] \
                 \"POST /api2/json{path}?{}={} HTTP/1.1\" 200 81",
                percent_encode(name),
                percent_encode(value)
            );
            let parsed = access::parse(line.as_bytes()).expect("a log line");
            let request = Request::parse(parsed.request);
            let time = parsed.timestamp().expect("a time");
            let origin = Origin {
                file: "access.log",
                line: 1,
            };
            let event = Event::from_request(&parsed, time, &request, None, origin);
            outs.push(render_all(&event));
            for params in [
                serde_json::json!({ name: value }),
                serde_json::json!({ name: [value, "x"] }),
                serde_json::json!({ name: {"k": value, "n": [1, value]} }),
            ] {
                let body = serde_json::json!({
                    "method": "POST", "path": path, "params": params,
                    "userid": "alice@pve", "format": "json",
                });
                let body = spool::parse_event(body.to_string().as_bytes()).expect("an event");
                let mut joined = Event::from_request(&parsed, time, &request, None, origin);
                joined.attach_body(&body);
                outs.push(render_all(&joined));
                let alone = Event::from_spool(&body, time, None, origin);
                outs.push(render_all(&alone));
            }
            outs
        }

        /// ASCII case flipped where `flips` says so.
        fn flip_case(text: &str, flips: &[bool]) -> String {
            text.chars()
                .zip(flips.iter().cycle())
                .map(|(c, &f)| {
                    if f {
                        if c.is_ascii_uppercase() {
                            c.to_ascii_lowercase()
                        } else {
                            c.to_ascii_uppercase()
                        }
                    } else {
                        c
                    }
                })
                .collect()
        }

        /// A secret value of one of the shapes: (the whole credential, its secret part).
        fn shaped() -> impl Strategy<Value = (String, String)> {
            let secret = "[A-Za-z0-9]{16,32}";
            let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
            let shapes = prop_oneof![
                secret.prop_map(|s| (format!("PVEAPIToken=root@pam!mig={s}"), s)),
                secret.prop_map(|s| (format!("PVEAPIToken=ci@pve!t-1:{s}"), s)),
                uuid.prop_map(|s| (format!("root@pam!mig={s}"), s)),
                secret.prop_map(|s| (format!("PVE:root@pam:65A1B2C3::{s}"), s)),
                secret.prop_map(|s| (format!("PVEVNC::65A1B2C3::{s}"), s)),
                secret.prop_map(|s| (format!("PVETUNNEL:root@pam:65A1B2C3::{s}"), s)),
                secret.prop_map(|s| (format!("PVEAuthCookie=PVE:u@pam:65A1B2C3::{s}"), s)),
                secret.prop_map(|s| (format!("https://user:{s}@host/x.iso"), s)),
                secret.prop_map(|s| (format!("https://{s}@host/x.iso"), s)),
            ];
            (shapes, prop::collection::vec(any::<bool>(), 1..8), 0..3u8).prop_map(
                |((whole, secret), flips, encode)| {
                    // Case tricks on the shape's own letters, never on the secret.
                    let shape = whole.strip_suffix(&secret).map(str::to_string);
                    let whole = match shape {
                        Some(shape) => flip_case(&shape, &flips) + &secret,
                        None => whole,
                    };
                    // Percent-encoded inside the value, once or twice: all but the secret
                    // (a UUID's `-` would change, and the secret is to be found as it is).
                    let marked = whole.replace(&secret, "\0");
                    let encoded = match encode {
                        1 => percent_encode(&marked),
                        2 => percent_encode(&percent_encode(&marked)),
                        _ => marked.clone(),
                    };
                    let mark = ["\0", "%00", "%2500"][usize::from(encode)];
                    let whole = encoded.replace(mark, &secret);
                    (whole, secret)
                },
            )
        }

        fn surrounding() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("host=10.0.0.5,apitoken=".to_string()),
                Just(",fingerprint=AA:BB:CC".to_string()),
                "[ -~]{0,12}",
                "\\PC{0,8}",
            ]
        }

        fn config() -> Config {
            Config {
                cases: 128,
                failure_persistence: None,
                ..Config::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn prop_no_secret_byte_in_any_output(
                name in prop_oneof![Just("target-endpoint".to_string()), "[a-z][a-z0-9_-]{0,10}", "\\PC{1,6}"],
                path in prop::sample::select(vec![
                    "/nodes/pve1/qemu/100/remote_migrate",
                    "/nodes/pve1/storage/local/download-url",
                    "/cluster/custom/hook",
                ]),
                (whole, secret) in shaped(),
                prefix in surrounding(),
                suffix in surrounding(),
            ) {
                let value = format!("{prefix}{whole}{suffix}");
                for (hidden, shown) in outputs(path, &name, &value) {
                    prop_assert!(!hidden.contains(&secret), "{secret} in {hidden}");
                    // The test means something: the value is there when secrets are shown.
                    prop_assert!(name == "_dc" || shown.contains(&secret), "{secret} not in {shown}");
                }
            }
        }
    }
}
