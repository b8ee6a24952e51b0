//! `between-relay`: the relay a practice hosts (see the library's documentation).

fn main() -> std::process::ExitCode {
    between_relay::main()
}
