//! One integration test binary that drives the real `pverec` executable (fast to link, one
//! place for the harness). Fixtures live in `tests/data/`.

mod cluster_util;
mod journal;
mod journal_follow;
mod journal_util;
mod util;

mod cli;
mod cluster;
mod cluster_gen;
mod cluster_read;
mod convert;
mod day_one_docs;
mod day_one_follow;
mod day_one_inputs;
mod day_one_render;
mod day_one_select;
mod ecs;
mod errors;
mod follower;
mod golden;
mod guest_names;
mod hardening_quote;
mod hardening_replay;
mod hardening_spool;
mod inputs;
mod locales;
mod ocsf;
mod packaging;
mod pveproxy;
mod quoting;
mod secrets;
mod sessions;
mod sinks;
mod tasks;

mod config_changes;
mod follow;
mod follow_files;
mod follow_rotation;
mod follow_soak;
mod follow_state;
mod follow_tasks;
mod hardening_follow;
mod hardening_inputs;
mod hardening_memory;
