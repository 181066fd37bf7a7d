//! An orders API on `lambda_http` and axum.

fn main() {}
