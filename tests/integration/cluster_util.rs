//! A Proxmox VE cluster for the tests: N nodes, each a real OpenSSH `sshd` with its own network,
//! its own files and its own host key, reached over SSH the way `pverec --host`/`--cluster` will.
//!
//! # Why
//!
//! Issue 15 reads every node of a cluster over SSH. A fake (a local shell pretending to be ssh)
//! would prove nothing about what matters there: host key checking, `BatchMode`, a refused or a
//! hanging node, ssh processes reaped, argv that no remote shell re-splits. So each node here is
//! the real thing, minus PVE itself: Debian's `/usr/sbin/sshd`, its own address, and its own
//! `/var/log/pveproxy`, `/var/log/pve/tasks`, journal and `/etc/pve`, so that
//! `ssh pve2 cat /var/log/pveproxy/access.log` reads pve2's log and nothing else.
//!
//! # What it builds (`Cluster::new(n)`, all undone by `Drop`)
//!
//! - A /24 of its own, `10.213.Y.0/24`, claimed by creating the bridge `pverec-brY` in the root
//!   network namespace (the kernel refuses a second link of that name, so two test processes can
//!   never pick the same Y); the test process is `10.213.Y.254` on it. The bridge's alias is
//!   `pverec-<pid>`, so a later run can find and delete what a killed run left.
//! - Per node i (`pve1`..`pveN`): a named network namespace `pverec-<pid>-<k>-<i>` (`ip netns`;
//!   k counts the clusters of this process), joined to the bridge by a veth pair (`pverecYnI` in
//!   the root namespace, `eth0` inside) with the address `10.213.Y.i/24`. Nodes reach each other
//!   and the test process reaches every node; no address exists outside these namespaces except
//!   the bridge's.
//! - Per node a root directory (in the cluster's tempdir, writable by the test) with
//!   `var/log/pveproxy`, `var/log/pve/tasks`, `var/log/journal/<machine-id>`, `etc/pve` (holding a
//!   `.members` in pmxcfs' format, `src/pmxcfs/status.c` of pve-cluster), an ed25519 host key made
//!   by `ssh-keygen`, an `sshd_config` and the node's `sshd.log`.
//! - Per node one process tree: `setpriv --pdeathsig KILL ip netns exec NS unshare --mount --uts
//!   --pid --fork --kill-child --mount-proc sh start.sh`. `start.sh` (in the node's directory, to
//!   read) bind-mounts the node's `var/log` on `/var/log`, lays an overlay on `/etc` (so that
//!   `/etc/pve` and the node's own `/etc/machine-id` and `/etc/hostname` exist there, the host's
//!   `/etc` untouched) with the node's `etc/pve` bound on `/etc/pve`, mounts a tmpfs on `/run`
//!   (sshd's `/run/sshd`), sets the hostname to the node's name and execs `sshd -D` as the pid
//!   namespace's init. Killing that init ends every process of the node at once (sessions, remote
//!   commands): that is `stop`. The pdeathsig and `--kill-child` end the node when the thread that
//!   started it dies (make and drop a `Cluster` on one thread), even by SIGKILL.
//! - The client side, in `client/`: a key pair, `authorized_keys` (each sshd's `AuthorizedKeysFile`),
//!   `known_hosts` with each node's host key under its name and its address, and `ssh_config`
//!   (`Host pveN` → `HostName`, then for every host: `User root`, the key, `IdentitiesOnly`,
//!   that `known_hosts` only, `BatchMode yes`, `StrictHostKeyChecking yes`, `ConnectTimeout 3`,
//!   `ServerAliveInterval 1`, `ServerAliveCountMax 3`). `ssh -F <ssh_config> pve2 CMD` needs nothing
//!   else, and neither will `pverec --ssh-config FILE`.
//!
//! Faults: `stop(i)` (every process of the node killed: a connection is refused at once, open
//! ones end), `start(i)` (the same node, same key and files, back), `hang(i)` (SIGSTOP to every
//! process of the node: TCP still connects, but no banner comes, so a new ssh gives up after
//! `ConnectTimeout` and an open one after `ServerAliveInterval` × `ServerAliveCountMax`),
//! `resume(i)`. Readiness is polled with a deadline (the sshd's `SSH-2.0` banner on port 22).
//!
//! # When it cannot run
//!
//! `Cluster::new` returns `None`, after saying why on stderr, only where network namespaces cannot
//! be made (not root, no CAP_NET_ADMIN / CAP_SYS_ADMIN, a kernel or container without them): the
//! test then passes without running. With `CI` set (`.ci/run` sets it) or `PVEREC_REQUIRE_NETNS=1`
//! it panics instead: CI never skips these tests. A missing `sshd`, `ssh`, `ssh-keygen`, `ip`,
//! `unshare` or `setpriv` is not a reason to skip: the test fails naming `make test-deps`.
//!
//! # Debugging
//!
//! - `PVEREC_KEEP_CLUSTER=1` keeps the tempdir (its path is printed) and starts the nodes without
//!   the pdeathsig, so they outlive the test: `ssh -F DIR/client/ssh_config pve1`, or
//!   `nsenter -t PID -n -m -u -p` with the pid of the node's `sshd -D -f DIR/pveN/sshd_config`
//!   (`pgrep -f`); end them with `kill -9` of those pids. Namespaces and bridges whose test process
//!   no longer runs (kept, or killed before its Drop) are removed by the next `Cluster::new`, and
//!   so are tempdirs `pverec-cluster-<pid>-*` (but not a kept one: `rm -r` it yourself).
//! - A node that does not come up panics with its `start.sh` stderr and its `sshd.log`.
//! - `Node::command` runs a program *on* a node (its network, mounts, hostname, pid namespace),
//!   e.g. a `pverec` that is the local node of a `--cluster` read.
//! - After the tests, `ip netns list | grep pverec` and `ip link | grep pverec` must be empty.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::util::require_tool;

/// The second octet of every cluster's addresses: 10.213.Y.0/24, one Y per cluster.
const NET: u8 = 213;
/// The test process's own address on every cluster's bridge: 10.213.Y.254.
const GATEWAY: u8 = 254;
/// How long a node may take to show its banner after its sshd was started.
const READY: Duration = Duration::from_secs(15);
/// The clusters this process has made, so that two of them never share a namespace name.
static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

/// N nodes, `pve1`..`pveN`, each a real sshd in its own namespaces; see the module docs.
pub(crate) struct Cluster {
    dir: Option<tempfile::TempDir>,
    bridge: String,
    subnet: u8,
    nodes: Vec<Node>,
}

/// One node: its name, address, files and (while up) its sshd's process tree.
pub(crate) struct Node {
    name: String,
    addr: Ipv4Addr,
    netns: String,
    veth: String,
    root: PathBuf,
    machine_id: String,
    /// The `unshare` process; its only child is the node's init, the sshd.
    sshd: Option<Child>,
    hung: bool,
    /// Whether its network namespace exists (for Drop).
    wired: bool,
}

impl Cluster {
    /// A cluster of `n` nodes (1..=253), every sshd up and answering; `None` (said on stderr) only
    /// where network namespaces cannot be made, and never in CI.
    pub(crate) fn new(n: usize) -> Option<Cluster> {
        assert!(
            (1..GATEWAY as usize).contains(&n),
            "a cluster of 1 to 253 nodes, not {n}"
        );
        for tool in [
            "ip",
            "sshd",
            "ssh",
            "ssh-keygen",
            "unshare",
            "setpriv",
            "nsenter",
        ] {
            require_tool(tool);
        }
        sweep_leftovers();
        let k = CLUSTERS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        if let Err(why) = netns_possible() {
            let message = format!(
                "network namespaces cannot be made here ({why}): the cluster tests need root \
                 (CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip netns`"
            );
            if required() {
                panic!("{message}; CI (CI or PVEREC_REQUIRE_NETNS set) never skips them");
            }
            eprintln!("skipped: {message}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("pverec-cluster-{pid}-"))
            .tempdir()
            .expect("tempdir");
        let (bridge, subnet) = claim_subnet(pid);
        let mut cluster = Cluster {
            dir: Some(dir),
            bridge,
            subnet,
            nodes: Vec::new(),
        };
        // From here on a panic drops `cluster`, which removes what was made so far.
        let client = cluster.client_dir();
        std::fs::create_dir_all(&client).expect("client dir");
        keygen(&client.join("id_ed25519"), "pverec-test-client");
        std::fs::copy(
            client.join("id_ed25519.pub"),
            client.join("authorized_keys"),
        )
        .expect("authorized_keys");
        for i in 1..=n {
            let node = cluster.make_node(i, &format!("pverec-{pid}-{k}-{i}"));
            cluster.nodes.push(node);
            // Pushed first, so that Drop removes the namespace if wiring it fails half-way.
            cluster.wire(i);
        }
        cluster.write_client_config();
        cluster.write_members();
        for i in 1..=n {
            cluster.start(i);
        }
        if keep() {
            std::fs::write(cluster.dir().join("kept"), "PVEREC_KEEP_CLUSTER\n").expect("kept");
            eprintln!("cluster kept in {}", cluster.dir().display());
        }
        Some(cluster)
    }

    /// The cluster's tempdir (client/, pve1/, pve2/, …).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.as_ref().expect("cluster dir").path()
    }

    fn client_dir(&self) -> PathBuf {
        self.dir().join("client")
    }

    /// The ssh_config that reaches every node by name (`ssh -F FILE pve2 …`).
    pub(crate) fn ssh_config(&self) -> PathBuf {
        self.client_dir().join("ssh_config")
    }

    /// The known_hosts the ssh_config names: each node's host key under its name and address.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.client_dir().join("known_hosts")
    }

    /// The client's private key (its public half is every node's authorized key).
    pub(crate) fn identity(&self) -> PathBuf {
        self.client_dir().join("id_ed25519")
    }

    /// The bridge in the root namespace that joins the nodes (`pverec-brY`).
    pub(crate) fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The test process's address on the cluster's network (what a node sees as the client).
    pub(crate) fn client_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, NET, self.subnet, GATEWAY)
    }

    /// How many nodes.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`, 1-based like its name (`node(2)` is pve2).
    pub(crate) fn node(&self, i: usize) -> &Node {
        assert!(
            (1..=self.nodes.len()).contains(&i),
            "no node {i} in a cluster of {}",
            self.nodes.len()
        );
        &self.nodes[i - 1]
    }

    fn node_mut(&mut self, i: usize) -> &mut Node {
        assert!(
            (1..=self.nodes.len()).contains(&i),
            "no node {i} in a cluster of {}",
            self.nodes.len()
        );
        &mut self.nodes[i - 1]
    }

    /// `ssh -F <ssh_config> <host> <remote...>`, run to its end: the client as pverec will run it.
    pub(crate) fn ssh(&self, host: &str, remote: &[&str]) -> Output {
        self.ssh_command(host, remote)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// The `ssh -F <ssh_config> <host> <remote...>` command, not yet started.
    pub(crate) fn ssh_command(&self, host: &str, remote: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.ssh_config()).arg(host).arg("--");
        cmd.args(remote);
        cmd
    }

    /// Start node `i`'s sshd (again, after `stop`), with the same host key and files, and wait
    /// until it answers on port 22.
    pub(crate) fn start(&mut self, i: usize) {
        let node = self.node_mut(i);
        assert!(node.sshd.is_none(), "{} is already up", node.name);
        let err = std::fs::File::create(node.root.join("start.err")).expect("start.err");
        // The node dies with the thread that started it (pdeathsig), unless it is to be kept.
        let mut cmd = if keep() {
            Command::new("ip")
        } else {
            let mut setpriv = Command::new("setpriv");
            setpriv.args(["--pdeathsig", "KILL", "--", "ip"]);
            setpriv
        };
        let child = cmd
            .args(["netns", "exec", &node.netns])
            .args([
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["--mount-proc", "--propagation", "private", "--", "/bin/sh"])
            .arg(node.root.join("start.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start the node's sshd");
        node.sshd = Some(child);
        node.hung = false;
        node.wait_ready();
    }

    /// Node `i` down: its sshd and every process on it killed (open connections end, new ones
    /// are refused), its files kept for `start`.
    pub(crate) fn stop(&mut self, i: usize) {
        self.node_mut(i).kill();
    }

    /// Node `i` hangs: every process on it stopped (SIGSTOP). A TCP connect still succeeds (the
    /// kernel answers), but no SSH banner or reply comes.
    pub(crate) fn hang(&mut self, i: usize) {
        let node = self.node_mut(i);
        node.signal_all(libc::SIGSTOP);
        node.hung = true;
    }

    /// Node `i` goes on after `hang` (SIGCONT to every process on it).
    pub(crate) fn resume(&mut self, i: usize) {
        let node = self.node_mut(i);
        node.signal_all(libc::SIGCONT);
        node.hung = false;
    }

    /// Node i's directory: var/log/pveproxy, etc/pve, its host key, config and sshd.log.
    fn make_node(&self, i: usize, netns: &str) -> Node {
        let name = format!("pve{i}");
        let root = self.dir().join(&name);
        let machine_id = machine_id(i);
        for sub in [
            "var/log/pveproxy".to_string(),
            "var/log/pve/tasks".to_string(),
            format!("var/log/journal/{machine_id}"),
            "etc/pve/nodes".to_string(),
            "etc-upper".to_string(),
            "etc-work".to_string(),
            "ssh".to_string(),
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("node dir");
        }
        std::fs::create_dir_all(root.join("etc/pve/nodes").join(&name)).expect("node dir");
        std::fs::write(root.join("etc-upper/machine-id"), format!("{machine_id}\n"))
            .expect("machine-id");
        std::fs::write(root.join("etc-upper/hostname"), format!("{name}\n")).expect("hostname");
        std::fs::write(root.join("var/log/pveproxy/access.log"), "").expect("access.log");
        keygen(&root.join("ssh/ssh_host_ed25519_key"), &name);

        let addr = Ipv4Addr::new(10, NET, self.subnet, i as u8);
        let veth = format!("pverec{}n{i}", self.subnet);
        let node = Node {
            name,
            addr,
            netns: netns.to_string(),
            veth,
            root,
            machine_id,
            sshd: None,
            hung: false,
            wired: false,
        };
        node.write_scripts(&self.client_dir().join("authorized_keys"));
        node
    }

    /// Node i's network namespace, its veth into the bridge and its address.
    fn wire(&mut self, i: usize) {
        let bridge = self.bridge.clone();
        let node = self.node_mut(i);
        ip(&["netns", "add", &node.netns]);
        node.wired = true;
        let cidr = format!("{}/24", node.addr);
        let made = try_ip(&[
            "link",
            "add",
            &node.veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &node.netns,
        ])
        .and_then(|()| try_ip(&["link", "set", &node.veth, "master", &bridge, "up"]))
        .and_then(|()| try_ip(&["-n", &node.netns, "addr", "add", &cidr, "dev", "eth0"]))
        .and_then(|()| try_ip(&["-n", &node.netns, "link", "set", "eth0", "up"]))
        .and_then(|()| try_ip(&["-n", &node.netns, "link", "set", "lo", "up"]));
        if let Err(why) = made {
            panic!("{}: its network could not be made: {why}", node.name);
        }
    }

    fn write_client_config(&self) {
        let client = self.client_dir();
        let mut config = String::from(
            "# Made by tests/integration/cluster_util.rs: every node of this test cluster.\n",
        );
        let mut known = String::new();
        for node in &self.nodes {
            config.push_str(&format!("Host {}\n  HostName {}\n", node.name, node.addr));
            let public = std::fs::read_to_string(node.root.join("ssh/ssh_host_ed25519_key.pub"))
                .expect("host key");
            let key: Vec<&str> = public.split_whitespace().take(2).collect();
            known.push_str(&format!("{},{} {}\n", node.name, node.addr, key.join(" ")));
        }
        config.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  BatchMode yes\n  \
             StrictHostKeyChecking yes\n  ConnectTimeout 3\n  ServerAliveInterval 1\n  \
             ServerAliveCountMax 3\n",
            key = client.join("id_ed25519").display(),
            known = client.join("known_hosts").display(),
        ));
        std::fs::write(client.join("ssh_config"), config).expect("ssh_config");
        std::fs::write(client.join("known_hosts"), known).expect("known_hosts");
    }

    /// Each node's `/etc/pve/.members`, as pmxcfs writes it (pve-cluster `src/pmxcfs/status.c`,
    /// `cfs_create_memberlist_msg`): the same node list everywhere, `nodename` the node itself.
    fn write_members(&self) {
        let list: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(id, node)| {
                format!(
                    "  \"{}\": {{ \"id\": {}, \"online\": 1, \"ip\": \"{}\"}}",
                    node.name,
                    id + 1,
                    node.addr
                )
            })
            .collect();
        for node in &self.nodes {
            let members = format!(
                "{{\n\"nodename\": \"{}\",\n\"version\": {},\n\"cluster\": {{ \"name\": \"test\", \
                 \"version\": {}, \"nodes\": {}, \"quorate\": 1 }},\n\"nodelist\": {{\n{}\n  }}\n}}\n",
                node.name,
                self.nodes.len() + 2,
                self.nodes.len(),
                self.nodes.len(),
                list.join(",\n")
            );
            std::fs::write(node.etc_pve().join(".members"), members).expect(".members");
            // pmxcfs' guest list (`src/pmxcfs/status.c`, `cfs_create_vmlist_msg`): none yet.
            let vmlist = node.etc_pve().join(".vmlist");
            if !vmlist.exists() {
                std::fs::write(vmlist, "{\n\"version\": 1,\n\"ids\": {\n}\n}\n").expect(".vmlist");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if keep() {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            return;
        }
        for node in &mut self.nodes {
            node.kill();
        }
        for node in self.nodes.iter().filter(|node| node.wired) {
            remove_netns(&node.netns, &node.veth);
        }
        if let Err(why) = try_ip(&["link", "del", &self.bridge]) {
            eprintln!("cluster: removing bridge {}: {why}", self.bridge);
        }
    }
}

impl Node {
    /// `pve1`, `pve2`, …: its hostname, its `Host` in the ssh_config and its name in `.members`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its address, 10.213.Y.i.
    pub(crate) fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Its network namespace (`ip netns exec NAME …`).
    pub(crate) fn netns(&self) -> &str {
        &self.netns
    }

    /// Its root directory in the tempdir; the node sees `ROOT/var/log` as `/var/log` and
    /// `ROOT/etc/pve` as `/etc/pve`.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// What the node sees as /var/log/pveproxy.
    pub(crate) fn pveproxy_dir(&self) -> PathBuf {
        self.root.join("var/log/pveproxy")
    }

    /// What the node sees as /var/log/pveproxy/access.log.
    pub(crate) fn access_log(&self) -> PathBuf {
        self.pveproxy_dir().join("access.log")
    }

    /// What the node sees as /var/log/pve/tasks.
    pub(crate) fn tasks_dir(&self) -> PathBuf {
        self.root.join("var/log/pve/tasks")
    }

    /// What the node sees as /etc/pve (with `.members` and `nodes/NAME/`).
    pub(crate) fn etc_pve(&self) -> PathBuf {
        self.root.join("etc/pve")
    }

    /// What the node sees as /var/log/journal/MACHINE-ID, where its journal files go: the
    /// node's /etc/machine-id is `machine_id()`, so a plain `journalctl` on it reads them.
    pub(crate) fn journal_dir(&self) -> PathBuf {
        self.root.join("var/log/journal").join(&self.machine_id)
    }

    /// The node's /etc/machine-id (32 hex digits, distinct per node).
    pub(crate) fn machine_id(&self) -> &str {
        &self.machine_id
    }

    /// The node's sshd log (`sshd -E`, LogLevel VERBOSE).
    pub(crate) fn sshd_log(&self) -> PathBuf {
        self.root.join("sshd.log")
    }

    /// Replaces the node's /var/log/pveproxy/access.log with `text`.
    pub(crate) fn write_log(&self, text: &str) {
        std::fs::write(self.access_log(), text).expect("write access.log");
    }

    /// Appends `text` to the node's /var/log/pveproxy/access.log (as pveproxy does).
    pub(crate) fn append_log(&self, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.access_log())
            .expect("open access.log");
        file.write_all(text.as_bytes()).expect("append access.log");
    }

    /// Whether `hang` stopped it (and no `resume` or `stop` came since).
    pub(crate) fn is_hung(&self) -> bool {
        self.hung
    }

    /// Whether its sshd is running (started and not stopped; a hung node is running).
    pub(crate) fn is_up(&self) -> bool {
        self.sshd.is_some()
    }

    /// The host pid of the node's init, its `sshd -D` listener (None when down).
    pub(crate) fn sshd_pid(&self) -> Option<u32> {
        init_of(self.sshd.as_ref()?)
    }

    /// `program` run on the node: in its network, mount, UTS and pid namespaces (so it sees the
    /// node's /var/log, /etc/pve, hostname and address, and ends when the node is stopped).
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let pid = self
            .sshd_pid()
            .unwrap_or_else(|| panic!("{} is down: no command runs on it", self.name));
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(pid.to_string())
            .args(["--net", "--mount", "--uts", "--pid", "--"])
            .arg(program);
        cmd
    }

    /// Every process of the node, in the host's pid numbers, init first.
    fn processes(&self) -> Vec<i32> {
        let Some(init) = self.sshd_pid() else {
            return Vec::new();
        };
        let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else {
            return Vec::new();
        };
        let mut pids = vec![init as i32];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid != init as i32
                && std::fs::read_link(entry.path().join("ns/pid")).is_ok_and(|link| link == ns)
            {
                pids.push(pid);
            }
        }
        pids
    }

    fn signal_all(&self, signal: i32) {
        assert!(self.is_up(), "{} is down", self.name);
        // Twice: a process forked while the first round ran is caught by the second.
        for _ in 0..2 {
            for pid in self.processes() {
                // SAFETY: kill(2) with a pid read from /proc and a valid signal number.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }

    /// Kills the node's init (the kernel then ends every process of its pid namespace) and
    /// reaps `unshare`, so that when this returns nothing of the node runs and port 22 is closed.
    fn kill(&mut self) {
        let Some(mut child) = self.sshd.take() else {
            return;
        };
        if let Some(init) = init_of(&child) {
            // SAFETY: kill(2) with the node's init pid.
            unsafe { libc::kill(init as i32, libc::SIGKILL) };
        }
        // unshare waits for its child, which exits only once every process of the pid
        // namespace has; killing unshare too would leave that to --kill-child, asynchronously.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        self.hung = false;
    }

    /// Polls port 22 until the sshd's banner comes, or panics with what the node said.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY;
        let target = SocketAddr::from((self.addr, 22));
        loop {
            if let Some(child) = self.sshd.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.sshd = None;
                panic!(
                    "{}: sshd ended ({status}) before it answered\n{}",
                    self.name,
                    self.said()
                );
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_millis(500))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut banner = [0u8; 8];
                if stream.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0") {
                    return;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: no SSH banner on {target} within {READY:?}\n{}",
                    self.name,
                    self.said()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node's start.sh stderr and sshd.log, for a panic message.
    fn said(&self) -> String {
        let err = std::fs::read_to_string(self.root.join("start.err")).unwrap_or_default();
        let log = std::fs::read_to_string(self.sshd_log()).unwrap_or_default();
        format!("start.sh stderr:\n{err}\nsshd.log:\n{log}")
    }

    /// sshd_config and start.sh, in the node's directory.
    fn write_scripts(&self, authorized_keys: &Path) {
        let root = self.root.display();
        let config = format!(
            "# Made by tests/integration/cluster_util.rs for {name}.\n\
             ListenAddress {addr}:22\n\
             HostKey {root}/ssh/ssh_host_ed25519_key\n\
             PidFile none\n\
             AuthorizedKeysFile {keys}\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             UseDNS no\n\
             MaxStartups 100:30:200\n\
             LogLevel VERBOSE\n\
             Subsystem sftp internal-sftp\n",
            name = self.name,
            addr = self.addr,
            keys = authorized_keys.display(),
        );
        std::fs::write(self.root.join("sshd_config"), config).expect("sshd_config");
        // Runs as the init of the node's new mount, UTS and pid namespaces, inside its network
        // namespace (see the module docs); nothing here reaches the host's mounts.
        let script = format!(
            "# Made by tests/integration/cluster_util.rs for {name}.\n\
             set -eu\n\
             mount --bind {root}/var/log /var/log\n\
             mount -t overlay overlay -o lowerdir=/etc,upperdir={root}/etc-upper,workdir={root}/etc-work /etc\n\
             mkdir -p /etc/pve\n\
             mount --bind {root}/etc/pve /etc/pve\n\
             mount -t tmpfs -o mode=755 tmpfs /run\n\
             mkdir -m 755 /run/sshd\n\
             hostname {name}\n\
             exec /usr/sbin/sshd -D -f {root}/sshd_config -E {root}/sshd.log\n",
            name = self.name,
        );
        std::fs::write(self.root.join("start.sh"), script).expect("start.sh");
    }
}

/// The host pid of the only child of `unshare --fork`: the init of the node's pid namespace.
fn init_of(unshare: &Child) -> Option<u32> {
    let pid = unshare.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// PVEREC_KEEP_CLUSTER: keep the tempdir and the running nodes after the test, to look at.
fn keep() -> bool {
    std::env::var_os("PVEREC_KEEP_CLUSTER").is_some()
}

/// Whether a skip would hide a broken CI: there the cluster tests must run.
fn required() -> bool {
    let set =
        |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set("PVEREC_REQUIRE_NETNS")
}

/// Can this process make a network namespace with a veth into it, and mount and pid
/// namespaces? Asked once per process. `Err` only for a refusal (not root, no capability, no
/// such namespace in this kernel or container); any other failure panics, since a skip then would
/// hide a broken harness.
fn netns_possible() -> Result<(), String> {
    static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(probe_netns).clone()
}

fn probe_netns() -> Result<(), String> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let pid = std::process::id();
    let probe = format!("pverec-{pid}-probe");
    // A link name of this process only (at most 15 bytes): others probe at the same time.
    let link = format!("pverec-p{pid}");
    let made = try_ip(&["netns", "add", &probe]).and_then(|()| {
        let veth = try_ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &probe,
        ]);
        let _ = try_ip(&["link", "del", &link]);
        let _ = try_ip(&["netns", "del", &probe]);
        veth
    });
    let made = made.and_then(|()| {
        let out = Command::new("unshare")
            .args(["--mount", "--uts", "--pid", "--fork", "true"])
            .output()
            .map_err(|e| format!("unshare: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "unshare --mount --uts --pid: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    });
    match made {
        Err(why)
            if [
                "Operation not permitted",
                "Permission denied",
                "not supported",
                "Read-only file system",
                "Invalid argument",
            ]
            .iter()
            .any(|refusal| why.contains(refusal)) =>
        {
            Err(why)
        }
        Err(why) => panic!("the cluster harness could not probe network namespaces: {why}"),
        Ok(()) => Ok(()),
    }
}

/// Claims a /24 for a cluster: the first 10.213.Y.0/24 (from one the pid picks) that no address
/// or route of this machine uses, by creating the bridge `pverec-brY` (the kernel lets one
/// process win), aliased `pverec-<pid>`, with the test process's address on it.
fn claim_subnet(pid: u32) -> (String, u8) {
    let used = format!(
        "{}\n{}",
        stdout(Command::new("ip").args(["-o", "-4", "addr", "show"])),
        stdout(Command::new("ip").args(["-4", "route", "show", "table", "all"]))
    );
    let first = (pid % 250) as u8;
    for step in 0..250u8 {
        let y = (first + step) % 250;
        if used.contains(&format!("10.{NET}.{y}.")) {
            continue;
        }
        let bridge = format!("pverec-br{y}");
        if try_ip(&["link", "add", &bridge, "type", "bridge"]).is_err() {
            continue; // Another cluster has it.
        }
        let gateway = format!("10.{NET}.{y}.{GATEWAY}/24");
        let made = try_ip(&["link", "set", &bridge, "alias", &format!("pverec-{pid}")])
            .and_then(|()| try_ip(&["addr", "add", &gateway, "dev", &bridge]))
            .and_then(|()| try_ip(&["link", "set", &bridge, "up"]));
        if let Err(why) = made {
            let _ = try_ip(&["link", "del", &bridge]);
            panic!("bridge {bridge}: {why}");
        }
        return (bridge, y);
    }
    panic!("no free 10.{NET}.Y.0/24 for a test cluster (250 in use?)");
}

/// Removes the tempdirs, namespaces and bridges that test processes which no longer run left behind
/// (killed before their Drop ran). Their sshds died with them (pdeathsig).
fn sweep_leftovers() {
    let alive = |pid: &str| Path::new("/proc").join(pid).exists();
    // Tempdirs (not those PVEREC_KEEP_CLUSTER kept).
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name();
        if let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pverec-cluster-"))
            && let Some(pid) = rest.split('-').next()
            && !alive(pid)
            && !entry.path().join("kept").exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let netns = stdout(Command::new("ip").args(["netns", "list"]));
    for line in netns.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(rest) = name.strip_prefix("pverec-")
            && let Some(pid) = rest.split('-').next()
            && !alive(pid)
        {
            let _ = try_ip(&["netns", "del", name]);
        }
    }
    let links = stdout(Command::new("ip").args(["-o", "link", "show", "type", "bridge"]));
    for line in links.lines() {
        // "12: pverec-br7: <...> ... alias pverec-4242"
        let Some(name) = line.split_whitespace().nth(1) else {
            continue;
        };
        let name = name.trim_end_matches(':');
        if let Some(owner) = line.split("alias pverec-").nth(1)
            && name.starts_with("pverec-br")
            && !alive(owner.trim())
        {
            let _ = try_ip(&["link", "del", name]);
        }
    }
}

fn remove_netns(netns: &str, veth: &str) {
    // The veth goes with the namespace its peer is in; deleting it first is for a namespace
    // that could not be deleted.
    let _ = try_ip(&["link", "del", veth]);
    if let Err(why) = try_ip(&["netns", "del", netns]) {
        eprintln!("cluster: removing network namespace {netns}: {why}");
    }
}

/// A distinct, valid machine-id per node (32 lowercase hex digits, not all zero).
fn machine_id(i: usize) -> String {
    format!(
        "{:016x}{:016x}",
        std::process::id() as u64 | (1 << 60),
        i as u64 | (1 << 56)
    )
}

fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) {
    if let Err(why) = try_ip(args) {
        panic!("{why}");
    }
}

fn stdout(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
