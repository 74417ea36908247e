//! `ecslab`: the server (`ecslab serve`) and its command-line client (`ecslab images import`,
//! `ecslab admin ...`).

mod admin;
mod images;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ecslab",
    version,
    about = "A self-hosted cloud of real QEMU/KVM VMs that speaks the Alibaba Cloud API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve(serve::ServeArgs),
    /// Manage images through the API (import a disk image file).
    #[command(subcommand)]
    Images(images::ImagesCommand),
    /// Operator commands: operation locks (on the data directory), accounts (through the API).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ecslab: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Images(cmd) => images::run(cmd).await,
            Command::Admin(cmd) => admin::run(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ecslab: {message}");
            ExitCode::FAILURE
        }
    }
}
