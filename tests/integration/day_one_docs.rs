//! What an admin meets before the first conversion (issue 10, items 13, 15-18): `make test` on
//! a fresh machine (scripts/test-deps.sh), the man page, the shell completions, `make install`
//! and the README's examples.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- item 13: scripts/test-deps.sh ----------------------------------------------------------

/// A PATH of one directory holding every program of this PATH (and of /usr/sbin, /sbin,
/// /usr/lib/systemd) but `left_out`: a machine where those are not installed.
fn path_without(dir: &Path, left_out: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/lib/systemd"];
    let dirs = std::env::split_paths(&path).chain(extra.map(PathBuf::from));
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if left_out.iter().any(|l| name == *l) || bin.join(&name).exists() {
                continue;
            }
            let executable = fs::metadata(entry.path())
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable {
                std::os::unix::fs::symlink(entry.path(), bin.join(&name)).unwrap();
            }
        }
    }
    bin
}

fn test_deps(args: &[&str], path: Option<&Path>, cargo_home: Option<&Path>) -> Output {
    let mut cmd = Command::new(require_tool("bash"));
    cmd.arg(repo().join("scripts/test-deps.sh")).args(args);
    if let Some(path) = path {
        cmd.env("PATH", path).env("TEST_DEPS_SBIN", "");
    }
    if let Some(home) = cargo_home {
        // cargo also runs subcommands from $CARGO_HOME/bin: an empty one hides an installed
        // cargo-nextest there.
        cmd.env("CARGO_HOME", home);
    }
    cmd.output().expect("bash runs scripts/test-deps.sh")
}

/// On this machine (`make test` ran test-deps first) everything is there: no word, exit 0.
#[test]
fn test_deps_check_is_silent_when_everything_is_there() {
    let out = test_deps(&["--check"], None, None);
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");
    assert_eq!(out.status.code(), Some(0));
}

/// A machine without logrotate: `--check` names it and installs nothing; without apt-get, the
/// install step stops at once, naming the package and why it cannot install it.
#[test]
fn test_deps_names_a_missing_logrotate() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(dir.path(), &["logrotate", "apt-get", "sudo"]);
    let out = test_deps(&["--check"], Some(&path), None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("apt-get install logrotate"), "{stderr}");
    assert!(stderr.contains("nothing installed"), "{stderr}");
    assert_eq!(text(&out.stdout), "");

    let out = test_deps(&[], Some(&path), None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("logrotate"), "{stderr}");
    assert!(stderr.contains("no apt-get"), "{stderr}");
    assert!(!stderr.contains("installing"), "{stderr}");
}

/// cargo-nextest is not a Debian package: its absence stops the run with the command that
/// installs it, before anything is installed.
#[test]
fn test_deps_names_a_missing_cargo_nextest() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(dir.path(), &["cargo-nextest", "logrotate"]);
    let home = dir.path().join("cargo-home");
    fs::create_dir(&home).unwrap();
    let out = test_deps(&[], Some(&path), Some(&home));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cargo-nextest (cargo install --locked cargo-nextest)"),
        "{stderr}"
    );
    // Named with the rest, not installed past the stop.
    assert!(stderr.contains("apt-get install logrotate"), "{stderr}");
    assert!(!stderr.contains("installing"), "{stderr}");
}

/// `make test` runs the dependency step before anything else, and CI runs `make test`.
#[test]
fn make_test_and_ci_run_the_dependency_step_first() {
    let makefile = fs::read_to_string(repo().join("Makefile")).unwrap();
    let test = makefile
        .lines()
        .find(|l| l.starts_with("test:"))
        .expect("a test target");
    assert!(test.starts_with("test: test-deps"), "{test}");
    let ci = fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l == "make test"), "{ci}");
    assert!(!ci.contains("apt-get"), "CI has its own list again:\n{ci}");
}

// ---- item 16: the man page -------------------------------------------------------------------

/// The long options of `pverec SUB --help`, read off the help text.
fn long_options(sub: &str) -> BTreeSet<String> {
    let help = stdout_of(pverec().args([sub, "--help"]));
    help.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = match line.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => line,
            };
            let name = line.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(name.len());
            Some(name[..end].to_string())
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn man_page() -> String {
    stdout_of(pverec().arg("man"))
}

/// The page as `man` shows it, plain text.
fn rendered(page: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pverec.1");
    fs::write(&file, page).unwrap();
    let out = Command::new(require_tool("man"))
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man runs");
    assert!(out.status.success(), "man -l: {}", text(&out.stderr));
    // Bold and underline by overstriking, if the pager path left any.
    let mut plain = String::new();
    for c in text(&out.stdout).chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn man_page_has_every_section_and_every_option() {
    let page = man_page();
    let shown = rendered(&page);
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "OUTPUT FORMATS",
        "SOURCES",
        "FILES",
        "ENVIRONMENT",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(
            shown.lines().any(|l| l == section),
            "no {section} section:\n{shown}"
        );
    }
    for sub in ["convert", "follow"] {
        let options = long_options(sub);
        assert!(options.len() > 10, "{sub}: {options:?}");
        let section = shown
            .split_once(&format!("\nPVEREC {}\n", sub.to_uppercase()))
            .unwrap_or_else(|| panic!("no PVEREC {sub} section"))
            .1;
        let section = section.split("\nPVEREC ").next().unwrap();
        for option in options {
            assert!(
                section.contains(&format!("--{option}")),
                "the man page's {sub} section lacks --{option}"
            );
        }
    }
    // The synopsis says what each option takes.
    let synopsis = shown.split_once("\nSYNOPSIS\n").unwrap().1;
    let synopsis = synopsis.split_once("\nDESCRIPTION\n").unwrap().0;
    let synopsis = synopsis.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "pverec convert",
        "[--since TIME]",
        "[-u|--user USER]...",
        "[-f|--format pvesh|json|json-pretty|script|ecs|ocsf]",
        "[FILE]...",
        "pverec follow",
        "[--state FILE]",
        "pverec completions SHELL",
    ] {
        assert!(synopsis.contains(needle), "{needle} not in {synopsis}");
    }
    for needle in [
        "pvesh(1)",
        "journalctl(1)",
        "jq(1)",
        "logrotate(8)",
        "PVE_SECRET_",
        "TZ",
        "NO_COLOR",
        "/var/log/pve/tasks",
        "/run/pve-api-record",
        "standard input",
    ] {
        assert!(shown.contains(needle), "the man page lacks {needle}");
    }
}

/// Every field of a JSON record, of its task and every outcome (src/event.rs) is explained.
#[test]
fn man_page_explains_every_json_field_and_outcome() {
    let shown = rendered(&man_page());
    let formats = shown
        .split_once("\nOUTPUT FORMATS\n")
        .expect("an OUTPUT FORMATS section")
        .1
        .split_once("\nSOURCES\n")
        .unwrap()
        .0;
    let dir = data("tasks");
    let out = stdout_of(
        pverec()
            .current_dir(&dir)
            .args(["convert", "-f", "json", "--all", "--node", "pve1"])
            .args(["--tasks", ".", "--events", "spool.events", "access.log"]),
    );
    let mut fields = BTreeSet::new();
    for line in out.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        for (key, value) in record.as_object().unwrap() {
            fields.insert(key.clone());
            if key == "task" {
                if let Some(task) = value.as_object() {
                    fields.extend(task.keys().cloned());
                }
            }
        }
    }
    assert!(
        fields.contains("outcome") && fields.contains("upid"),
        "{fields:?}"
    );
    for field in fields {
        assert!(
            formats.contains(&field),
            "the man page does not explain the JSON field {field}"
        );
    }
    let outcomes = formats.split_once("Outcomes").expect("an Outcomes part").1;
    for outcome in ["success", "failure", "pending", "unknown", "not_executed"] {
        assert!(
            outcomes.lines().any(|l| l.trim() == outcome),
            "outcome {outcome} is not explained:\n{outcomes}"
        );
    }
}

/// groff reads the page without a warning (-ww: all of them), and it is plain ASCII roff.
#[test]
fn man_page_renders_without_warnings() {
    let page = man_page();
    assert!(page.is_ascii(), "non-ASCII characters in the roff");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pverec.1");
    fs::write(&file, &page).unwrap();
    let out = Command::new(require_tool("groff"))
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .expect("groff runs");
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "groff warns");
    let out = Command::new(require_tool("man"))
        .args(["--warnings=w", "-l"])
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man runs");
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "man -l warns");
}

// ---- item 17: completions --------------------------------------------------------------------

/// COMPREPLY of the committed bash completion for `words` (the last one being completed), run
/// in `dir`.
fn bash_complete(dir: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { &quoted[cword - 1] } else { "''" };
    let script = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _pverec pverec {} {prev} 2>/dev/null; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        repo().join("completions/pverec.bash").display(),
        quoted.join(" "),
        quoted[cword],
    );
    let out = Command::new(require_tool("bash"))
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The options whose values are not file names: the issue's list, and the filters of other
/// items where this build has them.
fn not_files() -> Vec<String> {
    let mut options: Vec<String> = ["user", "since", "until", "node"]
        .iter()
        .map(|o| format!("--{o}"))
        .collect();
    for sub in ["convert", "follow"] {
        for extra in ["vmid", "path", "lines", "rotate-wait"] {
            let option = format!("--{extra}");
            if long_options(sub).contains(extra) && !options.contains(&option) {
                options.push(option);
            }
        }
    }
    assert!(options.contains(&"--rotate-wait".to_string()));
    options
}

#[test]
fn bash_completes_class_lists_after_a_comma() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["convert", "follow"] {
        assert_eq!(
            bash_complete(dir.path(), &["pverec", sub, "--class", "write,r"]),
            ["write,read"]
        );
        let after_two = bash_complete(dir.path(), &["pverec", sub, "--class", "read,auth,"]);
        assert_eq!(
            after_two,
            [
                "read,auth,write",
                "read,auth,console",
                "read,auth,other",
                "read,auth,task",
                "read,auth,change"
            ],
            "the values not yet given"
        );
        let first = bash_complete(dir.path(), &["pverec", sub, "--class", ""]);
        assert_eq!(first.len(), 7, "{first:?}");
    }
}

#[test]
fn bash_offers_no_file_names_for_values_that_are_not_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), "").unwrap();
    fs::write(dir.path().join("alice.txt"), "").unwrap();
    for option in not_files() {
        for sub in ["convert", "follow"] {
            if !long_options(sub).contains(&option[2..]) {
                continue;
            }
            for typed in ["", "a"] {
                let offered = bash_complete(dir.path(), &["pverec", sub, &option, typed]);
                assert!(
                    offered.iter().all(|o| o == typed),
                    "{sub} {option} {typed:?} offers {offered:?}"
                );
            }
        }
    }
    // A FILE still completes to files.
    let offered = bash_complete(dir.path(), &["pverec", "convert", "--events", "acc"]);
    assert_eq!(offered, ["access.log"]);
}

/// fish's `complete -C` on the committed completion.
fn fish_complete(dir: &Path, line: &str) -> Vec<String> {
    let out = Command::new(require_tool("fish"))
        .arg("--no-config")
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C '{}'",
            repo().join("completions/pverec.fish").display(),
            line
        ))
        .current_dir(dir)
        .output()
        .expect("fish runs");
    assert_eq!(text(&out.stderr), "", "fish complains about the script");
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn fish_completes_lists_values_and_no_file_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), "").unwrap();
    assert_eq!(
        fish_complete(dir.path(), "pverec convert --class write,r"),
        ["write,read"]
    );
    assert_eq!(
        fish_complete(dir.path(), "pverec follow --class "),
        [
            "auth", "change", "console", "other", "read", "task", "write"
        ]
    );
    // Values whose help holds a double quote ("# note") complete too.
    assert_eq!(
        fish_complete(dir.path(), "pverec convert -f "),
        ["ecs", "json", "json-pretty", "ocsf", "pvesh", "script"]
    );
    for option in not_files() {
        let offered = fish_complete(dir.path(), &format!("pverec follow {option} "));
        assert!(
            !offered.iter().any(|o| o.contains("access.log")),
            "{option} offers {offered:?}"
        );
    }
    let offered = fish_complete(dir.path(), "pverec convert --events acc");
    assert_eq!(offered, ["access.log"]);
}

/// Completes `line` in an interactive zsh on a pseudo-terminal (zsh/zpty) with the committed
/// completion as the only one in fpath, and prints each candidate zsh adds (with the part of
/// the word before it, `write,` of `write,read`) to a file; a widget around the completer says
/// when it is done, so the run waits for that, with a deadline, rather than for a time.
const ZSH_CAPTURE: &str = r#"
zmodload zsh/zpty || exit 4
local dir=$1 out=$2 line=$3 chunk
await() { local i; for i in {1..500}; do [[ -e $1 ]] && return 0; zpty -r -t z chunk; sleep 0.02; done; return 1 }
zpty z zsh -f -i
zpty -w z "unset zle_bracketed_paste; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "compadd () { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return \$?; fi; local -a hits; builtin compadd -A hits \"\$@\"; local h; for h in \$hits; do print -r -- \"\$IPREFIX\$h\" >> ${(q)out}; done; builtin compadd \"\$@\"; }"
zpty -w z "_capture () { _main_complete; : >> ${(q)out}; : > ${(q)out}.done }; zle -C capture complete-word _capture; bindkey '^I' capture"
zpty -w z ": > ${(q)out}.ready"
await $out.ready || exit 2
zpty -n -w z "$line"$'\t'
await $out.done || exit 3
zpty -d z
"#;

fn zsh_complete(dir: &Path, line: &str) -> Vec<String> {
    let fpath = dir.join("fpath");
    fs::create_dir_all(&fpath).unwrap();
    fs::copy(repo().join("completions/_pverec"), fpath.join("_pverec")).unwrap();
    let out_file = dir.join("candidates");
    let _ = fs::remove_file(&out_file);
    let _ = fs::remove_file(dir.join("candidates.done"));
    let out = Command::new(require_tool("zsh"))
        .args(["-f", "-c", ZSH_CAPTURE, "zsh"])
        .arg(&fpath)
        .arg(&out_file)
        .arg(line)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("zsh runs");
    assert!(
        out.status.success(),
        "zsh completion of {line:?}: {:?} {}",
        out.status,
        text(&out.stderr)
    );
    fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// zsh completes --class as a list the zsh way (`_values -s ,`), every value of --format
/// (whose help holds a `"`), and no file name for the options that take none.
#[test]
fn zsh_completes_lists_values_and_no_file_names() {
    let out = Command::new(require_tool("zsh"))
        .arg("-n")
        .arg(repo().join("completions/_pverec"))
        .output()
        .expect("zsh runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), "").unwrap();
    fs::write(dir.path().join("alice.txt"), "").unwrap();
    assert_eq!(
        zsh_complete(dir.path(), "pverec convert --class write,r"),
        ["write,read"]
    );
    assert_eq!(
        zsh_complete(dir.path(), "pverec follow --class read,auth,"),
        [
            "read,auth,write",
            "read,auth,console",
            "read,auth,other",
            "read,auth,task",
            "read,auth,change"
        ]
    );
    assert_eq!(
        zsh_complete(dir.path(), "pverec convert -f "),
        ["pvesh", "json", "json-pretty", "script", "ecs", "ocsf"]
    );
    for option in not_files() {
        let offered = zsh_complete(dir.path(), &format!("pverec follow {option} a"));
        assert!(offered.is_empty(), "{option} offers {offered:?}");
    }
    assert_eq!(
        zsh_complete(dir.path(), "pverec convert --events acc"),
        ["access.log"]
    );
}

// ---- item 17 and 18: make install --------------------------------------------------------------

/// A make run in the repository with `target` as cargo's output directory and a cargo that
/// fails if anything tries to build.
fn make(target: &Path, args: &[&str]) -> Output {
    Command::new(require_tool("make"))
        .arg("-C")
        .arg(repo())
        .args(args)
        .arg("CARGO=false")
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("make runs")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn make_install_installs_the_static_build_without_building() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let built = target.join("x86_64-unknown-linux-gnu/release/pverec");
    fs::create_dir_all(built.parent().unwrap()).unwrap();
    fs::copy(bin(), &built).unwrap();
    let before = fs::metadata(&built).unwrap().modified().unwrap();

    for (prefix, zsh) in [
        ("/usr/local", "share/zsh/site-functions"),
        ("/usr", "share/zsh/vendor-completions"),
    ] {
        let root = dir.path().join(format!("root{}", prefix.replace('/', "-")));
        let out = make(
            &target,
            &[
                "install",
                &format!("DESTDIR={}", root.display()),
                &format!("PREFIX={prefix}"),
            ],
        );
        assert!(
            out.status.success(),
            "make install: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let base = root.join(prefix.trim_start_matches('/'));
        let installed = base.join("bin/pverec");
        assert_eq!(mode(&installed), 0o755);
        assert_eq!(fs::read(&installed).unwrap(), fs::read(&built).unwrap());
        for (file, source) in [
            ("share/man/man1/pverec.1", "man/pverec.1"),
            (
                "share/bash-completion/completions/pverec",
                "completions/pverec.bash",
            ),
            (&format!("{zsh}/_pverec"), "completions/_pverec"),
            (
                "share/fish/vendor_completions.d/pverec.fish",
                "completions/pverec.fish",
            ),
        ] {
            let path = base.join(file);
            assert_eq!(mode(&path), 0o644, "{}", path.display());
            assert_eq!(
                fs::read(&path).unwrap(),
                fs::read(repo().join(source)).unwrap()
            );
        }
    }
    assert_eq!(
        fs::metadata(&built).unwrap().modified().unwrap(),
        before,
        "make install rebuilt the binary"
    );
}

#[test]
fn make_install_without_a_build_says_to_run_make_static() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = make(
        &dir.path().join("target"),
        &["install", &format!("DESTDIR={}", root.display())],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("run make static first"), "{stderr}");
    assert!(!root.exists(), "installed something without a build");
}

// ---- item 15: README and --help ------------------------------------------------------------

/// The README's examples are `--help`'s, line for line, and the man page's.
#[test]
fn readme_examples_are_the_help_examples() {
    let help = stdout_of(pverec().args(["convert", "--help"]));
    let examples: Vec<&str> = help
        .split_once("\nExamples:\n")
        .expect("--help has examples")
        .1
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.strip_prefix("  ").expect("indented"))
        .collect();
    assert!(examples.len() >= 4, "{examples:?}");
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split_once("node. Then, as root")
        .expect("the README's node examples")
        .1
        .split_once("```sh\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    assert_eq!(block.lines().collect::<Vec<_>>(), examples);
    assert_eq!(
        stdout_of(pverec().args(["follow", "--help"]))
            .split_once("\nExamples:\n")
            .map(|(_, e)| e.to_string()),
        help.split_once("\nExamples:\n").map(|(_, e)| e.to_string()),
    );
    let shown = rendered(&man_page());
    let man = shown.split_once("\nEXAMPLES\n").unwrap().1;
    for example in examples {
        assert!(man.contains(example), "the man page lacks {example}");
    }
}
