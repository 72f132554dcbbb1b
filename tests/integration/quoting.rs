//! The acceptance property: for any request target (any bytes), the pvesh line, run through
//! bash in C, UTF-8 and the CJK locales, yields exactly the intended argv, and never holds a raw
//! control byte.

use std::process::Command;

use proptest::prelude::*;

use crate::util::*;

/// Bytes that stress quoting: shell metacharacters, quotes, controls, non-ASCII, invalid UTF-8.
fn tricky_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"abcXYZ019-_.:@,=+%~".to_vec()),
        3 => prop::sample::select(b" '\"\\$`!*?[]{}()<>|;&#\t\r\x1b\x07\x7f".to_vec()),
        2 => 0x80u8..=0xff,
        1 => 1u8..0x20,
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(tricky_byte(), 0..max)
}

/// Percent-encodes what cannot stand raw in a logged target (`/`, `?`, `&`, `;`, `=`, `%`, `+`,
/// `#`, white space, NUL, URI.pm's wrapper characters) and, at random, other bytes too; leaves
/// the rest raw, as an attacker may.
fn encode(raw: &[u8], all: bool, in_query: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in raw {
        // White space would end the target for pveproxy, `;` separates query pairs like `&`,
        // `<` and `"` at the ends would be taken as URI.pm's wrappers.
        let must = matches!(
            b,
            b'/' | b'?' | b'&' | b';' | b'=' | b'%' | b'#' | b'<' | b'"' | 0
        ) || b.is_ascii_whitespace()
            || b == 0x0b
            || (in_query && b == b'+');
        if must || (all && !b.is_ascii_alphanumeric()) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pvesh_line_round_trips_through_bash(
        // A `{param}` matches `\S+`: segments hold no white space (nor `/`, which splits).
        segments in proptest::collection::vec(bytes(12).prop_filter("a `\\S+` segment", |s| {
            !s.is_empty() && !s.iter().any(|&b| b == b'/' || b.is_ascii_whitespace() || b == 0x0b)
        }), 1..4),
        // An empty value is absent (`decode_urlencoded`), a repeated key is one array.
        params in proptest::collection::btree_map(
            bytes(8).prop_filter("usable key", |k| !k.is_empty() && k != b"_dc" && !abbreviates_an_option(k)),
            bytes(16).prop_filter("a value", |v| !v.is_empty()),
            0..4,
        ),
        encode_all in any::<bool>(),
        // The IP set entry takes the rest of the path as its `{cidr}` (fragmentDelimiter ''), so
        // any segments are one real endpoint, which has these three methods.
        method in prop::sample::select(vec!["GET", "PUT", "DELETE"]),
    ) {
        let mut target = b"/api2/json/cluster/firewall/ipset/fuzz".to_vec();
        for s in &segments {
            target.push(b'/');
            target.extend(encode(s, encode_all, false));
        }
        for (i, (k, v)) in params.iter().enumerate() {
            target.push(if i == 0 { b'?' } else { b'&' });
            target.extend(encode(k, encode_all, true));
            target.push(b'=');
            target.extend(encode(v, encode_all, true));
        }
        let mut line = format!("::1 - root@pam [24/06/2026:14:00:00 +0200] \"{method} ").into_bytes();
        line.extend_from_slice(&target);
        line.extend_from_slice(b" HTTP/1.1\" 200 5\n");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(&log, &line).unwrap();

        let out = pverec().args(["convert", "--all", "--no-comments", "--show-secrets"]).arg(&log).output().unwrap();
        prop_assert!(out.status.success());
        let text = out.stdout;
        prop_assert!(!text.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f), "raw control byte in {:?}", String::from_utf8_lossy(&text));
        prop_assert!(std::str::from_utf8(&text).is_ok());
        let command = text.strip_suffix(b"\n").unwrap_or(&text);
        prop_assert!(command.starts_with(b"pvesh "));

        let script = [b"printf '%s\\0'".as_slice(), &command[5..]].concat();

        let verb = match method { "GET" => "get", "POST" => "create", "PUT" => "set", _ => "delete" };
        let mut path = b"/cluster/firewall/ipset/fuzz".to_vec();
        for s in &segments {
            path.push(b'/');
            path.extend_from_slice(s);
        }
        let mut want: Vec<Vec<u8>> = vec![verb.into(), path];
        for (k, v) in &params {
            // A value that starts with `-` goes in its option's word (src/render/pvesh.rs).
            if v.first() == Some(&b'-') {
                want.push([b"--".as_slice(), k, b"=", v].concat());
            } else {
                want.push([b"--".as_slice(), k].concat());
                want.push(v.clone());
            }
        }
        // In C and in every locale whose charset bash reads differently (issue 11, finding 1).
        for locale in std::iter::once("C").chain(crate::hardening_quote::locales()) {
            let run = Command::new("bash")
                .arg("-c")
                .arg(std::ffi::OsStr::from_encoded_bytes_unchecked_safe(&script))
                .env("LOCPATH", crate::hardening_quote::locpath())
                .env("LC_ALL", locale)
                .output()
                .unwrap();
            prop_assert!(run.status.success() && run.stderr.is_empty(), "in {}: {:?}", locale, String::from_utf8_lossy(&run.stderr));
            let got: Vec<Vec<u8>> = run.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            let got = &got[..got.len() - 1];
            prop_assert_eq!(got, &want[..], "in {}", locale);
        }
    }
}

/// Whether pvesh's Getopt::Long would read `--KEY` as one of the options of the IP set entry's
/// commands (a prefix in any case): such a call is not replayed (src/event.rs).
fn abbreviates_an_option(key: &[u8]) -> bool {
    const OPTIONS: [&str; 10] = [
        "api_path",
        "noproxy",
        "output-format",
        "noheader",
        "noborder",
        "quiet",
        "human-readable",
        "comment",
        "digest",
        "nomatch",
    ];
    OPTIONS
        .iter()
        .any(|o| o.len() >= key.len() && o.as_bytes()[..key.len()].eq_ignore_ascii_case(key))
}

/// `OsStr::from_encoded_bytes_unchecked` without unsafe: on Unix any bytes are an OsStr.
trait FromBytes {
    fn from_encoded_bytes_unchecked_safe(b: &[u8]) -> &std::ffi::OsStr;
}

impl FromBytes for std::ffi::OsStr {
    fn from_encoded_bytes_unchecked_safe(b: &[u8]) -> &std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(b)
    }
}
