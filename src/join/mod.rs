//! Joins: what the sources say about the same request, put together. Tasks are joined in
//! [`crate::correlate`]; journal entries here ([`journal`]).

pub(crate) mod journal;
