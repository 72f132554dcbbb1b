//! Joins: what the sources say about the same request, put together. Tasks are joined in
//! [`crate::join::tasks`]; journal entries here ([`journal`]).

pub(crate) mod journal;
pub(crate) mod tasks;
