//! Performance work must not change what pverec prints: every format of every fixture
//! (`tests/data/golden/cases.txt`) is compared byte for byte with what the release before it
//! printed (`NAME.out`, written by scripts/gen-golden.py from the commit in `COMMIT`), once on
//! every core (files read ahead by threads) and once on one (read in line).

use std::fs;
use std::process::Command;

use super::util::{bin, data, pverec};

#[test]
fn every_format_of_every_fixture_prints_what_the_previous_release_printed() {
    let golden = data("golden");
    let cases = fs::read_to_string(golden.join("cases.txt")).unwrap();
    let mut compared = 0;
    let mut differ = Vec::new();
    for line in cases
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut fields = line.split('\t');
        let (name, dir, args) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let out = pverec()
            .env("TZ", "Europe/Vienna")
            .current_dir(data(dir))
            .args(args.split(' '))
            .output()
            .unwrap();
        // On one core nothing is read ahead (crate::merge): the same bytes, the same messages.
        let one_core = Command::new("taskset")
            .args(["-c", "0"])
            .arg(bin())
            .env("TZ", "Europe/Vienna")
            .env("LC_ALL", "C")
            .env_remove("NO_COLOR")
            .current_dir(data(dir))
            .args(args.split(' '))
            .output()
            .expect("taskset (util-linux) runs pverec on one core");
        if (&one_core.stdout, &one_core.stderr) != (&out.stdout, &out.stderr) {
            differ.push(format!(
                "{name} (pverec {args}): on one core it prints otherwise than on every core"
            ));
        }
        let expected = fs::read(golden.join(format!("{name}.out"))).unwrap();
        assert!(!expected.is_empty(), "{name}: the golden output is empty");
        if out.stdout != expected {
            let at = out
                .stdout
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(out.stdout.len().min(expected.len()));
            let line = expected[..at].iter().filter(|b| **b == b'\n').count() + 1;
            differ.push(format!(
                "{name} (pverec {args}): first difference at line {line}"
            ));
        }
        compared += 1;
    }
    assert!(compared >= 35, "{compared} cases");
    assert!(differ.is_empty(), "output changed:\n{}", differ.join("\n"));
}
