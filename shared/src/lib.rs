//! The biometric signature domain shared by the three Lambda functions and the local tool.
//!
//! A reader looking for "where is a sign's state changed?" finds it in [`state`] (the rules) and
//! [`service`] (the use cases that apply them through the storage traits in [`store`]).
#![forbid(unsafe_code)]

pub mod auth;
pub mod aws;
pub mod capture;
pub mod config;
pub mod error;
pub mod evidence;
pub mod handlers;
pub mod ids;
pub mod logging;
pub mod model;
pub mod request;
pub mod route;
pub mod service;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use error::ApiError;
