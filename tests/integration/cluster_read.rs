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
    // From the test's own machine: pve2 and pve3 only, the cluster's addresses from pve1's
    // .members (as /etc/pve on any node).
    let n2 = format!("pve2={}", cluster.node(2).addr());
    let n3 = format!("pve3={}", cluster.node(3).addr());
    let out = Command::new(bin())
        .args([
            "convert", "--all", "-f", "json", "--host", &n2, "--host", &n3,
        ])
        .arg("--etc-pve")
        .arg(cluster.node(1).etc_pve())
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

/// Whether any ssh process still runs with `addr` in its argv.
fn ssh_to(addr: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
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
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let mut child = Command::new(bin())
            .args(["convert", "--host"])
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ssh_to(&pve2).is_empty() {
            assert!(
                Instant::now() < deadline,
                "ssh outlived pverec after signal {signal}: {:?}",
                ssh_to(&pve2)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    cluster.resume(2);
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
            "UPID:pve2:00004011:00530110:{}:qmstart:105:eve@pve: {} \u{1b}[31m$(reboot)\n",
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
            "{format}: {}",
            String::from_utf8_lossy(&out.stdout)
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
