//! `biosign-bench`: every performance figure of the service, each as a ratio against a floor
//! measured in the same run (this machine is shared and noisy; absolute times are not comparable
//! across runs, ratios are). Run it with `scripts/bench`, which builds what it measures. One
//! module per figure:
//!
//! 1. [`cpu`]: handler CPU per request, in process, against the floor of the work.
//! 2. [`heap`]: peak heap during a maximum sign, as a multiple of the request body's size.
//! 3. [`coldstart`]: cold start of each function binary against a hello-world binary.
//! 4. [`size`]: the size of each function binary as built for Lambda.
#![forbid(unsafe_code)]

mod coldstart;
mod cpu;
mod harness;
mod heap;
mod payload;
mod size;

use clap::{Parser, Subcommand, ValueEnum};
use peak_alloc::PeakAlloc;

use crate::harness::{Bench, micros};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const FUNCTIONS: [&str; 3] = ["get-sign", "preview-sign", "submit-sign"];

/// Adds a row: figure, value, goal, detail.
type Row<'a> = dyn FnMut(&str, String, &str, String) + 'a;

#[derive(Debug, Parser)]
#[command(
    name = "biosign-bench",
    about = "Every performance figure of BENCHMARKS.md, as one Markdown table"
)]
struct Cli {
    /// Without a command: every figure.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every figure (the default).
    All,
    /// Only the cold-start rows, to iterate on init.
    ColdStart,
    /// Only the sign loop, for a profiler: prints the handler's and the floor's median.
    ProfileSign {
        #[arg(value_enum, default_value_t = PayloadKind::Maximum)]
        payload: PayloadKind,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PayloadKind {
    Typical,
    Maximum,
}

fn main() {
    let cli = Cli::parse();
    let bench = Bench::new();
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |figure: &str, value: String, goal: &str, detail: String| {
        rows.push([figure.into(), value, goal.into(), detail])
    };
    match cli.command.unwrap_or(Command::All) {
        Command::ProfileSign { payload } => {
            let payload = match payload {
                PayloadKind::Typical => payload::typical(),
                PayloadKind::Maximum => payload::maximum(),
            };
            let figures = cpu::sign_cpu(&bench, &payload);
            println!(
                "handler {}, floor {}",
                micros(figures.handler),
                micros(figures.floor)
            );
            return;
        }
        Command::ColdStart => coldstart::rows(&bench, &mut row),
        Command::All => {
            cpu::rows(&bench, &mut row);
            heap::rows(&bench, &mut row);
            coldstart::rows(&bench, &mut row);
            size::rows(&mut row);
        }
    }
    println!("| figure | value | goal | detail |");
    println!("|---|---|---|---|");
    for [figure, value, goal, detail] in rows {
        println!("| {figure} | {value} | {goal} | {detail} |");
    }
}
