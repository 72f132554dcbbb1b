//! Joins: what the sources say about the same request, put together. Tasks are joined in
//! [`crate::join::tasks`]; journal entries here ([`journal`]); a config write with the change it
//! made to a file under /etc/pve in [`config`], which rebuilds its body from that change.

pub(crate) mod config;
pub(crate) mod journal;
pub(crate) mod tasks;
