//! Started without a required setting, the function exits at once with a message naming it
//! (instead of failing on its first request).

#[test]
fn exits_at_once_naming_a_missing_or_invalid_setting() {
    biosign_shared::testing::assert_fails_fast_without_settings(
        env!("CARGO_BIN_EXE_submit-sign"),
        true,
    );
}
