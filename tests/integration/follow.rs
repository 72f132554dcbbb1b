//! `pverec follow`: the scenarios of follow-scenarios.md, each with inotify and with --poll.

use super::follower::{BACKENDS, Follower, Scene, append, commands, lines};

#[test]
fn basic_append() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        append(&log, &lines(0..3));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        append(&log, &lines(3..8));
        f.expect_output(&commands(3..8));
    }
}

/// Scenario 19, the other way round: a symlink pointed back to a file that is still read as a
/// rotated one goes on where it was, it is not read again from 0.
#[test]
fn symlink_pointed_back_is_not_read_again() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let link = dir.path().join("access.log");
        append(&a, &lines(0..2));
        append(&b, &lines(10..12));
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let f = Follower::start(dir.path(), &link, backend, &[]);
        append(&a, &lines(2..4));
        f.expect_output(&commands(2..4));
        retarget(&link, &b);
        f.expect_output(&[commands(2..4), commands(10..12)].concat());
        retarget(&link, &a);
        append(&a, &lines(4..5));
        f.expect_output(&[commands(2..4), commands(10..12), commands(4..5)].concat());
    }
}

/// `ln -nsf target link`: a new symlink renamed over the old one.
fn retarget(link: &std::path::Path, target: &std::path::Path) {
    let tmp = link.with_extension("tmp");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// Scenario 6 in JSON: a late write to the rotated file is attributed to `access.log.1`, with
/// its line number in that file.
#[test]
fn late_writes_are_attributed_to_the_rotated_file() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        append(&log, &lines(0..2));
        let mut old = super::follower::writer(&log);
        let f = Follower::start(dir.path(), &log, backend, &["-f", "json"]);
        append(&log, &lines(2..3));
        f.wait_lines(1);
        std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
        append(&log, &lines(10..11));
        f.wait_lines(2);
        std::io::Write::write_all(&mut old, lines(3..4).as_bytes()).unwrap();
        let out = f.wait_lines(3);
        let sources: Vec<(String, u64)> = out
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let file = v["source"]["file"].as_str().unwrap();
                let name = file.rsplit('/').next().unwrap().to_string();
                (name, v["source"]["line"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(
            sources,
            [
                ("access.log".to_string(), 3),
                ("access.log".to_string(), 1),
                ("access.log.1".to_string(), 4),
            ],
            "{backend:?}"
        );
    }
}

/// Scenario 25 over two days: stopped across two PVE rotations, the checkpointed file is now
/// `access.log.2.gz` (delaycompress) and `access.log.1` was never seen. A restart reads the rest
/// of the compressed one from its checkpointed line, all of `.1`, then the new log.
#[test]
fn two_rotations_while_stopped_with_compression() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let state = dir.path().join("state");
        let state_arg = state.to_str().unwrap();
        std::fs::File::create(&log).unwrap();
        let args = ["--state", state_arg];
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(0..3));
        f.expect_output(&commands(0..3));
        f.stop();

        append(&log, &lines(3..5));
        let first = dir.path().join("access.log.1");
        std::fs::rename(&log, &first).unwrap();
        append(&log, &lines(10..12));
        let gz = super::util::gzip(&std::fs::read(&first).unwrap());
        std::fs::write(dir.path().join("access.log.2.gz"), gz).unwrap();
        std::fs::remove_file(&first).unwrap();
        std::fs::rename(&log, &first).unwrap();
        append(&log, &lines(20..22));

        let f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&[commands(3..5), commands(10..12), commands(20..22)].concat());
        append(&log, &lines(22..23));
        f.expect_output(&[commands(3..5), commands(10..12), commands(20..23)].concat());
        assert!(!f.stderr().contains("gone"), "{}", f.stderr());
    }
}
