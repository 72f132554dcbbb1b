//! Joins: what the sources say about the same request, put together. Tasks are joined in
//! [`crate::join::tasks`]; journal entries in [`journal`]; changes in `/etc/pve` in
//! [`changes`].

pub(crate) mod changes;
pub(crate) mod journal;
pub(crate) mod tasks;
