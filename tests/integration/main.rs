//! One integration test binary that drives the real `pverec` executable (fast to link, one
//! place for the harness). Fixtures live in `tests/data/`.

mod util;

mod cli;
mod convert;
mod errors;
mod inputs;
mod quoting;
mod follower;

mod follow;
