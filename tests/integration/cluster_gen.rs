//! The generated cluster of `make bench-cluster` (scripts/gen-cluster.py) read by the real
//! binary: its figures (folded hops, outcomes) only mean something if pverec reads every node's
//! files the way it reads a real node's, so the generator is held to pverec here, node by node,
//! and the cluster read is held to the generator's truth on three real nodes.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cluster_util::{Cluster, Node};
use crate::util::{bin, pverec, require_tool, stdout_of};

/// gen-cluster.py OUTDIR --nodes N --requests R --check, with the nodes at NET.K.
fn generate(dir: &Path, nodes: usize, requests: usize, net: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(require_tool("python3"))
        .arg(root.join("scripts/gen-cluster.py"))
        .arg(dir)
        .args([
            "--nodes",
            &nodes.to_string(),
            "--requests",
            &requests.to_string(),
        ])
        .args(["--seed", "3", "--net", net, "--check"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "gen-cluster.py --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

/// Each node alone (`--node pveK --tasks`): every task in its files joins the request that
/// started it there, also a hop's (the line with the origin node's address), and no task is
/// left over; apart from refused calls, the origin's copy of a proxied write is the only write
/// whose outcome stays unknown, which is what a cluster read is for.
#[test]
fn each_generated_node_joins_every_task_in_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), 3, 3000, "10.214.9");
    let addrs: HashMap<String, String> = truth["node"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, n)| (n["addr"].as_str().unwrap().to_string(), name.clone()))
        .collect();
    let mut hop_tasks = 0;
    for (name, node) in truth["node"].as_object().unwrap() {
        let root = dir.path().join(name);
        let text = stdout_of(
            pverec()
                .args(["convert", "--all", "-f", "json", "--node", name, "--tasks"])
                .arg(root.join("tasks"))
                .arg(root.join("access.log")),
        );
        let records: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len() as u64, node["lines"].as_u64().unwrap());
        assert!(
            records.iter().all(|r| r["class"] != "task"),
            "{name}: a task no request started"
        );
        let joined: Vec<&Value> = records.iter().filter(|r| !r["task"].is_null()).collect();
        assert_eq!(
            joined.len() as u64,
            node["tasks_in_files"].as_u64().unwrap(),
            "{name}: tasks joined"
        );
        for r in &joined {
            let upid = r["task"]["upid"].as_str().unwrap();
            assert!(
                upid.starts_with(&format!("UPID:{name}:")),
                "{upid} on {name}"
            );
            if addrs.contains_key(r["source_ip"].as_str().unwrap()) {
                hop_tasks += 1;
            }
        }
        // Refused by the node itself (an extjs error in a 200) may stay unknown; any other
        // unknown write on the node itself would be a task the generator wrote wrong.
        let unknown_here = records
            .iter()
            .filter(|r| r["class"] == "write" && r["outcome"] == "unknown")
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("/nodes/{name}/"))
            })
            .count() as u64;
        assert!(
            unknown_here <= node["refused"].as_u64().unwrap(),
            "{name}: {unknown_here} writes on the node itself with an unknown outcome"
        );
    }
    assert!(
        hop_tasks > 20,
        "only {hop_tasks} proxied writes with a task"
    );
}

/// The generated files of node `name` put where that node's sshd serves them.
fn load(node: &Node, from: &Path) {
    std::fs::copy(from.join("access.log"), node.access_log()).unwrap();
    for entry in std::fs::read_dir(from.join("tasks")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), node.tasks_dir().join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        from.join("etc-pve/.members"),
        node.etc_pve().join(".members"),
    )
    .unwrap();
}

/// `pverec: N nodes read (...); F proxied hops folded into their origin's request, A shown on
/// their own`: (F, A).
fn hops_summary(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("proxied hops folded"))
        .unwrap_or_else(|| panic!("no hops summary on stderr:\n{stderr}"));
    let number_before = |what: &str| -> u64 {
        let head = &line[..line.find(what).unwrap()];
        head.split_whitespace().last().unwrap().parse().unwrap()
    };
    (
        number_before(" proxied hops folded"),
        number_before(" shown on their own"),
    )
}

/// The generated cluster on three real nodes (the tests' sshd in namespaces), read over SSH:
/// every hop is folded into its origin's line and none is shown on its own, so every write
/// appears once, with its outcome from the target's task; reading two of the three nodes folds
/// the hops between them and shows those from the third on their own, as truth.json's pairs say.
#[test]
fn a_cluster_read_folds_every_generated_hop() {
    let Some(cluster) = Cluster::new(3) else {
        return;
    };
    let y = cluster.client_addr().octets()[2];
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), 3, 3000, &format!("10.213.{y}"));
    for i in 1..=3 {
        let node = cluster.node(i);
        load(node, &dir.path().join(node.name()));
    }
    let pair = |a: &str, b: &str| truth["pairs"][format!("{a}>{b}")].as_u64().unwrap_or(0);
    let run = |mut cmd: Command, hosts: &[String]| {
        let out = cmd
            .args([
                "convert",
                "--no-journal",
                "--all",
                "-f",
                "json",
                "--ssh-config",
            ])
            .arg(cluster.ssh_config())
            .args(hosts.iter().flat_map(|h| ["--host", h.as_str()]))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "pverec convert --host: {stderr}");
        let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, hops_summary(&stderr), stderr)
    };
    // From outside the cluster, every node by name and address.
    let every: Vec<String> = (1..=3)
        .map(|i| format!("{}={}", cluster.node(i).name(), cluster.node(i).addr()))
        .collect();
    let (records, (folded, shown), _) = run(Command::new(bin()), &every);
    assert_eq!(folded, truth["proxied"]["total"].as_u64().unwrap());
    assert_eq!(shown, 0);
    assert_eq!(
        records.len() as u64,
        truth["lines"].as_u64().unwrap() - folded
    );
    let writes = records.iter().filter(|r| r["class"] == "write").count() as u64;
    assert_eq!(writes, truth["writes"].as_u64().unwrap());
    let refused: u64 = truth["node"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n["refused"].as_u64().unwrap())
        .sum();
    let unknown = records
        .iter()
        .filter(|r| r["class"] == "write" && r["outcome"] == "unknown")
        .count() as u64;
    assert!(
        unknown <= refused,
        "{unknown} writes with an unknown outcome, {refused} refused"
    );

    // On pve1 (read locally; its /etc/pve/.members names pve3 too), with pve2 over ssh.
    let two = ["pve1".to_string(), "pve2".to_string()];
    let (_, (folded, shown), stderr) = run(cluster.node(1).command(bin()), &two);
    assert_eq!(
        (folded, shown),
        (
            pair("pve1", "pve2") + pair("pve2", "pve1"),
            pair("pve3", "pve1") + pair("pve3", "pve2")
        ),
        "{stderr}"
    );
}
