//! Issue 15: a cluster read (`--cluster`, `--host`) on three real nodes (`cluster_util.rs`:
//! real sshd, own network and mount namespaces). Each test writes the nodes' files the way PVE
//! writes them for one scenario and checks the records pverec computes, field by field.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_util::Cluster;
use crate::journal_util::{Entry, journal_file, micros};
use crate::util::bin;

/// 2026-06-24T12:00:00Z, the scenarios' start.
const T0: i64 = 1_782_302_400;

fn hex(seconds: i64) -> String {
    format!("{seconds:08X}")
}

/// An access.log line at T0 + `at` seconds.
fn line(client: &str, user: &str, at: i64, request: &str, status: u16, bytes: &str) -> String {
    let time = jiff::Timestamp::from_second(T0 + at).unwrap();
    let stamp = time.strftime("%d/%m/%Y:%H:%M:%S +0000");
    format!("{client} - {user} [{stamp}] \"{request}\" {status} {bytes}\n")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// pverec run on node `i` (its files are this node's), reading the cluster over ssh.
fn pverec_on(cluster: &Cluster, i: usize, args: &[&str]) -> Command {
    let mut cmd = cluster.node(i).command(bin());
    cmd.args(args)
        .arg("--ssh-config")
        .arg(cluster.ssh_config())
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    cmd
}

/// The scenario of the issue: on pve1, alice starts VM 105 and edits its config (both on
/// pve2, so proxied), then opens a console on VM 300 (on pve3, not proxied: pve1's pvedaemon
/// reaches pve3 over SSH itself). pve3 has a read of its own.
fn write_scenario(cluster: &Cluster) {
    let pve1 = cluster.node(1).addr();
    let start = "POST /api2/extjs/nodes/pve2/qemu/105/status/start HTTP/1.1";
    let config = "PUT /api2/extjs/nodes/pve2/qemu/105/config HTTP/1.1";
    let ticket = hex(T0 + 120);
    let socket = format!(
        "GET /api2/json/nodes/pve3/qemu/300/vncwebsocket?port=5900&vncticket=PVEVNC%3A{ticket}%3A%3AsIgNaTuRe HTTP/1.1"
    );
    let client = "::ffff:192.0.2.10";
    cluster.node(1).write_log(&format!(
        "{}{}{}{}",
        line(client, "alice@pve", 5, start, 200, "82"),
        line(client, "alice@pve", 70, config, 200, "25"),
        line(
            client,
            "alice@pve",
            120,
            "POST /api2/extjs/nodes/pve3/qemu/300/vncproxy HTTP/1.1",
            200,
            "190"
        ),
        line(client, "alice@pve", 122, &socket, 101, "-"),
    ));
    std::fs::write(
        cluster.node(1).tasks_dir().join("index"),
        format!(
            "UPID:pve1:00003022:00430220:{}:vncproxy:300:alice@pve: {} OK\n",
            hex(T0 + 120),
            hex(T0 + 240)
        ),
    )
    .unwrap();
    // pve2 answers first: its lines are a second before the origin's, from pve1's address.
    let hop = format!("::ffff:{pve1}");
    cluster.node(2).write_log(&format!(
        "{}{}",
        line(&hop, "alice@pve", 4, start, 200, "82"),
        line(&hop, "alice@pve", 69, config, 200, "25"),
    ));
    std::fs::write(
        cluster.node(2).tasks_dir().join("index"),
        format!(
            "UPID:pve2:00004011:00530110:{}:qmstart:105:alice@pve: {} OK\n",
            hex(T0 + 4),
            hex(T0 + 6)
        ),
    )
    .unwrap();
    let update = Entry::new(
        micros("2026-06-24T12:01:09.400Z"),
        "pvedaemon",
        4100,
        "<alice@pve> update VM 105: -cores 2 -memory 4096",
    )
    .host("pve2")
    .with("_MACHINE_ID", cluster.node(2).machine_id());
    journal_file(&cluster.node(2).journal_dir(), &[update]);
    cluster.node(3).write_log(&line(
        "::ffff:192.0.2.30",
        "bob@pve",
        180,
        "GET /api2/json/cluster/resources HTTP/1.1",
        200,
        "1000",
    ));
}

fn by_action<'r>(records: &'r [Value], action: &str) -> Vec<&'r Value> {
    records.iter().filter(|r| r["action"] == action).collect()
}

#[test]
fn a_proxied_start_and_config_edit_fold_and_take_their_outcome_from_the_target() {
    let Some(cluster) = Cluster::new(3) else {
        return;
    };
    write_scenario(&cluster);
    let out = pverec_on(
        &cluster,
        1,
        &["convert", "--cluster", "--all", "-f", "json"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let records = json_lines(&out);

    let start = by_action(&records, "vm_start");
    assert_eq!(start.len(), 1, "the hop is folded: {records:#?}");
    let start = start[0];
    assert_eq!(start["node"], "pve1");
    assert_eq!(start["source_ip"], "192.0.2.10");
    assert_eq!(start["outcome"], "success");
    assert_eq!(
        start["task"]["upid"],
        format!(
            "UPID:pve2:00004011:00530110:{}:qmstart:105:alice@pve:",
            hex(T0 + 4)
        )
    );
    assert_eq!(start["proxy"]["to"], "pve2");
    assert_eq!(
        start["proxy"]["hop"]["file"],
        "pve2:/var/log/pveproxy/access.log"
    );
    assert_eq!(start["proxy"]["hop"]["line"], 1);
    assert_eq!(start["source"]["file"], "/var/log/pveproxy/access.log");

    let config = by_action(&records, "update_vm");
    assert_eq!(config.len(), 1, "{records:#?}");
    let config = config[0];
    assert_eq!(config["params_source"], "journal");
    assert_eq!(config["params"]["memory"], "4096");
    assert_eq!(config["params"]["cores"], "2");
    assert_eq!(config["proxy"]["to"], "pve2");
    assert_eq!(config["proxy"]["hop"]["line"], 2);
    assert_eq!(config["process"]["pid"], 4100);

    let console = by_action(&records, "vncproxy");
    assert_eq!(console.len(), 1);
    assert_eq!(console[0]["node"], "pve1");
    assert_eq!(console[0]["outcome"], "success");
    assert_eq!(
        console[0]["task"]["upid"],
        format!(
            "UPID:pve1:00003022:00430220:{}:vncproxy:300:alice@pve:",
            hex(T0 + 120)
        )
    );
    assert!(
        console[0].get("proxy").is_none(),
        "a console is not proxied"
    );

    let read = by_action(&records, "resources");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["node"], "pve3");
    assert_eq!(
        read[0]["source"]["file"],
        "pve3:/var/log/pveproxy/access.log"
    );

    // One timeline: the records are in time order across the nodes.
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    // No event of the hops' own: only pve1's lines and pve3's.
    assert!(records.iter().all(|r| r["node"] != "pve2"), "{records:#?}");
    let said = stderr(&out);
    assert!(
        said.contains(
            "3 nodes read (pve1, pve2, pve3); 2 proxied hops folded into their origin's request, \
             0 shown on their own"
        ),
        "{said}"
    );

    // --host adds nodes to the one pverec runs on: the same timeline.
    let n2 = format!("pve2={}", cluster.node(2).addr());
    let n3 = format!("pve3={}", cluster.node(3).addr());
    let hosts = pverec_on(
        &cluster,
        1,
        &[
            "convert", "--all", "-f", "json", "--host", &n2, "--host", &n3,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(json_lines(&hosts), records, "{}", stderr(&hosts));

    // The pvesh form says where it ran; --on-node selects by the node that did it.
    let out = pverec_on(&cluster, 1, &["convert", "--cluster", "--on-node", "pve2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("pvesh create /nodes/pve2/qemu/105/status/start"),
        "{text}"
    );
    assert!(
        lines[0].ends_with("# body not recorded; proxied to pve2"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("pvesh set /nodes/pve2/qemu/105/config --cores 2 --memory 4096"),
        "{text}"
    );

    // The console's session, from pve1's task, on the guest's node.
    let out = pverec_on(&cluster, 1, &["sessions", "--cluster", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sessions = json_lines(&out);
    let vnc: Vec<&Value> = sessions.iter().filter(|s| s["kind"] == "vnc").collect();
    assert_eq!(vnc.len(), 1, "{sessions:#?}");
    assert_eq!(vnc[0]["vmid"], "300");
    assert_eq!(vnc[0]["node"], "pve3");
    assert_eq!(vnc[0]["status"], "completed");
    assert_eq!(vnc[0]["user"], "alice@pve");
}

#[test]
fn a_hop_whose_origin_is_not_read_stays_marked_with_its_origin() {
    let Some(cluster) = Cluster::new(3) else {
        return;
    };
    write_scenario(&cluster);
    // From the test's own machine, which is no node (its /etc/pve is none): pve2 and pve3
    // only. pve1's address comes from the .members of the nodes read.
    let n2 = format!("pve2={}", cluster.node(2).addr());
    let n3 = format!("pve3={}", cluster.node(3).addr());
    let out = Command::new(bin())
        .args([
            "convert", "--all", "-f", "json", "--host", &n2, "--host", &n3,
        ])
        .arg("--no-etc-pve")
        .arg("--ssh-config")
        .arg(cluster.ssh_config())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let records = json_lines(&out);
    let start = by_action(&records, "vm_start");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["node"], "pve2");
    assert_eq!(start[0]["source_ip"], cluster.node(1).addr().to_string());
    assert_eq!(start[0]["outcome"], "success");
    assert_eq!(start[0]["proxy"]["from"], "pve1");
    assert_eq!(start[0]["proxy"]["origin_read"], false);
    assert!(
        stderr(&out)
            .contains("0 proxied hops folded into their origin's request, 2 shown on their own"),
        "{}",
        stderr(&out)
    );
}

/// Every process: its pid and its /proc directory.
fn processes() -> impl Iterator<Item = (i32, std::path::PathBuf)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            Some((pid, entry.path()))
        })
}

/// Whether any ssh process still runs with `addr` in its argv.
fn ssh_to(addr: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for (pid, dir) in processes() {
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if words.first().is_some_and(|w| w.ends_with(b"/ssh")) && words.contains(&addr.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_node_down_and_a_node_that_hangs_are_named_and_the_rest_is_read() {
    let Some(mut cluster) = Cluster::new(3) else {
        return;
    };
    write_scenario(&cluster);
    cluster.stop(3);
    cluster.hang(2);
    let started = Instant::now();
    let out = pverec_on(
        &cluster,
        1,
        &[
            "convert",
            "--cluster",
            "--all",
            "-f",
            "json",
            "--ssh-timeout",
            "2s",
        ],
    )
    .output()
    .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    let pve2 = cluster.node(2).addr().to_string();
    let pve3 = cluster.node(3).addr().to_string();
    assert!(
        said.contains(&format!("pve3 ({pve3}): ssh failed")),
        "{said}"
    );
    // ssh's own ConnectTimeout covers a banner that never comes; pverec's watchdog what
    // hangs later.
    assert!(
        said.contains(&format!(
            "pve2 ({pve2}): ssh failed: Connection timed out during banner exchange"
        )) || said.contains(&format!("pve2 ({pve2}): sent nothing for 2 s")),
        "{said}"
    );
    assert!(said.contains("1 nodes read (pve1)"), "{said}");
    // pve1's own events are all there; the start's outcome stays unknown without pve2.
    let records = json_lines(&out);
    let start = by_action(&records, "vm_start");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["outcome"], "unknown");
    assert_eq!(by_action(&records, "vncproxy")[0]["outcome"], "success");
    // The hung node cost its timeout, not a stall (ssh alone would wait for ever).
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(ssh_to(&pve2).is_empty(), "an ssh to the hung node is left");
    cluster.resume(2);
}

#[test]
fn no_ssh_outlives_pverec_killed_by_sigkill_or_sigterm() {
    let Some(mut cluster) = Cluster::new(2) else {
        return;
    };
    cluster.node(1).write_log("");
    cluster.hang(2);
    let pve2 = cluster.node(2).addr().to_string();
    let log = cluster.dir().join("here.log");
    std::fs::write(&log, "").unwrap();
    let runs = [
        (libc::SIGKILL, "convert"),
        (libc::SIGTERM, "convert"),
        (libc::SIGKILL, "follow"),
        (libc::SIGTERM, "follow"),
    ];
    let mut sigkilled = Vec::new();
    for (signal, command) in runs {
        let mut cmd = Command::new(bin());
        cmd.arg(command);
        if command == "follow" {
            cmd.arg("--access-log").arg(&log);
        }
        let mut child = cmd
            .arg("--host")
            .arg(format!("pve2={pve2}"))
            .arg("--ssh-config")
            .arg(cluster.ssh_config())
            .args(["--ssh-timeout", "60s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ssh_to(&pve2).is_empty() {
            assert!(Instant::now() < deadline, "pverec started no ssh");
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        child.wait().unwrap();
        if signal == libc::SIGKILL && command == "convert" {
            sigkilled.push(child.id());
        }
        if signal == libc::SIGTERM {
            // Caught: the copies of the nodes' files are removed before pverec ends.
            let left = copies_of(child.id());
            assert!(left.is_empty(), "{command} left {left:?} after SIGTERM");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ssh_to(&pve2).is_empty() {
            assert!(
                Instant::now() < deadline,
                "ssh outlived pverec {command} after signal {signal}: {:?}",
                ssh_to(&pve2)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // What SIGKILL left (it cannot be caught) goes with the next cluster read.
    cluster.resume(2);
    let out = Command::new(bin())
        .args(["convert", "--host"])
        .arg(format!("pve2={pve2}"))
        .arg("--ssh-config")
        .arg(cluster.ssh_config())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for pid in sigkilled {
        assert!(
            copies_of(pid).is_empty(),
            "the copies of killed pverec {pid} are still there"
        );
    }
}

/// pverec's copies of the nodes' files, by its pid, in the temporary directory.
fn copies_of(pid: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("pverec-copies-{pid}-")))
        })
        .collect()
}

#[test]
fn a_hostile_node_runs_nothing_here_and_prints_no_control_bytes() {
    let Some(cluster) = Cluster::new(2) else {
        return;
    };
    let marker = cluster.dir().join("pwned");
    let marker_text = marker.display().to_string();
    cluster.node(1).write_log("");
    // pve2 is compromised: its log holds a shell payload in the path, escape sequences in the
    // user and the query, and a task line with a hostile status.
    let payload = format!(
        "POST /api2/json/nodes/pve2/qemu/105/status/$(touch%20{marker_text})%60touch%20{marker_text}%60 HTTP/1.1"
    );
    cluster.node(2).write_log(&format!(
        "{}{}",
        line("::ffff:192.0.2.66", "eve\u{1b}]0;owned\u{7}@pve", 1, &payload, 200, "10"),
        line(
            "::ffff:192.0.2.66",
            "eve@pve",
            2,
            "PUT /api2/json/nodes/pve2/qemu/105/config?description=%1b%5b2J%1b%5d0%3bx%07;id HTTP/1.1",
            200,
            "10"
        ),
    ));
    std::fs::write(
        cluster.node(2).tasks_dir().join("index"),
        format!(
            "UPID:pve2:00004011:00530110:{}:qmstart:105:eve@pve: {} \u{1b}[31m$(reboot)\n\
             UPID:pve1:00004012:00530110:{}:qmdestroy:100:root@pam: {} OK\n",
            hex(T0 + 1),
            hex(T0 + 2),
            hex(T0 + 1),
            hex(T0 + 2)
        ),
    )
    .unwrap();
    let n2 = format!("pve2={}", cluster.node(2).addr());
    for format in ["pvesh", "json", "script"] {
        let out = pverec_on(
            &cluster,
            1,
            &[
                "convert", "--all", "-f", format, "--host", &n2, "--host", "pve1",
            ],
        )
        .output()
        .unwrap();
        assert!(!marker.exists(), "a node's data ran here");
        for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !bytes.iter().any(|&b| b == 0x1b || b == 0x07),
                "{format} {name} holds raw control bytes: {}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("qemu/105"),
            "{format}: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        if format == "script" {
            // The script itself, run, only fails on what it must not do: it runs no payload.
            let run = Command::new("bash")
                .arg("-n")
                .arg("-c")
                .arg(String::from_utf8_lossy(&out.stdout).as_ref())
                .output()
                .unwrap();
            assert!(run.status.success(), "{}", stderr(&run));
        }
    }
    // pve2's index lied about a task of pve1: passed over, said.
    let out = pverec_on(
        &cluster,
        1,
        &[
            "convert", "--all", "-f", "json", "--host", &n2, "--host", "pve1",
        ],
    )
    .output()
    .unwrap();
    assert!(
        stderr(&out).contains("a task of another node (pve1)"),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("qmdestroy"));
    // A --host that could be an ssh option or a shell word is a usage error before any ssh.
    for bad in [
        "-oProxyCommand=touch /tmp/x",
        "pve2=10.0.0.1;id",
        "pve2=$(id)@10.0.0.2",
    ] {
        let out = Command::new(bin())
            .args(["convert", "--host", bad])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("--host"), "{}", stderr(&out));
    }
}

/// A `pverec follow` running on a node, its output in files, polled with a deadline.
struct LiveRun {
    child: std::process::Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl LiveRun {
    fn start(cluster: &Cluster, i: usize, args: &[&str], n: usize) -> LiveRun {
        let out = cluster.dir().join(format!("follow-{n}.out"));
        let err = cluster.dir().join(format!("follow-{n}.err"));
        let child = pverec_on(cluster, i, args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        LiveRun { child, out, err }
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut(&LiveRun) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nstdout:\n{:#?}\nstderr:\n{}",
                self.records(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The whole process tree: nsenter, then pverec in the node's pid namespace.
    fn stop(mut self) -> std::process::ExitStatus {
        // nsenter passes no signal on: SIGTERM goes to pverec, its child.
        let pverec = children_of(self.child.id());
        for pid in pverec {
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        self.child.wait().unwrap()
    }
}

fn children_of(pid: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for (child, dir) in processes() {
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn follow_reads_the_cluster_live_catches_up_a_node_that_was_down_and_resumes_from_state() {
    let Some(mut cluster) = Cluster::new(3) else {
        return;
    };
    for i in 1..=3 {
        cluster.node(i).write_log("");
    }
    cluster.stop(3);
    let state = cluster.dir().join("follow.state");
    let state_arg = state.display().to_string();
    let args = [
        "follow",
        "--cluster",
        "-f",
        "json",
        "--all",
        "--ssh-timeout",
        "3s",
        "--state",
        &state_arg,
    ];
    let run = LiveRun::start(&cluster, 1, &args, 1);
    let pve3 = cluster.node(3).addr();
    run.wait_until("pve3 to be named lost", |r| {
        r.stderr().contains(&format!("pve3 ({pve3}): lost ("))
    });
    // pve2 is being read once its position is in the state.
    run.wait_until("pve2's position in the state", |_| {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("\"pve2\""))
    });

    // alice, on pve1, starts VM 105 on pve2: pve2's task starts, pve2 logs the hop, pve1 the
    // origin; the task ends.
    let upid = format!(
        "UPID:pve2:00004011:00530110:{}:qmstart:105:alice@pve:",
        hex(now())
    );
    let start = "POST /api2/extjs/nodes/pve2/qemu/105/status/start HTTP/1.1";
    std::fs::write(
        cluster.node(2).tasks_dir().join("active"),
        format!("{upid} 0\n"),
    )
    .unwrap();
    let hop = format!("::ffff:{}", cluster.node(1).addr());
    append(
        &cluster.node(2).access_log(),
        &live_line(&hop, "alice@pve", start, 200, "82"),
    );
    append(
        &cluster.node(1).access_log(),
        &live_line("::ffff:192.0.2.10", "alice@pve", start, 200, "82"),
    );
    run.wait_until("the start, folded, with pve2's task", |r| {
        r.records().iter().any(|e| e["action"] == "vm_start")
    });
    let records = run.records();
    let started: Vec<&Value> = records
        .iter()
        .filter(|e| e["action"] == "vm_start")
        .collect();
    assert_eq!(started.len(), 1, "{records:#?}");
    assert_eq!(started[0]["node"], "pve1");
    assert_eq!(started[0]["source_ip"], "192.0.2.10");
    assert_eq!(started[0]["task"]["upid"], upid);
    assert_eq!(started[0]["proxy"]["to"], "pve2");
    let end = hex(now());
    std::fs::write(
        cluster.node(2).tasks_dir().join("index"),
        format!("{upid} {end} OK\n"),
    )
    .unwrap();
    std::fs::write(
        cluster.node(2).tasks_dir().join("active"),
        format!("{upid} 1 {end} OK\n"),
    )
    .unwrap();
    run.wait_until("the task's end from pve2", |r| {
        r.records()
            .iter()
            .any(|e| e["event"] == "task_end" && e["task"]["upid"] == upid)
    });

    // pve3 logged while it was down; it comes back and is caught up.
    append(
        &cluster.node(3).access_log(),
        &live_line(
            "::ffff:192.0.2.30",
            "bob@pve",
            "GET /api2/json/nodes/pve3/status HTTP/1.1",
            200,
            "500",
        ),
    );
    cluster.start(3);
    run.wait_until("pve3 back", |r| {
        r.stderr().contains(&format!("pve3 ({pve3}): back after"))
    });
    run.wait_until("pve3's line", |r| {
        r.records().iter().any(|e| e["node"] == "pve3")
    });
    // pve2 hangs (its sshd stopped, the connection open): given up after the timeout, not a
    // stall, and read again when it answers.
    cluster.hang(2);
    let pve2 = cluster.node(2).addr();
    run.wait_until("pve2 lost", |r| {
        r.stderr().contains(&format!("pve2 ({pve2}): lost ("))
    });
    cluster.resume(2);
    run.wait_until("pve2 back", |r| {
        r.stderr().contains(&format!("pve2 ({pve2}): back after"))
    });
    let err = run.err.clone();
    let status = run.stop();
    assert!(status.success(), "{status}");
    let said = std::fs::read_to_string(err).unwrap();
    assert!(
        said.contains("1 proxied hops folded into their origin's request, 0 shown on their own"),
        "{said}"
    );

    // While pverec is stopped, pve2 logs on; the restart from the state catches up, without
    // repeating what was shown.
    append(
        &cluster.node(2).access_log(),
        &live_line(
            "::ffff:192.0.2.20",
            "carol@pve",
            "GET /api2/json/nodes/pve2/status HTTP/1.1",
            200,
            "500",
        ),
    );
    let run = LiveRun::start(&cluster, 1, &args, 2);
    run.wait_until("pve2's line from while pverec was stopped", |r| {
        r.records().iter().any(|e| e["user"] == "carol@pve")
    });
    assert!(
        run.records().iter().all(|e| e["action"] != "vm_start"),
        "{:#?}",
        run.records()
    );
    let pve2 = cluster.node(2).addr().to_string();
    run.stop();
    assert!(ssh_to(&pve2).is_empty(), "an ssh to pve2 outlived follow");
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// An access.log line at the current time.
fn live_line(client: &str, user: &str, request: &str, status: u16, bytes: &str) -> String {
    let stamp = jiff::Timestamp::now().strftime("%d/%m/%Y:%H:%M:%S +0000");
    format!("{client} - {user} [{stamp}] \"{request}\" {status} {bytes}\n")
}

#[test]
fn a_nodes_own_pverec_sends_less_and_the_records_are_the_same() {
    let Some(cluster) = Cluster::new(3) else {
        return;
    };
    write_scenario(&cluster);
    // Older generations too, one of them gzip'd, with lines of every class.
    let pve2 = cluster.node(2);
    let read = line(
        "::ffff:192.0.2.40",
        "root@pam",
        -600,
        "GET /api2/json/cluster/resources HTTP/1.1",
        200,
        "900",
    );
    let stop = line(
        "::ffff:192.0.2.40",
        "root@pam",
        -590,
        "POST /api2/json/nodes/pve2/qemu/106/status/stop HTTP/1.1",
        200,
        "82",
    );
    std::fs::write(
        pve2.pveproxy_dir().join("access.log.2.gz"),
        crate::util::gzip(format!("{read}{stop}garbage that is no log line\n").as_bytes()),
    )
    .unwrap();
    std::fs::write(
        pve2.pveproxy_dir().join("access.log.1"),
        format!("{read}{read}"),
    )
    .unwrap();
    // A link where others may write: not followed, and said (by the script and by pverec).
    std::os::unix::fs::symlink("/etc/shadow", pve2.pveproxy_dir().join("access.log.3")).unwrap();
    // The nodes' pverec, through a wrapper that says it ran.
    let ran = cluster.dir().join("ran");
    std::fs::create_dir_all(&ran).unwrap();
    let wrapper = cluster.dir().join("pverec-on-node");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}/\"$(uname -n)\"\nexec {} \"$@\"\n",
            ran.display(),
            bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wrapper = wrapper.display().to_string();
    for extra in [
        &["-f", "json"][..],
        &["--all", "-f", "json"],
        &["-f", "script"],
    ] {
        let mut with: Vec<&str> = vec![
            "convert",
            "--cluster",
            "--rotated",
            "--remote-pverec",
            &wrapper,
        ];
        with.extend_from_slice(extra);
        let mut without: Vec<&str> =
            vec!["convert", "--cluster", "--rotated", "--no-remote-pverec"];
        without.extend_from_slice(extra);
        let a = pverec_on(&cluster, 1, &with).output().unwrap();
        let b = pverec_on(&cluster, 1, &without).output().unwrap();
        assert_eq!(a.status.code(), b.status.code(), "{}", stderr(&a));
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{extra:?}"
        );
        // The line that is no log line is reported either way, by its number on pve2.
        assert!(
            stderr(&a).contains("pve2:/var/log/pveproxy/access.log.2.gz:3:"),
            "{}",
            stderr(&a)
        );
        assert_eq!(stderr(&a), stderr(&b));
        assert!(
            stderr(&a).contains(
                "/var/log/pveproxy/access.log.3 is a symbolic link, not followed: not read"
            ),
            "{}",
            stderr(&a)
        );
        assert!(!String::from_utf8_lossy(&a.stdout).contains("root:"));
    }
    // It was asked, and it answered: for writes, with only their lines; with --all, all.
    for node in ["pve2", "pve3"] {
        let calls = std::fs::read_to_string(ran.join(node)).unwrap_or_default();
        assert!(calls.contains("node-export --probe 1\n"), "{node}: {calls}");
        assert!(
            calls.contains("node-export --protocol=1 --rotated --class=write\n"),
            "{node}: {calls}"
        );
        assert!(
            calls.contains("node-export --protocol=1 --rotated\n"),
            "{node}: {calls}"
        );
    }
    // The stop in the gzip'd generation is there, with its line number.
    let out = pverec_on(
        &cluster,
        1,
        &[
            "convert",
            "--cluster",
            "--rotated",
            "--remote-pverec",
            &wrapper,
            "-f",
            "json",
        ],
    )
    .output()
    .unwrap();
    let stop = json_lines(&out)
        .into_iter()
        .find(|r| r["action"] == "vm_stop")
        .expect("the stop");
    assert_eq!(
        stop["source"]["file"],
        "pve2:/var/log/pveproxy/access.log.2.gz"
    );
    assert_eq!(stop["source"]["line"], 2);
}

#[test]
fn follow_holds_a_proxied_call_for_its_outcome_with_its_node_and_proxy() {
    let Some(cluster) = Cluster::new(2) else {
        return;
    };
    for i in 1..=2 {
        cluster.node(i).write_log("");
    }
    let state = cluster.dir().join("follow.state");
    let state_arg = state.display().to_string();
    let args = [
        "follow",
        "--cluster",
        "-f",
        "json",
        "--all",
        "--outcome",
        "success",
        "--state",
        &state_arg,
    ];
    let run = LiveRun::start(&cluster, 1, &args, 1);
    run.wait_until("pve2's position in the state", |_| {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("\"pve2\""))
    });
    let upid = format!(
        "UPID:pve2:00004011:00530110:{}:qmstart:105:alice@pve:",
        hex(now())
    );
    let start = "POST /api2/extjs/nodes/pve2/qemu/105/status/start HTTP/1.1";
    std::fs::write(
        cluster.node(2).tasks_dir().join("active"),
        format!("{upid} 0\n"),
    )
    .unwrap();
    let hop = format!("::ffff:{}", cluster.node(1).addr());
    append(
        &cluster.node(2).access_log(),
        &live_line(&hop, "alice@pve", start, 200, "82"),
    );
    append(
        &cluster.node(1).access_log(),
        &live_line("::ffff:192.0.2.10", "alice@pve", start, 200, "82"),
    );
    // A later call for pve2 waits behind the start (calls for another node wait in order):
    // once it is shown, the start was joined, found its task running, and is held.
    append(
        &cluster.node(1).access_log(),
        &live_line(
            "::ffff:192.0.2.10",
            "alice@pve",
            "GET /api2/json/nodes/pve2/status HTTP/1.1",
            200,
            "500",
        ),
    );
    run.wait_until("the later call", |r| {
        r.records()
            .iter()
            .any(|e| e["path"] == "/nodes/pve2/status")
    });
    assert!(
        run.records().iter().all(|e| e["action"] != "vm_start"),
        "not held"
    );
    // Held until pve2's task ends; then shown as the origin it was.
    let end = hex(now());
    std::fs::write(
        cluster.node(2).tasks_dir().join("index"),
        format!("{upid} {end} OK\n"),
    )
    .unwrap();
    std::fs::write(
        cluster.node(2).tasks_dir().join("active"),
        format!("{upid} 1 {end} OK\n"),
    )
    .unwrap();
    run.wait_until("the start, once its task ended", |r| {
        r.records().iter().any(|e| e["action"] == "vm_start")
    });
    let records = run.records();
    let started: Vec<&Value> = records
        .iter()
        .filter(|e| e["action"] == "vm_start")
        .collect();
    assert_eq!(started.len(), 1, "{records:#?}");
    assert_eq!(started[0]["outcome"], "success");
    assert_eq!(started[0]["node"], "pve1");
    assert_eq!(started[0]["source_ip"], "192.0.2.10");
    assert_eq!(started[0]["proxy"]["to"], "pve2");
    run.stop();
}
