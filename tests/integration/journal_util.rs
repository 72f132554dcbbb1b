//! The journal harness (issue 12): journal entries shaped as PVE's programs write them, and the
//! four forms a test can hand pverec: a real `.journal` file (built with
//! `systemd-journal-remote` from export-format text, read back by real `journalctl --file`), a
//! `journalctl -o json` export, and rsyslog's text files with the classic and the RFC 3339
//! stamps. The fixtures under `tests/data/journal/` (scripts/gen-journal-fixture.py) are in
//! these forms; the self-tests below check that this module writes them byte for byte, so a
//! test may build a journal file from `entries.json` and know it holds the same entries.
//!
//! Where the shapes come from: PVE logs through `PVE::SafeSyslog` (`openlog($tag, 'pid',
//! 'daemon')`: facility 3, the program as `SYSLOG_IDENTIFIER`, its pid); journald's syslog
//! transport adds `_PID`, `_COMM` (the process name, 15 bytes: pvedaemon's workers rename
//! themselves `pvedaemon worker`), `_HOSTNAME`, `_BOOT_ID`, `_MACHINE_ID` and the two time
//! stamps. The export format: https://systemd.io/JOURNAL_EXPORT_FORMATS/ (a value with a
//! newline or that is not text goes in the length-prefixed form).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The boot of the fixtures' node: `__MONOTONIC_TIMESTAMP` counts from it.
pub(crate) const BOOT_ID: &str = "5c2f1e0a9b8d4c3e8f7a6b5c4d3e2f10";
pub(crate) const MACHINE_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// The journal's sequence-number id in the cursors `json_export` makes up.
pub(crate) const SEQNUM_ID: &str = "8a3e0c54d6f14b0c9b3f2a1e0d9c8b7a";
/// The boot's wall-clock time (2026-06-24T06:00:00Z) in µs.
pub(crate) const BOOT_REALTIME_US: u64 = 1_782_280_800_000_000;

/// One journal entry: its wall-clock time in µs and its fields in the order they are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) realtime_us: u64,
    fields: Vec<(String, Vec<u8>)>,
}

/// The process name a PVE program's messages carry in `_COMM` (`/proc/PID/comm`, 15 bytes).
fn comm_of(ident: &str) -> &str {
    match ident {
        // pve-common src/PVE/Daemon.pm names the workers "$name worker".
        "pvedaemon" => "pvedaemon worke",
        "pveproxy" => "pveproxy worker",
        "pvescheduler" => "pvescheduler",
        other => other,
    }
}

impl Entry {
    /// An entry as `ident[pid]` on node pve1 writes it through syslog at priority info.
    pub(crate) fn new(
        realtime_us: u64,
        ident: &str,
        pid: u32,
        message: impl Into<Vec<u8>>,
    ) -> Self {
        let mut entry = Entry {
            realtime_us,
            fields: Vec::new(),
        };
        entry
            .set("_BOOT_ID", BOOT_ID)
            .set("_MACHINE_ID", MACHINE_ID)
            .set("_HOSTNAME", "pve1")
            .set("_TRANSPORT", "syslog")
            .set("PRIORITY", "6")
            .set("SYSLOG_FACILITY", "3")
            .set("SYSLOG_IDENTIFIER", ident)
            .set("SYSLOG_PID", pid.to_string())
            .set("_PID", pid.to_string())
            .set("_UID", "0")
            .set("_GID", "0")
            .set("_COMM", comm_of(ident))
            .set("MESSAGE", message);
        entry
    }

    /// Sets (or replaces) a field.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
        self
    }

    /// The same entry with `name` set: for chains on a fresh entry.
    pub(crate) fn with(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.set(name, value);
        self
    }

    /// Syslog priority: 3 err, 4 warning, 6 info.
    pub(crate) fn priority(self, priority: u8) -> Self {
        self.with("PRIORITY", priority.to_string())
    }

    pub(crate) fn host(self, host: &str) -> Self {
        self.with("_HOSTNAME", host)
    }

    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        match name {
            "__REALTIME_TIMESTAMP" | "__MONOTONIC_TIMESTAMP" => None,
            _ => self
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice()),
        }
    }

    fn text(&self, name: &str) -> &str {
        self.field(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("")
    }

    pub(crate) fn ident(&self) -> &str {
        self.text("SYSLOG_IDENTIFIER")
    }

    pub(crate) fn pid(&self) -> &str {
        self.text("_PID")
    }

    pub(crate) fn hostname(&self) -> &str {
        self.text("_HOSTNAME")
    }

    pub(crate) fn message(&self) -> &[u8] {
        self.field("MESSAGE").unwrap_or_default()
    }

    /// µs since the fixtures' boot (entries before it count from 0).
    pub(crate) fn monotonic_us(&self) -> u64 {
        self.realtime_us.saturating_sub(BOOT_REALTIME_US)
    }

    /// The fields as the export format and `journalctl -o json` list them: the two time
    /// stamps, then the others in order (a stored `__CURSOR` first of all).
    fn all_fields(&self) -> Vec<(String, Vec<u8>)> {
        let mut all = Vec::new();
        if let Some(cursor) = self.field("__CURSOR") {
            all.push(("__CURSOR".to_string(), cursor.to_vec()));
        }
        all.push((
            "__REALTIME_TIMESTAMP".to_string(),
            self.realtime_us.to_string().into_bytes(),
        ));
        all.push((
            "__MONOTONIC_TIMESTAMP".to_string(),
            self.monotonic_us().to_string().into_bytes(),
        ));
        all.extend(self.fields.iter().filter(|(n, _)| n != "__CURSOR").cloned());
        all
    }
}

/// A time as `__REALTIME_TIMESTAMP` µs: `micros("2026-06-24T14:00:05.123+02:00")`.
pub(crate) fn micros(rfc3339: &str) -> u64 {
    let ts: jiff::Timestamp = rfc3339.parse().expect("an RFC 3339 time");
    u64::try_from(ts.as_microsecond()).expect("after 1970")
}

/// Whether `journalctl -o json` prints the value as a string (else as an array of bytes):
/// UTF-8 without control characters but newline and tab (systemd's `utf8_is_printable`).
fn json_printable(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok_and(|s| {
        s.chars()
            .all(|c| c == '\n' || c == '\t' || !(c.is_control()))
    })
}

/// The journal export format of `entries`: `NAME=value` lines, a value that is not plain text
/// (a newline, a control character, not UTF-8) as `NAME\n`, its length as 64-bit
/// little-endian, the bytes, `\n`; an empty line after each entry.
pub(crate) fn export_text(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        for (name, value) in entry.all_fields() {
            let plain = std::str::from_utf8(&value).is_ok_and(|s| !s.chars().any(char::is_control));
            if plain {
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(&value);
            } else {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(&value);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// systemd-journal-remote: in /usr/lib/systemd (on no PATH), from Debian's
/// systemd-journal-remote package. A missing one fails the test with what to do.
pub(crate) fn journal_remote() -> PathBuf {
    for dir in ["/usr/lib/systemd", "/lib/systemd"] {
        let candidate = Path::new(dir).join("systemd-journal-remote");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "systemd-journal-remote is not installed, and this test runs it: run `make test-deps` \
         (scripts/test-deps.sh installs what the tests need, or names it)"
    );
}

/// A real journal file in `dir` holding `entries` (`systemd-journal-remote --output=FILE -`
/// reading their export text): `dir/x.journal`, or `x-N.journal` when that is taken. Read it
/// with `journalctl --file`.
pub(crate) fn journal_file(dir: &Path, entries: &[Entry]) -> PathBuf {
    let mut path = dir.join("x.journal");
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("x-{n}.journal"));
        n += 1;
    }
    let mut child = Command::new(journal_remote())
        .arg(format!("--output={}", path.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-journal-remote starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&export_text(entries))
        .expect("systemd-journal-remote reads the export text");
    let out = child
        .wait_with_output()
        .expect("systemd-journal-remote ends");
    assert!(
        out.status.success() && path.is_file(),
        "systemd-journal-remote failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// journalctl (Debian package systemd), looked up like the tests' other tools.
pub(crate) fn journalctl() -> PathBuf {
    crate::util::require_tool("journalctl")
}

/// A cursor of the shape journalctl prints (`s=;i=;b=;m=;t=;x=`), made up from the entry's
/// place in the export: stable, so the fixture does not change when regenerated.
fn cursor(entry: &Entry, seqnum: usize) -> String {
    // FNV-1a over the message and the time stands in for the entry's xor hash.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in entry
        .message()
        .iter()
        .copied()
        .chain(entry.realtime_us.to_le_bytes())
    {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "s={SEQNUM_ID};i={seqnum:x};b={BOOT_ID};m={:x};t={:x};x={hash:x}",
        entry.monotonic_us(),
        entry.realtime_us
    )
}

/// What `journalctl -o json` prints for `entries`: one object per line, every value a string,
/// or an array of bytes when it is not printable text; `__CURSOR` first (the entry's own when
/// it has one, else one made up from its place).
pub(crate) fn json_export(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (i, entry) in entries.iter().enumerate() {
        let mut fields = entry.all_fields();
        if fields[0].0 != "__CURSOR" {
            fields.insert(
                0,
                ("__CURSOR".to_string(), cursor(entry, i + 1).into_bytes()),
            );
        }
        let members: Vec<String> = fields
            .iter()
            .map(|(name, value)| {
                let value = if json_printable(value) {
                    serde_json::Value::from(String::from_utf8_lossy(value).into_owned())
                } else {
                    serde_json::Value::from(value.clone())
                };
                format!("{}:{value}", serde_json::Value::from(name.as_str()))
            })
            .collect();
        out.push('{');
        out.push_str(&members.join(","));
        out.push_str("}\n");
    }
    out
}

/// A JSON object's members in the order written (serde_json's map would sort them).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Ordered(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The entries of a `journalctl -o json` export (the fixtures' `entries.json`): fields in the
/// order given, `__CURSOR` kept, an array value read as bytes.
pub(crate) fn parse_json_export(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let Ordered(members) = serde_json::from_str(line).expect("each line is a JSON object");
            let mut entry = Entry {
                realtime_us: 0,
                fields: Vec::new(),
            };
            for (name, value) in members {
                let bytes = match value {
                    serde_json::Value::String(s) => s.into_bytes(),
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|b| {
                            b.as_u64()
                                .and_then(|b| u8::try_from(b).ok())
                                .expect("a byte")
                        })
                        .collect(),
                    other => panic!("{name}: not a string or bytes: {other}"),
                };
                match name.as_str() {
                    "__REALTIME_TIMESTAMP" => {
                        entry.realtime_us = std::str::from_utf8(&bytes)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .expect("__REALTIME_TIMESTAMP in µs")
                    }
                    "__MONOTONIC_TIMESTAMP" => {}
                    _ => entry.fields.push((name, bytes)),
                }
            }
            entry
        })
        .collect()
}

/// The scenario of `tests/data/journal/` (README.md there): its entries.json, read back.
pub(crate) fn fixture_entries() -> Vec<Entry> {
    let text = std::fs::read_to_string(crate::util::data("journal/entries.json"))
        .expect("tests/data/journal/entries.json");
    parse_json_export(&text)
}

/// A message as rsyslog writes it into a text file: control characters as `#` and three
/// octal digits (`$EscapeControlCharactersOnReceive`, on by default: a newline is `#012`),
/// other bytes as they are.
fn rsyslog_escaped(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for &b in message {
        if b < 0x20 || b == 0x7f {
            out.extend_from_slice(format!("#{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

fn syslog_lines(entries: &[Entry], tz: &str, stamp: impl Fn(&jiff::Zoned) -> String) -> Vec<u8> {
    let tz = jiff::tz::TimeZone::get(tz).expect("a time zone of the system's database");
    let mut out = Vec::new();
    for entry in entries {
        let ts = jiff::Timestamp::from_microsecond(entry.realtime_us as i64).expect("a time");
        let local = ts.to_zoned(tz.clone());
        out.extend_from_slice(
            format!(
                "{} {} {}[{}]: ",
                stamp(&local),
                entry.hostname(),
                entry.ident(),
                entry.pid()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&rsyslog_escaped(entry.message()));
        out.push(b'\n');
    }
    out
}

/// rsyslog's classic file format (`RSYSLOG_TraditionalFileFormat`, Debian's default):
/// `Jun 24 14:00:05 pve1 pvedaemon[1234]: MESSAGE`, local time in `tz` (an IANA name), the day
/// space-padded (`Jun  4`), no year.
pub(crate) fn syslog_classic(entries: &[Entry], tz: &str) -> Vec<u8> {
    syslog_lines(entries, tz, |t| t.strftime("%b %e %H:%M:%S").to_string())
}

/// rsyslog's `RSYSLOG_FileFormat`: `2026-06-24T14:00:05.123456+02:00 pve1 pvedaemon[1234]: …`,
/// local time in `tz` with its offset.
pub(crate) fn syslog_rfc3339(entries: &[Entry], tz: &str) -> Vec<u8> {
    syslog_lines(entries, tz, |t| {
        t.strftime("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
    })
}

/// What `journalctl --file FILE ARGS -o json` prints, parsed.
pub(crate) fn read_journal(file: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(journalctl())
        .arg("--file")
        .arg(file)
        .args(args)
        .args(["-o", "json", "--no-pager"])
        .output()
        .expect("journalctl runs");
    assert!(
        out.status.success(),
        "journalctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("journalctl -o json is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::data;

    fn scenario() -> Vec<Entry> {
        let t = micros("2026-06-24T14:00:05.123456+02:00");
        vec![
            Entry::new(
                t,
                "pvedaemon",
                2201,
                "<root@pam> successful auth for user 'alice@pve'",
            ),
            Entry::new(
                t + 3_000_000,
                "pvedaemon",
                2202,
                "authentication failure; rhost=::ffff:192.0.2.20 user=bob@pve msg=invalid credentials",
            )
            .priority(3),
            // Not UTF-8: a user name PVE takes as bytes.
            Entry::new(
                t + 4_000_000,
                "pvedaemon",
                2202,
                b"authentication failure; rhost=::ffff:192.0.2.66 user=\xff\xfe@pve msg=no such user ('\xff\xfe@pve')".to_vec(),
            )
            .priority(3),
            // A description with a newline, as `update VM` logs it.
            Entry::new(
                t + 10_000_000,
                "pvedaemon",
                2201,
                "<alice@pve> update VM 100: -description first line\nsecond line",
            ),
            Entry::new(t + 20_000_000, "qm", 4242, "<root@pam> update VM 100: -memory 4096"),
        ]
    }

    fn text(value: &serde_json::Value) -> &str {
        value
            .as_str()
            .unwrap_or_else(|| panic!("a string: {value}"))
    }

    /// A real journal file built from the export text reads back, through real journalctl, as
    /// the same entries `json_export` prints: message (text, bytes, with a newline), program,
    /// pid, time.
    #[test]
    fn journal_util_file_reads_back_as_its_json_export() {
        let dir = tempfile::tempdir().unwrap();
        let entries = scenario();
        let file = journal_file(dir.path(), &entries);
        let read = read_journal(&file, &[]);
        let expected: Vec<serde_json::Value> = json_export(&entries)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(read.len(), entries.len());
        for (got, want) in read.iter().zip(&expected) {
            for field in [
                "MESSAGE",
                "SYSLOG_IDENTIFIER",
                "_PID",
                "__REALTIME_TIMESTAMP",
                "_HOSTNAME",
                "PRIORITY",
                "_COMM",
                "__MONOTONIC_TIMESTAMP",
                "_BOOT_ID",
            ] {
                assert_eq!(got[field], want[field], "{field} of {got}");
            }
        }
        assert!(read[2]["MESSAGE"].is_array(), "{}", read[2]);
        assert_eq!(
            text(&read[3]["MESSAGE"]),
            "<alice@pve> update VM 100: -description first line\nsecond line"
        );
        // The cursor is journalctl's own, of the shape json_export makes up.
        let cursor = text(&read[0]["__CURSOR"]);
        let made_up = &expected[0]["__CURSOR"];
        let keys = |c: &str| c.split(';').map(|p| p[..2].to_string()).collect::<Vec<_>>();
        assert_eq!(keys(cursor), keys(text(made_up)));
    }

    /// journalctl's own filters work on the file: by program and by `--since=@SECONDS`.
    #[test]
    fn journal_util_file_filters_by_identifier_and_since() {
        let dir = tempfile::tempdir().unwrap();
        let entries = scenario();
        let file = journal_file(dir.path(), &entries);
        let daemon = read_journal(&file, &["SYSLOG_IDENTIFIER=pvedaemon"]);
        assert_eq!(daemon.len(), 4);
        assert!(daemon.iter().all(|e| e["SYSLOG_IDENTIFIER"] == "pvedaemon"));
        let since = (entries[3].realtime_us / 1_000_000).to_string();
        let late = read_journal(&file, &[&format!("--since=@{since}")]);
        let times: Vec<&str> = late
            .iter()
            .map(|e| text(&e["__REALTIME_TIMESTAMP"]))
            .collect();
        assert_eq!(
            times,
            [
                entries[3].realtime_us.to_string(),
                entries[4].realtime_us.to_string()
            ]
        );
        // A second file in the same directory does not overwrite the first.
        let second = journal_file(dir.path(), &entries[..1]);
        assert_ne!(second, file);
        assert_eq!(read_journal(&second, &[]).len(), 1);
        assert_eq!(read_journal(&file, &[]).len(), 5);
    }

    /// The export text uses the binary-safe form exactly where a value is not plain text.
    #[test]
    fn journal_util_export_text_length_prefixes_binary_values() {
        let entries = scenario();
        let text = export_text(&entries[2..4]);
        let mut binary = b"MESSAGE\n".to_vec();
        let message = entries[2].message();
        binary.extend_from_slice(&(message.len() as u64).to_le_bytes());
        binary.extend_from_slice(message);
        binary.push(b'\n');
        assert!(text.windows(binary.len()).any(|w| w == binary.as_slice()));
        assert!(
            text.windows(26).any(|w| w == b"SYSLOG_IDENTIFIER=pvedaemo"),
            "plain fields stay NAME=value"
        );
        assert_eq!(
            text.windows(2).filter(|w| w == b"\n\n").count(),
            2,
            "one empty line after each entry"
        );
    }

    /// The two rsyslog forms: classic local stamp with a space-padded day, RFC 3339 with µs and
    /// offset, a newline escaped as `#012`.
    #[test]
    fn journal_util_syslog_forms() {
        let entries = scenario();
        let classic =
            String::from_utf8_lossy(&syslog_classic(&entries, "Europe/Vienna")).into_owned();
        let first = classic.lines().next().unwrap();
        assert_eq!(
            first,
            "Jun 24 14:00:05 pve1 pvedaemon[2201]: <root@pam> successful auth for user 'alice@pve'"
        );
        assert!(classic.contains("-description first line#012second line\n"));
        let rfc = String::from_utf8_lossy(&syslog_rfc3339(&entries, "Europe/Vienna")).into_owned();
        assert!(
            rfc.starts_with("2026-06-24T14:00:05.123456+02:00 pve1 pvedaemon[2201]: <root@pam>"),
            "{rfc}"
        );
        let early = Entry::new(micros("2026-07-04T08:00:00Z"), "qm", 1, "x").host("pve2");
        let line = syslog_classic(&[early], "Europe/Vienna");
        assert_eq!(line, b"Jul  4 10:00:00 pve2 qm[1]: x\n");
    }

    /// The fixtures under tests/data/journal/ are what this module writes for the entries in
    /// entries.json: the JSON export, both syslog forms, and a gzip generation that is a part of
    /// the classic file.
    #[test]
    fn journal_util_fixtures_agree_with_the_harness() {
        let json = std::fs::read_to_string(data("journal/entries.json")).unwrap();
        let entries = fixture_entries();
        assert!(entries.len() > 20, "{}", entries.len());
        let ours = json_export(&entries);
        for (n, (a, b)) in ours.lines().zip(json.lines()).enumerate() {
            assert_eq!(a, b, "entries.json line {}", n + 1);
        }
        assert_eq!(ours.len(), json.len());
        let classic = syslog_classic(&entries, "Europe/Vienna");
        let same = |name: &str, ours: &[u8]| {
            let theirs = std::fs::read(data(name)).unwrap();
            for (n, (a, b)) in ours
                .split(|&b| b == b'\n')
                .zip(theirs.split(|&b| b == b'\n'))
                .enumerate()
            {
                assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "{name} line {}",
                    n + 1
                );
            }
            assert_eq!(ours, theirs, "{name}");
        };
        same("journal/syslog", &classic);
        same(
            "journal/syslog.rfc3339",
            &syslog_rfc3339(&entries, "Europe/Vienna"),
        );
        let gz = std::fs::read(data("journal/daemon.log.1.gz")).unwrap();
        let mut part = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut part).unwrap();
        assert!(!part.is_empty());
        assert!(
            classic.starts_with(&part),
            "daemon.log.1.gz is the head of syslog"
        );
        // And the entries make a real journal file that journalctl reads back whole.
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path(), &entries);
        let read = read_journal(&file, &[]);
        assert_eq!(read.len(), entries.len());
        let fixture: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for (got, want) in read.iter().zip(&fixture) {
            assert_eq!(got["MESSAGE"], want["MESSAGE"]);
            assert_eq!(got["__REALTIME_TIMESTAMP"], want["__REALTIME_TIMESTAMP"]);
        }
    }

    /// The generated node's journal (scripts/gen-tasks.py, for `make join-rate`): its export
    /// text makes a real journal file whose entries are journal.json's, and its truth names
    /// the writes whose parameters are in it and the shell's `qm set` that only it shows.
    #[test]
    fn journal_util_generated_node_journal_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(crate::util::require_tool("python3"))
            .arg(root.join("scripts/gen-tasks.py"))
            .arg(dir.path())
            .args(["--requests", "3000", "--seed", "3", "--journal-export"])
            .stderr(Stdio::null())
            .status()
            .expect("python3 runs");
        assert!(status.success());
        let json = std::fs::read_to_string(dir.path().join("journal.json")).unwrap();
        let entries = parse_json_export(&json);
        let export = std::fs::read(dir.path().join("journal.export")).unwrap();
        // The same fields but the cursor (journal-remote makes its own).
        let without_cursor = |text: &[u8]| -> Vec<String> {
            String::from_utf8_lossy(text)
                .lines()
                .filter(|l| !l.starts_with("__CURSOR="))
                .map(str::to_string)
                .collect()
        };
        let (theirs, ours) = (
            without_cursor(&export),
            without_cursor(&export_text(&entries)),
        );
        assert_eq!(theirs.len(), ours.len());
        if let Some((a, b)) = theirs.iter().zip(&ours).find(|(a, b)| a != b) {
            panic!("the Python and Rust export forms differ: {a:?} vs {b:?}");
        }
        let file = journal_file(dir.path(), &entries);
        let read = read_journal(&file, &[]);
        assert_eq!(read.len(), entries.len());
        let qm = read_journal(&file, &["SYSLOG_IDENTIFIER=qm"]);
        let cli = std::fs::read_to_string(dir.path().join("truth-journal.jsonl")).unwrap();
        let sets = qm
            .iter()
            .filter(|e| text(&e["MESSAGE"]).contains(" update VM "))
            .count();
        assert_eq!(sets, cli.lines().count());
        let truth = std::fs::read_to_string(dir.path().join("truth.jsonl")).unwrap();
        let with_params = truth
            .lines()
            .filter(|l| l.contains("\"journal_params\":true"))
            .count();
        let updates = read
            .iter()
            .filter(|e| e["SYSLOG_IDENTIFIER"] == "pvedaemon")
            .filter(|e| text(&e["MESSAGE"]).contains(" update VM "))
            .count();
        assert!(with_params > 0 && updates > 0 && updates <= with_params);
    }
}
