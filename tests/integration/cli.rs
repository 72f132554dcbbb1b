//! The command line as a user meets it: --help, the man page, completions, usage errors.

use crate::util::*;

fn committed(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn committed_man_page_is_current() {
    let generated = stdout_of(pverec().arg("man"));
    assert!(
        generated.starts_with(".ie") || generated.contains(".TH pverec 1"),
        "{generated}"
    );
    assert!(generated.contains("convert"));
    assert_eq!(
        committed("man/pverec.1"),
        generated,
        "man/pverec.1 is stale: run `make man`"
    );
}

#[test]
fn committed_completions_are_current() {
    for (shell, file) in [
        ("bash", "completions/pverec.bash"),
        ("zsh", "completions/_pverec"),
        ("fish", "completions/pverec.fish"),
    ] {
        let generated = stdout_of(pverec().args(["completions", shell]));
        assert!(
            generated.contains("rotated") && generated.contains("convert"),
            "{shell}"
        );
        assert_eq!(
            committed(file),
            generated,
            "{file} is stale: run `make completions`"
        );
    }
}

#[test]
fn bash_completion_offers_subcommands_and_options() {
    let script = format!(
        "source {}; COMP_WORDS=(pverec conv); COMP_CWORD=1; _pverec pverec conv pverec; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(pverec convert --ro); COMP_CWORD=2; _pverec pverec --ro convert; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(pverec convert -f ''); COMP_CWORD=3; _pverec pverec '' -f; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("completions/pverec.bash")
            .display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "convert"), "{text}");
    assert!(text.lines().any(|l| l == "--rotated"), "{text}");
    assert!(
        text.lines().any(|l| l == "json") && text.lines().any(|l| l == "script"),
        "{text}"
    );
}

#[test]
fn help_answers() {
    let help = stdout_of(pverec().args(["convert", "--help"]));
    for needle in [
        "--user",
        "--class",
        "--all",
        "--format",
        "--since",
        "--until",
        "--rotated",
        "--show-secrets",
        "--no-comments",
        "--node",
        "/var/log/pveproxy/access.log",
        "Exit status",
    ] {
        assert!(
            help.contains(needle),
            "convert --help lacks {needle}:\n{help}"
        );
    }
    let top = stdout_of(pverec().arg("--help"));
    assert!(top.contains("convert") && top.contains("completions") && top.contains("man"));
    assert!(stdout_of(pverec().arg("--version")).starts_with("pverec "));
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for args in [
        &["convert", "--since", "the day before"][..],
        &["convert", "--class", "bogus"],
        &["convert", "--format", "xml"],
        &["frobnicate"],
    ] {
        let out = pverec().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "{args:?}"
        );
    }
}
