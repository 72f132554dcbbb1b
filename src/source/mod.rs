//! Sources beside access.log: what the node's other files and programs tell about the same
//! requests. The journal is read here ([`journal`]: its entries, [`said`]: the PVE messages in
//! them).

pub(crate) mod access;
pub(crate) mod etc_pve;
pub(crate) mod journal;
pub(crate) mod node;
pub(crate) mod node_live;
pub(crate) mod said;
pub(crate) mod spool;
pub(crate) mod task;
pub(crate) mod task_log;
