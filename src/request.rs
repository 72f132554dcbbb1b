//! What a logged request line asked for: method, API format, decoded path, query parameters and
//! the request class that the default filter selects on.
//!
//! The request line is exactly what the client sent (pve-formats.md §1.2), so nothing here may
//! assume it is well formed: a line that is not `METHOD TARGET HTTP/x.y` is still a request of
//! class `other`, never an error. Decoding follows the server: the API prefix is
//! `^/api2/+([a-z][a-z0-9]+)(/.*)?$`, the path is percent-decoded, query parameters are
//! form-decoded (`+` is a space), and `_dc`, the ExtJS cache buster the server drops, is dropped.
//!
//! Classification runs on every line, so it looks at the raw bytes and only decodes (allocates)
//! when the path holds a `%`.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// The request classes of design.md, used by `--class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Class {
    /// POST, PUT, DELETE under /api2/ (not auth or console)
    Write,
    /// GET under /api2/ (not auth or console): the web UI's polling
    Read,
    /// logins and tickets: /access/ticket, /access/vncticket, /access/openid/*
    Auth,
    /// console plumbing: vncproxy, termproxy, spiceproxy, websockets, mtunnel, spiceproxy CONNECT
    Console,
    /// everything not under /api2/: static files, /, unparsable request lines
    Other,
    /// a task that no logged request started (CLI, scheduler, HA, another node); JSON and script
    Task,
}

impl Class {
    pub(crate) const ALL: [Class; 6] = [
        Class::Write,
        Class::Read,
        Class::Auth,
        Class::Console,
        Class::Other,
        Class::Task,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Write => "write",
            Class::Read => "read",
            Class::Auth => "auth",
            Class::Console => "console",
            Class::Other => "other",
            Class::Task => "task",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of classes, as `--class` gives it; one byte, so testing membership costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ClassSet(u8);

impl ClassSet {
    pub(crate) fn all() -> ClassSet {
        ClassSet::of(&Class::ALL)
    }

    pub(crate) fn insert(&mut self, class: Class) {
        self.0 |= class.bit();
    }

    pub(crate) fn contains(self, class: Class) -> bool {
        self.0 & class.bit() != 0
    }

    pub(crate) fn intersects(self, other: ClassSet) -> bool {
        self.0 & other.0 != 0
    }

    const fn of(classes: &[Class]) -> ClassSet {
        let mut bits = 0;
        let mut i = 0;
        while i < classes.len() {
            bits |= 1 << classes[i] as u8;
            i += 1;
        }
        ClassSet(bits)
    }
}

/// The classes a request line can have, judged from its first bytes alone. Most lines of a log
/// are the web UI's GET polling, which the default filter (writes) can reject with this
/// before any decoding.
pub(crate) fn possible_classes(request_line: &[u8]) -> ClassSet {
    const GET: ClassSet = ClassSet::of(&[Class::Read, Class::Auth, Class::Console, Class::Other]);
    const CHANGE: ClassSet =
        ClassSet::of(&[Class::Write, Class::Auth, Class::Console, Class::Other]);
    const ANY: ClassSet = ClassSet::of(&Class::ALL);
    if request_line.starts_with(b"GET ") {
        GET
    } else if request_line.starts_with(b"POST ")
        || request_line.starts_with(b"PUT ")
        || request_line.starts_with(b"DELETE ")
    {
        CHANGE
    } else {
        ANY
    }
}

/// One decoded `key=value` of a query string.
pub(crate) type QueryParam<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A request line taken apart. Borrowed from the log line.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// `POST`, `GET`, `CONNECT`…; `None` when the line is `-` or not `METHOD TARGET …`.
    pub(crate) method: Option<&'a [u8]>,
    /// `json`, `extjs`, … for targets under `/api2/<fmt>/`.
    pub(crate) api_format: Option<&'a [u8]>,
    /// The path: after `/api2/<fmt>` for API calls, the whole path otherwise; still encoded.
    raw_path: &'a [u8],
    /// The query string after `?`, still encoded.
    raw_query: Option<&'a [u8]>,
    pub(crate) class: Class,
}

const CONSOLE_ENDPOINTS: [&[u8]; 6] = [
    b"vncproxy",
    b"termproxy",
    b"spiceproxy",
    b"vncwebsocket",
    b"vncshell",
    b"spiceshell",
];

impl<'a> Request<'a> {
    pub(crate) fn parse(line: &'a [u8]) -> Request<'a> {
        let unparsable = Request {
            method: None,
            api_format: None,
            raw_path: b"",
            raw_query: None,
            class: Class::Other,
        };
        let Some(sp) = memchr::memchr(b' ', line) else {
            return unparsable;
        };
        let method = &line[..sp];
        let mut target = &line[sp + 1..];
        if let Some(v) = memchr::memrchr(b' ', target) {
            if target[v + 1..].starts_with(b"HTTP/") {
                target = &target[..v];
            }
        }
        if method.is_empty() || target.is_empty() {
            return unparsable;
        }
        let mut req = Request {
            method: Some(method),
            ..unparsable
        };
        if method == b"CONNECT" {
            req.class = Class::Console;
            return req;
        }
        if target[0] != b'/' {
            return req; // absolute-form or `*`: not something pveproxy routes to the API
        }
        let (path, query) = match memchr::memchr(b'?', target) {
            Some(q) => (&target[..q], Some(&target[q + 1..])),
            None => (target, None),
        };
        req.raw_query = query;
        req.raw_path = path;
        if let Some((format, rest)) = split_api_prefix(path) {
            req.api_format = Some(format);
            req.raw_path = rest;
            req.class = req.api_class(method);
        }
        req
    }

    fn api_class(&self, method: &[u8]) -> Class {
        let path = self.decoded_path();
        let path = trim_slashes(&path);
        let is_auth = path == b"access/ticket"
            || path == b"access/vncticket"
            || path.starts_with(b"access/openid/");
        if is_auth {
            return Class::Auth;
        }
        let last = match memchr::memrchr(b'/', path) {
            Some(i) => &path[i + 1..],
            None => path,
        };
        if CONSOLE_ENDPOINTS.contains(&last) || last.starts_with(b"mtunnel") {
            return Class::Console;
        }
        match method {
            b"POST" | b"PUT" | b"DELETE" => Class::Write,
            b"GET" => Class::Read,
            _ => Class::Other,
        }
    }

    /// The percent-decoded path (without `/api2/<fmt>` for API calls), as sent: empty segments
    /// and a trailing slash are kept.
    fn decoded_path(&self) -> Cow<'a, [u8]> {
        if memchr::memchr(b'%', self.raw_path).is_some() {
            percent_decode(self.raw_path).into()
        } else {
            Cow::Borrowed(self.raw_path)
        }
    }

    /// The non-empty path segments, each percent-decoded. The path is split before decoding, so
    /// an encoded `%2F` (volume ids like `local:iso%2Fdebian.iso`) stays inside its segment.
    /// pvesh and the API router split on `/+` and skip empty parts: `//nodes/` is `/nodes`.
    pub(crate) fn segments(&self) -> Vec<Cow<'a, [u8]>> {
        self.raw_path
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s).into())
            .collect()
    }

    /// Whether this request has a pvesh form: an API call with one of the four pvesh verbs.
    pub(crate) fn is_api(&self) -> bool {
        self.api_format.is_some()
    }

    /// The decoded path for a non-API request (`/pve2/ext6/ext-all.js`), or `None` for lines
    /// that have no path (CONNECT, unparsable).
    pub(crate) fn plain_path(&self) -> Option<Cow<'a, [u8]>> {
        (!self.raw_path.is_empty()).then(|| self.decoded_path())
    }

    /// Query parameters in their order, form-decoded, `_dc` dropped, repeated keys kept.
    pub(crate) fn query_params(&self) -> Vec<QueryParam<'a>> {
        let Some(query) = self.raw_query else {
            return Vec::new();
        };
        query
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match memchr::memchr(b'=', pair) {
                Some(eq) => (form_decode(&pair[..eq]), form_decode(&pair[eq + 1..])),
                None => (form_decode(pair), Cow::Borrowed(&b""[..])),
            })
            .filter(|(key, _)| key.as_ref() != b"_dc")
            .collect()
    }
}

/// `/api2/json/nodes` -> (`json`, `/nodes`); the server's `^/api2/+([a-z][a-z0-9]+)(/.*)?$`.
fn split_api_prefix(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/api2/")?;
    let start = rest.iter().position(|&b| b != b'/')?;
    let rest = &rest[start..];
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let format = &rest[..end];
    let valid = format.len() >= 2
        && format[0].is_ascii_lowercase()
        && format
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    valid.then(|| (format, &rest[end..]))
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let end = path
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(start, |e| e + 1);
    &path[start..end.max(start)]
}

/// application/x-www-form-urlencoded decoding: `+` is a space, then percent-decoding. Invalid
/// `%` escapes are kept as they are, like the server does.
fn form_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'+', raw).is_some() {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        Cow::Owned(Cow::from(percent_decode(&spaced)).into_owned())
    } else {
        percent_decode(raw).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> Request<'_> {
        Request::parse(line.as_bytes())
    }

    fn seg_strings(r: &Request<'_>) -> Vec<String> {
        r.segments()
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn classes() {
        let cases = [
            (
                "POST /api2/extjs/nodes/pve1/qemu/100/status/start HTTP/1.1",
                Class::Write,
            ),
            (
                "PUT /api2/json/nodes/pve1/qemu/100/config HTTP/1.1",
                Class::Write,
            ),
            (
                "DELETE /api2/json/nodes/pve1/qemu/105?purge=1 HTTP/1.1",
                Class::Write,
            ),
            ("GET /api2/json/cluster/resources HTTP/1.1", Class::Read),
            ("POST /api2/extjs/access/ticket HTTP/1.1", Class::Auth),
            ("GET /api2/json/access/ticket HTTP/1.1", Class::Auth),
            ("POST /api2/json/access/vncticket HTTP/1.1", Class::Auth),
            (
                "POST /api2/json/access/openid/auth-url HTTP/1.1",
                Class::Auth,
            ),
            ("POST /api2/json/access/%74icket HTTP/1.1", Class::Auth),
            (
                "POST /api2/extjs/nodes/pve1/qemu/100/vncproxy HTTP/1.1",
                Class::Console,
            ),
            (
                "POST /api2/extjs/nodes/pve1/termproxy HTTP/1.1",
                Class::Console,
            ),
            (
                "GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=x HTTP/1.1",
                Class::Console,
            ),
            (
                "POST /api2/json/nodes/pve1/qemu/100/mtunnel HTTP/1.1",
                Class::Console,
            ),
            (
                "GET /api2/json/nodes/pve1/qemu/100/mtunnelwebsocket?socket=x HTTP/1.1",
                Class::Console,
            ),
            (
                "CONNECT pvespiceproxy:6a3bc8b0:100:pve1:61000::abc:61000 HTTP/1.1",
                Class::Console,
            ),
            ("GET /pve2/ext6/ext-all.js?ver=7.0.0 HTTP/1.1", Class::Other),
            ("GET / HTTP/1.1", Class::Other),
            ("GET /api2 HTTP/1.1", Class::Other),
            ("GET /api2/JSON/nodes HTTP/1.1", Class::Other),
            ("HEAD /api2/json/nodes HTTP/1.1", Class::Other),
            ("-", Class::Other),
            ("", Class::Other),
            ("garbage", Class::Other),
        ];
        for (line, class) in cases {
            assert_eq!(req(line).class, class, "{line}");
        }
    }

    #[test]
    fn api_prefix_and_path() {
        let r = req("POST /api2//extjs//nodes/pve%31/qemu/100/ HTTP/1.1");
        assert_eq!(r.api_format, Some(&b"extjs"[..]));
        assert_eq!(seg_strings(&r), ["nodes", "pve1", "qemu", "100"]);
        let r = req("GET /api2/json HTTP/1.1");
        assert_eq!(r.api_format, Some(&b"json"[..]));
        assert!(r.segments().is_empty());
        for fmt in ["json", "extjs", "html", "htmljs", "spiceconfig", "png"] {
            let line = format!("GET /api2/{fmt}/version HTTP/1.1");
            assert_eq!(req(&line).api_format, Some(fmt.as_bytes()), "{fmt}");
        }
    }

    #[test]
    fn encoded_slash_stays_in_its_segment() {
        let r = req(
            "DELETE /api2/extjs/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.iso HTTP/1.1",
        );
        assert_eq!(
            seg_strings(&r),
            [
                "nodes",
                "pve1",
                "storage",
                "local",
                "content",
                "local:iso/debian-12.iso"
            ]
        );
    }

    #[test]
    fn request_line_without_version_or_with_spaces() {
        let r = req("GET /api2/json/nodes/a b HTTP/1.1");
        assert_eq!(seg_strings(&r), ["nodes", "a b"]);
        let r = req("GET /api2/json/version");
        assert_eq!(seg_strings(&r), ["version"]);
        let r = req("GET /api2/json/a?b HTTP/1.1 HTTP/1.1");
        assert_eq!(seg_strings(&r), ["a"]);
    }

    #[test]
    fn query_parameters() {
        let r = req("GET /api2/json/x?_dc=123&a=1&b=x+y%2Bz&a=2&flag&=v&&c=%zz HTTP/1.1");
        let params: Vec<(String, String)> = r
            .query_params()
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect();
        let want = [
            ("a", "1"),
            ("b", "x y+z"),
            ("a", "2"),
            ("flag", ""),
            ("", "v"),
            ("c", "%zz"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(params, want);
    }

    #[test]
    fn possible_classes_cover_the_real_class() {
        for line in [
            "GET /api2/json/x HTTP/1.1",
            "GET /access HTTP/1.1",
            "POST /api2/json/access/ticket HTTP/1.1",
            "PUT /x HTTP/1.1",
            "DELETE /api2/json/nodes/a/termproxy HTTP/1.1",
            "CONNECT x HTTP/1.1",
            "-",
            "HEAD / HTTP/1.1",
            "GET /api2/json/nodes/n/qemu/1/vncwebsocket HTTP/1.1",
        ] {
            assert!(
                possible_classes(line.as_bytes()).contains(req(line).class),
                "{line}"
            );
        }
        assert!(!possible_classes(b"GET /api2/json/x HTTP/1.1").contains(Class::Write));
        assert!(!possible_classes(b"POST /api2/json/x HTTP/1.1").contains(Class::Read));
    }

    #[test]
    fn class_sets() {
        let mut set = ClassSet::default();
        set.insert(Class::Write);
        assert!(set.contains(Class::Write) && !set.contains(Class::Read));
        assert!(Class::ALL.iter().all(|c| ClassSet::all().contains(*c)));
    }
}
