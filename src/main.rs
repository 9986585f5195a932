//! The `hookbox` command; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    hookbox::cli::main()
}
