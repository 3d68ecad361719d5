//! Figure 2: peak heap during a maximum sign, as a multiple of the request body's size.

use biosign_shared::handlers;

use crate::cpu::SIGN_EVENT;
use crate::harness::Bench;
use crate::payload::{self, Payload};
use crate::{HEAP, Row};

/// Peak live heap while a maximum sign is handled, the request body included, in bytes.
fn sign_peak_heap(bench: &Bench, payload: &Payload) -> usize {
    let sign_id = bench.fresh_signs(1, false).remove(0);
    let before = HEAP.current_usage();
    let request = bench.request(SIGN_EVENT, &sign_id, &payload.body);
    HEAP.reset_peak_usage();
    let response = bench.runtime.block_on(handlers::sign(&bench.api, request));
    assert_eq!(response.status(), 204);
    HEAP.peak_usage().saturating_sub(before)
}

/// The row of figure 2.
pub fn rows(bench: &Bench, row: &mut Row) {
    let maximum = payload::maximum();
    let peak = sign_peak_heap(bench, &maximum);
    row(
        "peak heap per maximum sign ÷ body size",
        format!("{:.2}", peak as f64 / maximum.body.len() as f64),
        "≤ 3",
        format!(
            "{peak} bytes at peak for a {} byte body",
            maximum.body.len()
        ),
    );
}
