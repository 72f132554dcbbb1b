//! Soak test of `pverec follow` (follow-scenarios.md 5, 6, 8, 25, 28 together, under load): a
//! writer thread appends 200,000 lines, one write each, while the test rotates the log 20 times
//! the PVE way and kills pverec once with SIGKILL, restarting it with the same `--state`.
//!
//! Rotation k shifts `access.log.j` to `.j+1` (nothing is deleted, so a restarted pverec finds
//! every file of its checkpoint), renames `access.log` to `.1` and creates a new `access.log`.
//! The writer notices, writes a few late lines through its old descriptor (a pveproxy worker
//! until the reload) and only then opens the new file; the next rotation waits for that switch.
//! So the only file written after a rotation is the one just renamed, which is the one rotated
//! file pverec keeps for `--rotate-wait`, and no file is written once it is `.2`.
//!
//! The kill comes once the state file records generation 10 as the current file; the rotation
//! after it happens while pverec is down, and pverec is restarted a little later.
//!
//! What must hold: every line comes out; nothing comes out that was not written; each run emits
//! a line at most once and keeps the order of each file; the lines the restart repeats are the
//! last lines of the killed run (the batch it emitted but had not checkpointed), and apart from
//! them each file comes out exactly once, in order.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::follower::{Backend, Follower, command, line, writer};

const LINES: usize = 200_000;
const ROTATIONS: usize = 20;
/// Rotation k happens once k * EVERY lines are written.
const EVERY: usize = LINES / (ROTATIONS + 2);
/// The writer's pace, in lines per second (a debug build of pverec converts about 80,000).
const RATE: u64 = 50_000;
/// pverec is killed after this rotation and restarted after the next one.
const KILL_AFTER: usize = 10;
/// The pause before each late line written to the file just renamed.
const LATE_GAP: Duration = Duration::from_millis(5);
/// Upper bound for each wait of the test (the whole test takes a few seconds).
const PATIENCE: Duration = Duration::from_secs(45);
const OUTPUT_PREFIX: &str = "pvesh create /nodes/pve1/qemu/";
const OUTPUT_SUFFIX: &str = "/status/start";

#[test]
fn soak_inotify() {
    soak(Backend::Inotify);
}

#[test]
fn soak_poll() {
    soak(Backend::Poll);
}

/// What the writer and the rotating test thread tell each other.
#[derive(Default)]
struct Shared {
    /// Lines written so far.
    written: AtomicUsize,
    /// Rotations done by the test thread.
    rotations: AtomicUsize,
    /// The generation the writer writes to (it has reopened the log after that rotation).
    switched: AtomicUsize,
    /// The test gave up: the writer stops.
    abort: AtomicBool,
}

/// Stops the writer when the test thread panics.
struct AbortOnDrop(Arc<Shared>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort.store(true, Ordering::Release);
    }
}

fn soak(backend: Backend) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let runs = [dir.path().join("run0"), dir.path().join("run1")];
    for d in [&logs, &runs[0], &runs[1]] {
        fs::create_dir(d).unwrap();
    }
    let log = logs.join("access.log");
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let args = ["--rotate-wait", "30s", "--state", state_arg];
    fs::File::create(&log).unwrap();
    let mut follower = Follower::start(&runs[0], &log, backend, &args);

    let shared = Arc::new(Shared::default());
    let _abort = AbortOnDrop(Arc::clone(&shared));
    let writer_thread = {
        let (log, shared) = (log.clone(), Arc::clone(&shared));
        thread::spawn(move || write_lines(&log, &shared))
    };

    let mut restarted = None;
    for k in 1..=ROTATIONS {
        wait_for(&format!("{} lines written", k * EVERY), || {
            shared.written.load(Ordering::Acquire) >= k * EVERY
        });
        rotate(&log, k);
        shared.rotations.store(k, Ordering::Release);
        wait_for(
            &format!("the writer to reopen the log after rotation {k}"),
            || shared.switched.load(Ordering::Acquire) == k,
        );
        if k == KILL_AFTER {
            // Mid-stream, once the checkpoint knows the new file (else the rotation while
            // stopped would leave a generation that neither the state nor the path names), and
            // while pverec is busy (between a look and its checkpoint, if the timing allows).
            let ino = fs::metadata(&log).unwrap().ino();
            wait_for("the state to record the new log", || {
                shared.written.load(Ordering::Acquire) >= k * EVERY + EVERY / 3
                    && state_has_current(&state, ino)
            });
            let busy = Instant::now() + Duration::from_secs(2);
            while follower.is_sleeping() && Instant::now() < busy {
                thread::sleep(Duration::from_micros(100));
            }
            follower.stop_with(libc::SIGKILL);
        }
        if k == KILL_AFTER + 1 {
            wait_for("more lines written while pverec is down", || {
                shared.written.load(Ordering::Acquire) >= k * EVERY + EVERY / 4
            });
            restarted = Some(Follower::spawn(&runs[1], &log, backend, &args));
        }
    }
    let gens = writer_thread.join().expect("the writer finishes");
    assert_eq!(gens.len(), LINES);
    let written_at = started.elapsed();

    let outs = [runs[0].join("follow-0.out"), runs[1].join("follow-0.out")];
    let expected_bytes: u64 = (0..LINES).map(|n| command(n).len() as u64 + 1).sum();
    let missing = || -> Vec<usize> {
        let mut seen = vec![false; LINES];
        for out in &outs {
            for n in read_output(out).0.into_iter().flatten() {
                seen[n] = true;
            }
        }
        (0..LINES).filter(|&n| !seen[n]).collect()
    };
    let waiting = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        let size: u64 = outs
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if size >= expected_bytes && missing().is_empty() {
            break;
        }
        if waiting.elapsed() > PATIENCE {
            let missing = missing();
            let mut per_generation = vec![(0, usize::MAX, 0); ROTATIONS + 1];
            for &n in &missing {
                let g = &mut per_generation[gens[n] as usize];
                *g = (g.0 + 1, g.1.min(n), g.2.max(n));
            }
            let examples: Vec<String> = per_generation
                .iter()
                .enumerate()
                .filter(|(_, g)| g.0 > 0)
                .map(|(i, g)| format!("generation {i}: {} lines in {}..={}", g.0, g.1, g.2))
                .collect();
            panic!(
                "{} lines never came out: {}\nstderr: {}{}",
                missing.len(),
                examples.join(", "),
                follower.stderr(),
                restarted.as_ref().map(Follower::stderr).unwrap_or_default()
            );
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
    let mut restarted = restarted.expect("pverec was restarted");
    restarted.stop();

    let (first, torn) = read_output(&outs[0]);
    let (second, torn_second) = read_output(&outs[1]);
    assert!(
        !torn_second,
        "the restarted run ended cleanly, its output too"
    );
    let first = written_only(first, "killed run");
    let second = written_only(second, "restarted run");
    for (run, out) in [("killed run", &first), ("restarted run", &second)] {
        let mut seen = HashSet::new();
        for &n in out {
            assert!(seen.insert(n), "{run}: line {n} came out twice");
        }
    }

    // The repeats are the end of the killed run: its last, uncheckpointed batch.
    let in_first: HashSet<usize> = first.iter().copied().collect();
    let repeated: HashSet<usize> = second
        .iter()
        .copied()
        .filter(|n| in_first.contains(n))
        .collect();
    let tail: HashSet<usize> = first[first.len() - repeated.len()..]
        .iter()
        .copied()
        .collect();
    assert_eq!(
        tail,
        repeated,
        "the lines repeated after the restart are not the last {} lines of the killed run",
        repeated.len()
    );

    // Per file: the killed run's lines, then the restarted run's without its repeats, are
    // exactly what was written to that file, in order; the repeats come first.
    for g in 0..=ROTATIONS {
        let of = |out: &[usize]| -> Vec<usize> {
            out.iter()
                .copied()
                .filter(|&n| gens[n] as usize == g)
                .collect()
        };
        let (a, b) = (of(&first), of(&second));
        let d = b.iter().take_while(|n| in_first.contains(n)).count();
        assert!(
            b[d..].iter().all(|n| !in_first.contains(n)),
            "generation {g}: a repeated line after a new one in the restarted run"
        );
        let got: Vec<usize> = a.iter().chain(&b[d..]).copied().collect();
        let want: Vec<usize> = (0..LINES).filter(|&n| gens[n] as usize == g).collect();
        if got != want {
            let at = got.iter().zip(&want).take_while(|(x, y)| x == y).count();
            panic!(
                "generation {g}: {} lines written, {} emitted once ({} by the killed run, {} by \
                 the restarted one); they differ from position {at}: emitted {:?}, written {:?}",
                want.len(),
                got.len(),
                a.len(),
                b.len() - d,
                got.get(at..(at + 5).min(got.len())),
                want.get(at..(at + 5).min(want.len())),
            );
        }
    }

    let stderr = [follower.stderr(), restarted.stderr()].join("");
    for bad in [
        "truncated",
        "rewritten",
        "panicked",
        "error",
        "no newline",
        "malformed",
    ] {
        assert!(!stderr.contains(bad), "pverec said {bad:?}:\n{stderr}");
    }
    eprintln!(
        "soak {backend:?}: {LINES} lines, {ROTATIONS} rotations, 1 SIGKILL + restart; written in \
         {:.1} s, all out after {:.1} s; {} lines repeated after the restart{}; stderr: {:?}",
        written_at.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        repeated.len(),
        if torn {
            " (the killed run's torn last line dropped)"
        } else {
            ""
        },
        stderr
    );
}

/// Appends [`line`]`(n)` for every n, one write each, at [`RATE`], switching to the new log a
/// few late lines ([`LATE_GAP`] apart) after each rotation. Returns the generation each line
/// went to.
fn write_lines(log: &Path, shared: &Shared) -> Vec<u8> {
    let start = Instant::now();
    let mut file = writer(log);
    let mut generation = 0;
    let mut late: Option<usize> = None;
    let mut gens = Vec::with_capacity(LINES);
    for n in 0..LINES {
        let due = Duration::from_micros(n as u64 * 1_000_000 / RATE);
        if let Some(ahead) = due.checked_sub(start.elapsed()) {
            if ahead > Duration::from_millis(1) {
                thread::sleep(ahead);
            }
        }
        // Never run more than half a generation past a rotation the test thread has not done.
        while n >= (shared.rotations.load(Ordering::Acquire) + 1) * EVERY + EVERY / 2
            && shared.rotations.load(Ordering::Acquire) < ROTATIONS
        {
            if shared.abort.load(Ordering::Acquire) {
                return gens;
            }
            thread::sleep(Duration::from_millis(1));
        }
        if shared.abort.load(Ordering::Acquire) {
            return gens;
        }
        let rotated = shared.rotations.load(Ordering::Acquire);
        if rotated > generation && late.is_none() {
            late = Some(2 + rotated * 7 % 11);
        }
        if late.is_some() {
            // Late lines trickle in (a worker finishing its connections), so that pverec has
            // looked at the renamed file before the last of them: only --rotate-wait keeps it.
            thread::sleep(LATE_GAP);
        }
        if late == Some(0) {
            // The reload: the worker opens the path again, which names the new file.
            file = writer(log);
            generation = rotated;
            late = None;
            shared.switched.store(generation, Ordering::Release);
        }
        file.write_all(line(n).as_bytes()).unwrap();
        gens.push(generation as u8);
        if let Some(left) = &mut late {
            *left -= 1;
        }
        shared.written.store(n + 1, Ordering::Release);
    }
    gens
}

/// Rotation `k`: `.k-1` … `.1` move up one, `access.log` becomes `.1`, a new `access.log`.
fn rotate(log: &Path, k: usize) {
    for j in (1..k).rev() {
        fs::rename(generation(log, j), generation(log, j + 1)).unwrap();
    }
    fs::rename(log, generation(log, 1)).unwrap();
    fs::File::create_new(log).unwrap();
}

fn generation(log: &Path, j: usize) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{j}"));
    PathBuf::from(name)
}

/// Whether the state file records the file with inode `ino` as the current one.
fn state_has_current(state: &Path, ino: u64) -> bool {
    let Ok(text) = fs::read(state) else {
        return false;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    json["files"].as_array().is_some_and(|files| {
        files
            .iter()
            .any(|f| f["ino"].as_u64() == Some(ino) && f["current"] == true)
    })
}

/// The line numbers of an output (`None` for a line that is not a command for a line), and
/// whether its last line is torn (no newline: a write cut short by SIGKILL).
fn read_output(path: &Path) -> (Vec<Option<usize>>, bool) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let torn = !text.is_empty() && !text.ends_with('\n');
    let mut lines: Vec<&str> = text.lines().collect();
    if torn {
        lines.pop();
    }
    let numbers = lines
        .iter()
        .map(|l| {
            let n: usize = l
                .strip_prefix(OUTPUT_PREFIX)?
                .strip_suffix(OUTPUT_SUFFIX)?
                .parse()
                .ok()?;
            (n < LINES && command(n) == *l).then_some(n)
        })
        .collect();
    (numbers, torn)
}

/// Checks that every output line is the command of a written line.
fn written_only(out: Vec<Option<usize>>, run: &str) -> Vec<usize> {
    out.iter()
        .enumerate()
        .map(|(i, n)| n.unwrap_or_else(|| panic!("{run}: output line {} was never written", i + 1)))
        .collect()
}

/// Polls `done` with back-off until it holds; panics after [`PATIENCE`].
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
