//! Joins: what the sources say about the same request, put together. Tasks are joined in
//! [`crate::join::tasks`]; journal entries in [`journal`]; changes in `/etc/pve` in
//! [`changes`]; a config write with the change it made in [`config`], which rebuilds its body
//! from that change.

pub(crate) mod changes;
pub(crate) mod config;
pub(crate) mod hops;
pub(crate) mod journal;
pub(crate) mod tasks;
