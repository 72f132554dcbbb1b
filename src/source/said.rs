//! What a PVE program said in the journal: the messages that matter to an audit, parsed from
//! PVE's side of each format (`../shared/docs/pve-sources.md` §2, each checked against the file
//! named at its parser).
//!
//! Much of a message is chosen by whoever made the call: the user name of a failed login is
//! whatever was typed (any string up to 64 characters, `msg=` included), and the values of a
//! VM config change are the caller's. So each message is read from the parts PVE writes itself
//! (fixed words, the order of the fields, the sorted keys of a config change, the endpoint's
//! parameter names), and where the caller's text makes two readings possible the message says
//! so ([`Ambiguous`]) instead of picking one.

use std::borrow::Cow;

use crate::api::Endpoint;

/// A message of interest. Borrowed from the message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said<'m> {
    /// `authentication failure; rhost=IP user=USER msg=REASON` (pve-access-control
    /// `src/PVE/API2/AccessControl.pm`, ticket and vncticket; syslog only).
    LoginFailed {
        client: &'m str,
        user: Result<&'m str, Ambiguous>,
        reason: &'m str,
    },
    /// `<root@pam> successful auth for user 'USER'` (same file, through `log_msg`: the ident is
    /// always `root@pam`). A login, a ticket renewal or a console ticket check.
    LoginOk { user: Cow<'m, str> },
    /// `<root@pam> changed password for user 'USER'`.
    PasswordChanged { user: Cow<'m, str> },
    /// `successful openid auth for user 'USER'` (`src/PVE/API2/OpenId.pm`).
    OpenidOk { user: Cow<'m, str> },
    /// `openid authentication failure; rhost=IP msg=REASON`.
    OpenidFailed { client: &'m str, reason: &'m str },
    /// pveproxy's `authentication failure: ERR` (pve-http-server `PVE/APIServer/AnyEvent.pm`
    /// auth_handler, through `__WARN__`): a bad or expired ticket or token, paired with a 401.
    TicketRefused { reason: &'m str },
    /// `<USER> starting task UPID` (pve-common `src/PVE/RESTEnvironment.pm` fork_worker).
    TaskStarted { user: Cow<'m, str>, upid: &'m str },
    /// `<USER> end task UPID STATUS`.
    TaskEnded {
        user: Cow<'m, str>,
        upid: &'m str,
        status: &'m str,
    },
    /// `<USER> update VM VMID: -key value …` (qemu-server `src/PVE/API2/Qemu.pm`
    /// `$update_vm_api`): the parameters of a config change, keys sorted, unsplit.
    UpdateVm {
        user: Cow<'m, str>,
        vmid: &'m str,
        args: Cow<'m, str>,
    },
    /// `<USER> update VM VMID: resize --disk D --size S` (same file, `resize_vm`).
    Resize {
        user: Cow<'m, str>,
        vmid: &'m str,
        disk: &'m str,
        size: &'m str,
    },
    /// `<USER> move disk VM VMID: move --disk D --storage S` (same file, `move_vm_disk`).
    MoveDisk {
        user: Cow<'m, str>,
        vmid: &'m str,
        disk: &'m str,
        storage: &'m str,
    },
    /// A backup job's worker: `INFO: starting new backup job: vzdump ARGS` (pve-manager
    /// `PVE/VZDump.pm` `exec_backup`, logged to syslog as well as to the task log).
    BackupJob { args: &'m str },
    /// `<USER> snapshot VM VMID: NAME`, `rollback snapshot VM …`, `delete snapshot VM …`.
    Snapshot {
        user: Cow<'m, str>,
        vmid: &'m str,
        op: SnapshotOp,
        name: Cow<'m, str>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotOp {
    Create,
    Rollback,
    Delete,
}

/// The caller's text allows more than one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ambiguous;

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ambiguous: the caller's text can be read more than one way")
    }
}

/// Undoes what `PVE::Cluster::log_msg` does to a message (pve-cluster `src/PVE/Cluster.pm`:
/// `encode("ascii", $msg, sub { sprintf "\\u%04x", shift })`): every character that is not
/// ASCII became `\uXXXX` (four hex digits; a character above U+FFFF became `\uXXXXX`, as
/// `%04x` pads but does not cut). A literal `\u` in the message cannot be told from one it
/// wrote, so this reads back what log_msg would have written for the same text: exactly the
/// escapes of non-ASCII characters; any other `\u` stays as it is.
pub(crate) fn log_msg_text(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let hex = after
            .bytes()
            .take(6)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        // The shortest run that %04x writes for a non-ASCII character: four digits below
        // U+10000, five or six above.
        let decoded = (4..=hex).rev().find_map(|len| {
            let c = u32::from_str_radix(&after[..len], 16)
                .ok()
                .and_then(char::from_u32)?;
            let expected = format!("{:04x}", c as u32);
            (c as u32 >= 0x80 && expected == after[..len]).then_some((c, len))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push_str("\\u");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Splits `<IDENT> rest` (log_msg with an ident) into the ident, decoded, and the rest.
fn ident_prefix(message: &str) -> Option<(Cow<'_, str>, &str)> {
    let rest = message.strip_prefix('<')?;
    // The ident is a user id (no `>` in one PVE accepts); the first `> ` ends it.
    let end = rest.find("> ")?;
    Some((log_msg_text(&rest[..end]), &rest[end + 2..]))
}

/// A quoted user as `... for user 'USER'` writes it: the whole rest of the message.
fn quoted_user(rest: &str) -> Option<Cow<'_, str>> {
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(log_msg_text(inner))
}

/// Reads one message of program `ident`; `None` for the many that do not matter here.
/// `message` is the journal's MESSAGE with one trailing newline removed.
pub(crate) fn parse<'m>(ident: &str, message: &'m str) -> Option<Said<'m>> {
    if ident == "pveproxy" {
        if let Some(reason) = message.strip_prefix("authentication failure: ") {
            return Some(Said::TicketRefused { reason });
        }
    }
    if let Some(args) = message.strip_prefix("INFO: starting new backup job: vzdump") {
        return Some(Said::BackupJob { args });
    }
    if let Some(rest) = message.strip_prefix("authentication failure; rhost=") {
        return login_failed(rest);
    }
    if let Some(rest) = message.strip_prefix("openid authentication failure; rhost=") {
        let (client, reason) = rest.split_once(" msg=")?;
        return Some(Said::OpenidFailed { client, reason });
    }
    if let Some(rest) = message.strip_prefix("successful openid auth for user ") {
        return Some(Said::OpenidOk {
            user: quoted_user(rest)?,
        });
    }
    let (user, rest) = ident_prefix(message)?;
    if let Some(rest) = rest.strip_prefix("successful auth for user ") {
        return Some(Said::LoginOk {
            user: quoted_user(rest)?,
        });
    }
    if let Some(rest) = rest.strip_prefix("changed password for user ") {
        return Some(Said::PasswordChanged {
            user: quoted_user(rest)?,
        });
    }
    if let Some(upid) = rest.strip_prefix("starting task ") {
        return upid
            .starts_with("UPID:")
            .then_some(Said::TaskStarted { user, upid });
    }
    if let Some(rest) = rest.strip_prefix("end task ") {
        // `end task $upid $status` (RESTEnvironment.pm): the UPID ends with `:`, no spaces.
        let (upid, status) = rest.split_once(' ')?;
        return upid
            .starts_with("UPID:")
            .then_some(Said::TaskEnded { user, upid, status });
    }
    if let Some(rest) = rest.strip_prefix("update VM ") {
        let (vmid, args) = vm_colon(rest)?;
        if let Some(resize) = args.strip_prefix("resize --disk ") {
            let (disk, size) = resize.split_once(" --size ")?;
            return Some(Said::Resize {
                user,
                vmid,
                disk,
                size,
            });
        }
        return Some(Said::UpdateVm {
            user,
            vmid,
            args: log_msg_text(args),
        });
    }
    if let Some(rest) = rest.strip_prefix("move disk VM ") {
        let (vmid, args) = vm_colon(rest)?;
        let (disk, storage) = args
            .strip_prefix("move --disk ")?
            .split_once(" --storage ")?;
        return Some(Said::MoveDisk {
            user,
            vmid,
            disk,
            storage,
        });
    }
    for (prefix, op) in [
        ("snapshot VM ", SnapshotOp::Create),
        ("rollback snapshot VM ", SnapshotOp::Rollback),
        ("delete snapshot VM ", SnapshotOp::Delete),
    ] {
        if let Some(rest) = rest.strip_prefix(prefix) {
            let (vmid, name) = vm_colon(rest)?;
            return Some(Said::Snapshot {
                user,
                vmid,
                op,
                name: log_msg_text(name),
            });
        }
    }
    None
}

impl Said<'_> {
    /// The options of the call a disk or snapshot message stands for, beyond its path: resize
    /// `disk`, `size`; move disk `disk`, `storage`; a new snapshot `snapname` (a rollback or a
    /// delete names it in the path). `None` for the other messages.
    pub(crate) fn call_params(&self) -> Option<Vec<(String, String)>> {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        Some(match self {
            Said::Resize { disk, size, .. } => vec![pair("disk", disk), pair("size", size)],
            Said::MoveDisk { disk, storage, .. } => {
                vec![pair("disk", disk), pair("storage", storage)]
            }
            Said::Snapshot {
                op: SnapshotOp::Create,
                name,
                ..
            } => vec![pair("snapname", name)],
            Said::Snapshot { .. } => Vec::new(),
            _ => return None,
        })
    }
}

/// `VMID: rest`, the VMID all digits.
fn vm_colon(rest: &str) -> Option<(&str, &str)> {
    let (vmid, rest) = rest.split_once(": ")?;
    (!vmid.is_empty() && vmid.bytes().all(|b| b.is_ascii_digit())).then_some((vmid, rest))
}

/// `IP user=USER msg=REASON` after `authentication failure; rhost=`.
///
/// The client is PVE's (`get_client_ip`, no spaces, may be empty); the user is the caller's,
/// any text, `msg=` included; the reason is PVE's error text, which may quote the user
/// (`no such user ('USER')`). Every ` msg=` after `user=` is a possible end of the user; a
/// reading is kept when its reason is one PVE writes and, where the reason quotes the user,
/// quotes this one. One such reading: that is it. None: the first ` msg=` (no user name that
/// PVE accepted holds one, and the reason is then one this parser does not know). More than
/// one: [`Ambiguous`], the reason taken from the last.
fn login_failed(rest: &str) -> Option<Said<'_>> {
    let (client, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("user=")?;
    let ends: Vec<usize> = rest.match_indices(" msg=").map(|(i, _)| i).collect();
    let first = *ends.first()?;
    let readings: Vec<usize> = ends
        .iter()
        .copied()
        .filter(|&i| known_reason(&rest[i + 5..], &rest[..i]))
        .collect();
    let (user, at) = match readings.as_slice() {
        [one] => (Ok(&rest[..*one]), *one),
        [] => (Ok(&rest[..first]), first),
        [.., last] => (Err(Ambiguous), *last),
    };
    Some(Said::LoginFailed {
        client,
        user,
        reason: &rest[at + 5..],
    })
}

/// Whether `reason` is an error text PVE writes for a failed login of `user`
/// (pve-access-control `src/PVE/AccessControl.pm` `authenticate_user` and the TFA code,
/// `src/PVE/RPCEnvironment.pm` `check_user_enabled`, PAM's `Authentication failure`).
pub(crate) fn known_reason(reason: &str, user: &str) -> bool {
    const FIXED: &[&str] = &[
        "invalid credentials",
        "Authentication failure",
        "authentication failure",
        "failed 2nd factor",
        "bad otp response",
        "user account disabled",
        "account expired",
        "user account expired",
        "no password set",
        "TFA required",
        "user is locked",
    ];
    const FIXED_PREFIX: &[&str] = &["failed 2nd factor: ", "tfa ", "TFA "];
    if FIXED.contains(&reason) || FIXED_PREFIX.iter().any(|p| reason.starts_with(p)) {
        return true;
    }
    // Reasons that name the user: `no such user ('USER')`, `user 'USER' is disabled`,
    // `user 'USER' account expired`, `user 'USER' does not exist`.
    let quotes = |inner: &str| inner == user;
    if let Some(inner) = reason
        .strip_prefix("no such user ('")
        .and_then(|r| r.strip_suffix("')"))
    {
        return quotes(inner);
    }
    if let Some(rest) = reason.strip_prefix("user '") {
        for tail in ["' is disabled", "' account expired", "' does not exist"] {
            if let Some(inner) = rest.strip_suffix(tail) {
                return quotes(inner);
            }
        }
    }
    // `domain 'REALM' does not exist` and the like name the realm, not the user.
    reason.starts_with("domain '") && reason.ends_with("' does not exist")
}

/// The parameters of an `update VM` message, split as the endpoint's parameter names allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VmArgs {
    /// `(key, value)` in the message's order (sorted by key).
    pub(crate) params: Vec<(String, String)>,
}

/// Why an `update VM` message's parameters could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// It does not start with `-KEY ` for a parameter of the endpoint.
    NotOptions,
    /// More than one split gives sorted parameter names of the endpoint: a value holds
    /// ` -KEY ` for another parameter.
    Ambiguous,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::NotOptions => f.write_str("not a list of -key value options"),
            SplitError::Ambiguous => f.write_str(
                "a value holds what reads as another option; the split is ambiguous and not guessed",
            ),
        }
    }
}

/// Splits `-key value -key value …` (qemu-server `src/PVE/API2/Qemu.pm`: `foreach my $key
/// (sort keys %$param) { push @paramarr, "-$key", $value }` joined with single spaces).
///
/// Values may hold spaces and even ` -word`, so a boundary is only ` -KEY ` where KEY is a
/// parameter of `endpoint`, and every such place is one, with two exceptions that follow from
/// the join: right after a key (one space: the value itself starts with `-`, as in `-args
/// -cpu host`), and nothing else. The keys must then come out strictly increasing (Perl's
/// `sort`, byte order); when they do not, a value holds ` -KEY ` for a parameter and there is
/// more than one way to read the text: [`SplitError::Ambiguous`], never a guess. (A value that
/// holds ` -KEY ` for a later key cannot be told from that key; it is read as the key.)
pub(crate) fn split_vm_args(args: &str, endpoint: &Endpoint) -> Result<VmArgs, SplitError> {
    let is_key = |k: &str| !k.is_empty() && endpoint.param(k.as_bytes()).is_some();
    let bytes = args.as_bytes();
    let key_at = |i: usize| -> Option<(usize, &str)> {
        let end = args[i + 1..].find(' ').map_or(args.len(), |e| i + 1 + e);
        let key = &args[i + 1..end];
        is_key(key).then_some((end, key))
    };
    let Some((mut key_end, first)) = bytes
        .first()
        .filter(|&&b| b == b'-')
        .and_then(|_| key_at(0))
    else {
        return Err(SplitError::NotOptions);
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let (mut key, mut value_start) = (first, (key_end + 1).min(args.len()));
    let mut i = key_end + 1;
    while i < bytes.len() {
        if bytes[i] == b'-' && bytes[i - 1] == b' ' && i > key_end + 1 {
            if let Some((end, next)) = key_at(i) {
                if next <= key {
                    return Err(SplitError::Ambiguous);
                }
                params.push((key.to_string(), args[value_start..i - 1].to_string()));
                (key, key_end) = (next, end);
                value_start = (end + 1).min(args.len());
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    params.push((
        key.to_string(),
        args[value_start.min(args.len())..].to_string(),
    ));
    Ok(VmArgs { params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config_put() -> &'static Endpoint {
        let segments: Vec<&[u8]> = vec![b"nodes", b"pve1", b"qemu", b"100", b"config"];
        crate::api::match_path(&segments)
            .and_then(|m| m.template.endpoint(b"PUT"))
            .expect("PUT /nodes/{node}/qemu/{vmid}/config is in the schema")
    }

    fn split(args: &str) -> Result<Vec<(String, String)>, SplitError> {
        split_vm_args(args, config_put()).map(|a| a.params)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn logins_and_their_failures() {
        assert_eq!(
            parse(
                "pvedaemon",
                "authentication failure; rhost=::ffff:192.0.2.7 user=bob@pve msg=invalid credentials"
            ),
            Some(Said::LoginFailed {
                client: "::ffff:192.0.2.7",
                user: Ok("bob@pve"),
                reason: "invalid credentials"
            })
        );
        assert_eq!(
            parse(
                "pvedaemon",
                "<root@pam> successful auth for user 'alice@pve'"
            ),
            Some(Said::LoginOk {
                user: "alice@pve".into()
            })
        );
        assert_eq!(
            parse("pveproxy", "authentication failure: invalid ticket"),
            Some(Said::TicketRefused {
                reason: "invalid ticket"
            })
        );
        assert_eq!(parse("pvedaemon", "starting vnc proxy UPID:x"), None);
    }

    #[test]
    fn a_user_name_that_looks_like_msg_does_not_fool_the_reader() {
        // The caller typed `x msg=invalid credentials` as the user name.
        let said = parse(
            "pvedaemon",
            "authentication failure; rhost=192.0.2.7 user=x msg=invalid credentials@pve msg=no such user ('x msg=invalid credentials@pve')",
        );
        assert_eq!(
            said,
            Some(Said::LoginFailed {
                client: "192.0.2.7",
                user: Ok("x msg=invalid credentials@pve"),
                reason: "no such user ('x msg=invalid credentials@pve')"
            })
        );
    }

    #[test]
    fn log_msg_escapes_are_read_back() {
        assert_eq!(log_msg_text("caf\\u00e9 \\u4e2d"), "café 中");
        assert_eq!(log_msg_text("\\u1f600"), "\u{1f600}");
        // Not what log_msg writes: kept.
        assert_eq!(log_msg_text("\\u0041 \\uzz"), "\\u0041 \\uzz");
    }

    #[test]
    fn config_changes_and_the_rest() {
        let said = parse(
            "pvedaemon",
            "<alice@pve> update VM 100: -cores 4 -delete balloon -memory 8192",
        );
        assert_eq!(
            said,
            Some(Said::UpdateVm {
                user: "alice@pve".into(),
                vmid: "100",
                args: "-cores 4 -delete balloon -memory 8192".into()
            })
        );
        assert!(matches!(
            parse(
                "pvedaemon",
                "<root@pam> update VM 100: resize --disk scsi0 --size +1G"
            ),
            Some(Said::Resize {
                disk: "scsi0",
                size: "+1G",
                ..
            })
        ));
        assert!(matches!(
            parse(
                "pvedaemon",
                "<root@pam> move disk VM 100: move --disk scsi0 --storage ceph"
            ),
            Some(Said::MoveDisk {
                disk: "scsi0",
                storage: "ceph",
                ..
            })
        ));
        assert!(matches!(
            parse(
                "pvedaemon",
                "<root@pam> rollback snapshot VM 100: before-upgrade"
            ),
            Some(Said::Snapshot {
                op: SnapshotOp::Rollback,
                ..
            })
        ));
        assert!(matches!(
            parse(
                "qm",
                "<root@pam> starting task UPID:pve1:00001234:00ABCDEF:6A3BC782:qmstart:100:root@pam:"
            ),
            Some(Said::TaskStarted { .. })
        ));
        assert!(matches!(
            parse(
                "pvedaemon",
                "<root@pam> end task UPID:pve1:00001234:00ABCDEF:6A3BC782:qmstart:100:root@pam: OK"
            ),
            Some(Said::TaskEnded { status: "OK", .. })
        ));
    }

    #[test]
    fn vm_args_split_at_parameter_names_only() {
        assert_eq!(
            split(
                "-cores 4 -delete balloon -memory 8192 -net0 virtio=BC:24:11:00:00:01,bridge=vmbr0"
            ),
            Ok(pairs(&[
                ("cores", "4"),
                ("delete", "balloon"),
                ("memory", "8192"),
                ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0")
            ]))
        );
        // Spaces, a `-word` that is no parameter, and a value that starts with `-`.
        assert_eq!(
            split("-args -cpu host -description web server -not-a-key here -name web1"),
            Ok(pairs(&[
                ("args", "-cpu host"),
                ("description", "web server -not-a-key here"),
                ("name", "web1")
            ]))
        );
        assert_eq!(
            split("-cipassword <hidden> -ciuser admin"),
            Ok(pairs(&[("cipassword", "<hidden>"), ("ciuser", "admin")]))
        );
        // An empty value (two spaces) and one at the end.
        assert_eq!(
            split("-description  -tags "),
            Ok(pairs(&[("description", ""), ("tags", "")]))
        );
        // A description that holds ` -memory 8192` before the real -memory: keys unsorted.
        assert_eq!(
            split("-description use -memory 8192 -memory 4096"),
            Err(SplitError::Ambiguous)
        );
        assert_eq!(split("cores 4"), Err(SplitError::NotOptions));
        assert_eq!(split("-nosuchkey 4"), Err(SplitError::NotOptions));
    }

    proptest! {
        /// Whatever the user name, the reader never gives a wrong one: the right one, or
        /// "ambiguous".
        #[test]
        fn login_failures_give_the_user_or_say_ambiguous(
            user in "[a-z ]{0,6}( msg=)?[a-z ']{0,6}( msg=(invalid credentials|no such user \\('))?[a-z)']{0,4}@(pam|pve)",
            reason in prop_oneof![
                Just("invalid credentials".to_string()),
                Just("failed 2nd factor".to_string()),
                Just("no such user".to_string()),
                Just("user account disabled".to_string()),
            ],
        ) {
            let reason = if reason == "no such user" { format!("no such user ('{user}')") } else { reason };
            let message = format!("authentication failure; rhost=192.0.2.7 user={user} msg={reason}");
            match parse("pvedaemon", &message) {
                Some(Said::LoginFailed { client, user: got, reason: got_reason }) => {
                    prop_assert_eq!(client, "192.0.2.7");
                    match got {
                        Ok(got) => {
                            prop_assert_eq!(got, user.as_str());
                            prop_assert_eq!(got_reason, reason.as_str());
                        }
                        Err(Ambiguous) => prop_assert!(user.contains(" msg=")),
                    }
                }
                other => prop_assert!(false, "not a login failure: {:?}", other),
            }
        }

        /// Options as qemu-server writes them (sorted keys, values with spaces and dashes)
        /// split back into themselves, or are reported ambiguous when a value holds ` -KEY`.
        #[test]
        fn vm_args_round_trip(
            params in proptest::collection::btree_map(
                prop_oneof![
                    Just("cores"), Just("description"), Just("memory"), Just("name"),
                    Just("net0"), Just("delete"), Just("args"), Just("tags"),
                ],
                "(-?[a-z0-9=,:]{0,6}( -?[a-z]{0,5}){0,3})",
                1..6,
            )
        ) {
            let text = params
                .iter()
                .map(|(k, v)| format!("-{k} {v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let expected: Vec<(String, String)> =
                params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            // A value that holds ` -WORD` where WORD is any parameter of the endpoint cannot
            // be told from that parameter (the generator's words may be such names: `smp`).
            let holds_key = params.values().any(|v| {
                v.split(" -").skip(1).any(|rest| {
                    let word = rest.split(' ').next().unwrap_or_default();
                    config_put().param(word.as_bytes()).is_some()
                })
            });
            match split(&text) {
                Ok(got) => prop_assert!(got == expected || holds_key, "{text}: {got:?}"),
                Err(SplitError::Ambiguous) => prop_assert!(holds_key, "{text}"),
                Err(e) => prop_assert!(false, "{text}: {e}"),
            }
        }
    }
}
