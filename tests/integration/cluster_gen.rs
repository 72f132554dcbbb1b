//! The generated cluster of `make bench-cluster` (scripts/gen-cluster.py) read by the real
//! binary: its figures (folded hops, outcomes) only mean something if pverec reads every node's
//! files the way it reads a real node's, so the generator is held to pverec here, node by node.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{pverec, require_tool, stdout_of};

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
