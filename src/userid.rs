//! PVE user ids and API token ids, split the way PVE splits them.
//!
//! A user id is `NAME@REALM`, where the name may hold almost anything (`[^\s:/]+`, even `!` and
//! `@`), and the realm is `[A-Za-z][A-Za-z0-9.\-_]+`. An API token id is a user id followed by
//! `!TOKENNAME` (pve-access-control `src/PVE/AccessControl.pm`, `token_full_regex`: the token part
//! comes only after the realm). So `bang!user@pve` is a user and `alice@pve!ci` a token: the
//! token separator is the first `!` after the last `@`, never a `!` inside the name.

/// `alice@pve!ci` -> (`alice@pve`, `Some("ci")`); `bang!user@pve` -> (`bang!user@pve`, `None`).
///
/// A user id is a few bytes long and split for every record, so the search is a byte loop:
/// memchr's vector set-up costs more than the whole id.
pub(crate) fn split(id: &[u8]) -> (&[u8], Option<&[u8]>) {
    let Some(at) = id.iter().rposition(|&b| b == b'@') else {
        return (id, None);
    };
    match id[at..].iter().position(|&b| b == b'!') {
        Some(bang) => (&id[..at + bang], Some(&id[at + bang + 1..])),
        None => (id, None),
    }
}

/// The name of a user id, without its realm: `alice@pve!ci` -> `alice`, `a@b@pam` -> `a@b`.
pub(crate) fn name(id: &[u8]) -> &[u8] {
    let user = split(id).0;
    match memchr::memrchr(b'@', user) {
        Some(at) => &user[..at],
        None => user,
    }
}

/// Whether a logged user or token id is selected by `want`: a user selects itself and all its
/// tokens, a token id only itself, a name without a realm (no `@`, which every user id has)
/// that name in every realm, tokens included.
pub(crate) fn selects(want: &[u8], id: &[u8]) -> bool {
    if id == want {
        return true;
    }
    if memchr::memchr(b'@', want).is_none() {
        return memchr::memchr(b'@', id).is_some() && name(id) == want;
    }
    match split(want) {
        (_, Some(_)) => false,
        (user, None) => split(id).0 == user && id.len() > user.len(),
    }
}

/// A logged user or token id, if any, as (user, token): `alice@pve!ci` -> (`alice@pve`,
/// `Some("ci")`), split as [`split`] splits it.
pub(crate) fn user_and_token(logged: Option<&[u8]>) -> (Option<&[u8]>, Option<&[u8]>) {
    match logged {
        None => (None, None),
        Some(u) => {
            let (user, token) = split(u);
            (Some(user), token)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_only_after_the_realm() {
        assert_eq!(
            split(b"alice@pve!ci"),
            (&b"alice@pve"[..], Some(&b"ci"[..]))
        );
        assert_eq!(split(b"bang!user@pve"), (&b"bang!user@pve"[..], None));
        assert_eq!(
            split(b"bang!user@pve!ci"),
            (&b"bang!user@pve"[..], Some(&b"ci"[..]))
        );
        assert_eq!(split(b"a@b@pam!t"), (&b"a@b@pam"[..], Some(&b"t"[..])));
        assert_eq!(split(b"root@pam"), (&b"root@pam"[..], None));
        assert_eq!(split(b"noatsign!x"), (&b"noatsign!x"[..], None));
        assert_eq!(split(b"a@pve!"), (&b"a@pve"[..], Some(&b""[..])));
    }

    #[test]
    fn selection() {
        assert!(selects(b"alice@pve", b"alice@pve"));
        assert!(selects(b"alice@pve", b"alice@pve!ci"));
        assert!(!selects(b"alice@pve!ci", b"alice@pve"));
        assert!(selects(b"alice@pve!ci", b"alice@pve!ci"));
        assert!(!selects(b"alice@pve!ci", b"alice@pve!other"));
        assert!(selects(b"bang!user@pve", b"bang!user@pve"));
        assert!(selects(b"bang!user@pve", b"bang!user@pve!ci"));
        assert!(!selects(b"bang", b"bang!user@pve"));
        assert!(!selects(b"alice@pve", b"alice@pvex"));
        assert!(!selects(b"alice@pve", b"bob@pve!alice"));
    }

    #[test]
    fn a_name_without_realm_selects_it_in_every_realm() {
        assert!(selects(b"alice", b"alice@pve"));
        assert!(selects(b"alice", b"alice@pam"));
        assert!(selects(b"alice", b"alice@pve!ci"));
        assert!(!selects(b"alice", b"alicex@pve"));
        assert!(!selects(b"alice", b"bob@pve!alice"));
        assert!(!selects(b"alice", b"xalice@pve"));
        assert!(selects(b"bang!user", b"bang!user@pve"));
        assert!(!selects(b"bang", b"bang!user@pve"));
        assert_eq!(name(b"a@b@pam!t"), b"a@b");
        assert_eq!(name(b"alice@pve"), b"alice");
    }

    proptest! {
        /// A user id and a token name always come apart again, whatever the name holds.
        #[test]
        fn user_and_token_round_trip(name in "[^\\s:/@]{1,12}", realm in "[A-Za-z][A-Za-z0-9._-]{1,8}",
                                     token in proptest::option::of("[A-Za-z][A-Za-z0-9._-]{0,8}")) {
            let user = format!("{name}@{realm}");
            let id = match &token { Some(t) => format!("{user}!{t}"), None => user.clone() };
            let (u, t) = split(id.as_bytes());
            prop_assert_eq!(u, user.as_bytes());
            prop_assert_eq!(t, token.as_deref().map(str::as_bytes));
            prop_assert!(selects(user.as_bytes(), id.as_bytes()));
        }
    }
}
