//! Logs of PVE before 2017, whose time field has the month spelt by glibc's `%b` in the locale
//! pveproxy ran under (see `src/source/access.rs`). The month names are not typed in here: each test
//! compiles glibc's own locale sources (`/usr/share/i18n/locales`, package `locales`) with
//! `localedef`, in UTF-8 and the locale's 8-bit charsets, and has `date +%b` spell them. The
//! spellings of older glibc releases (pt, ru changed theirs) are compiled from today's source
//! with the old `abmon` put back, so glibc still does the encoding.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// The directory `localedef` reads locale sources from (Debian package `locales`).
const SOURCES: &str = "/usr/share/i18n/locales";
const CHARMAPS: &str = "/usr/share/i18n/charmaps";

/// Fails, never skips, when the machine cannot compile locales.
fn require_locales(locales: &[(&str, &str)]) {
    const INSTALL: &str = "install the Debian package `locales` (apt-get install locales): \
                           the old-log tests compile glibc's locale sources with localedef";
    let localedef = Command::new("localedef").arg("--help").output();
    assert!(
        localedef.is_ok_and(|o| o.status.success()),
        "localedef does not run; {INSTALL}"
    );
    for (locale, charset) in locales {
        let base = locale.split_once('@').map_or(*locale, |(base, _)| base);
        let source = Path::new(SOURCES).join(base);
        assert!(
            source.is_file(),
            "{} is missing; {INSTALL}",
            source.display()
        );
        let charmap = Path::new(CHARMAPS).join(format!("{charset}.gz"));
        let plain = Path::new(CHARMAPS).join(charset);
        assert!(
            charmap.is_file() || plain.is_file(),
            "{} is missing; {INSTALL}",
            charmap.display()
        );
    }
}

/// Month abbreviations of older glibc releases, as their `localedata/locales/*` had them: a
/// test names `LOCALE@RELEASE` to have today's locale source compiled with this `abmon`.
const OLD_ABMON: &[(&str, &str)] = &[
    // glibc before 2.24 (Debian jessie has 2.19): capitalised.
    (
        "pt_PT@glibc-2.19",
        "Jan Fev Mar Abr Mai Jun Jul Ago Set Out Nov Dez",
    ),
    (
        "pt_BR@glibc-2.19",
        "Jan Fev Mar Abr Mai Jun Jul Ago Set Out Nov Dez",
    ),
    // glibc 2.13 (Debian wheezy, PVE 3) and before; ru_UA (KOI8-U) until 2.26.
    (
        "ru_RU@glibc-2.13",
        "Янв Фев Мар Апр Май Июн Июл Авг Сен Окт Ноя Дек",
    ),
    // glibc 2.14 to 2.16: genitive, with dots.
    (
        "ru_RU@glibc-2.15",
        "янв. февр. марта апр. мая июня июля авг. сент. окт. нояб. дек.",
    ),
    // glibc 2.17 to 2.26 (Debian jessie, stretch: PVE 4, 5): nominative May.
    (
        "ru_RU@glibc-2.24",
        "янв фев мар апр май июн июл авг сен окт ноя дек",
    ),
];

/// The locale source to compile for `locale` (`de_DE`, or `ru_RU@glibc-2.24` for today's source
/// with [`OLD_ABMON`]), written into `dir` when it is a modified one.
fn locale_source(dir: &Path, locale: &str, charset: &str) -> std::path::PathBuf {
    let Some((base, _)) = locale.split_once('@') else {
        return Path::new(SOURCES).join(locale);
    };
    let abmon = OLD_ABMON
        .iter()
        .find(|(l, _)| *l == locale)
        .unwrap_or_else(|| panic!("no OLD_ABMON for {locale}"))
        .1;
    let today = std::fs::read_to_string(Path::new(SOURCES).join(base)).unwrap();
    // Replace the `abmon` keyword and its `/`-continued lines.
    let mut source = String::new();
    let mut replaced = 0;
    let mut lines = today.lines();
    while let Some(line) = lines.next() {
        if line.split_whitespace().next() == Some("abmon") {
            let mut last = line;
            while last.trim_end().ends_with('/') {
                last = lines.next().unwrap();
            }
            let names: Vec<String> = abmon.split(' ').map(|n| format!("\"{n}\"")).collect();
            source.push_str(&format!("abmon {}\n", names.join(";")));
            replaced += 1;
        } else {
            source.push_str(line);
            source.push('\n');
        }
    }
    assert_eq!(replaced, 1, "one abmon in {SOURCES}/{base}");
    // One file per run: the runs of a test compile in parallel threads, and several charsets of
    // one locale must not rewrite a source another localedef is reading.
    let file = dir.join(format!("source-{locale}.{charset}"));
    std::fs::write(&file, source).unwrap();
    file
}

/// glibc's `%b` for January..December of 2016 in `locale`.`charset`, compiled into `dir`.
fn glibc_month_names(dir: &Path, locale: &str, charset: &str) -> Vec<Vec<u8>> {
    let name = match locale.split_once('@') {
        Some((base, release)) => format!("{base}.{charset}@{release}"),
        None => format!("{locale}.{charset}"),
    };
    let out = Command::new("localedef")
        .arg("-i")
        .arg(locale_source(dir, locale, charset))
        .args(["-f", charset])
        .arg(dir.join(&name))
        .output()
        .expect("localedef runs");
    assert!(
        out.status.success(),
        "localedef -i {locale} -f {charset} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let glibc = |args: &[&str]| -> Vec<u8> {
        let out = Command::new(args[0])
            .args(&args[1..])
            .env_clear()
            .env("LOCPATH", dir)
            .env("LC_ALL", &name)
            .env("TZ", "UTC")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
        assert!(out.status.success(), "{args:?} in {name} failed");
        let mut text = out.stdout;
        assert_eq!(text.pop(), Some(b'\n'), "{args:?} in {name}");
        text
    };
    // That the locale is in effect, or `date` would quietly answer in English.
    assert_eq!(
        glibc(&["locale", "charmap"]),
        charset.as_bytes(),
        "{name} did not load"
    );
    let names: Vec<Vec<u8>> = (1..=12)
        .map(|month| glibc(&["date", "-d", &format!("2016-{month:02}-15"), "+%b"]))
        .collect();
    // That an old release's names are the ones in effect (glibc's iconv reads them back).
    if let Some((_, abmon)) = OLD_ABMON.iter().find(|(l, _)| *l == locale) {
        let mut iconv = Command::new("iconv")
            .args(["-f", charset, "-t", "UTF-8"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("iconv runs");
        let mut input = iconv.stdin.take().unwrap();
        std::io::Write::write_all(&mut input, &names.join(&b' ')).unwrap();
        drop(input);
        let out = iconv.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), *abmon, "{name}");
    }
    names
}

/// For each `(locale, charset)`: one access.log line per month with glibc's spelling, through
/// `pverec convert -f json --all`, each record at the right UTC time.
fn check(locales: &[(&str, &str)]) {
    require_locales(locales);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let spellings: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
        let runs: Vec<_> = locales
            .iter()
            .map(|&(locale, charset)| s.spawn(move || glibc_month_names(path, locale, charset)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });

    // Local times with their offsets, and the UTC time each stands for, worked out here.
    const OFFSETS: [(&str, &str); 3] = [
        ("+0200", "10:34:56"),
        ("-0430", "17:04:56"),
        ("+0000", "12:34:56"),
    ];
    let mut log = Vec::new();
    let mut want = Vec::new();
    for (names, (locale, charset)) in spellings.iter().zip(locales) {
        let english = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        assert!(
            names.iter().zip(english).any(|(n, e)| n != e.as_bytes()),
            "{locale}.{charset} spells every month as English does: {names:?}"
        );
        for (i, name) in names.iter().enumerate() {
            let (month, day) = (i + 1, i + 10);
            let (offset, utc) = OFFSETS[i % 3];
            log.extend_from_slice(format!("::ffff:10.0.0.{month} - root@pam [{day}/").as_bytes());
            log.extend_from_slice(name);
            log.extend_from_slice(
                format!("/2016:12:34:56 {offset}] \"GET /api2/json/version HTTP/1.1\" 200 80\n")
                    .as_bytes(),
            );
            want.push((
                format!("2016-{month:02}-{day}T{utc}Z"),
                format!("{locale}.{charset} {}", String::from_utf8_lossy(name)),
            ));
        }
    }
    let file = path.join("access.log");
    std::fs::write(&file, &log).unwrap();
    let out = pverec()
        .args(["convert", "-f", "json", "--all"])
        .arg(&file)
        .output()
        .expect("pverec runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pverec failed: {stderr}");
    assert!(stderr.is_empty(), "pverec complained: {stderr}");
    let times: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let rec: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            rec["time"].as_str().expect("a time").to_string()
        })
        .collect();
    assert_eq!(times.len(), want.len(), "one record per line");
    for (time, (expected, what)) in times.iter().zip(&want) {
        assert_eq!(time, expected, "{what}");
    }
}

#[test]
fn german() {
    check(&[
        ("de_DE", "UTF-8"),
        ("de_DE", "ISO-8859-1"),
        ("de_DE", "ISO-8859-15"),
        ("de_AT", "UTF-8"),
        ("de_AT", "ISO-8859-1"),
    ]);
}

#[test]
fn french() {
    check(&[
        ("fr_FR", "UTF-8"),
        ("fr_FR", "ISO-8859-1"),
        ("fr_FR", "ISO-8859-15"),
        ("fr_CH", "UTF-8"),
        ("fr_CA", "ISO-8859-1"),
    ]);
}

#[test]
fn italian() {
    check(&[
        ("it_IT", "UTF-8"),
        ("it_IT", "ISO-8859-1"),
        ("it_CH", "ISO-8859-1"),
    ]);
}

#[test]
fn spanish() {
    check(&[
        ("es_ES", "UTF-8"),
        ("es_ES", "ISO-8859-1"),
        ("es_PE", "ISO-8859-1"),
    ]);
}

#[test]
fn dutch() {
    check(&[
        ("nl_NL", "UTF-8"),
        ("nl_NL", "ISO-8859-1"),
        ("nl_BE", "ISO-8859-1"),
    ]);
}

#[test]
fn portuguese() {
    check(&[
        ("pt_PT", "UTF-8"),
        ("pt_PT", "ISO-8859-1"),
        ("pt_BR", "UTF-8"),
        ("pt_BR", "ISO-8859-1"),
        ("pt_PT@glibc-2.19", "UTF-8"),
        ("pt_BR@glibc-2.19", "ISO-8859-1"),
    ]);
}

#[test]
fn polish() {
    check(&[("pl_PL", "UTF-8"), ("pl_PL", "ISO-8859-2")]);
}

#[test]
fn russian() {
    check(&[
        ("ru_RU", "UTF-8"),
        ("ru_RU", "ISO-8859-5"),
        ("ru_RU", "KOI8-R"),
        ("ru_RU", "CP1251"),
        ("ru_UA", "KOI8-U"),
        ("ru_RU@glibc-2.13", "UTF-8"),
        ("ru_RU@glibc-2.13", "KOI8-R"),
        ("ru_RU@glibc-2.13", "KOI8-U"),
        ("ru_RU@glibc-2.15", "UTF-8"),
        ("ru_RU@glibc-2.15", "ISO-8859-5"),
        ("ru_RU@glibc-2.15", "KOI8-R"),
        ("ru_RU@glibc-2.15", "CP1251"),
        ("ru_RU@glibc-2.24", "UTF-8"),
        ("ru_RU@glibc-2.24", "ISO-8859-5"),
        ("ru_RU@glibc-2.24", "KOI8-R"),
        ("ru_RU@glibc-2.24", "CP1251"),
    ]);
}
