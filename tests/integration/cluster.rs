//! The cluster harness itself (`cluster_util.rs`): before issue 15's tests lean on it, proof that
//! each node is its own machine as far as ssh can tell (own address, host key, /var/log, journal,
//! /etc/pve, hostname), that a stopped node is refused at once and comes back, that a hung node costs a
//! client no more than its timeouts, that nothing is left after Drop (also after a panic), and
//! that two clusters at once do not meet.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cluster_util::Cluster;
use crate::journal_util::{Entry, journal_file, micros};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "ssh failed ({}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// What of a cluster the host can still see: its namespaces and its bridge.
fn leftovers(netns: &[String], bridge: &str) -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut left: Vec<String> = netns
        .iter()
        .filter(|ns| {
            list.lines()
                .any(|l| l.split_whitespace().next() == Some(ns))
        })
        .cloned()
        .collect();
    let link = Command::new("ip")
        .args(["link", "show", bridge])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    if link.status.success() {
        left.push(bridge.to_string());
    }
    left
}

#[test]
fn each_node_serves_its_own_files_under_its_own_name() {
    let Some(cluster) = Cluster::new(3) else {
        return;
    };
    assert_eq!(cluster.len(), 3);
    for i in 1..=cluster.len() {
        let node = cluster.node(i);
        node.write_log(&format!("access.log of pve{i}\n"));
        std::fs::write(node.tasks_dir().join("index"), format!("tasks of pve{i}\n")).unwrap();
        let said = Entry::new(
            micros("2026-06-24T12:00:00Z"),
            "pvedaemon",
            1000 + i as u32,
            format!("said on pve{i}"),
        )
        .host(node.name())
        .with("_MACHINE_ID", node.machine_id());
        journal_file(&node.journal_dir(), &[said]);
        std::fs::create_dir_all(node.etc_pve().join("qemu-server")).unwrap();
    }
    for i in 1..=cluster.len() {
        let node = cluster.node(i);
        let name = node.name();
        let seen = ok(cluster.ssh(
            name,
            &[
                "cat /var/log/pveproxy/access.log /var/log/pve/tasks/index; \
               journalctl -q -o cat; hostname; ls /etc/pve /etc/pve/nodes",
            ],
        ));
        assert_eq!(
            seen,
            format!(
                "access.log of {name}\ntasks of {name}\nsaid on {name}\n{name}\n/etc/pve:\nnodes\nqemu-server\n\n\
                 /etc/pve/nodes:\n{name}\n"
            ),
            "{name} must see its own files and nothing of the others"
        );
        let id = ok(cluster.ssh(name, &["cat", "/etc/machine-id"]));
        assert_eq!(id, format!("{}\n", node.machine_id()));
        let members = ok(cluster.ssh(name, &["cat", "/etc/pve/.members"]));
        let members: serde_json::Value = serde_json::from_str(&members).unwrap();
        assert_eq!(members["nodename"], name);
        for j in 1..=cluster.len() {
            let other = cluster.node(j);
            assert_eq!(
                members["nodelist"][other.name()]["ip"],
                other.addr().to_string()
            );
        }
        // The known_hosts holds the node under its address too; the client is the bridge's address.
        let by_addr = Command::new("ssh")
            .arg("-i")
            .arg(cluster.identity())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                cluster.known_hosts().display()
            ))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
            ])
            .args(["-o", "StrictHostKeyChecking=yes", "-F", "/dev/null"])
            .arg(format!("root@{}", node.addr()))
            .arg("hostname")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(ok(by_addr), format!("{name}\n"));
        let log = std::fs::read_to_string(node.sshd_log()).unwrap();
        assert!(
            log.contains(&format!("Connection from {} ", cluster.client_addr())),
            "{log}"
        );
        // The node's own network: its address only, in its namespace.
        let addrs = Command::new("ip")
            .args(["netns", "exec", node.netns(), "ip", "-o", "-4", "addr"])
            .output()
            .unwrap();
        assert!(stdout(&addrs).contains(&format!("{}/24", node.addr())));
    }
    // Nodes reach each other (a pverec run on pve1 as the local node reads pve2 over ssh).
    let from_pve1 = cluster
        .node(1)
        .command("ssh")
        .arg("-F")
        .arg(cluster.ssh_config())
        .args(["pve2", "hostname"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(ok(from_pve1), "pve2\n");
    let on_pve3 = cluster
        .node(3)
        .command("cat")
        .arg("/etc/pve/.members")
        .output()
        .unwrap();
    assert!(stdout(&on_pve3).contains("\"nodename\": \"pve3\""));
    // A host key that is not the node's is refused (StrictHostKeyChecking yes, BatchMode yes).
    let known = std::fs::read_to_string(cluster.known_hosts()).unwrap();
    let key1 = known.lines().next().unwrap().split_once(' ').unwrap().1;
    let swapped: String = known
        .lines()
        .map(|l| {
            if l.starts_with("pve2,") {
                format!("{} {key1}\n", l.split(' ').next().unwrap())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(cluster.known_hosts(), swapped).unwrap();
    let spoofed = cluster.ssh("pve2", &["true"]);
    assert!(!spoofed.status.success());
    assert!(
        stderr(&spoofed).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        stderr(&spoofed)
    );
}

#[test]
fn a_stopped_node_is_refused_at_once_and_comes_back() {
    let Some(mut cluster) = Cluster::new(3) else {
        return;
    };
    cluster.node(2).write_log("before\n");
    let sshd = cluster.node(2).sshd_pid().unwrap();
    cluster.stop(2);
    assert!(!cluster.node(2).is_up());
    assert!(
        !Path::new(&format!("/proc/{sshd}")).exists(),
        "pve2's sshd is gone"
    );
    let started = Instant::now();
    let refused = cluster.ssh("pve2", &["true"]);
    let took = started.elapsed();
    assert_eq!(refused.status.code(), Some(255));
    assert!(
        stderr(&refused).contains("Connection refused"),
        "{}",
        stderr(&refused)
    );
    assert!(took < Duration::from_secs(2), "refused in {took:?}");
    // The others are not touched.
    assert_eq!(ok(cluster.ssh("pve1", &["hostname"])), "pve1\n");
    assert_eq!(ok(cluster.ssh("pve3", &["hostname"])), "pve3\n");
    // Written while it was down, read after it is back: same files, same host key.
    cluster.node(2).append_log("while down\n");
    cluster.start(2);
    assert!(cluster.node(2).is_up());
    assert_eq!(
        ok(cluster.ssh("pve2", &["cat", "/var/log/pveproxy/access.log"])),
        "before\nwhile down\n"
    );
}

#[test]
fn a_hung_node_costs_its_timeouts_and_no_more() {
    let Some(mut cluster) = Cluster::new(3) else {
        return;
    };
    // A session open before the hang (a follow's stream) and a new one during it.
    let mut open = cluster
        .ssh_command("pve3", &["echo ready; exec sleep 600"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(open.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    cluster.hang(3);
    assert!(cluster.node(3).is_hung() && cluster.node(3).is_up());
    let started = Instant::now();
    let new = cluster
        .ssh_command("pve3", &["true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The others answer at once meanwhile.
    let quick = Instant::now();
    assert_eq!(ok(cluster.ssh("pve1", &["hostname"])), "pve1\n");
    assert!(quick.elapsed() < Duration::from_secs(2));

    let new = new.wait_with_output().unwrap();
    let new_took = started.elapsed();
    assert_eq!(new.status.code(), Some(255));
    assert!(stderr(&new).contains("timed out"), "{}", stderr(&new));
    // ConnectTimeout 3 covers the banner exchange.
    assert!(
        (Duration::from_millis(2500)..Duration::from_secs(8)).contains(&new_took),
        "a new connection gave up after {new_took:?}"
    );
    let deadline = started + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = open.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the open session is still waiting after 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let open_took = started.elapsed();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut open.stderr.take().unwrap(), &mut said).unwrap();
    assert_eq!(status.code(), Some(255));
    assert!(said.contains("Timeout, server"), "{said}");
    // ServerAliveInterval 1 × ServerAliveCountMax 3.
    assert!(
        open_took < Duration::from_secs(8),
        "the open session gave up after {open_took:?}"
    );
    cluster.resume(3);
    assert!(!cluster.node(3).is_hung());
    assert_eq!(ok(cluster.ssh("pve3", &["hostname"])), "pve3\n");
    eprintln!("hung pve3: new ssh gave up after {new_took:?}, open one after {open_took:?}");
}

#[test]
fn nothing_is_left_after_drop_even_after_a_panic() {
    let mut seen: Option<(Vec<String>, String, Vec<u32>, std::path::PathBuf)> = None;
    let mut opened: Option<std::process::Child> = None;
    let Some(mut cluster) = Cluster::new(2) else {
        return;
    };
    let netns: Vec<String> = (1..=2)
        .map(|i| cluster.node(i).netns().to_string())
        .collect();
    let bridge = cluster.bridge().to_string();
    let pids: Vec<u32> = (1..=2)
        .map(|i| cluster.node(i).sshd_pid().unwrap())
        .collect();
    let root = cluster.node(1).root().to_path_buf();
    assert!(leftovers(&netns, &bridge).len() == 3);
    cluster.hang(2);
    drop(cluster);
    assert_eq!(leftovers(&netns, &bridge), Vec::<String>::new());
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "sshd {pid} left"
        );
    }
    assert!(!root.exists());

    // The same when the test panics with a node hung and a session open.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut cluster = Cluster::new(2).unwrap();
        let netns = (1..=2)
            .map(|i| cluster.node(i).netns().to_string())
            .collect();
        let pids = (1..=2)
            .map(|i| cluster.node(i).sshd_pid().unwrap())
            .collect();
        seen = Some((
            netns,
            cluster.bridge().to_string(),
            pids,
            cluster.dir().to_path_buf(),
        ));
        let session = opened.insert(
            cluster
                .ssh_command("pve1", &["echo ready; exec sleep 600"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        BufReader::new(session.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        cluster.hang(1);
        panic!("a test failing with the cluster up (on purpose)");
    }));
    assert!(panicked.is_err());
    let (netns, bridge, pids, dir) = seen.unwrap();
    assert_eq!(leftovers(&netns, &bridge), Vec::<String>::new());
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "sshd {pid} left"
        );
    }
    assert!(!dir.exists());
    // The session open on the hung node when the cluster went: its ssh ended with the node.
    let mut session = opened.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while session.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "an ssh to a dropped cluster still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_clusters_at_once_do_not_meet() {
    let run = |tag: &'static str| {
        std::thread::spawn(move || {
            let cluster = Cluster::new(2)?;
            for i in 1..=2 {
                cluster.node(i).write_log(&format!("{tag} pve{i}\n"));
            }
            for i in 1..=2 {
                let seen =
                    ok(cluster.ssh(&format!("pve{i}"), &["cat /var/log/pveproxy/access.log"]));
                assert_eq!(seen, format!("{tag} pve{i}\n"));
            }
            let netns: Vec<String> = (1..=2)
                .map(|i| cluster.node(i).netns().to_string())
                .collect();
            Some((cluster.bridge().to_string(), cluster.client_addr(), netns))
        })
    };
    let (a, b) = (run("a"), run("b"));
    let (Some(a), Some(b)) = (a.join().unwrap(), b.join().unwrap()) else {
        return;
    };
    assert_ne!(a.0, b.0, "one bridge each");
    assert_ne!(a.1, b.1, "one subnet each");
    assert!(
        a.2.iter().all(|ns| !b.2.contains(ns)),
        "{:?} {:?}",
        a.2,
        b.2
    );
}

/// Not root: the harness says why and the test passes without a cluster; the same with CI set
/// (or PVEREC_REQUIRE_NETNS) fails, so CI never passes by skipping. Run as `nobody`, a test of
/// this binary that makes a cluster.
#[test]
fn without_namespaces_it_skips_but_never_in_ci() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return; // The skip itself is what every cluster test here then shows.
    }
    let run = |ci: Option<&str>| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "--nocapture",
                "cluster::a_stopped_node_is_refused_at_once_and_comes_back",
            ])
            .env_remove("CI")
            .env_remove("PVEREC_REQUIRE_NETNS")
            .env("TMPDIR", "/tmp")
            .current_dir("/");
        if let Some(value) = ci {
            cmd.env("CI", value);
        }
        cmd.output().unwrap()
    };
    let skipped = run(None);
    assert!(
        skipped.status.success(),
        "{:?} {}{}",
        skipped.status,
        stdout(&skipped),
        stderr(&skipped)
    );
    assert!(
        stderr(&skipped).contains("skipped: network namespaces cannot be made here (not root)"),
        "{}",
        stderr(&skipped)
    );
    assert!(
        stdout(&skipped).contains("1 passed"),
        "{}",
        stdout(&skipped)
    );
    let in_ci = run(Some("true"));
    assert!(!in_ci.status.success(), "{}", stdout(&in_ci));
    assert!(
        stderr(&in_ci).contains("CI (CI or PVEREC_REQUIRE_NETNS set) never skips them"),
        "{}",
        stderr(&in_ci)
    );
}
