//! The `pverec` binary: everything is in the library (`src/lib.rs`), so that the fuzz targets
//! test the same code.

fn main() -> std::process::ExitCode {
    pverec::main()
}
