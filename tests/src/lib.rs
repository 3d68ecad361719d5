//! Test support (dev only) and the end-to-end tests' library: the server harness
//! ([`harness`]), the client's side ([`client`]), the stores reached behind the service's back
//! ([`back_door`]), signs and tokens built without the CLI ([`fixtures`]), the Lambda Runtime API
//! and the function binaries' harness ([`runtime_api`], [`lambda`]), the loopback TSA ([`tsa`]),
//! the fault proxy and the wire scenarios ([`fault_proxy`], [`wire`]), the sealing checks
//! ([`sealing`]) and the storage contract suite ([`store_contract`]). The everyday names are
//! re-exported here.
#![forbid(unsafe_code)]

use biosign_shared::ids::SignKey;
use biosign_shared::model::SignRecord;

pub mod back_door;
pub mod client;
pub mod fault_proxy;
pub mod fixtures;
pub mod harness;
pub mod lambda;
pub mod runtime_api;
pub mod sealing;
pub mod store_contract;
pub mod tsa;
pub mod wire;

pub use back_door::{BlobBackDoor, SignBackDoor};
pub use client::{Reply, Signature, device_headers};
pub use harness::{
    Aws, AwsEnv, Backend, Embedded, EmbeddedEnv, MOTO_URL_VAR, TestBlobs, TestEnv, TestSigns,
    fresh_aws_stores, moto_url, tsa_client,
};

/// The key of a created sign.
pub fn key_of(sign: &SignRecord) -> SignKey {
    sign.key()
}
