//! The `biosign` local tool: runs the three endpoints over HTTP on the same handler code the
//! Lambda functions run, and does what the platform's process service would (create, cancel and
//! inspect signs; mint tokens with a local development key).
#![forbid(unsafe_code)]

pub mod capture_cmd;
pub mod capture_page;
pub mod commands;
pub mod devkey;
pub mod duration;
pub mod environment;
pub mod escrow;
pub mod evidence_package;
pub mod server;
pub mod stores;
pub mod sweep;
