//! The biometric signature domain shared by the three Lambda functions and the local tool.
//!
//! A reader looking for "where is a sign's state changed?" finds it in [`service::transition`],
//! which applies the rules of [`state`] through the storage traits of [`store`]. Requests come in
//! through [`handlers`] ([`request`] validates them) and leave as [`response`]s.
#![forbid(unsafe_code)]

pub mod auth;
pub mod aws;
pub mod canonical;
pub mod capture;
pub mod config;
pub mod error;
pub mod evidence;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod image;
pub mod jwks;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pem;
pub mod request;
pub mod response;
pub mod route;
pub mod seal;
pub mod service;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod timestamp;

pub use error::ApiError;
