//! Where the rendered records go: standard output (the default), the systemd journal, or a
//! syslog collector. Renderers append to one buffer; a sink decides when and how it leaves.

mod stdout;

pub(crate) use stdout::{Output, is_stopped, stderr_interruptible, write_stderr};
