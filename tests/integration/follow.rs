//! `pverec follow`: the scenarios of follow-scenarios.md, each with inotify and with --poll.

use super::follower::{BACKENDS, Follower, append, commands, lines};

#[test]
fn basic_append() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, &lines(0..3));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        append(&log, &lines(3..8));
        f.expect_output(&commands(3..8));
    }
}
