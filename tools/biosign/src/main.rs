//! `biosign`: run the biometric signature API locally and manage signs. See `biosign --help`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use biosign::capture_cmd::{self, ConvertArgs, SampleArgs};
use biosign::commands::{self, CreateSignArgs, StoreOptions, Stores, TokenArgs};
use biosign::devkey::DevKey;
use biosign::server::{self, Cors};
use biosign::with_stores;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "biosign",
    version,
    about = "Run the biometric signature API locally, and create, cancel and inspect signs"
)]
struct Cli {
    #[command(flatten)]
    store: StoreOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prepare the store: the embedded database and dev key, or the DynamoDB table and S3 bucket.
    Init,
    /// Serve the three endpoints over HTTP with the same handlers the Lambda functions run.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// A browser origin allowed by CORS (repeatable). http://localhost:* is always allowed.
        #[arg(
            long = "cors-origin",
            env = "CORS_ALLOWED_ORIGINS",
            value_delimiter = ','
        )]
        cors_origins: Vec<String>,
    },
    /// Create a PENDING sign and print it as JSON.
    CreateSign(CreateSignArgs),
    /// Cancel a sign (as the process service would).
    CancelSign {
        #[arg(long)]
        org: String,
        #[arg(long)]
        sign_id: String,
    },
    /// Print a sign with its evidence events and whether the hash chain verifies (exit 3 if not).
    ShowSign {
        #[arg(long)]
        org: String,
        #[arg(long)]
        sign_id: String,
    },
    /// Print a JWT signed with the local dev key (the key `serve` trusts without JWT_JWKS).
    Token(TokenArgs),
    /// Print the public JWKS of the local dev key, to trust dev tokens elsewhere (JWT_JWKS).
    Jwks,
    /// Convert biometric data between sigdata/1 and ISO/IEC 19794-7, offline; data the API would
    /// refuse is refused with the API's message (exit 1).
    Convert(ConvertArgs),
    /// Print a sign request body: a synthetic pen signature (sigdata/1 or ISO/IEC 19794-7) and
    /// the PNG rendered from its strokes.
    SampleSignature(SampleArgs),
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let options = &cli.store;
    match cli.command {
        Command::Init => println!("{}", commands::init(options).await?),
        Command::Serve { addr, cors_origins } => serve(options, addr, cors_origins).await?,
        Command::CreateSign(args) => {
            let stores = Stores::open(options).await?;
            let sign = with_stores!(stores, |signs, _blobs| commands::create_sign(&signs, &args)
                .await?);
            print_json(&sign)?;
        }
        Command::CancelSign { org, sign_id } => {
            let stores = Stores::open(options).await?;
            let sign = with_stores!(stores, |signs, _blobs| commands::cancel_sign(
                &signs, &org, &sign_id
            )
            .await?);
            print_json(&sign)?;
        }
        Command::ShowSign { org, sign_id } => {
            let stores = Stores::open(options).await?;
            let report = with_stores!(stores, |signs, _blobs| commands::show_sign(
                &signs, &org, &sign_id
            )
            .await?);
            print_json(&report)?;
            if !report.chain.is_valid() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Token(args) => {
            let key = DevKey::load_or_create(&options.data_dir)?;
            println!("{}", commands::mint_token(&key, &args)?);
        }
        Command::Jwks => {
            let key = DevKey::load_or_create(&options.data_dir)?;
            println!("{}", key.jwks_json());
        }
        Command::Convert(args) => {
            for note in capture_cmd::convert(&args)? {
                eprintln!("biosign: note: {note}");
            }
        }
        Command::SampleSignature(args) => println!("{}", capture_cmd::sample_body(&args)?),
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    options: &StoreOptions,
    addr: SocketAddr,
    cors_origins: Vec<String>,
) -> anyhow::Result<()> {
    biosign_shared::logging::init();
    let key = DevKey::load_or_create(&options.data_dir)?;
    let (auth, trusted) = commands::serve_authenticator(&key)?;
    let stores = Stores::open(options).await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    println!(
        "biosign: serving {base_url} on the {:?} store; tokens are verified with {trusted}",
        options.store
    );
    if let Stores::Embedded(store) = &stores {
        if store.count_signs().await? == 0 && trusted == "the local dev key" {
            let document = uuid::Uuid::new_v4().to_string();
            let args = CreateSignArgs {
                documents: vec![document.clone()],
                preview_documents: vec![document],
                expires_in: "P30D".into(),
                ..CreateSignArgs::for_org("demo")
            };
            let sign = commands::create_sign(store, &args).await?;
            let token_args = TokenArgs {
                expires_in: "PT12H".into(),
                ..TokenArgs::for_org("demo")
            };
            let token = commands::mint_token(&key, &token_args)?;
            let signature = commands::write_demo_signature(&options.data_dir)?;
            println!(
                "\nCreated a demo sign. Try the whole flow (the token is valid for 12 hours):\n"
            );
            println!(
                "{}",
                commands::walkthrough(&base_url, &sign, &token, &signature)
            );
        }
    }
    let cors = Arc::new(Cors {
        origins: cors_origins,
        allow_loopback: true,
    });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    with_stores!(stores, |signs, blobs| {
        let api = commands::api(signs, blobs, auth);
        server::run(listener, api, cors, shutdown).await
    });
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("biosign: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
