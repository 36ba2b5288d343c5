use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = api_cannon::cli::Cli::parse();
    match api_cannon::app::execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            api_cannon::say!("Error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
