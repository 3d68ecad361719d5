//! `biosign`: run the biometric signature API locally and manage signs. See `biosign --help`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use biosign::capture_cmd::{self, ConvertArgs, SampleArgs};
use biosign::capture_page;
use biosign::commands::{self, CreateSignArgs, StoreKind, StoreOptions, TokenArgs};
use biosign::devkey::DevKey;
use biosign::environment::Environment;
use biosign::escrow;
use biosign::evidence_package::{self, Package};
use biosign::server::{self, Cors};
use biosign::stores::{Provision, Stores};
use biosign::sweep::{self, SweepArgs, SweepOptions};
use biosign_shared::auth::Authenticator;
use biosign_shared::seal::EscrowRecipients;
use biosign_shared::store::{BlobInventory, BlobStore, SignAdmin};
use biosign_shared::timestamp::{self, TrustedCerts, TsaClient};
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
    /// Write a sign's evidence package: events, image, sealed biometric data, timestamp token and
    /// how to check them offline (docs/evidence.md).
    ExportEvidence {
        #[arg(long)]
        org: String,
        #[arg(long)]
        sign_id: String,
        /// The ZIP to create (an existing file is never replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an evidence package offline: one line per check; exit 0 if all hold, 3 if any
    /// fails, 1 if the file cannot be read.
    VerifyEvidence {
        /// The package (ZIP).
        file: PathBuf,
        /// The TSA's CA certificate(s), PEM: also check who signed the timestamp token.
        #[arg(long, value_name = "FILE")]
        tsa_ca: Option<PathBuf>,
    },
    /// Timestamp every signed sign that has no trusted timestamp yet (the TSA of TSA_URL and
    /// TSA_CERTS, as on the sign function); prints one result per sign, exit 3 if any failed.
    TimestampPending {
        /// Only this org's signs.
        #[arg(long)]
        org: Option<String>,
    },
    /// Print a JWT signed with the local dev key (the key `serve` trusts without JWT_JWKS).
    Token(TokenArgs),
    /// Print the public JWKS of the local dev key, to trust dev tokens elsewhere (JWT_JWKS).
    Jwks,
    /// Print the escrow certificates biometric data is sealed for, as PEM: those in ESCROW_CERTS,
    /// else the development escrow certificate (a summary of each goes to stderr).
    EscrowCert,
    /// Convert biometric data between sigdata/1 and ISO/IEC 19794-7, offline; data the API would
    /// refuse is refused with the API's message (exit 1).
    Convert(ConvertArgs),
    /// Print a sign request body: a synthetic pen signature (sigdata/1 or ISO/IEC 19794-7) and
    /// the PNG rendered from its strokes.
    SampleSignature(SampleArgs),
    /// Remove blobs no sign references (left by failed attempts), every version of each, and
    /// print what was removed as JSON (exit 1 if anything could not be checked or removed).
    SweepOrphans(SweepArgs),
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli, env: &Environment) -> anyhow::Result<ExitCode> {
    let options = &cli.store;
    // Commands without a store run here; the others are checked and prepared first (a bad
    // argument is reported before any store is opened), then run on the store `--store` names.
    let job = match cli.command {
        Command::Init => {
            let key = DevKey::load_or_create(&options.data_dir)?;
            let escrow = escrow::escrow_for_local(&options.data_dir, env)?;
            StoreJob::Init {
                key,
                escrow: Box::new(escrow),
            }
        }
        Command::Serve { addr, cors_origins } => {
            StoreJob::Serve(Box::new(Serve::prepare(options, env, addr, cors_origins)?))
        }
        Command::CreateSign(args) => StoreJob::CreateSign(args),
        Command::CancelSign { org, sign_id } => StoreJob::CancelSign { org, sign_id },
        Command::ShowSign { org, sign_id } => StoreJob::ShowSign { org, sign_id },
        Command::ExportEvidence { org, sign_id, out } => {
            let tsa_certs = env.get(timestamp::TSA_CERTS).map(PathBuf::from);
            StoreJob::ExportEvidence {
                org,
                sign_id,
                out,
                tsa_certs,
            }
        }
        Command::VerifyEvidence { file, tsa_ca } => {
            let tsa_ca = tsa_ca
                .map(|path| TrustedCerts::load(&path).map_err(|e| anyhow::anyhow!("--tsa-ca: {e}")))
                .transpose()?;
            let package = Package::read(&file)?;
            let report = evidence_package::verify_package(&package, tsa_ca.as_ref());
            for line in &report.lines {
                println!("{line}");
            }
            return Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            });
        }
        Command::TimestampPending { org } => {
            let tsa = TsaClient::from_lookup(env.lookup())?
                .ok_or_else(|| anyhow::anyhow!("TSA_URL is not set: there is no TSA to ask"))?;
            StoreJob::TimestampPending {
                tsa: Box::new(tsa),
                org,
            }
        }
        Command::Token(args) => {
            let key = DevKey::load_or_create(&options.data_dir)?;
            println!("{}", commands::mint_token(&key, &args, env)?);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Jwks => {
            let key = DevKey::load_or_create(&options.data_dir)?;
            println!("{}", key.jwks_json());
            return Ok(ExitCode::SUCCESS);
        }
        Command::EscrowCert => {
            let recipients = escrow::escrow_for_local(&options.data_dir, env)?;
            eprintln!("# {}", recipients.path().display());
            for r in recipients.summaries() {
                eprintln!(
                    "# {}: RSA {}, valid until {}, SHA-256 fingerprint {}",
                    r.subject,
                    r.rsa_bits,
                    biosign_shared::time::format(&r.not_after),
                    r.sha256_fingerprint
                );
            }
            print!("{}", recipients.certificates_pem());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Convert(args) => {
            for note in capture_cmd::convert(&args)? {
                eprintln!("biosign: note: {note}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::SampleSignature(args) => {
            println!("{}", capture_cmd::sample_body(&args)?);
            return Ok(ExitCode::SUCCESS);
        }
        Command::SweepOrphans(args) => StoreJob::SweepOrphans(args.options()?),
    };
    // The one place where the backend is chosen.
    match options.store {
        StoreKind::Embedded => {
            job.run(options, env, Stores::embedded(&options.data_dir)?)
                .await
        }
        StoreKind::Aws => {
            let stores = Stores::aws(env.lookup()).await?;
            job.run(options, env, stores).await
        }
    }
}

/// A command that works on the stores, with its arguments checked.
enum StoreJob {
    Init {
        key: DevKey,
        escrow: Box<EscrowRecipients>,
    },
    Serve(Box<Serve>),
    CreateSign(CreateSignArgs),
    CancelSign {
        org: String,
        sign_id: String,
    },
    ShowSign {
        org: String,
        sign_id: String,
    },
    ExportEvidence {
        org: String,
        sign_id: String,
        out: PathBuf,
        tsa_certs: Option<PathBuf>,
    },
    TimestampPending {
        tsa: Box<TsaClient>,
        org: Option<String>,
    },
    SweepOrphans(SweepOptions),
}

impl StoreJob {
    async fn run<S, B>(
        self,
        options: &StoreOptions,
        env: &Environment,
        stores: Stores<S, B>,
    ) -> anyhow::Result<ExitCode>
    where
        S: SignAdmin + Clone + 'static,
        B: BlobStore + BlobInventory + Clone + 'static,
        Stores<S, B>: Provision,
    {
        let Stores { signs, blobs } = &stores;
        match self {
            StoreJob::Init { key, escrow } => {
                let sealing = format!(
                    "biometric data is sealed for {} ({} certificate(s))",
                    escrow.path().display(),
                    escrow.fingerprints().len()
                );
                let store = stores.provision(&key, &options.data_dir).await?;
                println!("{store}; {sealing}");
            }
            StoreJob::Serve(serve) => serve.run(options, env, stores).await?,
            StoreJob::CreateSign(args) => print_json(&commands::create_sign(signs, &args).await?)?,
            StoreJob::CancelSign { org, sign_id } => {
                print_json(&commands::cancel_sign(signs, &org, &sign_id).await?)?;
            }
            StoreJob::ShowSign { org, sign_id } => {
                let report = commands::show_sign(signs, &org, &sign_id).await?;
                print_json(&report)?;
                if !report.chain.is_valid() {
                    return Ok(ExitCode::from(3));
                }
            }
            StoreJob::ExportEvidence {
                org,
                sign_id,
                out,
                tsa_certs,
            } => {
                let package = evidence_package::export_evidence(
                    signs,
                    blobs,
                    &org,
                    &sign_id,
                    tsa_certs.as_deref(),
                )
                .await?;
                package.write_new(&out)?;
                println!(
                    "biosign: wrote {} ({} entries)",
                    out.display(),
                    package.entries.len()
                );
            }
            StoreJob::TimestampPending { tsa, org } => {
                let results =
                    commands::timestamp_pending(signs, blobs, &tsa, org.as_deref()).await?;
                print_json(&results)?;
                if results.iter().any(|r| r.result.starts_with("not ")) {
                    return Ok(ExitCode::from(3));
                }
            }
            StoreJob::SweepOrphans(sweep) => {
                let report = sweep::sweep_orphans(signs, blobs, &sweep).await?;
                print_json(&report)?;
                if !report.errors.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `biosign serve`, configured, before the stores are opened.
struct Serve {
    addr: SocketAddr,
    cors_origins: Vec<String>,
    key: DevKey,
    auth: Authenticator,
    trusted: &'static str,
    escrow: EscrowRecipients,
    tsa: Option<TsaClient>,
}

impl Serve {
    fn prepare(
        options: &StoreOptions,
        env: &Environment,
        addr: SocketAddr,
        cors_origins: Vec<String>,
    ) -> anyhow::Result<Self> {
        biosign_shared::logging::init();
        let key = DevKey::load_or_create(&options.data_dir)?;
        let (auth, trusted) = commands::serve_authenticator(&key, env)?;
        let escrow = escrow::escrow_for_local(&options.data_dir, env)?;
        // TSA_URL and TSA_CERTS, as on the sign function: accepted signatures are timestamped.
        let tsa = TsaClient::from_lookup(env.lookup())?;
        Ok(Self {
            addr,
            cors_origins,
            key,
            auth,
            trusted,
            escrow,
            tsa,
        })
    }

    async fn run<S, B>(
        self,
        options: &StoreOptions,
        env: &Environment,
        stores: Stores<S, B>,
    ) -> anyhow::Result<()>
    where
        S: SignAdmin + Clone + 'static,
        B: BlobStore + 'static,
        Stores<S, B>: Provision,
    {
        let Self {
            addr,
            cors_origins,
            key,
            auth,
            trusted,
            escrow,
            tsa,
        } = self;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        println!(
            "biosign: serving {base_url} on the {:?} store; tokens are verified with {trusted}",
            options.store
        );
        println!(
            "biosign: biometric data is sealed for the escrow certificate(s) in {} (SHA-256 {})",
            escrow.path().display(),
            escrow.fingerprints().join(", ")
        );
        if trusted == "the local dev key" && stores.wants_demo_sign().await? {
            let document = uuid::Uuid::new_v4().to_string();
            let args = CreateSignArgs {
                documents: vec![document.clone()],
                preview_documents: vec![document],
                expires_in: "P30D".into(),
                ..CreateSignArgs::for_org("demo")
            };
            let sign = commands::create_sign(&stores.signs, &args).await?;
            let token_args = TokenArgs {
                expires_in: "PT12H".into(),
                ..TokenArgs::for_org("demo")
            };
            let token = commands::mint_token(&key, &token_args, env)?;
            let signer_token = commands::mint_token(
                &key,
                &TokenArgs {
                    sign_id: Some(sign.sign_id.to_string()),
                    ..token_args.clone()
                },
                env,
            )?;
            let link = capture_page::link(&base_url, &sign.org_id, &sign.sign_id, &signer_token);
            let signature = commands::write_demo_signature(&options.data_dir)?;
            println!(
                "\nCreated a demo sign. Sign it in a browser (the link is valid for 12 hours):\n\n  {link}"
            );
            println!("\nOr try the whole flow with curl (the token is valid for 12 hours):\n");
            println!(
                "{}",
                commands::walkthrough(&base_url, &sign, &token, &signature)
            );
        }
        let cors = Arc::new(Cors {
            origins: cors_origins,
            allow_loopback: true,
        });
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let api = commands::api(stores.signs, stores.blobs, escrow, auth, tsa, env);
        server::run(listener, api, cors, shutdown).await;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::from_process();
    match run(cli, &env).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("biosign: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
